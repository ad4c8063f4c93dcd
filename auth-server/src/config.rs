//! The `server_auth` section, read through figment like `auth_client` (environment:
//! `SERVER_AUTH__ADMIN_PASSWORD=...`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use auth_runtime::ConfigError;
use auth_runtime::config::{EnvSection, explain};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::wallet::WalletAlgorithm;

/// The figment section this crate reads.
pub const SECTION: &str = "server_auth";

/// The standard figment of an app that embeds the issuer: the YAML file at `yaml_path`
/// (skipped when it does not exist), then the `AUTH_CLIENT__*` and `SERVER_AUTH__*`
/// environment variables on top. String settings stay exactly as written
/// (`SERVER_AUTH__ADMIN_PASSWORD=123456` is the text `123456`), and an error never repeats the
/// value of a secret-looking key such as `admin_password`.
///
/// ```no_run
/// let figment = auth_server::config::figment_from("config.yaml");
/// let (issuer, auth) = auth_server::embed(&figment)?;
/// # Ok::<(), auth_runtime::ConfigError>(())
/// ```
pub fn figment_from(yaml_path: impl AsRef<Path>) -> Figment {
    auth_runtime::config::figment_from(yaml_path).merge(EnvSection::new(
        "SERVER_AUTH",
        SECTION,
        &RawServerConfig::default(),
    ))
}

/// The `server_auth` section as written, before checking. Its `Debug` output never shows
/// `admin_password`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawServerConfig {
    /// `iss` of every token issued. Default `http://localhost:8100`.
    pub issuer: String,
    /// `aud` of every token issued. Required.
    pub audience: String,
    /// Lifetime of access tokens. Default 15.
    pub access_token_expire_minutes: u64,
    /// Lifetime of refresh tokens. Default 7.
    pub refresh_token_expire_days: u64,
    /// Lifetime of a wallet challenge. Default 120.
    pub challenge_ttl_seconds: u64,
    /// Wallet algorithms accepted at sign-in. Default all: `ML-DSA-65`, `Ed25519`, `secp256k1`.
    pub supported_wallet_algorithms: Vec<String>,
    /// Enables password login for one bootstrap admin. Default `false`.
    pub auto_create_admin: bool,
    /// The admin's e-mail (the login name).
    pub admin_email: String,
    /// The admin's password: plain text (hashed with argon2id at start-up) or an argon2id
    /// PHC string (`$argon2id$v=19$...`).
    pub admin_password: String,
    /// Where the RS256 signing key is kept (PKCS#8 PEM, owner-only permissions); created on
    /// first start. Default `auth-data/signing-key.pem`.
    pub signing_key_path: PathBuf,
    /// Keys that no longer sign but whose tokens are still accepted: published in the JWKS
    /// so that rotation needs no downtime.
    pub retiring_key_paths: Vec<PathBuf>,
    /// Most challenges pending at once; beyond it, `/challenge` answers 503. Default 10000.
    pub max_pending_challenges: usize,
    /// Most refresh tokens held at once; beyond it, sign-in answers 503. Default 100000.
    pub max_refresh_tokens: usize,
}

impl fmt::Debug for RawServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.admin_password.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("RawServerConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field(
                "access_token_expire_minutes",
                &self.access_token_expire_minutes,
            )
            .field("refresh_token_expire_days", &self.refresh_token_expire_days)
            .field("challenge_ttl_seconds", &self.challenge_ttl_seconds)
            .field(
                "supported_wallet_algorithms",
                &self.supported_wallet_algorithms,
            )
            .field("auto_create_admin", &self.auto_create_admin)
            .field("admin_email", &self.admin_email)
            .field("admin_password", &password)
            .field("signing_key_path", &self.signing_key_path)
            .field("retiring_key_paths", &self.retiring_key_paths)
            .field("max_pending_challenges", &self.max_pending_challenges)
            .field("max_refresh_tokens", &self.max_refresh_tokens)
            .finish()
    }
}

/// The bootstrap admin of password login: the login e-mail and an argon2id hash of the
/// password (a PHC string). The password itself is never kept, and `Debug` shows no hash.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminAccount {
    email: String,
    password_hash: String,
}

impl AdminAccount {
    /// The login e-mail.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The argon2id PHC string of the password.
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }

    /// Whether `password` is the admin's password (argon2id verification).
    pub fn verifies(&self, password: &str) -> bool {
        PasswordHash::new(&self.password_hash)
            .ok()
            .is_some_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
    }
}

impl fmt::Debug for AdminAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAccount")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// The admin password as an argon2id PHC string: kept as given when it already is one,
/// hashed otherwise.
fn admin_password_hash(password: &str) -> Result<String, ConfigError> {
    if password.starts_with('$') {
        let parsed = PasswordHash::new(password).map_err(|err| {
            ConfigError::new(format!(
                "server_auth.admin_password looks like a PHC hash but does not parse ({err}); \
                 give an argon2id PHC string or the plain password"
            ))
        })?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(ConfigError::new(format!(
                "server_auth.admin_password is a `{}` hash; only argon2id hashes are accepted \
                 (or give the plain password, hashed at start-up)",
                parsed.algorithm.as_str()
            )));
        }
        return Ok(password.to_owned());
    }
    let salt = argon2::password_hash::generate_salt();
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| ConfigError::new(format!("cannot hash server_auth.admin_password: {err}")))
}

impl Default for RawServerConfig {
    fn default() -> Self {
        RawServerConfig {
            issuer: "http://localhost:8100".to_owned(),
            audience: String::new(),
            access_token_expire_minutes: 15,
            refresh_token_expire_days: 7,
            challenge_ttl_seconds: 120,
            supported_wallet_algorithms: WalletAlgorithm::ALL
                .iter()
                .map(|alg| alg.as_str().to_owned())
                .collect(),
            auto_create_admin: false,
            admin_email: String::new(),
            admin_password: String::new(),
            signing_key_path: PathBuf::from("auth-data/signing-key.pem"),
            retiring_key_paths: Vec::new(),
            max_pending_challenges: 10_000,
            max_refresh_tokens: 100_000,
        }
    }
}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// `iss` of issued tokens.
    pub issuer: String,
    /// `aud` of issued tokens.
    pub audience: String,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens.
    pub refresh_token_ttl: Duration,
    /// Lifetime of a challenge.
    pub challenge_ttl: Duration,
    /// Accepted wallet algorithms, never empty.
    pub wallet_algorithms: Vec<WalletAlgorithm>,
    /// The bootstrap admin, when password login is enabled: the e-mail and an argon2id hash
    /// of the password. The password itself is not kept.
    pub admin: Option<AdminAccount>,
    /// Where the signing key lives.
    pub signing_key_path: PathBuf,
    /// Published, non-signing keys.
    pub retiring_key_paths: Vec<PathBuf>,
    /// Bound on pending challenges.
    pub max_pending_challenges: usize,
    /// Bound on stored refresh tokens.
    pub max_refresh_tokens: usize,
}

impl ServerConfig {
    /// Reads the `server_auth` section of `figment` and checks it.
    pub fn from_figment(figment: &Figment) -> Result<ServerConfig, ConfigError> {
        let raw: RawServerConfig = figment
            .focus(SECTION)
            .extract()
            .map_err(|err| explain(SECTION, err))?;
        raw.validate()
    }
}

fn error(message: String) -> ConfigError {
    ConfigError::new(message)
}

impl RawServerConfig {
    /// Checks the values.
    pub fn validate(self) -> Result<ServerConfig, ConfigError> {
        if self.issuer.trim().is_empty() {
            return Err(error(format!(
                "{SECTION}.issuer must be set (the `iss` of issued tokens, e.g. \
                 https://api.example.com); set it or SERVER_AUTH__ISSUER"
            )));
        }
        if self.audience.trim().is_empty() {
            return Err(error(format!(
                "{SECTION}.audience must be set (the `aud` of issued tokens; the same value as \
                 auth_client.audience); set it or SERVER_AUTH__AUDIENCE"
            )));
        }
        for (key, value) in [
            (
                "access_token_expire_minutes",
                self.access_token_expire_minutes,
            ),
            ("refresh_token_expire_days", self.refresh_token_expire_days),
            ("challenge_ttl_seconds", self.challenge_ttl_seconds),
        ] {
            if value == 0 {
                return Err(error(format!("{SECTION}.{key} must be at least 1")));
            }
        }
        let mut wallet_algorithms = Vec::new();
        for name in &self.supported_wallet_algorithms {
            let alg = WalletAlgorithm::from_name(name).ok_or_else(|| {
                error(format!(
                    "{SECTION}.supported_wallet_algorithms: `{name}` is not supported; use any of \
                     ML-DSA-65, Ed25519, secp256k1"
                ))
            })?;
            if !wallet_algorithms.contains(&alg) {
                wallet_algorithms.push(alg);
            }
        }
        let admin = if self.auto_create_admin {
            if self.admin_email.trim().is_empty() {
                return Err(error(format!(
                    "{SECTION}.admin_email must be set when {SECTION}.auto_create_admin is true \
                     (SERVER_AUTH__ADMIN_EMAIL)"
                )));
            }
            if self.admin_password.is_empty() || self.admin_password == "admin" {
                return Err(error(format!(
                    "{SECTION}.admin_password must be set to a strong password (not empty, not \
                     `admin`) when {SECTION}.auto_create_admin is true \
                     (SERVER_AUTH__ADMIN_PASSWORD, plain or an argon2id PHC string)"
                )));
            }
            Some(AdminAccount {
                email: self.admin_email.trim().to_owned(),
                password_hash: admin_password_hash(&self.admin_password)?,
            })
        } else {
            None
        };
        for (key, value) in [
            ("max_pending_challenges", self.max_pending_challenges),
            ("max_refresh_tokens", self.max_refresh_tokens),
        ] {
            if value == 0 {
                return Err(error(format!("{SECTION}.{key} must be at least 1")));
            }
        }
        Ok(ServerConfig {
            issuer: self.issuer,
            audience: self.audience,
            access_token_ttl: Duration::from_secs(self.access_token_expire_minutes * 60),
            refresh_token_ttl: Duration::from_secs(self.refresh_token_expire_days * 86_400),
            challenge_ttl: Duration::from_secs(self.challenge_ttl_seconds),
            wallet_algorithms,
            admin,
            signing_key_path: self.signing_key_path,
            retiring_key_paths: self.retiring_key_paths,
            max_pending_challenges: self.max_pending_challenges,
            max_refresh_tokens: self.max_refresh_tokens,
        })
    }
}
