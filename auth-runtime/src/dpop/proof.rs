//! One DPoP proof checked in full (RFC 9449 section 4.3): its form, its key and signature,
//! then what it claims about the request.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::DpopReason;
use super::htu::normalise;
use super::key::{proof_algorithm, proof_key};
use crate::algorithm::{Algorithm, media_type};
use crate::strict_json::{self, StrictError};

/// Largest proof read, in bytes, checked before any parsing: an ML-DSA-87 proof (its key
/// and signature in base64url) is about 10.5 KB.
pub(crate) const MAX_PROOF_BYTES: usize = 16 * 1024;

/// Largest signature decoded: ML-DSA-87.
const MAX_SIGNATURE_BYTES: usize = 4627;

/// Longest `jti` taken.
const MAX_JTI_BYTES: usize = 256;

/// What the request says, against which a proof is checked.
pub(crate) struct Expected<'a> {
    /// The request's method.
    pub(crate) method: &'a str,
    /// The URLs the request may have been sent to, normalised (see [`normalise`]): one,
    /// or one per configured `public_url`.
    pub(crate) urls: &'a [String],
    /// The access token sent with the proof, whose hash `ath` must be; `None` at a token
    /// endpoint, where no access token is sent (and `ath` is not read).
    pub(crate) token: Option<&'a str>,
    /// The thumbprint the token is bound to; `None` where any key may prove (a token
    /// endpoint binding what it issues to the proof's key).
    pub(crate) jkt: Option<&'a str>,
    /// The algorithms the token's issuer accepts for proofs.
    pub(crate) algorithms: &'a [Algorithm],
    /// How old a proof may be, in seconds, before the leeway.
    pub(crate) max_age: u64,
    /// Clock skew tolerated on `iat`, in seconds.
    pub(crate) leeway: u64,
    /// How far ahead `iat` may be, in seconds (the leeway, when that is less).
    pub(crate) future: u64,
    /// The current time, in seconds since the epoch.
    pub(crate) now: u64,
}

/// A proof that passed every check but the replay check: what that check needs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Identifies the proof's key: its thumbprint's first bytes.
    pub(crate) key: u64,
    /// Identifies the proof among its key's: its key and `jti`, hashed.
    pub(crate) id: u64,
    /// The last second at which it would still be accepted.
    pub(crate) expires: u64,
    /// The RFC 7638 thumbprint of the proof's key.
    pub(crate) thumbprint: String,
    /// The server nonce the proof carries, if any.
    pub(crate) nonce: Option<String>,
}

/// Checks `proof` against `expected`, in an order that costs an attacker's proof as little as
/// possible: the size before any decoding, the header and key before the signature, and no
/// claim trusted before the signature holds.
pub(crate) fn check(proof: &str, expected: &Expected<'_>) -> Result<Checked, DpopReason> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(DpopReason::TooLarge);
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DpopReason::Malformed);
    };
    let header = decode_object(header_b64)?;
    if header.contains_key("crit") {
        return Err(DpopReason::CriticalHeader);
    }
    match header.get("typ") {
        Some(Value::String(typ)) if media_type(typ) == "dpop+jwt" => {}
        _ => return Err(DpopReason::WrongType),
    }
    let alg = match header.get("alg") {
        Some(Value::String(name)) => proof_algorithm(name)
            .filter(|alg| expected.algorithms.contains(alg))
            .ok_or(DpopReason::AlgorithmNotAccepted)?,
        _ => return Err(DpopReason::AlgorithmNotAccepted),
    };
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(DpopReason::BadKey);
    };
    let key = proof_key(jwk, alg)?;
    if expected.jkt.is_some_and(|jkt| key.thumbprint != jkt) {
        return Err(DpopReason::WrongKey);
    }
    let mut signature = [0u8; MAX_SIGNATURE_BYTES];
    let len = URL_SAFE_NO_PAD
        .decode_slice(signature_b64, &mut signature)
        .map_err(|_| DpopReason::BadSignature)?;
    let signed = &proof.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    if key.key.verify_sig(signed, &signature[..len]).is_err() {
        return Err(DpopReason::BadSignature);
    }

    let claims = decode_object(payload_b64)?;
    let text = |name: &str| match claims.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.as_str()),
        _ => Err(DpopReason::MissingClaim),
    };
    let jti = text("jti")?;
    if jti.len() > MAX_JTI_BYTES {
        return Err(DpopReason::MissingClaim);
    }
    // A NumericDate may have a fraction: it is cut off.
    let iat = match claims.get("iat") {
        Some(Value::Number(iat)) => iat
            .as_u64()
            .or_else(|| iat.as_f64().filter(|iat| *iat >= 0.0).map(|iat| iat as u64))
            .ok_or(DpopReason::MissingClaim)?,
        _ => return Err(DpopReason::MissingClaim),
    };
    let (htm, htu) = (text("htm")?, text("htu")?);
    if htm != expected.method {
        return Err(DpopReason::WrongMethod);
    }
    let htu = normalise(htu).ok_or(DpopReason::WrongUrl)?;
    if !expected.urls.contains(&htu) {
        return Err(DpopReason::WrongUrl);
    }
    if iat
        > expected
            .now
            .saturating_add(expected.future.min(expected.leeway))
    {
        return Err(DpopReason::IssuedInFuture);
    }
    let expires = iat
        .saturating_add(expected.max_age)
        .saturating_add(expected.leeway);
    if expires < expected.now {
        return Err(DpopReason::Stale);
    }
    if let Some(token) = expected.token
        && text("ath")? != token_hash(token)
    {
        return Err(DpopReason::WrongTokenHash);
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(nonce)) => Some(nonce.clone()),
        Some(_) => return Err(DpopReason::MissingClaim),
    };
    Ok(Checked {
        key: key_id(&key.thumbprint),
        id: proof_id(&key.thumbprint, jti),
        expires,
        thumbprint: key.thumbprint,
        nonce,
    })
}

/// The base64url SHA-256 of an access token: a proof's `ath`.
pub(crate) fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, token.as_bytes()))
}

/// A proof's identity for the replay record: its key and `jti`, so that two clients'
/// `jti`s never meet, and one client cannot use up another's.
fn proof_id(thumbprint: &str, jti: &str) -> u64 {
    let mut input = Vec::with_capacity(thumbprint.len() + 1 + jti.len());
    input.extend_from_slice(thumbprint.as_bytes());
    input.push(0);
    input.extend_from_slice(jti.as_bytes());
    let hash = digest(&SHA256, &input);
    let mut id = [0u8; 8];
    id.copy_from_slice(&hash.as_ref()[..8]);
    u64::from_le_bytes(id)
}

/// A key's identity for the replay record: the first bytes of its thumbprint (a SHA-256).
fn key_id(thumbprint: &str) -> u64 {
    let mut hash = [0u8; 33];
    // A thumbprint made here is always 32 bytes in base64url; were it not, the key would be
    // the zeros, which only puts such keys in one record.
    let _ = URL_SAFE_NO_PAD.decode_slice(thumbprint, &mut hash);
    let mut id = [0u8; 8];
    id.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(id)
}

/// A base64url part holding a JSON object, read strictly.
fn decode_object(part: &str) -> Result<serde_json::Map<String, Value>, DpopReason> {
    let json = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| DpopReason::Malformed)?;
    strict_json::object(&json).map_err(|err| match err {
        StrictError::Malformed => DpopReason::Malformed,
        StrictError::Duplicate => DpopReason::DuplicateMember,
    })
}
