//! The checked configuration, read through accessors.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use auth_runtime::{Algorithm, DpopMode};

use super::{AdminAccount, redacted_url};
use crate::network::IpNetwork;
use crate::wallet::WalletAlgorithm;

/// The checked configuration: built only by [`RawServerConfig::validate`](super::RawServerConfig::validate) (or
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
    /// Where the in-memory store keeps the revoked tokens.
    pub(crate) revocations_path: PathBuf,
    /// How long a spent refresh token may be retried for its successor; zero: never.
    pub(crate) refresh_reuse_grace: Duration,
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
    pub(crate) trusted_proxies: Vec<IpNetwork>,
    /// The PostgreSQL store's URL, when sessions are kept there.
    pub(crate) store_url: Option<String>,
    /// DPoP proofs at the token endpoints.
    pub(crate) dpop: DpopSettings,
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
            .field("revocations_path", &self.revocations_path)
            .field("refresh_reuse_grace", &self.refresh_reuse_grace)
            .field("session_max", &self.session_max)
            .field("max_sessions", &self.max_sessions)
            .field("max_spent_challenges", &self.max_spent_challenges)
            .field("login", &self.login)
            .field("sign_in_limit", &self.sign_in_limit)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("store_url", &self.store_url.as_deref().map(redacted_url))
            .field("store_pool_size", &self.store_pool_size)
            .field("dpop", &self.dpop)
            .finish()
    }
}

/// DPoP (RFC 9449) at the token endpoints, as checked (see [`ServerConfig::dpop`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopSettings {
    /// Whether proofs are taken, needed, or refused.
    pub(crate) mode: DpopMode,
    /// Algorithms a proof may be signed with; never empty unless `mode` is `Off`.
    pub(crate) algorithms: Vec<Algorithm>,
    /// How old a proof's `iat` may be (plus the leeway).
    pub(crate) max_age: Duration,
    /// Proofs remembered per instance to refuse their replay.
    pub(crate) replay_max_entries: usize,
}

impl DpopSettings {
    /// Whether proofs are taken (`Allowed`), needed (`Required`), or refused (`Off`).
    pub fn mode(&self) -> DpopMode {
        self.mode
    }

    /// Algorithms a proof may be signed with, in the configured order.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// How old a proof's `iat` may be, plus 30 s for clocks that differ.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Proofs remembered per instance to refuse their replay.
    pub fn replay_max_entries(&self) -> usize {
        self.replay_max_entries
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

    /// Where the in-memory store keeps the revoked tokens: `revocations_path`, or
    /// `revoked-jtis.jsonl` beside the signing key. Unused with a PostgreSQL store.
    pub fn revocations_path(&self) -> &Path {
        &self.revocations_path
    }

    /// How long after a refresh the refresh token it spent, presented again, gets the same
    /// successor instead of revoking the session, as long as that successor is unused
    /// (`refresh_reuse_grace_seconds`). Zero, the default: never.
    pub fn refresh_reuse_grace(&self) -> Duration {
        self.refresh_reuse_grace
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

    /// Reverse proxies trusted to name the client in `X-Forwarded-For`: addresses (as
    /// networks of one) and networks.
    pub fn trusted_proxies(&self) -> &[IpNetwork] {
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

    /// DPoP proofs (RFC 9449) at sign-in, login and refresh.
    pub fn dpop(&self) -> &DpopSettings {
        &self.dpop
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
