//! The issuer value: configuration, keys, store and clock, shared by every worker.

use std::sync::{Arc, Mutex, Weak};

use actix_web::Scope;
use auth_runtime::revocation::{
    RevocationFetchError, RevocationList, RevocationPage, RevocationSource, RevokedToken,
};
use auth_runtime::{Algorithm, AuthConfig, ConfigError, JwtAuth, KeySet};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use figment::Figment;
use serde_json::Value;

use crate::challenge::{ChallengeKey, derive};
use crate::clock::Clock;
use crate::clock::unix_seconds;
use crate::config::ServerConfig;
use crate::endpoints;
use crate::error::ServerError;
use crate::keys::KeyRing;
use crate::login::{ClientLimit, LoginGuard};
use crate::store::{AuthStore, MemoryStore, Revoke, Revoked};

/// Entries per answer of `GET /revoked-jtis` at most.
pub(crate) const REVOCATION_PAGE_SIZE: usize = 10_000;

/// The path prefix of every endpoint.
pub const BASE_PATH: &str = "/api/v1/auth";

/// The token issuer. Cheap to clone; build it once and mount [`service`](Self::service) in
/// every worker's `App`.
#[derive(Clone)]
pub struct AuthServer {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: ServerConfig,
    pub(crate) keys: KeyRing,
    pub(crate) store: Arc<dyn AuthStore>,
    pub(crate) clock: Clock,
    pub(crate) challenges: ChallengeKey,
    pub(crate) refresh_key: hmac::Key,
    pub(crate) refresh_tag_key: hmac::Key,
    pub(crate) login: LoginGuard,
    pub(crate) sign_ins: ClientLimit,
    /// Tells this store's revocation cursors apart from another store's (a restarted memory
    /// store starts a new list).
    revocation_epoch: String,
    /// The revocation lists of validators built by [`AuthServer::validator`]: refreshed at
    /// once when this instance revokes something.
    validators: Mutex<Vec<RevocationList>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("issuer", &self.inner.config.issuer)
            .field("kid", &self.inner.keys.current.kid())
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
    /// in-memory one; with `store_url` configured and no store given, an error (connect with
    /// [`AuthServer::connect`]).
    pub fn build(self) -> Result<AuthServer, ConfigError> {
        let store = match self.store {
            Some(store) => store,
            None if self.config.store_url.is_some() => {
                return Err(ConfigError::new(
                    "server_auth.store_url is set: build the issuer with \
                     `AuthServer::connect(&figment).await`, which opens the PostgreSQL store",
                ));
            }
            None => Arc::new(MemoryStore::new(
                self.config.max_sessions,
                self.config.max_spent_challenges,
            )),
        };
        let keys = KeyRing::open(
            &self.config.signing_key_path,
            self.config.signing_algorithm,
            &self.config.retiring_key_paths,
        )?;
        let secret = store.secret();
        let challenges = ChallengeKey::new(secret);
        let refresh_key = derive(secret, b"auth-server refresh token v1");
        let login = LoginGuard::new(self.config.login);
        let sign_ins = ClientLimit::new(self.config.sign_in_limit);
        let refresh_tag_key = derive(secret, b"auth-server refresh token tag v1");
        let epoch_tag = hmac::sign(
            &derive(secret, b"auth-server revocation epoch v1"),
            b"epoch",
        );
        let revocation_epoch = crate::hex::to_hex(&epoch_tag.as_ref()[..8]);
        Ok(AuthServer {
            inner: Arc::new(Inner {
                config: self.config,
                keys,
                store,
                clock: self.clock,
                challenges,
                refresh_key,
                refresh_tag_key,
                login,
                sign_ins,
                revocation_epoch,
                validators: Mutex::new(Vec::new()),
                rng: SystemRandom::new(),
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
                    ConfigError::new(format!(
                        "server_auth.store_url: cannot open the PostgreSQL store: {err}"
                    ))
                })?;
                AuthServer::builder(config).store(store).build()
            }
            #[cfg(not(feature = "postgres"))]
            Some(_) => Err(ConfigError::new(
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
        &self.inner.config
    }

    /// The `kid` of the key that signs new tokens (its RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        self.inner.keys.current.kid()
    }

    /// The algorithms of the keys in the JWKS: the signing key's (`signing_algorithm`) first,
    /// then those of retiring keys. A validator of these tokens must accept them all.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.inner.keys.algorithms
    }

    /// The JWKS document served at `/api/v1/auth/jwks`.
    pub fn jwks(&self) -> &Value {
        &self.inner.keys.jwks
    }

    /// The issuer's public keys as a key source for [`JwtAuth::builder`].
    pub fn key_source(&self) -> Arc<KeySet> {
        Arc::clone(&self.inner.keys.key_set)
    }

    /// A validator for `client` that takes this issuer's keys straight from it (no HTTP
    /// call to itself). `client` must trust this issuer (its only one, or one entry of
    /// `auth_client.issuers`) with an audience that includes the one tokens are issued for;
    /// other issuers keep their own key sources.
    pub fn validator(&self, client: AuthConfig) -> Result<JwtAuth, ConfigError> {
        let ours = &self.inner.config;
        let Some(entry) = client.find_issuer(&ours.issuer) else {
            let trusted: Vec<&str> = client.issuers.iter().map(|i| i.issuer.as_str()).collect();
            return Err(ConfigError::new(format!(
                "auth_client.issuer ({}) differs from server_auth.issuer (`{}`): the tokens \
                 issued here would be refused; trust `{}` in auth_client (issuer, or an entry \
                 of issuers)",
                trusted.join(", "),
                ours.issuer,
                ours.issuer
            )));
        };
        if !entry.audiences.contains(&ours.audience) {
            return Err(ConfigError::new(format!(
                "{}.audience ({}) differs from server_auth.audience (`{}`): the tokens issued \
                 here would be refused; set both to the same value",
                entry.config_key(),
                entry.audiences.join(", "),
                ours.audience
            )));
        }
        let missing: Vec<&str> = self
            .inner
            .keys
            .algorithms
            .iter()
            .filter(|alg| !entry.accepted_algorithms.contains(alg))
            .map(|alg| alg.as_str())
            .collect();
        if !missing.is_empty() {
            let accepted: Vec<&str> = entry
                .accepted_algorithms
                .iter()
                .map(|alg| alg.as_str())
                .collect();
            return Err(ConfigError::new(format!(
                "{}.accepted_algorithms ({}) lacks {}, which the keys of server_auth sign \
                 with (signing_algorithm and retiring_key_paths): the tokens issued here would \
                 be refused; add {} to it",
                entry.config_key(),
                accepted.join(", "),
                missing.join(", "),
                missing.join(", ")
            )));
        }
        let issuer = ours.issuer.clone();
        let auth = JwtAuth::builder(client)
            .issuer_key_source(&issuer, self.key_source())
            .issuer_revocation_source(
                &issuer,
                StoreRevocations {
                    server: Arc::downgrade(&self.inner),
                },
            )
            .build()?;
        if let Some(list) = auth.revocation_list(&issuer) {
            self.validators().push(list.clone());
        }
        Ok(auth)
    }

    /// Revokes `what` in the store, and has every validator built by
    /// [`validator`](Self::validator) reread the list at once.
    pub(crate) async fn revoke(&self, what: Revoke) -> Result<Revoked, ServerError> {
        let revoked = self.inner.store.revoke(what, self.now()).await?;
        self.tell_validators().await;
        Ok(revoked)
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

    fn validators(&self) -> std::sync::MutexGuard<'_, Vec<RevocationList>> {
        // The list is only ever pushed to or cloned: a panic elsewhere cannot leave it torn.
        self.inner
            .validators
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cursor prefix of this store's revocation list.
    pub(crate) fn revocation_epoch(&self) -> &str {
        &self.inner.revocation_epoch
    }

    /// One answer of `GET /revoked-jtis`: the list after `since`, or from the start when
    /// `since` is missing or not one of this store's cursors.
    pub(crate) async fn revocation_page(
        &self,
        since: Option<&str>,
    ) -> Result<RevocationPage, ServerError> {
        let epoch = self.revocation_epoch();
        let after = since
            .and_then(|cursor| cursor.split_once('.'))
            .filter(|(of, _)| *of == epoch)
            .and_then(|(_, seq)| seq.parse::<u64>().ok());
        let start = after.unwrap_or(0);
        let mut entries = self
            .inner
            .store
            .revoked_after(start, REVOCATION_PAGE_SIZE + 1, self.now())
            .await?;
        let more = entries.len() > REVOCATION_PAGE_SIZE;
        entries.truncate(REVOCATION_PAGE_SIZE);
        let last = entries.last().map_or(start, |entry| entry.seq);
        Ok(RevocationPage {
            revoked: entries
                .into_iter()
                .map(|entry| RevokedToken {
                    jti: entry.jti,
                    exp: unix_seconds(entry.expires_at),
                })
                .collect(),
            cursor: format!("{epoch}.{last}"),
            full: after.is_none(),
            more,
        })
    }

    /// The endpoints, under [`BASE_PATH`].
    pub fn service(&self) -> Scope {
        endpoints::scope(self.clone())
    }

    pub(crate) fn random_bytes<const N: usize>(&self) -> Result<[u8; N], ServerError> {
        let mut bytes = [0u8; N];
        self.inner
            .rng
            .fill(&mut bytes)
            .map_err(|_| ServerError::Internal)?;
        Ok(bytes)
    }

    pub(crate) fn now(&self) -> std::time::SystemTime {
        self.inner.clock.now()
    }
}

/// The revocation list of an issuer in the same process, read from its store: no HTTP. Holds
/// the issuer weakly, so that the validator does not keep it alive.
struct StoreRevocations {
    server: Weak<Inner>,
}

impl RevocationSource for StoreRevocations {
    fn fetch<'a>(
        &'a self,
        since: Option<&'a str>,
    ) -> auth_runtime::jwks::BoxFuture<'a, Result<RevocationPage, RevocationFetchError>> {
        Box::pin(async move {
            let inner = self
                .server
                .upgrade()
                .ok_or_else(|| RevocationFetchError::new("the embedded issuer is gone"))?;
            AuthServer { inner }
                .revocation_page(since)
                .await
                .map_err(|err| RevocationFetchError::new(err.to_string()))
        })
    }
}
