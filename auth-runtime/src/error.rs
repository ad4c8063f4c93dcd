//! The one error type of a rejected request, and its HTTP answer.

use std::fmt;

use actix_web::http::StatusCode;

use crate::dpop::DpopReason;

/// Why a token was found invalid. The text is safe to show to the caller: it names the
/// failed check, never the token, the key or internal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidReason {
    /// More than the configured number of bytes.
    TooLarge,
    /// Not three base64url parts, or a part that is not the JSON it should be.
    Malformed,
    /// The header has no usable `alg`.
    MissingAlgorithm,
    /// The `kid` is not in the key set, even after a refetch.
    UnknownKey,
    /// No `kid`, and the key set holds more than one candidate key.
    AmbiguousKey,
    /// The key found for the `kid` is of another type or pinned to another algorithm.
    KeyAlgorithmMismatch,
    /// The signature does not verify.
    BadSignature,
    /// No `exp` claim, or one that is not a number.
    MissingExpiry,
    /// `nbf` lies in the future (beyond the leeway), or is not a number.
    NotYetValid,
    /// `iss` is missing or differs.
    WrongIssuer,
    /// `aud` is missing or does not contain the configured audience.
    WrongAudience,
    /// The header or the claims hold the same member name twice (RFC 8725 3.x: which one a
    /// reader takes differs between libraries).
    DuplicateMember,
    /// The header has a `crit` member: no critical extension is understood (RFC 7515 4.1.11).
    CriticalHeader,
    /// `iat` is present and not a number.
    BadIssuedAt,
    /// `iat` lies in the future, beyond the leeway.
    IssuedInFuture,
    /// The token claims a longer lifetime than `max_token_lifetime_seconds`.
    LifetimeTooLong,
    /// The header's `typ` is not the `required_token_type`.
    WrongType,
    /// The claims do not deserialise into the type the application reads them as
    /// ([`Claims`](crate::Claims)).
    UnexpectedClaims,
    /// The token is bound to a key (`cnf.jkt`) and was sent as `Bearer`: it needs
    /// `Authorization: DPoP` and a proof (RFC 9449 section 7.1).
    DpopBound,
    /// The token is not bound to a key, and was sent as `DPoP` or its issuer requires
    /// bound tokens (`dpop: required`).
    NotDpopBound,
    /// The token was sent as `DPoP`, or is bound to a key, and its issuer has `dpop: off`.
    DpopNotAccepted,
    /// The token's `cnf` binds it in a way this server cannot check (anything but `jkt`).
    UnsupportedConfirmation,
}

impl InvalidReason {
    /// Every reason, for what lists them all (the metrics).
    #[cfg(any(feature = "metrics", test))]
    pub(crate) const ALL: [InvalidReason; 22] = [
        InvalidReason::TooLarge,
        InvalidReason::Malformed,
        InvalidReason::MissingAlgorithm,
        InvalidReason::UnknownKey,
        InvalidReason::AmbiguousKey,
        InvalidReason::KeyAlgorithmMismatch,
        InvalidReason::BadSignature,
        InvalidReason::MissingExpiry,
        InvalidReason::NotYetValid,
        InvalidReason::WrongIssuer,
        InvalidReason::WrongAudience,
        InvalidReason::DuplicateMember,
        InvalidReason::CriticalHeader,
        InvalidReason::BadIssuedAt,
        InvalidReason::IssuedInFuture,
        InvalidReason::LifetimeTooLong,
        InvalidReason::WrongType,
        InvalidReason::UnexpectedClaims,
        InvalidReason::DpopBound,
        InvalidReason::NotDpopBound,
        InvalidReason::DpopNotAccepted,
        InvalidReason::UnsupportedConfirmation,
    ];

    /// The human-readable reason, as it appears after `Invalid token: `.
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidReason::TooLarge => "token too large",
            InvalidReason::Malformed => "malformed token",
            InvalidReason::MissingAlgorithm => "missing algorithm",
            InvalidReason::UnknownKey => "unknown signing key",
            InvalidReason::AmbiguousKey => "token has no kid and the key set has several keys",
            InvalidReason::KeyAlgorithmMismatch => "signing key does not match the algorithm",
            InvalidReason::BadSignature => "signature verification failed",
            InvalidReason::MissingExpiry => "missing or invalid exp claim",
            InvalidReason::NotYetValid => "token not yet valid",
            InvalidReason::WrongIssuer => "invalid issuer",
            InvalidReason::WrongAudience => "invalid audience",
            InvalidReason::DuplicateMember => "duplicate JSON member",
            InvalidReason::CriticalHeader => "unsupported critical header",
            InvalidReason::BadIssuedAt => "invalid iat claim",
            InvalidReason::IssuedInFuture => "token issued in the future",
            InvalidReason::LifetimeTooLong => "token lifetime exceeds the allowed maximum",
            InvalidReason::WrongType => "unexpected token type",
            InvalidReason::UnexpectedClaims => {
                "the claims do not have the shape the application expects"
            }
            InvalidReason::DpopBound => "the token is DPoP-bound: send it as DPoP with a proof",
            InvalidReason::NotDpopBound => "the token is not DPoP-bound",
            InvalidReason::DpopNotAccepted => "DPoP is not accepted for this issuer",
            InvalidReason::UnsupportedConfirmation => "unsupported cnf confirmation method",
        }
    }

    /// The stable machine-readable code, as [`AuthError::code`] gives it.
    pub fn code(self) -> &'static str {
        match self {
            InvalidReason::TooLarge => "token_too_large",
            InvalidReason::Malformed => "malformed_token",
            InvalidReason::MissingAlgorithm => "missing_algorithm",
            InvalidReason::UnknownKey => "unknown_key",
            InvalidReason::AmbiguousKey => "ambiguous_key",
            InvalidReason::KeyAlgorithmMismatch => "key_algorithm_mismatch",
            InvalidReason::BadSignature => "bad_signature",
            InvalidReason::MissingExpiry => "missing_expiry",
            InvalidReason::NotYetValid => "not_yet_valid",
            InvalidReason::WrongIssuer => "wrong_issuer",
            InvalidReason::WrongAudience => "wrong_audience",
            InvalidReason::DuplicateMember => "duplicate_member",
            InvalidReason::CriticalHeader => "critical_header",
            InvalidReason::BadIssuedAt => "bad_issued_at",
            InvalidReason::IssuedInFuture => "issued_in_future",
            InvalidReason::LifetimeTooLong => "lifetime_too_long",
            InvalidReason::WrongType => "wrong_type",
            InvalidReason::UnexpectedClaims => "unexpected_claims",
            InvalidReason::DpopBound => "dpop_bound_token",
            InvalidReason::NotDpopBound => "token_not_bound",
            InvalidReason::DpopNotAccepted => "dpop_not_accepted",
            InvalidReason::UnsupportedConfirmation => "unsupported_confirmation",
        }
    }
}

/// The one error type of a rejected request, and its HTTP answer.
///
/// Every rejection is JSON `{"detail": "..."}` with the same messages as pico-client-auth, plus
/// the RFC 6750 `WWW-Authenticate` challenge that upstream leaves out:
///
/// | error | status | `WWW-Authenticate` |
/// |---|---|---|
/// | no or malformed `Authorization` header | 401 | `Bearer realm="api"` |
/// | bad token | 401 | `Bearer realm="api", error="invalid_token", error_description="..."` |
/// | role or group missing | 403 | `Bearer realm="api", error="insufficient_scope", error_description="..."` |
/// | scope missing | 403 | the same, then `scope="articles:write"` (the scopes asked for) |
/// | revoked token | 401 | `Bearer realm="api", error="invalid_token", error_description="Token has been revoked"` |
/// | no usable key set, or a revocation list too old to trust | 503 | none; `Retry-After` instead |
///
/// A request the auth layer rejects, with the answer it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header, several, or one that is not `Bearer <token>`. 401.
    MissingCredentials,
    /// `exp` (plus leeway) has passed. 401.
    Expired,
    /// The header's `alg` is not in `accepted_algorithms` (`none` and HS* never are). 401.
    AlgorithmNotAccepted(String),
    /// Any other failed check. 401.
    InvalidToken(InvalidReason),
    /// Authenticated, but none of the roles required is held. 403.
    MissingRole(Vec<String>),
    /// Authenticated, but none of the groups required is held. 403.
    MissingGroup(Vec<String>),
    /// Authenticated, but no scope of the token satisfies any of the scopes required. 403,
    /// naming them in the challenge's `scope` (RFC 6750 section 3).
    MissingScope(Vec<String>),
    /// Code asked for the caller's identity where there is none (anonymous route, or outside
    /// a request). 401.
    NoSecurityContext,
    /// No key set could be fetched yet, so no token can be checked. 503 with `Retry-After`.
    KeysUnavailable,
    /// The token's `jti` is on its issuer's revocation list. 401.
    Revoked,
    /// The issuer's revocation list is older than `revocation_max_staleness_seconds` and
    /// cannot be refreshed (and `revocation_fail_open` is off). 503 with `Retry-After`.
    RevocationUnavailable,
    /// The token came as `Authorization: DPoP` and its proof failed a check. 401, with a
    /// `DPoP` challenge naming `invalid_dpop_proof`.
    InvalidDpopProof(DpopReason),
    /// The token came as `Authorization: DPoP` with a valid proof, and `dpop_nonce` is on:
    /// the proof carries no nonce, or one too old. 401 `use_dpop_nonce`, with a fresh nonce
    /// in `DPoP-Nonce` for the client to retry with.
    UseDpopNonce,
}

impl AuthError {
    /// A stable, machine-readable name for the error, for clients and dashboards: it never
    /// changes for an error, while [`detail`](AuthError::detail) is prose that may.
    ///
    /// | code | error | status |
    /// |---|---|---|
    /// | `missing_token` | no usable `Authorization: Bearer` (or `DPoP`) header | 401 |
    /// | `expired` | `exp` has passed | 401 |
    /// | `algorithm_not_accepted` | `alg` not in `accepted_algorithms` | 401 |
    /// | `token_too_large`, `malformed_token`, `missing_algorithm`, `unknown_key`, `ambiguous_key`, `key_algorithm_mismatch`, `bad_signature`, `missing_expiry`, `not_yet_valid`, `wrong_issuer`, `wrong_audience`, `duplicate_member`, `critical_header`, `bad_issued_at`, `issued_in_future`, `lifetime_too_long`, `wrong_type`, `unexpected_claims`, `dpop_bound_token`, `token_not_bound`, `dpop_not_accepted`, `unsupported_confirmation` | the [`InvalidReason`] | 401 |
    /// | `dpop_missing`, `dpop_multiple`, `dpop_too_large`, `dpop_malformed`, `dpop_duplicate_member`, `dpop_critical_header`, `dpop_wrong_type`, `dpop_algorithm_not_accepted`, `dpop_bad_key`, `dpop_private_key`, `dpop_key_algorithm_mismatch`, `dpop_bad_signature`, `dpop_missing_claim`, `dpop_wrong_method`, `dpop_wrong_url`, `dpop_stale`, `dpop_issued_in_future`, `dpop_wrong_token_hash`, `dpop_wrong_key`, `dpop_replayed`, `dpop_replay_unverifiable` | the [`DpopReason`] of a refused proof | 401 |
    /// | `use_dpop_nonce` | `dpop_nonce` is on and the proof has no current nonce | 401 |
    /// | `revoked` | the token's `jti` is revoked | 401 |
    /// | `no_identity` | code asked for a caller where there is none | 401 |
    /// | `insufficient_role` | none of the roles required | 403 |
    /// | `insufficient_scope` | none of the scopes required | 403 |
    /// | `insufficient_group` | none of the groups required | 403 |
    /// | `keys_unavailable` | no key set could be loaded | 503 |
    /// | `revocation_unavailable` | the revocation list is too old | 503 |
    ///
    /// ```
    /// use auth_runtime::{AuthError, InvalidReason};
    ///
    /// assert_eq!(AuthError::Expired.code(), "expired");
    /// assert_eq!(AuthError::InvalidToken(InvalidReason::BadSignature).code(), "bad_signature");
    /// assert_eq!(AuthError::MissingRole(vec!["admin".into()]).code(), "insufficient_role");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "missing_token",
            AuthError::Expired => "expired",
            AuthError::AlgorithmNotAccepted(_) => "algorithm_not_accepted",
            AuthError::InvalidToken(reason) => reason.code(),
            AuthError::MissingRole(_) => "insufficient_role",
            AuthError::MissingGroup(_) => "insufficient_group",
            AuthError::MissingScope(_) => "insufficient_scope",
            AuthError::NoSecurityContext => "no_identity",
            AuthError::KeysUnavailable => "keys_unavailable",
            AuthError::Revoked => "revoked",
            AuthError::RevocationUnavailable => "revocation_unavailable",
            AuthError::InvalidDpopProof(reason) => reason.code(),
            AuthError::UseDpopNonce => "use_dpop_nonce",
        }
    }

    /// The status of the answer: 401, 403 for a role, scope or group missing, 503 when keys
    /// or the revocation list are unavailable.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingRole(_) | AuthError::MissingGroup(_) | AuthError::MissingScope(_) => {
                StatusCode::FORBIDDEN
            }
            AuthError::KeysUnavailable | AuthError::RevocationUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `detail` text of the JSON body.
    pub fn detail(&self) -> String {
        match self {
            AuthError::MissingCredentials => "Missing or invalid Authorization header".to_owned(),
            AuthError::Expired => "Token has expired".to_owned(),
            AuthError::AlgorithmNotAccepted(alg) => {
                format!("Algorithm '{}' is not accepted", printable(alg))
            }
            AuthError::InvalidToken(reason) => format!("Invalid token: {}", reason.as_str()),
            AuthError::MissingRole(roles) => format!("Requires one of roles: {}", list(roles)),
            AuthError::MissingGroup(groups) => {
                format!("Requires one of groups: {}", list(groups))
            }
            AuthError::MissingScope(scopes) => {
                format!("Requires one of scopes: {}", list(scopes))
            }
            AuthError::NoSecurityContext => "No authenticated user in SecurityContext".to_owned(),
            AuthError::KeysUnavailable => {
                "Authentication temporarily unavailable: signing keys could not be loaded"
                    .to_owned()
            }
            AuthError::Revoked => "Token has been revoked".to_owned(),
            AuthError::RevocationUnavailable => {
                "Authentication temporarily unavailable: the revocation list could not be \
                 refreshed"
                    .to_owned()
            }
            AuthError::InvalidDpopProof(reason) => {
                format!("Invalid DPoP proof: {}", reason.as_str())
            }
            AuthError::UseDpopNonce => {
                "DPoP proof needs a nonce: retry with the DPoP-Nonce of this answer".to_owned()
            }
        }
    }

    pub(crate) fn challenge(&self) -> Option<String> {
        let (error, description) = match self {
            AuthError::MissingCredentials | AuthError::NoSecurityContext => {
                return Some("Bearer realm=\"api\"".to_owned());
            }
            AuthError::KeysUnavailable | AuthError::RevocationUnavailable => return None,
            AuthError::MissingRole(_) | AuthError::MissingGroup(_) | AuthError::MissingScope(_) => {
                ("insufficient_scope", self.detail())
            }
            AuthError::Expired
            | AuthError::AlgorithmNotAccepted(_)
            | AuthError::InvalidToken(_)
            | AuthError::Revoked => ("invalid_token", self.detail()),
            AuthError::InvalidDpopProof(_) => ("invalid_dpop_proof", self.detail()),
            AuthError::UseDpopNonce => ("use_dpop_nonce", self.detail()),
        };
        // RFC 6750 allows %x20-21 / %x23-5B / %x5D-7E in error_description: no quote, no
        // backslash, nothing outside printable ASCII.
        let description: String = description
            .chars()
            .map(|c| match c {
                '"' | '\\' => '\'',
                ' '..='~' => c,
                _ => '?',
            })
            .collect();
        let scheme = match self {
            AuthError::InvalidDpopProof(_) | AuthError::UseDpopNonce => "DPoP",
            _ => "Bearer",
        };
        let mut challenge = format!(
            "{scheme} realm=\"api\", error=\"{error}\", error_description=\"{description}\""
        );
        if let AuthError::MissingScope(scopes) = self {
            // RFC 6750 section 3: scope tokens are %x21 / %x23-5B / %x5D-7E, space-separated.
            let tokens: Vec<String> = scopes
                .iter()
                .map(|scope| {
                    scope
                        .chars()
                        .map(|c| match c {
                            '"' | '\\' => '?',
                            '!'..='~' => c,
                            _ => '?',
                        })
                        .collect()
                })
                .collect();
            challenge.push_str(&format!(", scope=\"{}\"", tokens.join(" ")));
        }
        Some(challenge)
    }
}

/// Upstream prints role lists as a Python list: `['admin', 'editor']`.
fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|i| format!("'{}'", printable(i)))
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// A claim as a debug log may show it: strings as short printable ASCII, at most four items
/// of an array, the kind of anything else.
pub(crate) fn shown_claim(value: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    match value {
        None => "none".to_owned(),
        Some(Value::String(text)) => format!("\"{}\"", printable(text)),
        Some(Value::Array(items)) => {
            let mut shown: Vec<String> = items
                .iter()
                .take(4)
                .map(|item| match item {
                    // One level only: a log line stays short whatever the token holds.
                    Value::Array(_) => "an array".to_owned(),
                    item => shown_claim(Some(item)),
                })
                .collect();
            if items.len() > 4 {
                shown.push(format!("... {} more", items.len() - 4));
            }
            format!("[{}]", shown.join(", "))
        }
        Some(Value::Number(_)) => "a number".to_owned(),
        Some(Value::Bool(_)) => "a boolean".to_owned(),
        Some(Value::Null) => "null".to_owned(),
        Some(Value::Object(_)) => "an object".to_owned(),
    }
}

/// Attacker-chosen text (an `alg` value) is echoed only as short printable ASCII.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// A message for a log line, at most `max` characters of printable ASCII and spaces: no
/// newline or escape sequence gets through.
pub(crate) fn printable_up_to(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail())
    }
}

impl std::error::Error for AuthError {}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError as _;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn role_list_is_printed_like_upstream() {
        let err = AuthError::MissingRole(vec!["editor".into(), "admin".into()]);
        assert_eq!(err.detail(), "Requires one of roles: ['editor', 'admin']");
        assert_eq!(err.status_code(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn challenge_escapes_quotes_from_attacker_text() {
        let err = AuthError::AlgorithmNotAccepted("x\"y\\z\u{e9}".into());
        let challenge = err.challenge().unwrap();
        assert!(challenge.contains("error=\"invalid_token\""));
        assert!(
            challenge.contains("Algorithm 'x'y'z?' is not accepted"),
            "{challenge}"
        );
    }

    #[test]
    fn missing_scope_names_the_scopes_in_the_challenge() {
        let err = AuthError::MissingScope(vec!["articles:write".into(), "articles:*".into()]);
        assert_eq!(err.status_code(), StatusCode::FORBIDDEN);
        assert_eq!(
            err.detail(),
            "Requires one of scopes: ['articles:write', 'articles:*']"
        );
        assert_eq!(
            err.challenge().unwrap(),
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"Requires \
             one of scopes: ['articles:write', 'articles:*']\", scope=\"articles:write articles:*\""
        );
        // Scopes given at run time (`SecurityContext::require_scope`) cannot break the header.
        let err = AuthError::MissingScope(vec!["a\"b c\\d\u{e9}".into()]);
        assert!(
            err.challenge().unwrap().ends_with(", scope=\"a?b?c?d?\""),
            "{:?}",
            err.challenge()
        );
        assert!(HeaderValue::from_str(&err.challenge().unwrap()).is_ok());
    }

    /// `InvalidReason::ALL` and `DpopReason::ALL` hold every variant: a variant added to an
    /// enum and not to its list fails to compile here.
    #[test]
    fn every_reason_is_listed() {
        for reason in InvalidReason::ALL {
            match reason {
                InvalidReason::TooLarge
                | InvalidReason::Malformed
                | InvalidReason::MissingAlgorithm
                | InvalidReason::UnknownKey
                | InvalidReason::AmbiguousKey
                | InvalidReason::KeyAlgorithmMismatch
                | InvalidReason::BadSignature
                | InvalidReason::MissingExpiry
                | InvalidReason::NotYetValid
                | InvalidReason::WrongIssuer
                | InvalidReason::WrongAudience
                | InvalidReason::DuplicateMember
                | InvalidReason::CriticalHeader
                | InvalidReason::BadIssuedAt
                | InvalidReason::IssuedInFuture
                | InvalidReason::LifetimeTooLong
                | InvalidReason::WrongType
                | InvalidReason::UnexpectedClaims
                | InvalidReason::DpopBound
                | InvalidReason::NotDpopBound
                | InvalidReason::DpopNotAccepted
                | InvalidReason::UnsupportedConfirmation => {}
            }
        }
        assert_eq!(
            InvalidReason::ALL.len(),
            InvalidReason::ALL
                .iter()
                .map(|r| r.code())
                .collect::<std::collections::HashSet<_>>()
                .len()
        );
        assert_eq!(
            DpopReason::ALL.len(),
            DpopReason::ALL
                .iter()
                .map(|r| r.code())
                .collect::<std::collections::HashSet<_>>()
                .len()
        );
    }

    #[test]
    fn missing_credentials_challenge_has_no_error_code() {
        let challenge = AuthError::MissingCredentials.challenge().unwrap();
        assert_eq!(challenge, "Bearer realm=\"api\"");
    }
}
