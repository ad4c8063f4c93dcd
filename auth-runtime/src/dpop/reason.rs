//! Why a DPoP proof was refused: [`DpopReason`].

/// Why a DPoP proof (RFC 9449) was refused. The text is safe to show to the caller: it names
/// the failed check, never the proof, the token or the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopReason {
    /// `Authorization: DPoP` without a `DPoP` header.
    Missing,
    /// More than one `DPoP` header.
    Multiple,
    /// More bytes than a proof may have, checked before any parsing.
    TooLarge,
    /// Not three base64url parts, or a part that is not the JSON it should be.
    Malformed,
    /// The header or the claims hold the same member name twice.
    DuplicateMember,
    /// The header has a `crit` member: no critical extension is understood.
    CriticalHeader,
    /// The header's `typ` is not `dpop+jwt`.
    WrongType,
    /// The header's `alg` is not among the issuer's `dpop_algorithms`.
    AlgorithmNotAccepted,
    /// The header's `jwk` is missing, not a public key of a supported type, or does not parse.
    BadKey,
    /// The header's `jwk` holds private key material.
    PrivateKey,
    /// The header's `jwk` does not fit the `alg` (another key type, curve or pinned `alg`).
    KeyAlgorithmMismatch,
    /// The signature does not verify with the header's `jwk`.
    BadSignature,
    /// `jti`, `htm`, `htu`, `iat` or `ath` is missing or not of its type.
    MissingClaim,
    /// `htm` is not the request's method.
    WrongMethod,
    /// `htu` is not the request's URL (without query and fragment).
    WrongUrl,
    /// `iat` is older than `dpop_max_age_seconds` plus the leeway.
    Stale,
    /// `iat` lies in the future, beyond the leeway.
    IssuedInFuture,
    /// `ath` is not the hash of the access token sent with it.
    WrongTokenHash,
    /// The proof's key is not the one the access token is bound to (`cnf.jkt`).
    WrongKey,
    /// The proof was used before.
    Replayed,
    /// The replay record had to drop entries of this proof's key that expire no earlier than
    /// this proof (the key sent more proofs within their lifetime than it has room for, or
    /// dated some ahead): it cannot be told apart from a replay. A proof made later passes.
    ReplayUnverifiable,
}

impl DpopReason {
    /// Every reason, for what lists them all (the metrics).
    #[cfg(any(feature = "metrics", test))]
    pub(crate) const ALL: [DpopReason; 21] = [
        DpopReason::Missing,
        DpopReason::Multiple,
        DpopReason::TooLarge,
        DpopReason::Malformed,
        DpopReason::DuplicateMember,
        DpopReason::CriticalHeader,
        DpopReason::WrongType,
        DpopReason::AlgorithmNotAccepted,
        DpopReason::BadKey,
        DpopReason::PrivateKey,
        DpopReason::KeyAlgorithmMismatch,
        DpopReason::BadSignature,
        DpopReason::MissingClaim,
        DpopReason::WrongMethod,
        DpopReason::WrongUrl,
        DpopReason::Stale,
        DpopReason::IssuedInFuture,
        DpopReason::WrongTokenHash,
        DpopReason::WrongKey,
        DpopReason::Replayed,
        DpopReason::ReplayUnverifiable,
    ];

    /// The human-readable reason, as it appears after `Invalid DPoP proof: `.
    pub fn as_str(self) -> &'static str {
        match self {
            DpopReason::Missing => "no DPoP header",
            DpopReason::Multiple => "more than one DPoP header",
            DpopReason::TooLarge => "proof too large",
            DpopReason::Malformed => "malformed proof",
            DpopReason::DuplicateMember => "duplicate JSON member",
            DpopReason::CriticalHeader => "unsupported critical header",
            DpopReason::WrongType => "typ is not dpop+jwt",
            DpopReason::AlgorithmNotAccepted => "algorithm not accepted",
            DpopReason::BadKey => "jwk is not a usable public key",
            DpopReason::PrivateKey => "jwk holds private key material",
            DpopReason::KeyAlgorithmMismatch => "jwk does not match the algorithm",
            DpopReason::BadSignature => "signature verification failed",
            DpopReason::MissingClaim => "jti, htm, htu, iat or ath missing or invalid",
            DpopReason::WrongMethod => "htm does not match the request method",
            DpopReason::WrongUrl => "htu does not match the request URL",
            DpopReason::Stale => "proof is too old",
            DpopReason::IssuedInFuture => "proof issued in the future",
            DpopReason::WrongTokenHash => "ath does not match the access token",
            DpopReason::WrongKey => "proof key does not match the token's binding",
            DpopReason::Replayed => "proof already used",
            DpopReason::ReplayUnverifiable => "proof too old to be checked for replay now",
        }
    }

    /// The stable machine-readable code, as [`AuthError::code`](crate::AuthError::code)
    /// gives it.
    pub fn code(self) -> &'static str {
        match self {
            DpopReason::Missing => "dpop_missing",
            DpopReason::Multiple => "dpop_multiple",
            DpopReason::TooLarge => "dpop_too_large",
            DpopReason::Malformed => "dpop_malformed",
            DpopReason::DuplicateMember => "dpop_duplicate_member",
            DpopReason::CriticalHeader => "dpop_critical_header",
            DpopReason::WrongType => "dpop_wrong_type",
            DpopReason::AlgorithmNotAccepted => "dpop_algorithm_not_accepted",
            DpopReason::BadKey => "dpop_bad_key",
            DpopReason::PrivateKey => "dpop_private_key",
            DpopReason::KeyAlgorithmMismatch => "dpop_key_algorithm_mismatch",
            DpopReason::BadSignature => "dpop_bad_signature",
            DpopReason::MissingClaim => "dpop_missing_claim",
            DpopReason::WrongMethod => "dpop_wrong_method",
            DpopReason::WrongUrl => "dpop_wrong_url",
            DpopReason::Stale => "dpop_stale",
            DpopReason::IssuedInFuture => "dpop_issued_in_future",
            DpopReason::WrongTokenHash => "dpop_wrong_token_hash",
            DpopReason::WrongKey => "dpop_wrong_key",
            DpopReason::Replayed => "dpop_replayed",
            DpopReason::ReplayUnverifiable => "dpop_replay_unverifiable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variant added to the enum and not to `ALL` fails to compile here.
    #[test]
    fn every_reason_is_listed() {
        for reason in DpopReason::ALL {
            match reason {
                DpopReason::Missing
                | DpopReason::Multiple
                | DpopReason::TooLarge
                | DpopReason::Malformed
                | DpopReason::DuplicateMember
                | DpopReason::CriticalHeader
                | DpopReason::WrongType
                | DpopReason::AlgorithmNotAccepted
                | DpopReason::BadKey
                | DpopReason::PrivateKey
                | DpopReason::KeyAlgorithmMismatch
                | DpopReason::BadSignature
                | DpopReason::MissingClaim
                | DpopReason::WrongMethod
                | DpopReason::WrongUrl
                | DpopReason::Stale
                | DpopReason::IssuedInFuture
                | DpopReason::WrongTokenHash
                | DpopReason::WrongKey
                | DpopReason::Replayed
                | DpopReason::ReplayUnverifiable => {}
            }
        }
    }
}
