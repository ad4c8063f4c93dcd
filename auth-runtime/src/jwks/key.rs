//! One JWK, parsed once into the crypto library's form of a verifying key.
//!
//! RSA, EC and OKP keys are read through `jsonwebtoken`'s JWK type; ML-DSA keys
//! (`kty: "AKP"`, from the JOSE ML-DSA draft) are read here, since that type does not know
//! them. Every kind ends in one aws-lc `ParsedPublicKey` per algorithm it may verify.

use std::fmt;

use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use serde::Deserialize as _;

use crate::algorithm::Algorithm;

/// The kinds of public key the validator can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
    /// An `AKP` key of one ML-DSA level: the JWK's `alg` is required and fixes the level.
    MlDsa(Algorithm),
    /// A shared secret, from the configuration only (never from a key set or a PEM file).
    Hmac,
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        (self == KeyKind::Rsa && alg.is_rsa())
            || matches!(
                (self, alg),
                (KeyKind::P256, Algorithm::ES256)
                    | (KeyKind::P384, Algorithm::ES384)
                    | (KeyKind::Ed25519, Algorithm::EdDSA)
            )
            || self == KeyKind::MlDsa(alg)
            || (self == KeyKind::Hmac && alg.is_shared_secret())
    }
}

/// The raw public key length of an ML-DSA level; `None` for other algorithms.
fn ml_dsa_public_key_len(alg: Algorithm) -> Option<usize> {
    alg.ml_dsa().map(|level| level.public_key_len)
}

/// Why a JWK cannot be used to verify signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Its `use` is not `sig`.
    NotForSigning,
    /// A key parameter is not base64url.
    NotBase64Url,
    /// Its curve (named here) is not supported.
    UnsupportedCurve(String),
    /// Its EC coordinates have the wrong length for the curve.
    CoordinateLength,
    /// A symmetric (`oct`) key: never used, since anyone who can read the set could forge
    /// tokens with it.
    Symmetric,
    /// Its key type is not supported.
    UnsupportedKeyType,
    /// Its `alg` (named here) is not supported.
    UnsupportedAlgorithm(String),
    /// The key material does not parse (the crypto library's reason); RSA keys under 2048
    /// bits end here.
    Unparsable(String),
    /// Its `alg` does not fit its key type.
    AlgorithmMismatch,
    /// An `AKP` key without `alg`: the draft requires it, and it names the ML-DSA level.
    MissingAlgorithm,
    /// Its `pub` has the wrong length for its ML-DSA level.
    KeyLength,
    /// It carries private key material (`d`, `priv`): whoever reads the set can sign with
    /// it, so it proves nothing.
    PrivateKey,
    /// Not a JWK object (the parser's reason).
    NotJwk(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotForSigning => f.write_str("its `use` is not `sig`"),
            KeyError::NotBase64Url => f.write_str("a key parameter is not base64url"),
            KeyError::UnsupportedCurve(curve) => write!(f, "curve {curve} is not supported"),
            KeyError::CoordinateLength => f.write_str("its coordinates have the wrong length"),
            KeyError::Symmetric => f.write_str("kty `oct` is refused"),
            KeyError::UnsupportedKeyType => f.write_str("its key type is not supported"),
            KeyError::UnsupportedAlgorithm(alg) => write!(f, "its alg {alg} is not supported"),
            KeyError::Unparsable(why) => write!(f, "it does not parse: {why}"),
            KeyError::AlgorithmMismatch => f.write_str("its alg does not fit its key type"),
            KeyError::MissingAlgorithm => f.write_str("an AKP key must name its alg"),
            KeyError::KeyLength => f.write_str("its `pub` has the wrong length for its alg"),
            KeyError::PrivateKey => {
                f.write_str("it carries private key material, published for anyone to read")
            }
            KeyError::NotJwk(why) => write!(f, "it is not a JWK: {why}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// Largest signature decoded: ML-DSA-87 (4627 bytes; RSA-8192 is 1024).
const MAX_SIGNATURE_BYTES: usize = 4627;

/// One public key (or an issuer's shared secret), parsed once, ready to verify signatures.
///
/// The key is parsed into the crypto library's own form for each algorithm it may verify,
/// so that a verification does no key parsing at all.
pub struct VerifyingKey {
    pub(super) kid: Option<String>,
    kind: KeyKind,
    /// The JWK's own `alg`, when it pins one.
    pinned: Option<Algorithm>,
    parsed: Vec<(Algorithm, Verifier)>,
}

/// A key in the crypto library's form, for one algorithm.
enum Verifier {
    Public(ParsedPublicKey),
    /// The secret as an HMAC key (large, and rare: boxed); its bytes are not kept anywhere
    /// else.
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Parses one member of a JWKS `keys` array: any key type [`from_jwk`](Self::from_jwk)
    /// reads, and ML-DSA keys (`{"kty": "AKP", "alg": "ML-DSA-65", "pub": ...}`). A key
    /// carrying private material (`d`, `priv`) is refused.
    pub fn from_json(value: &serde_json::Value) -> Result<VerifyingKey, KeyError> {
        let Some(object) = value.as_object() else {
            return Err(KeyError::NotJwk("not a JSON object".to_owned()));
        };
        if object.contains_key("d") || object.contains_key("priv") {
            return Err(KeyError::PrivateKey);
        }
        if object.get("kty").and_then(|kty| kty.as_str()) == Some("AKP") {
            return VerifyingKey::from_akp(value);
        }
        let jwk = Jwk::deserialize(value).map_err(|err| KeyError::NotJwk(err.to_string()))?;
        VerifyingKey::from_jwk(&jwk)
    }

    /// An `AKP` (ML-DSA) key: `alg` names the level, `pub` is the raw public key.
    fn from_akp(jwk: &serde_json::Value) -> Result<VerifyingKey, KeyError> {
        #[derive(serde::Deserialize)]
        struct Akp {
            alg: Option<String>,
            #[serde(rename = "pub")]
            public: String,
            kid: Option<String>,
            #[serde(rename = "use")]
            usage: Option<String>,
        }
        let akp = Akp::deserialize(jwk).map_err(|err| KeyError::NotJwk(err.to_string()))?;
        if akp.usage.as_deref().is_some_and(|usage| usage != "sig") {
            return Err(KeyError::NotForSigning);
        }
        let name = akp.alg.ok_or(KeyError::MissingAlgorithm)?;
        let alg = Algorithm::from_name(&name)
            .filter(|alg| ml_dsa_public_key_len(*alg).is_some())
            .ok_or(KeyError::UnsupportedAlgorithm(name))?;
        let public = URL_SAFE_NO_PAD
            .decode(&akp.public)
            .map_err(|_| KeyError::NotBase64Url)?;
        if Some(public.len()) != ml_dsa_public_key_len(alg) {
            return Err(KeyError::KeyLength);
        }
        VerifyingKey::parse(akp.kid, KeyKind::MlDsa(alg), Some(alg), &public)
    }

    /// Parses a JWK. `Err` says why it cannot be used (a key not for signatures, an
    /// unsupported type, a key that does not parse, an RSA key under 2048 bits); a key set
    /// skips such keys.
    pub fn from_jwk(jwk: &Jwk) -> Result<VerifyingKey, KeyError> {
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return Err(KeyError::NotForSigning);
        }
        let decode = |field: &str| {
            URL_SAFE_NO_PAD
                .decode(field)
                .map_err(|_| KeyError::NotBase64Url)
        };
        let (kind, public) = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => (
                KeyKind::Rsa,
                rsa_public_key_der(&decode(&rsa.n)?, &decode(&rsa.e)?),
            ),
            AlgorithmParameters::EllipticCurve(ec) => {
                let (kind, len) = match ec.curve {
                    EllipticCurve::P256 => (KeyKind::P256, 32),
                    EllipticCurve::P384 => (KeyKind::P384, 48),
                    ref other => return Err(KeyError::UnsupportedCurve(format!("{other:?}"))),
                };
                let point = ec_point(&decode(&ec.x)?, &decode(&ec.y)?, len)
                    .ok_or(KeyError::CoordinateLength)?;
                (kind, point)
            }
            AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
                EllipticCurve::Ed25519 => (KeyKind::Ed25519, decode(&okp.x)?),
                ref other => return Err(KeyError::UnsupportedCurve(format!("{other:?}"))),
            },
            // A symmetric key in a public key set is never used: it would let anyone who
            // can read the set forge tokens.
            AlgorithmParameters::OctetKey(_) => return Err(KeyError::Symmetric),
            _ => return Err(KeyError::UnsupportedKeyType),
        };
        let pinned = match jwk.common.key_algorithm {
            None => None,
            Some(alg) => match key_algorithm(alg) {
                Some(alg) => Some(alg),
                None => return Err(KeyError::UnsupportedAlgorithm(format!("{alg:?}"))),
            },
        };
        VerifyingKey::parse(jwk.common.key_id.clone(), kind, pinned, &public)
    }

    /// Parses `public` once for each algorithm the key may verify.
    fn parse(
        kid: Option<String>,
        kind: KeyKind,
        pinned: Option<Algorithm>,
        public: &[u8],
    ) -> Result<VerifyingKey, KeyError> {
        let mut parsed = Vec::new();
        for alg in Algorithm::ALL {
            if !kind.fits(alg) || pinned.is_some_and(|pinned| pinned != alg) {
                continue;
            }
            // A public-key kind fits only public-key algorithms.
            let Some(verification) = alg.verification() else {
                continue;
            };
            let key = ParsedPublicKey::new(verification, public)
                .map_err(|err| KeyError::Unparsable(err.to_string()))?;
            parsed.push((alg, Verifier::Public(key)));
        }
        if parsed.is_empty() {
            return Err(KeyError::AlgorithmMismatch);
        }
        Ok(VerifyingKey {
            kid,
            kind,
            pinned,
            parsed,
        })
    }

    /// A public key in DER, as a PEM file holds it: a `SubjectPublicKeyInfo` (`PUBLIC KEY`:
    /// RSA, P-256, P-384, Ed25519 or ML-DSA) or, with `pkcs1`, an `RSAPublicKey` (`RSA PUBLIC
    /// KEY`). It has no `kid` and no pinned `alg`: the issuer's `accepted_algorithms` decide.
    pub(crate) fn from_public_key_der(der: &[u8], pkcs1: bool) -> Result<VerifyingKey, KeyError> {
        let kinds: &[(KeyKind, Algorithm)] = if pkcs1 {
            &[(KeyKind::Rsa, Algorithm::RS256)]
        } else {
            &[
                (KeyKind::Rsa, Algorithm::RS256),
                (KeyKind::P256, Algorithm::ES256),
                (KeyKind::P384, Algorithm::ES384),
                (KeyKind::Ed25519, Algorithm::EdDSA),
                (KeyKind::MlDsa(Algorithm::MlDsa44), Algorithm::MlDsa44),
                (KeyKind::MlDsa(Algorithm::MlDsa65), Algorithm::MlDsa65),
                (KeyKind::MlDsa(Algorithm::MlDsa87), Algorithm::MlDsa87),
            ]
        };
        // The crypto library reads the key's type from the DER and refuses another one, so
        // at most one kind parses.
        let kind = kinds.iter().find_map(|(kind, probe)| {
            let verification = probe.verification()?;
            ParsedPublicKey::new(verification, der).ok().map(|_| *kind)
        });
        match kind {
            Some(kind) => VerifyingKey::parse(None, kind, None, der),
            None => Err(KeyError::Unparsable(
                "not an RSA (2048 bits or more), P-256, P-384, Ed25519 or ML-DSA public key"
                    .to_owned(),
            )),
        }
    }

    /// An issuer's shared secret, as an HMAC key for each of `algorithms` that is HS*. The
    /// configuration checked its length and that the issuer has no public keys.
    pub(crate) fn from_shared_secret(secret: &[u8], algorithms: &[Algorithm]) -> VerifyingKey {
        let parsed = algorithms
            .iter()
            .filter_map(|alg| {
                let hmac = alg.hmac()?;
                Some((
                    *alg,
                    Verifier::Hmac(Box::new(aws_lc_rs::hmac::Key::new(hmac, secret))),
                ))
            })
            .collect();
        VerifyingKey {
            kid: None,
            kind: KeyKind::Hmac,
            pinned: None,
            parsed,
        }
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether a token signed with `alg` may be checked with this key: the key type must fit
    /// the algorithm, and a key that pins an `alg` accepts only that one.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.parsed.iter().any(|(parsed, _)| *parsed == alg)
    }

    /// Checks `signature` (base64url, the token's third part) over `message` (the first two
    /// parts with their dot).
    pub(crate) fn verify(&self, message: &[u8], signature: &str, alg: Algorithm) -> bool {
        let Some((_, key)) = self.parsed.iter().find(|(parsed, _)| *parsed == alg) else {
            return false;
        };
        let mut decoded = [0u8; MAX_SIGNATURE_BYTES];
        let Ok(len) = URL_SAFE_NO_PAD.decode_slice(signature, &mut decoded) else {
            return false;
        };
        match key {
            Verifier::Public(key) => key.verify_sig(message, &decoded[..len]).is_ok(),
            // Compared in constant time.
            Verifier::Hmac(key) => aws_lc_rs::hmac::verify(key, message, &decoded[..len]).is_ok(),
        }
    }
}

fn key_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// An uncompressed EC point (SEC 1: `0x04`, then the coordinates), from coordinates of `len`
/// bytes each; `None` when either has another length.
pub(crate) fn ec_point(x: &[u8], y: &[u8], len: usize) -> Option<Vec<u8>> {
    if x.len() != len || y.len() != len {
        return None;
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    Some(point)
}

/// A DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017).
pub(crate) fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(len: usize, out: &mut Vec<u8>) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn integer(value: &[u8], out: &mut Vec<u8>) {
        let start = value.iter().position(|b| *b != 0).unwrap_or(value.len());
        let value = &value[start..];
        let pad = value.first().is_none_or(|b| b & 0x80 != 0);
        out.push(0x02);
        length(value.len() + usize::from(pad), out);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(value);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(n, &mut body);
    integer(e, &mut body);
    let mut der = Vec::with_capacity(body.len() + 4);
    der.push(0x30);
    length(body.len(), &mut der);
    der.extend_from_slice(&body);
    der
}
