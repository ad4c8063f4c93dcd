//! The `server_auth` section as written.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use auth_runtime::__private::DEFAULT_DPOP_ALGORITHMS;
use auth_runtime::DpopMode;

use super::redacted_url;
use crate::wallet::WalletAlgorithm;

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
    /// Where the in-memory store keeps the revoked tokens, so that a restart does not bring
    /// them back: an append-only JSON-lines file, one `{"jti", "exp"}` line per token, mode
    /// 0600, created on first start. Default empty: `revoked-jtis.jsonl` in the folder of
    /// `signing_key_path` (which therefore stays the same when the key is rotated within its
    /// folder). Not with `store_url`: PostgreSQL keeps them.
    pub revocations_path: PathBuf,
    /// How long after a refresh the refresh token it spent may be presented again and get
    /// the same successor (and a fresh access token), as long as that successor has not been
    /// used: a retry by a client whose answer was lost. At most 300. Default 0: a spent token
    /// presented again always revokes the session.
    pub refresh_reuse_grace_seconds: u64,
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
    /// Reverse proxies whose `X-Forwarded-For` names the client, for the login and sign-in
    /// limits: addresses (`10.0.0.5`) or networks (`10.0.0.0/8`, `fd00::/8`). Default none:
    /// the peer address is the client.
    pub trusted_proxies: Vec<String>,
    /// Where sessions and spent challenges are kept: empty for this process's memory, or a
    /// `postgres://user:password@host/db` URL (cargo feature `postgres`) that every instance
    /// shares.
    pub store_url: String,
    /// Most connections to the PostgreSQL store per instance. Default 8.
    pub store_pool_size: usize,
    /// Whether sign-in, login and refresh take a DPoP proof (RFC 9449) in a `DPoP` header, to
    /// bind what they issue to the client's key: `allowed` (default: with a proof the access
    /// token is bound, `token_type: DPoP`; without one it is a `Bearer` token), `required`
    /// (every one of those requests needs a proof) or `off` (a proof is refused). Anything
    /// but `off` needs `issuer` to be the `http(s)` URL clients reach the issuer at: a
    /// proof names the URL of its endpoint under it.
    pub dpop: DpopMode,
    /// Algorithms a DPoP proof may be signed with. Default `[ES256, EdDSA, RS256, PS256,
    /// ML-DSA-44, ML-DSA-65, ML-DSA-87]`; shared-secret algorithms are refused.
    pub dpop_algorithms: Vec<String>,
    /// How old a DPoP proof's `iat` may be, in seconds (plus 30 s for clocks that differ).
    /// 1 to 3600. Default 60.
    pub dpop_max_age_seconds: u64,
    /// The most DPoP proofs each instance remembers to refuse their replay (about 60 bytes
    /// each); when more arrive within their validity, the oldest make room and proofs no
    /// newer than those are refused until they expire. At least 1000. Default 100000.
    pub dpop_replay_max_entries: usize,
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
            .field("revocations_path", &self.revocations_path)
            .field(
                "refresh_reuse_grace_seconds",
                &self.refresh_reuse_grace_seconds,
            )
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
            .field("dpop", &self.dpop)
            .field("dpop_algorithms", &self.dpop_algorithms)
            .field("dpop_max_age_seconds", &self.dpop_max_age_seconds)
            .field("dpop_replay_max_entries", &self.dpop_replay_max_entries)
            .finish()
    }
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
            revocations_path: PathBuf::new(),
            refresh_reuse_grace_seconds: 0,
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
            dpop: DpopMode::Allowed,
            dpop_algorithms: DEFAULT_DPOP_ALGORITHMS
                .iter()
                .map(|alg| alg.as_str().to_owned())
                .collect(),
            dpop_max_age_seconds: 60,
            dpop_replay_max_entries: 100_000,
        }
    }
}
