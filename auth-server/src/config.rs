//! The `server_auth` section, read through figment like `auth_client` (environment:
//! `SERVER_AUTH__ADMIN_PASSWORD=...`).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use auth_runtime::config::{EnvSection, explain};
use auth_runtime::{Algorithm, ConfigError};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::keys::SIGNING_ALGORITHMS;
use crate::wallet::WalletAlgorithm;

/// The figment section this crate reads.
pub(crate) const SECTION: &str = "server_auth";

/// The standard figment of an app that embeds the issuer: the YAML file at `yaml_path`
/// (skipped when it does not exist), then the `AUTH_CLIENT__*` and `SERVER_AUTH__*`
/// environment variables on top. String settings stay exactly as written
/// (`SERVER_AUTH__ADMIN_PASSWORD=123456` is the text `123456`), and an error never repeats the
/// value of a secret-looking key such as `admin_password`.
///
/// ```no_run
/// # async fn run() -> Result<(), auth_runtime::ConfigError> {
/// let figment = auth_server::figment_from("config.yaml");
/// let (issuer, auth) = auth_server::embed(&figment).await?;
/// # Ok(())
/// # }
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
    /// The algorithm access tokens are signed with: `RS256` (default), or `ML-DSA-65` (also
    /// `ML-DSA-44`, `ML-DSA-87`) for post-quantum tokens. Validators must list it in
    /// `accepted_algorithms`. The key at `signing_key_path` must be one for it.
    pub signing_algorithm: String,
    /// Where the signing key is kept (PKCS#8 PEM, owner-only permissions); created on first
    /// start, for `signing_algorithm`. Default `auth-data/signing-key.pem`.
    pub signing_key_path: PathBuf,
    /// Keys that no longer sign but whose tokens are still accepted: published in the JWKS
    /// so that rotation needs no downtime.
    pub retiring_key_paths: Vec<PathBuf>,
    /// Longest a session lasts, from its sign-in, however often its refresh token is rotated.
    /// Default 30.
    pub session_max_days: u64,
    /// Most live sessions the in-memory store holds; beyond it, sign-in and login answer 503.
    /// Default 100000.
    pub max_sessions: usize,
    /// Most spent challenges the in-memory store remembers (each only until it expires).
    /// Default 100000.
    pub max_spent_challenges: usize,
    /// Failed logins one client address (an IPv6 /64) may have before it gets 429. Default 5.
    pub login_failures_per_client: u32,
    /// Failed logins the admin account may have, from all clients together, before every
    /// login for it gets 429. Default 20.
    pub login_failures_per_account: u32,
    /// How fast the count of failed logins decays: one failure forgotten per this many
    /// seconds. Default 60.
    pub login_failure_decay_seconds: u64,
    /// Password hashes checked at once (off the request workers); further logins wait, and
    /// beyond a short queue get 503. Default 0: half the CPU cores, at least one.
    pub max_concurrent_password_hashes: usize,
    /// Wallet sign-ins one client address (an IPv6 /64) may start in a burst before it gets
    /// 429. Default 20.
    pub sign_ins_per_client: u32,
    /// How fast the count of sign-ins decays: one forgotten per this many seconds. Default 3.
    pub sign_in_decay_seconds: u64,
    /// Addresses of reverse proxies whose `X-Forwarded-For` names the client, for the login
    /// and sign-in limits. Default none: the peer address is the client.
    pub trusted_proxies: Vec<String>,
    /// Where sessions and spent challenges are kept: empty for this process's memory, or a
    /// `postgres://user:password@host/db` URL (cargo feature `postgres`) that every instance
    /// shares.
    pub store_url: String,
    /// Most connections to the PostgreSQL store per instance. Default 8.
    pub store_pool_size: usize,
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
            .field("signing_algorithm", &self.signing_algorithm)
            .field("signing_key_path", &self.signing_key_path)
            .field("retiring_key_paths", &self.retiring_key_paths)
            .field("session_max_days", &self.session_max_days)
            .field("max_sessions", &self.max_sessions)
            .field("max_spent_challenges", &self.max_spent_challenges)
            .field("login_failures_per_client", &self.login_failures_per_client)
            .field(
                "login_failures_per_account",
                &self.login_failures_per_account,
            )
            .field(
                "login_failure_decay_seconds",
                &self.login_failure_decay_seconds,
            )
            .field(
                "max_concurrent_password_hashes",
                &self.max_concurrent_password_hashes,
            )
            .field("sign_ins_per_client", &self.sign_ins_per_client)
            .field("sign_in_decay_seconds", &self.sign_in_decay_seconds)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("store_url", &redacted_url(&self.store_url))
            .field("store_pool_size", &self.store_pool_size)
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
            signing_algorithm: "RS256".to_owned(),
            signing_key_path: PathBuf::from("auth-data/signing-key.pem"),
            retiring_key_paths: Vec::new(),
            session_max_days: 30,
            max_sessions: 100_000,
            max_spent_challenges: 100_000,
            login_failures_per_client: 5,
            login_failures_per_account: 20,
            login_failure_decay_seconds: 60,
            max_concurrent_password_hashes: 0,
            sign_ins_per_client: 20,
            sign_in_decay_seconds: 3,
            trusted_proxies: Vec::new(),
            store_url: String::new(),
            store_pool_size: 8,
        }
    }
}

/// The checked configuration: built only by [`RawServerConfig::validate`] (or
/// [`ServerConfig::from_figment`]), read through its accessors. Its `Debug` output shows no
/// password and no store credentials.
#[derive(Clone, PartialEq)]
pub struct ServerConfig {
    /// `iss` of issued tokens.
    pub(crate) issuer: String,
    /// `aud` of issued tokens.
    pub(crate) audience: String,
    /// Lifetime of access tokens.
    pub(crate) access_token_ttl: Duration,
    /// Lifetime of refresh tokens.
    pub(crate) refresh_token_ttl: Duration,
    /// Lifetime of a challenge.
    pub(crate) challenge_ttl: Duration,
    /// Accepted wallet algorithms, never empty.
    pub(crate) wallet_algorithms: Vec<WalletAlgorithm>,
    /// The bootstrap admin, when password login is enabled: the e-mail and an argon2id hash
    /// of the password. The password itself is not kept.
    pub(crate) admin: Option<AdminAccount>,
    /// What access tokens are signed with.
    pub(crate) signing_algorithm: Algorithm,
    /// Where the signing key lives.
    pub(crate) signing_key_path: PathBuf,
    /// Published, non-signing keys.
    pub(crate) retiring_key_paths: Vec<PathBuf>,
    /// Absolute lifetime of a session.
    pub(crate) session_max: Duration,
    /// Bound on live sessions (in-memory store).
    pub(crate) max_sessions: usize,
    /// Bound on remembered spent challenges (in-memory store).
    pub(crate) max_spent_challenges: usize,
    /// Login throttling and hashing limits.
    pub(crate) login: LoginLimits,
    /// Wallet sign-ins per client address: a burst of `.0`, one more per `.1`.
    pub(crate) sign_in_limit: (u32, Duration),
    /// Reverse proxies trusted to name the client in `X-Forwarded-For`.
    pub(crate) trusted_proxies: Vec<IpAddr>,
    /// The PostgreSQL store's URL, when sessions are kept there.
    pub(crate) store_url: Option<String>,
    /// Connections to the PostgreSQL store per instance.
    pub(crate) store_pool_size: usize,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("challenge_ttl", &self.challenge_ttl)
            .field("wallet_algorithms", &self.wallet_algorithms)
            .field("admin", &self.admin)
            .field("signing_algorithm", &self.signing_algorithm)
            .field("signing_key_path", &self.signing_key_path)
            .field("retiring_key_paths", &self.retiring_key_paths)
            .field("session_max", &self.session_max)
            .field("max_sessions", &self.max_sessions)
            .field("max_spent_challenges", &self.max_spent_challenges)
            .field("login", &self.login)
            .field("sign_in_limit", &self.sign_in_limit)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("store_url", &self.store_url.as_deref().map(redacted_url))
            .field("store_pool_size", &self.store_pool_size)
            .finish()
    }
}

/// How password logins are throttled and hashed, as checked (see [`ServerConfig::login`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed logins per client address before 429.
    pub(crate) failures_per_client: u32,
    /// Failed logins for the admin account before 429.
    pub(crate) failures_per_account: u32,
    /// One failure is forgotten per this long.
    pub(crate) failure_decay: Duration,
    /// Password hashes checked at once.
    pub(crate) concurrent_hashes: usize,
}

impl ServerConfig {
    /// `iss` of issued tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `aud` of issued tokens.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Lifetime of access tokens.
    pub fn access_token_ttl(&self) -> Duration {
        self.access_token_ttl
    }

    /// Lifetime of refresh tokens.
    pub fn refresh_token_ttl(&self) -> Duration {
        self.refresh_token_ttl
    }

    /// Lifetime of a challenge.
    pub fn challenge_ttl(&self) -> Duration {
        self.challenge_ttl
    }

    /// Accepted wallet algorithms, never empty.
    pub fn wallet_algorithms(&self) -> &[WalletAlgorithm] {
        &self.wallet_algorithms
    }

    /// The bootstrap admin, when password login is enabled.
    pub fn admin(&self) -> Option<&AdminAccount> {
        self.admin.as_ref()
    }

    /// What access tokens are signed with.
    pub fn signing_algorithm(&self) -> Algorithm {
        self.signing_algorithm
    }

    /// Where the signing key lives.
    pub fn signing_key_path(&self) -> &Path {
        &self.signing_key_path
    }

    /// Published, non-signing keys.
    pub fn retiring_key_paths(&self) -> &[PathBuf] {
        &self.retiring_key_paths
    }

    /// Absolute lifetime of a session.
    pub fn session_max(&self) -> Duration {
        self.session_max
    }

    /// Bound on live sessions.
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// Bound on remembered spent challenges (in-memory store).
    pub fn max_spent_challenges(&self) -> usize {
        self.max_spent_challenges
    }

    /// Login throttling and hashing limits.
    pub fn login(&self) -> LoginLimits {
        self.login
    }

    /// Wallet sign-ins per client address: a burst of `.0`, one more per `.1`.
    pub fn sign_in_limit(&self) -> (u32, Duration) {
        self.sign_in_limit
    }

    /// Reverse proxies trusted to name the client in `X-Forwarded-For`.
    pub fn trusted_proxies(&self) -> &[IpAddr] {
        &self.trusted_proxies
    }

    /// The PostgreSQL store's URL, when sessions are kept there.
    pub fn store_url(&self) -> Option<&str> {
        self.store_url.as_deref()
    }

    /// Connections to the PostgreSQL store per instance.
    pub fn store_pool_size(&self) -> usize {
        self.store_pool_size
    }
}

impl LoginLimits {
    /// Failed logins per client address before 429.
    pub fn failures_per_client(&self) -> u32 {
        self.failures_per_client
    }

    /// Failed logins for the admin account before 429.
    pub fn failures_per_account(&self) -> u32 {
        self.failures_per_account
    }

    /// One failure is forgotten per this long.
    pub fn failure_decay(&self) -> Duration {
        self.failure_decay
    }

    /// Password hashes checked at once.
    pub fn concurrent_hashes(&self) -> usize {
        self.concurrent_hashes
    }
}

/// `url` without its password (in the authority or as a `password=` parameter), for logs
/// and `Debug`.
fn redacted_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut shown = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &base[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!(
                "{}{user}:<redacted>{}",
                &base[..scheme_end + 3],
                &base[at..]
            )
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                    format!("{key}=<redacted>")
                }
                _ => parameter.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&parameters.join("&"));
    }
    shown
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
        let signing_algorithm = Algorithm::from_name(self.signing_algorithm.trim())
            .filter(|alg| SIGNING_ALGORITHMS.contains(alg))
            .ok_or_else(|| {
                let known: Vec<&str> = SIGNING_ALGORITHMS.iter().map(|a| a.as_str()).collect();
                error(format!(
                    "{SECTION}.signing_algorithm: `{}` is not supported; use one of {}",
                    self.signing_algorithm,
                    known.join(", ")
                ))
            })?;
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
            ("session_max_days", self.session_max_days),
            ("max_sessions", self.max_sessions as u64),
            ("max_spent_challenges", self.max_spent_challenges as u64),
            (
                "login_failures_per_client",
                u64::from(self.login_failures_per_client),
            ),
            (
                "login_failures_per_account",
                u64::from(self.login_failures_per_account),
            ),
            (
                "login_failure_decay_seconds",
                self.login_failure_decay_seconds,
            ),
            ("store_pool_size", self.store_pool_size as u64),
            ("sign_ins_per_client", u64::from(self.sign_ins_per_client)),
            ("sign_in_decay_seconds", self.sign_in_decay_seconds),
        ] {
            if value == 0 {
                return Err(error(format!("{SECTION}.{key} must be at least 1")));
            }
        }
        let store_url = match self.store_url.trim() {
            "" => None,
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Some(url.to_owned())
            }
            url => {
                return Err(error(format!(
                    "{SECTION}.store_url must be empty (sessions in this process's memory) or a \
                     postgres:// URL, not `{}`",
                    redacted_url(url)
                )));
            }
        };
        let mut trusted_proxies = Vec::new();
        for (index, proxy) in self.trusted_proxies.iter().enumerate() {
            trusted_proxies.push(proxy.trim().parse::<IpAddr>().map_err(|_| {
                error(format!(
                    "{SECTION}.trusted_proxies[{index}] (`{proxy}`) is not an IP address; list \
                     the addresses your reverse proxies connect from, e.g. 10.0.0.5"
                ))
            })?);
        }
        let concurrent_hashes = match self.max_concurrent_password_hashes {
            0 => std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1)),
            n => n,
        };
        Ok(ServerConfig {
            issuer: self.issuer,
            audience: self.audience,
            access_token_ttl: Duration::from_secs(
                self.access_token_expire_minutes.saturating_mul(60),
            ),
            refresh_token_ttl: Duration::from_secs(
                self.refresh_token_expire_days.saturating_mul(86_400),
            ),
            challenge_ttl: Duration::from_secs(self.challenge_ttl_seconds),
            wallet_algorithms,
            admin,
            signing_algorithm,
            signing_key_path: self.signing_key_path,
            retiring_key_paths: self.retiring_key_paths,
            session_max: Duration::from_secs(self.session_max_days.saturating_mul(86_400)),
            max_sessions: self.max_sessions,
            max_spent_challenges: self.max_spent_challenges,
            login: LoginLimits {
                failures_per_client: self.login_failures_per_client,
                failures_per_account: self.login_failures_per_account,
                failure_decay: Duration::from_secs(self.login_failure_decay_seconds),
                concurrent_hashes,
            },
            sign_in_limit: (
                self.sign_ins_per_client,
                Duration::from_secs(self.sign_in_decay_seconds),
            ),
            trusted_proxies,
            store_url,
            store_pool_size: self.store_pool_size,
        })
    }
}
