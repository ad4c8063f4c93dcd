//! The check that turns a [`RawServerConfig`] into a [`ServerConfig`].

use std::path::Path;
use std::time::Duration;

use auth_runtime::__private::{explain, public_key_algorithms};
use auth_runtime::{Algorithm, ConfigError, ConfigErrorKind, DpopMode};
use figment::Figment;

use super::{
    AdminAccount, DpopSettings, LoginLimits, RawServerConfig, SECTION, ServerConfig, redacted_url,
};
use crate::keys::SIGNING_ALGORITHMS;
use crate::network::IpNetwork;
use crate::wallet::WalletAlgorithm;

impl ServerConfig {
    /// Reads the `server_auth` section of `figment` and checks it.
    pub fn from_figment(figment: &Figment) -> Result<ServerConfig, ConfigError> {
        auth_runtime::__private::check_section(figment, SECTION)?;
        let raw: RawServerConfig = figment
            .focus(SECTION)
            .extract()
            .map_err(|err| explain(SECTION, err))?;
        raw.validate()
    }
}

/// The longest `refresh_reuse_grace_seconds`: a grace is for a retry after a lost answer,
/// which comes within seconds; every second more is a second in which a stolen spent token
/// still gets the successor.
const MAX_REFRESH_REUSE_GRACE_SECONDS: u64 = 300;

/// The longest `dpop_max_age_seconds`, as in the validator's configuration.
const MAX_DPOP_MAX_AGE_SECONDS: u64 = 3600;

/// The fewest `dpop_replay_max_entries`: fewer would refuse fresh proofs under light load.
const MIN_DPOP_REPLAY_MAX_ENTRIES: usize = 1_000;

/// The revocation file's name when `revocations_path` is not set: in the signing key's folder.
const DEFAULT_REVOCATIONS_FILE: &str = "revoked-jtis.jsonl";

fn error(message: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Invalid, message)
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
        let dpop = self.dpop_settings()?;
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
            Some(AdminAccount::new(
                self.admin_email.trim(),
                &self.admin_password,
            )?)
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
        if self.refresh_reuse_grace_seconds > MAX_REFRESH_REUSE_GRACE_SECONDS {
            return Err(error(format!(
                "{SECTION}.refresh_reuse_grace_seconds must be at most \
                 {MAX_REFRESH_REUSE_GRACE_SECONDS} (a retry after a lost answer comes within \
                 seconds), not {}; 0 turns the grace off",
                self.refresh_reuse_grace_seconds
            )));
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
        let revocations_path = if self.revocations_path.as_os_str().is_empty() {
            self.signing_key_path
                .parent()
                .unwrap_or(Path::new(""))
                .join(DEFAULT_REVOCATIONS_FILE)
        } else if store_url.is_some() {
            return Err(error(format!(
                "{SECTION}.revocations_path is for the in-memory store; with {SECTION}.store_url \
                 the revoked tokens are kept in PostgreSQL: remove revocations_path"
            )));
        } else {
            self.revocations_path
        };
        if revocations_path == self.signing_key_path
            || self.retiring_key_paths.contains(&revocations_path)
        {
            return Err(error(format!(
                "{SECTION}.revocations_path ({}) names a signing key, which the revocation \
                 file would replace; point it at a file of its own",
                revocations_path.display()
            )));
        }
        let mut trusted_proxies = Vec::new();
        for (index, proxy) in self.trusted_proxies.iter().enumerate() {
            trusted_proxies.push(IpNetwork::parse(proxy.trim()).map_err(|why| {
                error(format!(
                    "{SECTION}.trusted_proxies[{index}] (`{proxy}`) {why}; list the addresses \
                     or networks your reverse proxies connect from, e.g. 10.0.0.5 or 10.0.0.0/8"
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
            revocations_path,
            refresh_reuse_grace: Duration::from_secs(self.refresh_reuse_grace_seconds),
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
            dpop,
        })
    }

    /// `dpop`, `dpop_algorithms` (parsed, without repeats: public-key algorithms only, at
    /// least one unless `dpop: off`), `dpop_max_age_seconds` and `dpop_replay_max_entries`
    /// in range, and an `issuer` that proofs can name the endpoints under.
    fn dpop_settings(&self) -> Result<DpopSettings, ConfigError> {
        if !(1..=MAX_DPOP_MAX_AGE_SECONDS).contains(&self.dpop_max_age_seconds) {
            return Err(error(format!(
                "{SECTION}.dpop_max_age_seconds is {}: give 1 to {MAX_DPOP_MAX_AGE_SECONDS} \
                 (default 60); a proof is made for one request, right before it is sent",
                self.dpop_max_age_seconds
            )));
        }
        if self.dpop_replay_max_entries < MIN_DPOP_REPLAY_MAX_ENTRIES {
            return Err(error(format!(
                "{SECTION}.dpop_replay_max_entries is {}: give at least \
                 {MIN_DPOP_REPLAY_MAX_ENTRIES} (default 100000, about 6 MB when full)",
                self.dpop_replay_max_entries
            )));
        }
        let algorithms =
            public_key_algorithms(&self.dpop_algorithms).map_err(|(name, known)| {
                error(format!(
                    "{SECTION}.dpop_algorithms: `{name}` is not a public-key algorithm (a proof is \
                 signed with the client's own key pair); use some of {known}"
                ))
            })?;
        if self.dpop != DpopMode::Off {
            if algorithms.is_empty() {
                return Err(error(format!(
                    "{SECTION}.dpop_algorithms is empty: list at least one (e.g. [ES256, \
                     EdDSA]), or set {SECTION}.dpop: off"
                )));
            }
            if crate::dpop::endpoint_base(&self.issuer).is_none() {
                return Err(error(format!(
                    "{SECTION}.issuer (`{}`) is not an http(s) URL without query or fragment, \
                     so DPoP proofs cannot name the token endpoints under it: give the URL \
                     clients reach the issuer at, or set {SECTION}.dpop: off",
                    self.issuer
                )));
            }
        }
        Ok(DpopSettings {
            mode: self.dpop,
            algorithms,
            max_age: Duration::from_secs(self.dpop_max_age_seconds),
            replay_max_entries: self.dpop_replay_max_entries,
        })
    }
}
