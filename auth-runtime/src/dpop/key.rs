//! The public key of a DPoP proof (its `jwk` header), read for the one algorithm the proof
//! names, and its RFC 7638 thumbprint (what a bound token's `cnf.jkt` holds).

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::DpopReason;
use crate::algorithm::Algorithm;
use crate::jwks::{ec_point, rsa_public_key_der};

/// Members that only a private key (or a secret) has: a proof carrying one is refused, since
/// a client that publishes its private key proves nothing.
const PRIVATE_MEMBERS: [&str; 10] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv", "seed"];

/// A proof's public key, parsed for its algorithm, and the key's thumbprint.
pub(crate) struct ProofKey {
    pub(crate) key: ParsedPublicKey,
    /// The base64url SHA-256 thumbprint (RFC 7638).
    pub(crate) thumbprint: String,
}

/// The algorithm a proof's `alg` (or its key's) names. `Ed25519` is RFC 9864's fully specified
/// name for EdDSA over Ed25519, the one curve EdDSA is taken with here. Clients sign proofs
/// under that name (panva's `dpop` does for every Ed25519 key) and authorization servers take
/// it (`oidc-provider`), so it is read as `EdDSA`: `EdDSA` in `dpop_algorithms` accepts both.
pub(crate) fn proof_algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "Ed25519" => Some(Algorithm::EdDSA),
        _ => Algorithm::from_name(name),
    }
}

/// Reads `jwk` as a public key for `alg`: the key type and curve must fit the algorithm, an
/// `alg` member must name it, and no private member may be present.
pub(crate) fn proof_key(jwk: &Map<String, Value>, alg: Algorithm) -> Result<ProofKey, DpopReason> {
    if PRIVATE_MEMBERS.iter().any(|name| jwk.contains_key(*name)) {
        return Err(DpopReason::PrivateKey);
    }
    let text = |name: &str| match jwk.get(name) {
        Some(Value::String(text)) => Ok(text.as_str()),
        _ => Err(DpopReason::BadKey),
    };
    let bytes = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(text(name)?)
            .map_err(|_| DpopReason::BadKey)
    };
    match jwk.get("alg") {
        None => {}
        Some(Value::String(pinned)) if proof_algorithm(pinned) == Some(alg) => {}
        Some(_) => return Err(DpopReason::KeyAlgorithmMismatch),
    }
    match jwk.get("use") {
        None => {}
        Some(Value::String(usage)) if usage == "sig" => {}
        Some(_) => return Err(DpopReason::BadKey),
    }
    let (public, members) = match text("kty")? {
        "EC" => {
            let crv = text("crv")?;
            let (fits, len) = match crv {
                "P-256" => (alg == Algorithm::ES256, 32),
                "P-384" => (alg == Algorithm::ES384, 48),
                _ => return Err(DpopReason::BadKey),
            };
            if !fits {
                return Err(DpopReason::KeyAlgorithmMismatch);
            }
            let point = ec_point(&bytes("x")?, &bytes("y")?, len).ok_or(DpopReason::BadKey)?;
            let members = format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                text("x")?,
                text("y")?
            );
            (point, members)
        }
        "OKP" => {
            if text("crv")? != "Ed25519" {
                return Err(DpopReason::BadKey);
            }
            if alg != Algorithm::EdDSA {
                return Err(DpopReason::KeyAlgorithmMismatch);
            }
            let members = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, text("x")?);
            (bytes("x")?, members)
        }
        "RSA" => {
            if !alg.is_rsa() {
                return Err(DpopReason::KeyAlgorithmMismatch);
            }
            let members = format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                text("e")?,
                text("n")?
            );
            let (n, e) = (bytes("n")?, bytes("e")?);
            // RFC 7518 6.3.1.1: the minimal form, without a leading zero octet; another form
            // would give the same key a second thumbprint.
            if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
                return Err(DpopReason::BadKey);
            }
            (rsa_public_key_der(&n, &e), members)
        }
        "AKP" => {
            // The ML-DSA draft requires `alg` on an AKP key; it was compared above.
            let level = alg.ml_dsa().ok_or(DpopReason::KeyAlgorithmMismatch)?;
            if !jwk.contains_key("alg") {
                return Err(DpopReason::BadKey);
            }
            let public = bytes("pub")?;
            if public.len() != level.public_key_len {
                return Err(DpopReason::BadKey);
            }
            let members = format!(
                r#"{{"alg":"{}","kty":"AKP","pub":"{}"}}"#,
                alg.as_str(),
                text("pub")?
            );
            (public, members)
        }
        _ => return Err(DpopReason::BadKey),
    };
    let verification = alg.verification().ok_or(DpopReason::AlgorithmNotAccepted)?;
    let key = ParsedPublicKey::new(verification, &public).map_err(|_| DpopReason::BadKey)?;
    Ok(ProofKey {
        key,
        thumbprint: URL_SAFE_NO_PAD.encode(digest(&SHA256, members.as_bytes())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    /// RFC 7638 section 3.1: the thumbprint of its example RSA key.
    #[test]
    fn the_thumbprint_of_the_rfc_example_key() {
        let jwk = object(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }));
        let key = proof_key(&jwk, Algorithm::RS256).unwrap();
        assert_eq!(
            key.thumbprint,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn ed25519_is_the_fully_specified_name_of_eddsa_and_nothing_else_is_renamed() {
        assert_eq!(proof_algorithm("Ed25519"), Some(Algorithm::EdDSA));
        assert_eq!(proof_algorithm("EdDSA"), Some(Algorithm::EdDSA));
        assert_eq!(proof_algorithm("ES256"), Some(Algorithm::ES256));
        for other in ["Ed448", "ed25519", "none"] {
            assert_eq!(proof_algorithm(other), None, "{other}");
        }
        // A key pinned to either name is an EdDSA key.
        let key = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        for pinned in ["Ed25519", "EdDSA"] {
            let jwk = object(json!({"kty": "OKP", "crv": "Ed25519", "x": key, "alg": pinned}));
            assert!(proof_key(&jwk, Algorithm::EdDSA).is_ok(), "{pinned}");
        }
    }

    #[test]
    fn private_members_are_refused_whatever_the_type() {
        for member in PRIVATE_MEMBERS {
            let mut jwk = object(json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}));
            jwk.insert(member.to_owned(), json!("AAAA"));
            assert_eq!(
                proof_key(&jwk, Algorithm::EdDSA).err(),
                Some(DpopReason::PrivateKey),
                "{member}"
            );
        }
    }

    #[test]
    fn a_key_of_another_type_than_the_algorithm_is_refused() {
        let ec = object(json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}));
        assert_eq!(
            proof_key(&ec, Algorithm::EdDSA).err(),
            Some(DpopReason::KeyAlgorithmMismatch)
        );
        let pinned = object(json!({"kty": "EC", "crv": "P-256", "alg": "ES384"}));
        assert_eq!(
            proof_key(&pinned, Algorithm::ES256).err(),
            Some(DpopReason::KeyAlgorithmMismatch)
        );
        let pinned = object(json!({"kty": "OKP", "crv": "Ed25519", "alg": "ES256"}));
        assert_eq!(
            proof_key(&pinned, Algorithm::EdDSA).err(),
            Some(DpopReason::KeyAlgorithmMismatch)
        );
        let oct = object(json!({"kty": "oct"}));
        assert_eq!(
            proof_key(&oct, Algorithm::ES256).err(),
            Some(DpopReason::BadKey)
        );
    }
}
