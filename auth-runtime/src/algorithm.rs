//! The signature algorithms the validator can accept, and JOSE media types.

use std::fmt;

use aws_lc_rs::signature::{
    self, PqdsaSigningAlgorithm, PqdsaVerificationAlgorithm, VerificationAlgorithm,
};
use serde::{Deserialize, Serialize};

/// A signature algorithm the validator can accept.
///
/// The shared-secret algorithms (HS256/384/512) are accepted only by an issuer configured
/// with a `shared_secret` and no public keys, and only with that secret: a public key never
/// doubles as an HMAC secret.
///
/// The ML-DSA levels (FIPS 204, post-quantum) are verified with keys of type `AKP`
/// (`{"kty": "AKP", "alg": "ML-DSA-65", "pub": <base64url raw public key>}`), as the JOSE
/// ML-DSA draft writes them; like every algorithm but RS256, they are accepted only when
/// `accepted_algorithms` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)] // the variant names are the JOSE algorithm names
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
    /// ML-DSA-44 (FIPS 204, NIST security category 2); JOSE name `ML-DSA-44`.
    #[serde(rename = "ML-DSA-44")]
    MlDsa44,
    /// ML-DSA-65 (category 3); JOSE name `ML-DSA-65`.
    #[serde(rename = "ML-DSA-65")]
    MlDsa65,
    /// ML-DSA-87 (category 5); JOSE name `ML-DSA-87`.
    #[serde(rename = "ML-DSA-87")]
    MlDsa87,
    /// HMAC with SHA-256, over a shared secret of at least 32 bytes.
    HS256,
    /// HMAC with SHA-384, over a shared secret of at least 48 bytes.
    HS384,
    /// HMAC with SHA-512, over a shared secret of at least 64 bytes.
    HS512,
}

impl Algorithm {
    /// Every algorithm the validator supports, in the order the docs list them.
    pub const ALL: [Algorithm; 15] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::MlDsa44,
        Algorithm::MlDsa65,
        Algorithm::MlDsa87,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ];

    /// The JOSE name (`"RS256"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::MlDsa44 => "ML-DSA-44",
            Algorithm::MlDsa65 => "ML-DSA-65",
            Algorithm::MlDsa87 => "ML-DSA-87",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    /// Whether this is an RSA algorithm (RS256/384/512, PS256/384/512).
    pub(crate) fn is_rsa(self) -> bool {
        matches!(
            self,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        )
    }

    /// Whether this is a shared-secret (HMAC) algorithm.
    pub fn is_shared_secret(self) -> bool {
        self.hmac().is_some()
    }

    /// The HMAC algorithm of HS256/384/512; `None` for the public-key ones.
    pub(crate) fn hmac(self) -> Option<aws_lc_rs::hmac::Algorithm> {
        match self {
            Algorithm::HS256 => Some(aws_lc_rs::hmac::HMAC_SHA256),
            Algorithm::HS384 => Some(aws_lc_rs::hmac::HMAC_SHA384),
            Algorithm::HS512 => Some(aws_lc_rs::hmac::HMAC_SHA512),
            _ => None,
        }
    }

    /// The shortest shared secret RFC 7518 (3.2) allows: as long as the hash; `None` for the
    /// public-key algorithms.
    pub(crate) fn min_secret_len(self) -> Option<usize> {
        self.hmac().map(|hmac| hmac.digest_algorithm().output_len())
    }

    /// Parses a JOSE name; `None` for anything not supported (including `none`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// The `jsonwebtoken` algorithm, for the ones it knows (not ML-DSA).
    #[cfg(feature = "testing")]
    pub(crate) fn to_jwt(self) -> Option<jsonwebtoken::Algorithm> {
        use jsonwebtoken::Algorithm as J;
        Some(match self {
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
            Algorithm::HS256 => J::HS256,
            Algorithm::HS384 => J::HS384,
            Algorithm::HS512 => J::HS512,
            Algorithm::MlDsa44 | Algorithm::MlDsa65 | Algorithm::MlDsa87 => return None,
        })
    }
}

/// Parses a list of public-key algorithm names (those a DPoP proof may be signed with),
/// without repeats. `Err` gives the first name that is not one, and the names to use instead.
pub fn public_key_algorithms(names: &[String]) -> Result<Vec<Algorithm>, (String, String)> {
    let mut algorithms = Vec::new();
    for name in names {
        let name = name.trim();
        let Some(alg) = Algorithm::from_name(name).filter(|alg| !alg.is_shared_secret()) else {
            let known: Vec<&str> = Algorithm::ALL
                .iter()
                .filter(|alg| !alg.is_shared_secret())
                .map(|alg| alg.as_str())
                .collect();
            return Err((name.to_owned(), known.join(", ")));
        };
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    Ok(algorithms)
}

/// One ML-DSA parameter set (FIPS 204): the one table the validator, the test kit and the
/// embedded issuer read.
pub(crate) struct MlDsaLevel {
    /// The raw public key length (FIPS 204, table 2).
    pub(crate) public_key_len: usize,
    pub(crate) verification: &'static PqdsaVerificationAlgorithm,
    pub(crate) signing: &'static PqdsaSigningAlgorithm,
}

static ML_DSA_44: MlDsaLevel = MlDsaLevel {
    public_key_len: 1312,
    verification: &signature::ML_DSA_44,
    signing: &signature::ML_DSA_44_SIGNING,
};

static ML_DSA_65: MlDsaLevel = MlDsaLevel {
    public_key_len: 1952,
    verification: &signature::ML_DSA_65,
    signing: &signature::ML_DSA_65_SIGNING,
};

static ML_DSA_87: MlDsaLevel = MlDsaLevel {
    public_key_len: 2592,
    verification: &signature::ML_DSA_87,
    signing: &signature::ML_DSA_87_SIGNING,
};

impl Algorithm {
    /// The ML-DSA parameter set of this algorithm; `None` for the classical ones.
    pub(crate) fn ml_dsa(self) -> Option<&'static MlDsaLevel> {
        match self {
            Algorithm::MlDsa44 => Some(&ML_DSA_44),
            Algorithm::MlDsa65 => Some(&ML_DSA_65),
            Algorithm::MlDsa87 => Some(&ML_DSA_87),
            _ => None,
        }
    }

    /// The aws-lc verification algorithm of a public-key algorithm (`None` for HS*). RSA keys
    /// under 2048 bits are refused by these.
    pub(crate) fn verification(self) -> Option<&'static dyn VerificationAlgorithm> {
        Some(match self {
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &signature::ED25519,
            Algorithm::MlDsa44 => ML_DSA_44.verification,
            Algorithm::MlDsa65 => ML_DSA_65.verification,
            Algorithm::MlDsa87 => ML_DSA_87.verification,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => return None,
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JOSE `typ` in the form it is compared in: trimmed, lower case, without the
/// `application/` prefix that RFC 7515 (4.1.9) lets senders leave out.
pub(crate) fn media_type(typ: &str) -> String {
    let typ = typ.trim().to_ascii_lowercase();
    match typ.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => typ,
    }
}
