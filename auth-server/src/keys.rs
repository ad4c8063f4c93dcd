//! The signing key (RS256, or ML-DSA for post-quantum tokens): created once, kept as a PKCS#8
//! PEM file readable by its owner only, so that a restart does not invalidate every token.
//! Retiring keys, of either kind, are published next to it.

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use auth_runtime::{Algorithm, ConfigError, ConfigErrorKind, KeySet};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair, PqdsaKeyPair, PqdsaSigningAlgorithm, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

const PEM_LABEL: &str = "PRIVATE KEY";

/// The algorithms `server_auth.signing_algorithm` may name.
pub(crate) const SIGNING_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::MlDsa44,
    Algorithm::MlDsa65,
    Algorithm::MlDsa87,
];

/// The ML-DSA parameter set of an algorithm; `None` for RS256.
fn ml_dsa_level(alg: Algorithm) -> Option<&'static PqdsaSigningAlgorithm> {
    auth_runtime::__private::ml_dsa_signing(alg)
}

/// A private key of either kind.
enum Pair {
    Rsa(RsaKeyPair),
    MlDsa(PqdsaKeyPair, Algorithm),
}

/// A key pair that signs tokens.
pub(crate) struct SigningKey {
    kid: String,
    alg: Algorithm,
    pair: Pair,
    jwk: Value,
}

impl SigningKey {
    /// Loads the key at `path`, or creates one for `alg` (and its folder) when the file does
    /// not exist. An existing key must be one for `alg`.
    pub(crate) fn load_or_create(path: &Path, alg: Algorithm) -> Result<SigningKey, ConfigError> {
        if path.exists() {
            return SigningKey::load(path).and_then(|key| key.expect_algorithm(path, alg));
        }
        let cannot = |what: &str| {
            ConfigError::new(
                ConfigErrorKind::SigningKey,
                format!("cannot {what} a new {alg} signing key"),
            )
        };
        let (der, pair) = match ml_dsa_level(alg) {
            Some(level) => {
                let pair = PqdsaKeyPair::generate(level).map_err(|_| cannot("generate"))?;
                let der = pair.to_pkcs8v1().map_err(|_| cannot("export"))?;
                (der.as_ref().to_vec(), Pair::MlDsa(pair, alg))
            }
            None => {
                let pair =
                    RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| cannot("generate"))?;
                let der = pair.as_der().map_err(|_| cannot("export"))?;
                (der.as_ref().to_vec(), Pair::Rsa(pair))
            }
        };
        if !write_private(path, &pem_encode(&der))? {
            // Another instance sharing the file created it first: use that one.
            return SigningKey::load(path).and_then(|key| key.expect_algorithm(path, alg));
        }
        tracing::info!(path = %path.display(), %alg, "created a new token signing key");
        SigningKey::from_pair(pair)
    }

    /// The key, when it is one for `alg`; otherwise an error that says how to switch.
    fn expect_algorithm(self, path: &Path, alg: Algorithm) -> Result<SigningKey, ConfigError> {
        if self.alg == alg {
            return Ok(self);
        }
        Err(ConfigError::new(
            ConfigErrorKind::SigningKey,
            format!(
                "{} holds an {} key, but server_auth.signing_algorithm is {alg}: to switch, point \
             server_auth.signing_key_path at a new file (created on first start) and list {} \
             in server_auth.retiring_key_paths, so that the tokens it signed stay valid",
                path.display(),
                self.alg,
                path.display()
            ),
        ))
    }

    /// Loads an existing key; a missing or unreadable file is an error.
    pub(crate) fn load(path: &Path) -> Result<SigningKey, ConfigError> {
        let text = fs::read_to_string(path).map_err(|err| {
            ConfigError::new(
                ConfigErrorKind::SigningKey,
                format!(
                    "cannot read the signing key {}: {err}; fix server_auth.signing_key_path (the \
                 file is created on first start when it does not exist)",
                    path.display()
                ),
            )
        })?;
        warn_if_readable_by_others(path);
        let der = pem_decode(&text).ok_or_else(|| {
            ConfigError::new(
                ConfigErrorKind::SigningKey,
                format!(
                    "{} is not a PEM `{PEM_LABEL}` (PKCS#8) file",
                    path.display()
                ),
            )
        })?;
        let ml_dsa = || {
            SIGNING_ALGORITHMS.into_iter().find_map(|alg| {
                let pair = PqdsaKeyPair::from_pkcs8(ml_dsa_level(alg)?, &der).ok()?;
                Some(Pair::MlDsa(pair, alg))
            })
        };
        let pair = match RsaKeyPair::from_pkcs8(&der) {
            Ok(pair) => Pair::Rsa(pair),
            Err(rsa_err) => ml_dsa().ok_or_else(|| {
                ConfigError::new(
                    ConfigErrorKind::SigningKey,
                    format!(
                        "{} holds neither a usable RSA key ({rsa_err}) nor an ML-DSA key",
                        path.display()
                    ),
                )
            })?,
        };
        SigningKey::from_pair(pair)
    }

    fn from_pair(pair: Pair) -> Result<SigningKey, ConfigError> {
        // The kid is the RFC 7638 thumbprint: SHA-256 over the required members, in
        // lexicographic order, no spaces (for AKP keys: `alg`, `kty`, `pub`).
        let thumbprint = |canonical: &str| {
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
        };
        let (alg, kid, jwk) = match &pair {
            Pair::Rsa(rsa) => {
                let components = RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
                let n = URL_SAFE_NO_PAD.encode(strip_leading_zeros(&components.n));
                let e = URL_SAFE_NO_PAD.encode(strip_leading_zeros(&components.e));
                let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
                let jwk =
                    json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": n, "e": e});
                (Algorithm::RS256, kid, jwk)
            }
            Pair::MlDsa(ml_dsa, alg) => {
                let alg = *alg;
                let public = URL_SAFE_NO_PAD.encode(ml_dsa.public_key().as_ref());
                let kid = thumbprint(&format!(
                    r#"{{"alg":"{alg}","kty":"AKP","pub":"{public}"}}"#
                ));
                let jwk = json!({"kty": "AKP", "kid": kid, "alg": alg.as_str(), "use": "sig", "pub": public});
                (alg, kid, jwk)
            }
        };
        Ok(SigningKey {
            kid,
            alg,
            pair,
            jwk,
        })
    }

    /// The key's `kid`, its RFC 7638 thumbprint.
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as a compact JWS with the key's algorithm.
    pub(crate) fn sign(&self, claims: &Value) -> Result<String, ()> {
        let header = json!({"alg": self.alg.as_str(), "typ": "JWT", "kid": self.kid});
        let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(drop)?);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(drop)?));
        let signature = match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    token.as_bytes(),
                    &mut signature,
                )
                .map_err(drop)?;
                signature
            }
            Pair::MlDsa(pair, _) => {
                let mut signature = vec![0; pair.algorithm().signature_len()];
                let len = pair.sign(token.as_bytes(), &mut signature).map_err(drop)?;
                signature.truncate(len);
                signature
            }
        };
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

/// The current key and the retiring ones, as JWKS and as a key set for the validator.
pub(crate) struct KeyRing {
    pub(crate) current: SigningKey,
    pub(crate) jwks: Value,
    pub(crate) key_set: Arc<KeySet>,
    /// The algorithms of the published keys, the current one's first.
    pub(crate) algorithms: Vec<Algorithm>,
}

impl KeyRing {
    pub(crate) fn open(
        current: &Path,
        alg: Algorithm,
        retiring: &[impl AsRef<Path>],
    ) -> Result<KeyRing, ConfigError> {
        let current = SigningKey::load_or_create(current, alg)?;
        let mut keys = vec![current.jwk.clone()];
        let mut algorithms = vec![current.alg];
        for path in retiring {
            let old = SigningKey::load(path.as_ref())?;
            if old.kid != current.kid {
                keys.push(old.jwk);
                if !algorithms.contains(&old.alg) {
                    algorithms.push(old.alg);
                }
            }
        }
        let jwks = json!({ "keys": keys });
        let body = serde_json::to_vec(&jwks)
            .map_err(|err| ConfigError::new(ConfigErrorKind::SigningKey, err.to_string()))?;
        let key_set = KeySet::from_jwks_json(&body)
            .map_err(|err| ConfigError::new(ConfigErrorKind::SigningKey, err.to_string()))?;
        Ok(KeyRing {
            current,
            jwks,
            key_set: Arc::new(key_set),
            algorithms,
        })
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

fn pem_encode(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {PEM_LABEL}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {PEM_LABEL}-----\n"));
    pem
}

fn pem_decode(text: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {PEM_LABEL}-----");
    let end = format!("-----END {PEM_LABEL}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text[start..].find(&end)? + start;
    let body: String = text[start..stop].split_whitespace().collect();
    STANDARD.decode(body).ok()
}

/// Writes a new file that only its owner can read (mode 0600 on Unix), whole or not at all:
/// the contents go to a temporary file first, then are linked into place, which fails if
/// the file appeared meanwhile. `false` when it did (instances starting together).
fn write_private(path: &Path, contents: &str) -> Result<bool, ConfigError> {
    let fail = |err: std::io::Error| {
        ConfigError::new(
            ConfigErrorKind::SigningKey,
            format!(
                "cannot create the signing key {}: {err}; make its folder writable or set \
             server_auth.signing_key_path",
                path.display()
            ),
        )
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| fail(std::io::Error::other("no randomness")))?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", u64::from_le_bytes(nonce)));
    let temporary = std::path::PathBuf::from(temporary);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| fs::hard_link(&temporary, path));
    let _ = fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(fail(err)),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "the signing key is readable by other users; run `chmod 600` on it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
