//! The issuer value: configuration, keys, store and clock, shared by every worker.

use std::sync::{Arc, Mutex, MutexGuard};

use auth_runtime::RevocationList;
use auth_runtime::{Algorithm, ConfigError, ConfigErrorKind, KeySet};
use aws_lc_rs::hmac;
use figment::Figment;
use serde_json::Value;

use crate::challenge::{ChallengeKey, derive};
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::dpop::{TokenEndpointProofs, endpoint_base};
use crate::hex::to_hex;
use crate::keys::KeyRing;
use crate::metadata::Metadata;
use crate::store::{AuthStore, MemoryStore};
use crate::throttle::{ClientLimit, Limited, LoginGuard};

/// The path prefix of every endpoint.
pub const BASE_PATH: &str = "/api/v1/auth";

/// The token issuer. Cheap to clone; build it once and mount [`service`](Self::service) in
/// every worker's `App`.
#[derive(Clone)]
pub struct AuthServer {
    pub(crate) state: Arc<IssuerState>,
}

/// What every clone of an [`AuthServer`] shares: the flows (sign-in, login, refresh,
/// revocation) read and update it.
pub(crate) struct IssuerState {
    pub(crate) config: ServerConfig,
    pub(crate) keys: KeyRing,
    pub(crate) store: Arc<dyn AuthStore>,
    pub(crate) clock: Clock,
    pub(crate) challenges: ChallengeKey,
    pub(crate) refresh_key: hmac::Key,
    pub(crate) refresh_tag_key: hmac::Key,
    /// MACs the expiry an access token's `jti` carries.
    pub(crate) jti_key: hmac::Key,
    /// Derives a refresh token's successor when a retry grace is configured.
    pub(crate) successor_key: hmac::Key,
    pub(crate) login: LoginGuard,
    pub(crate) sign_ins: ClientLimit,
    /// `/refresh` and `/sign-out` per client address, with the sign-in burst and decay.
    pub(crate) session_calls: ClientLimit,
    /// The token endpoints' URLs that DPoP proofs name, and the proofs spent here.
    pub(crate) proofs: TokenEndpointProofs,
    /// The RFC 8414 metadata document; `None` when the issuer is no `http(s)` URL.
    pub(crate) metadata: Option<Metadata>,
    /// Tells this store's revocation cursors apart from another store's (a restarted memory
    /// store starts a new list).
    pub(crate) revocation_epoch: String,
    /// The revocation lists of validators built by [`AuthServer::jwt_auth`]: refreshed at
    /// once when this instance revokes something.
    validators: Mutex<Vec<RevocationList>>,
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("issuer", &self.state.config.issuer)
            .field("kid", &self.state.keys.current.kid())
            .finish_non_exhaustive()
    }
}

/// Builds an [`AuthServer`] with a chosen store or clock.
#[must_use]
pub struct AuthServerBuilder {
    config: ServerConfig,
    store: Option<Arc<dyn AuthStore>>,
    clock: Clock,
}

impl AuthServerBuilder {
    /// Keeps sessions and spent challenges in `store` instead of this process's memory.
    pub fn store(mut self, store: impl AuthStore) -> AuthServerBuilder {
        self.store = Some(Arc::new(store));
        self
    }

    /// Reads the time from `clock` (the system clock by default).
    pub fn clock(mut self, clock: Clock) -> AuthServerBuilder {
        self.clock = clock;
        self
    }

    /// Opens (or creates) the signing key and assembles the issuer. Without a store, the
    /// in-memory one, keeping its revoked tokens in the file at `revocations_path`
    /// ([`MemoryStore::with_revocation_file`]); with `store_url` configured and no store given,
    /// an error (connect with [`AuthServer::connect`]).
    pub fn build(self) -> Result<AuthServer, ConfigError> {
        if self.store.is_none() && self.config.store_url.is_some() {
            return Err(ConfigError::new(
                ConfigErrorKind::Store,
                "server_auth.store_url is set: build the issuer with \
                 `AuthServer::connect(&figment).await`, which opens the PostgreSQL store",
            ));
        }
        let keys = KeyRing::open(
            &self.config.signing_key_path,
            self.config.signing_algorithm,
            &self.config.retiring_key_paths,
        )?;
        let store = match self.store {
            Some(store) => store,
            None => Arc::new(MemoryStore::with_revocation_file(
                self.config.max_sessions,
                self.config.max_spent_challenges,
                &self.config.revocations_path,
                self.clock.now(),
            )?),
        };
        let secret = store.secret();
        let challenges = ChallengeKey::new(secret);
        let refresh_key = derive(secret, b"auth-server refresh token v1");
        let login = LoginGuard::new(self.config.login);
        let sign_ins = ClientLimit::new(self.config.sign_in_limit, Limited::SignIn);
        let session_calls = ClientLimit::new(self.config.sign_in_limit, Limited::SessionCall);
        let refresh_tag_key = derive(secret, b"auth-server refresh token tag v1");
        let jti_key = derive(secret, b"auth-server access token jti v1");
        let successor_key = derive(secret, b"auth-server refresh token successor v1");
        let epoch_tag = hmac::sign(
            &derive(secret, b"auth-server revocation epoch v1"),
            b"epoch",
        );
        let revocation_epoch = to_hex(&epoch_tag.as_ref()[..8]);
        let issuer = &self.config.issuer;
        // Without an http(s) issuer (only with `dpop: off`) no proof is ever checked.
        let endpoints = endpoint_base(issuer).unwrap_or(issuer);
        let proofs = TokenEndpointProofs::new(
            &format!("{endpoints}{BASE_PATH}"),
            self.config.dpop.replay_max_entries,
        );
        let metadata = Metadata::new(&self.config, BASE_PATH);
        Ok(AuthServer {
            state: Arc::new(IssuerState {
                config: self.config,
                keys,
                store,
                clock: self.clock,
                challenges,
                refresh_key,
                refresh_tag_key,
                jti_key,
                successor_key,
                login,
                sign_ins,
                session_calls,
                proofs,
                metadata,
                revocation_epoch,
                validators: Mutex::new(Vec::new()),
            }),
        })
    }
}

impl AuthServer {
    /// Reads and checks `server_auth`, opens (or creates) the signing key, hashes the admin
    /// password, with the in-memory store. Fails when `store_url` is set: use
    /// [`connect`](Self::connect) then.
    pub fn from_figment(figment: &Figment) -> Result<AuthServer, ConfigError> {
        AuthServer::new(ServerConfig::from_figment(figment)?)
    }

    /// Reads and checks `server_auth` and opens the store it names: PostgreSQL when
    /// `store_url` is set (creating or upgrading its tables), this process's memory otherwise.
    pub async fn connect(figment: &Figment) -> Result<AuthServer, ConfigError> {
        let config = ServerConfig::from_figment(figment)?;
        match config.store_url.clone() {
            None => AuthServer::new(config),
            #[cfg(feature = "postgres")]
            Some(url) => {
                let store = crate::store::PgStore::connect(
                    &url,
                    config.store_pool_size,
                    config.max_sessions,
                )
                .await
                .map_err(|err| {
                    ConfigError::new(
                        ConfigErrorKind::Store,
                        format!("server_auth.store_url: cannot open the PostgreSQL store: {err}"),
                    )
                })?;
                AuthServer::builder(config).store(store).build()
            }
            #[cfg(not(feature = "postgres"))]
            Some(_) => Err(ConfigError::new(
                ConfigErrorKind::Store,
                "server_auth.store_url names a PostgreSQL store, but auth-server was built \
                 without its `postgres` feature; enable it in Cargo.toml",
            )),
        }
    }

    /// An issuer for a checked configuration, with the in-memory store.
    pub fn new(config: ServerConfig) -> Result<AuthServer, ConfigError> {
        AuthServer::builder(config).build()
    }

    /// An issuer keeping sessions and spent challenges in `store`.
    pub fn with_store(
        config: ServerConfig,
        store: impl AuthStore,
    ) -> Result<AuthServer, ConfigError> {
        AuthServer::builder(config).store(store).build()
    }

    /// A builder, to choose the store or the clock.
    pub fn builder(config: ServerConfig) -> AuthServerBuilder {
        AuthServerBuilder {
            config,
            store: None,
            clock: Clock::system(),
        }
    }

    /// The checked configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.state.config
    }

    /// The `kid` of the key that signs new tokens (its RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        self.state.keys.current.kid()
    }

    /// The algorithms of the keys in the JWKS: the signing key's (`signing_algorithm`) first,
    /// then those of retiring keys. A validator of these tokens must accept them all.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.state.keys.algorithms
    }

    /// The JWKS document served at `/api/v1/auth/jwks`.
    pub fn jwks(&self) -> &Value {
        &self.state.keys.jwks
    }

    /// The issuer's public keys as a key source for
    /// [`JwtAuth::builder`](auth_runtime::JwtAuth::builder).
    pub fn key_source(&self) -> Arc<KeySet> {
        Arc::clone(&self.state.keys.key_set)
    }

    /// Has every validator built by [`jwt_auth`](Self::jwt_auth) reread the revocation
    /// list when this instance revokes something.
    pub(crate) fn watch_revocations(&self, list: RevocationList) {
        self.validators().push(list);
    }

    /// Has the validators built here reread the revocation list now.
    pub(crate) async fn tell_validators(&self) {
        let lists: Vec<RevocationList> = self.validators().clone();
        for list in lists {
            if let Err(err) = list.prefetch().await {
                tracing::warn!(error = %err, "a validator could not reread the revocation list");
            }
        }
    }

    fn validators(&self) -> MutexGuard<'_, Vec<RevocationList>> {
        // The list is only ever pushed to or cloned: a panic elsewhere cannot leave it torn.
        self.state
            .validators
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
