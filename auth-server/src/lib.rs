//! An embeddable token issuer for actix-web: the `/api/v1/auth/*` endpoints of
//! pico-server-auth, in the same process as the handlers that
//! [`auth_runtime`] protects.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, HttpServer, get};
//! use auth_runtime::{Principal, requires_role};
//!
//! #[get("/api/profile")]
//! async fn profile(me: Principal) -> HttpResponse {
//!     HttpResponse::Ok().json(serde_json::json!({ "subject": me.claims().sub }))
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // `server_auth` and `auth_client` from one file, SERVER_AUTH__* / AUTH_CLIENT__* win.
//!     let figment = auth_server::config::figment_from("config.yaml");
//!     let (issuer, auth) = auth_server::embed(&figment)?; // the validator trusts the issuer
//!     HttpServer::new(move || {
//!         App::new()
//!             .wrap(auth.clone())
//!             .service(issuer.service()) // /api/v1/auth/{jwks,challenge,sign-in,login,refresh}
//!             .service(profile)
//!     })
//!     .bind("127.0.0.1:8100")?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! Endpoints (all anonymous, JSON in and out, errors as `{"detail": "..."}`):
//!
//! | endpoint | body | answer |
//! |---|---|---|
//! | `GET /api/v1/auth/jwks` | | `{"keys": [...]}`: the signing key and any retiring keys |
//! | `POST /api/v1/auth/challenge` | `{"address"}` | `{"challenge", "ttl"}`: 64 hex characters, single use |
//! | `POST /api/v1/auth/sign-in` | `{"address", "public_key", "signature", "challenge", "algorithm"}` | `{"access_token", "refresh_token", "address", "algorithm", ...}` |
//! | `POST /api/v1/auth/login` | `{"email", "password"}` | `{"access_token", "refresh_token", ...}` for the bootstrap admin |
//! | `POST /api/v1/auth/refresh` | `{"refresh_token"}` | a new pair; the old refresh token is spent |
//!
//! The signing key is persisted (see [`config::RawServerConfig::signing_key_path`]); challenges
//! and refresh tokens live in an [`AuthStore`], in memory by default (see [`store`] for what
//! a restart loses and what several instances need).

#![deny(unreachable_pub)]
#![warn(missing_docs)]

pub mod config;
mod error;
mod keys;
pub mod store;
pub mod wallet;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{HttpResponse, Scope, get, http::header, post, web};
use auth_runtime::{AuthConfig, ConfigError, JwtAuth, KeySet, allow_anonymous};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use figment::Figment;
use figment::providers::Serialized;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;

pub use config::{AdminAccount, RawServerConfig, ServerConfig};
pub use error::ServerError;
pub use store::{AuthStore, MemoryStore};
pub use wallet::WalletAlgorithm;

use keys::KeyRing;
use store::{Challenge, RefreshRecord, RefreshUse, StoreFull};
use wallet::{WalletError, from_hex, to_hex};

/// The path prefix of every endpoint.
pub const BASE_PATH: &str = "/api/v1/auth";

/// Longest wallet address accepted: the hex of an ML-DSA-65 public key.
const MAX_ADDRESS_HEX: usize = 2 * 1952;

/// Reads `server_auth` and `auth_client` from one figment and returns the issuer and a
/// validator that trusts it directly (no HTTP call to itself). `auth_client.issuer` and
/// `auth_client.audience` default to the `server_auth` ones; when set, they must agree.
pub fn embed(figment: &Figment) -> Result<(AuthServer, JwtAuth), ConfigError> {
    let server = AuthServer::from_figment(figment)?;
    let client_figment = figment
        .clone()
        .join(Serialized::default(
            "auth_client.issuer",
            &server.config().issuer,
        ))
        .join(Serialized::default(
            "auth_client.audience",
            &server.config().audience,
        ));
    let auth = server.validator(AuthConfig::from_figment(&client_figment)?)?;
    Ok((server, auth))
}

/// The token issuer. Cheap to clone; build it once and mount [`service`](Self::service) in
/// every worker's `App`.
#[derive(Clone)]
pub struct AuthServer {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServerConfig,
    keys: KeyRing,
    store: Arc<dyn AuthStore>,
    admin: Option<AdminAccount>,
    refresh_key: hmac::Key,
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

impl AuthServer {
    /// Reads and checks `server_auth`, opens (or creates) the signing key, hashes the admin
    /// password, with the in-memory store.
    pub fn from_figment(figment: &Figment) -> Result<AuthServer, ConfigError> {
        AuthServer::new(ServerConfig::from_figment(figment)?)
    }

    /// An issuer for a checked configuration, with the in-memory store.
    pub fn new(config: ServerConfig) -> Result<AuthServer, ConfigError> {
        let store = MemoryStore::new(config.max_pending_challenges, config.max_refresh_tokens);
        AuthServer::with_store(config, store)
    }

    /// An issuer keeping challenges and refresh tokens in `store`.
    pub fn with_store(
        config: ServerConfig,
        store: impl AuthStore,
    ) -> Result<AuthServer, ConfigError> {
        let keys = KeyRing::open(&config.signing_key_path, &config.retiring_key_paths)?;
        let admin = config.admin.clone();
        let rng = SystemRandom::new();
        let refresh_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map_err(|_| ConfigError::new("cannot generate the refresh token key"))?;
        Ok(AuthServer {
            inner: Arc::new(Inner {
                config,
                keys,
                store: Arc::new(store),
                admin,
                refresh_key,
                rng,
            }),
        })
    }

    /// The checked configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The `kid` of the key that signs new tokens (its RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        self.inner.keys.current.kid()
    }

    /// The JWKS document served at `/api/v1/auth/jwks`.
    pub fn jwks(&self) -> &Value {
        &self.inner.keys.jwks
    }

    /// The issuer's public keys as a key source for [`JwtAuth::builder`].
    pub fn key_source(&self) -> Arc<KeySet> {
        Arc::clone(&self.inner.keys.key_set)
    }

    /// A validator for `client` that takes keys straight from this issuer. Fails when its
    /// issuer or audience differ from the ones tokens are issued with.
    pub fn validator(&self, client: AuthConfig) -> Result<JwtAuth, ConfigError> {
        for (key, ours, theirs) in [
            ("issuer", &self.inner.config.issuer, &client.issuer),
            ("audience", &self.inner.config.audience, &client.audience),
        ] {
            if ours != theirs {
                return Err(ConfigError::new(format!(
                    "auth_client.{key} (`{theirs}`) differs from server_auth.{key} (`{ours}`): \
                     the tokens issued here would be refused; set both to the same value"
                )));
            }
        }
        JwtAuth::builder(client)
            .key_source(self.key_source())
            .build()
    }

    /// The endpoints, under [`BASE_PATH`].
    pub fn service(&self) -> Scope {
        web::scope(BASE_PATH)
            .app_data(web::Data::new(self.clone()))
            .app_data(
                web::JsonConfig::default()
                    .limit(64 * 1024)
                    .error_handler(|err, _req| {
                        ServerError::bad_request(format!("invalid JSON body: {err}")).into()
                    }),
            )
            .service(jwks_endpoint)
            .service(challenge_endpoint)
            .service(sign_in_endpoint)
            .service(login_endpoint)
            .service(refresh_endpoint)
    }

    fn random_bytes<const N: usize>(&self) -> Result<[u8; N], ServerError> {
        let mut bytes = [0u8; N];
        self.inner
            .rng
            .fill(&mut bytes)
            .map_err(|_| ServerError::internal())?;
        Ok(bytes)
    }

    /// An access token and a refresh token for `identity`, the refresh token in `family`
    /// (a new one when `None`).
    async fn issue(
        &self,
        identity: Map<String, Value>,
        family: Option<String>,
    ) -> Result<(String, String), ServerError> {
        let config = &self.inner.config;
        let now = unix_now();
        let mut claims = identity.clone();
        claims.insert("iss".into(), json!(config.issuer));
        claims.insert("aud".into(), json!(config.audience));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + config.access_token_ttl.as_secs()));
        claims.insert("jti".into(), json!(to_hex(&self.random_bytes::<16>()?)));
        let access = self
            .inner
            .keys
            .current
            .sign(&Value::Object(claims))
            .map_err(|()| ServerError::internal())?;

        let refresh = URL_SAFE_NO_PAD.encode(self.random_bytes::<32>()?);
        let family = match family {
            Some(family) => family,
            None => to_hex(&self.random_bytes::<16>()?),
        };
        let record = RefreshRecord {
            family,
            claims: identity,
            expires_at: SystemTime::now() + config.refresh_token_ttl,
        };
        self.inner
            .store
            .put_refresh(self.refresh_hash(&refresh), record)
            .await
            .map_err(|StoreFull| {
                ServerError::unavailable("too many active sessions; retry later")
            })?;
        Ok((access, refresh))
    }

    fn refresh_hash(&self, token: &str) -> store::TokenHash {
        let tag = hmac::sign(&self.inner.refresh_key, token.as_bytes());
        let mut hash = [0u8; 32];
        hash.copy_from_slice(tag.as_ref());
        hash
    }

    fn token_response(&self, access: String, refresh: String) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("access_token".into(), json!(access));
        body.insert("refresh_token".into(), json!(refresh));
        body.insert("token_type".into(), json!("Bearer"));
        body.insert(
            "expires_in".into(),
            json!(self.inner.config.access_token_ttl.as_secs()),
        );
        body
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// Wallet addresses are compared as lower-case hex without `0x`.
fn normalise_address(address: &str) -> String {
    address
        .strip_prefix("0x")
        .unwrap_or(address)
        .to_ascii_lowercase()
}

fn required(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

#[allow_anonymous]
#[get("/jwks")]
async fn jwks_endpoint(server: web::Data<AuthServer>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(server.jwks())
}

#[derive(Deserialize)]
struct ChallengeRequest {
    address: Option<String>,
}

#[allow_anonymous]
#[post("/challenge")]
async fn challenge_endpoint(
    server: web::Data<AuthServer>,
    body: web::Json<ChallengeRequest>,
) -> Result<HttpResponse, ServerError> {
    let address =
        required(body.into_inner().address).ok_or(ServerError::bad_request("address required"))?;
    let address = normalise_address(&address);
    if address.len() > MAX_ADDRESS_HEX || from_hex(&address).is_none() {
        return Err(ServerError::bad_request(
            "address must be the hex encoded public key of the wallet",
        ));
    }
    let ttl = server.inner.config.challenge_ttl;
    let value = to_hex(&server.random_bytes::<32>()?);
    server
        .inner
        .store
        .put_challenge(
            address,
            Challenge {
                value: value.clone(),
                expires_at: SystemTime::now() + ttl,
            },
        )
        .await
        .map_err(|StoreFull| {
            ServerError::unavailable("too many pending challenges; retry later")
        })?;
    Ok(HttpResponse::Ok().json(json!({ "challenge": value, "ttl": ttl.as_secs() })))
}

#[derive(Deserialize)]
struct SignInRequest {
    address: Option<String>,
    public_key: Option<String>,
    signature: Option<String>,
    challenge: Option<String>,
    algorithm: Option<String>,
}

#[allow_anonymous]
#[post("/sign-in")]
async fn sign_in_endpoint(
    server: web::Data<AuthServer>,
    body: web::Json<SignInRequest>,
) -> Result<HttpResponse, ServerError> {
    let body = body.into_inner();
    let (Some(address), Some(public_key), Some(signature), Some(challenge)) = (
        required(body.address),
        required(body.public_key),
        required(body.signature),
        required(body.challenge),
    ) else {
        return Err(ServerError::bad_request(
            "address, public_key, signature, and challenge required",
        ));
    };
    let supported = &server.inner.config.wallet_algorithms;
    let names: Vec<&str> = supported.iter().map(|a| a.as_str()).collect();
    let algorithm = body
        .algorithm
        .as_deref()
        .and_then(WalletAlgorithm::from_name)
        .filter(|alg| supported.contains(alg))
        .ok_or_else(|| {
            ServerError::bad_request(format!(
                "unsupported algorithm {:?}; use one of {names:?}",
                body.algorithm.as_deref().unwrap_or("")
            ))
        })?;
    let (Some(public_key), Some(signature)) = (from_hex(&public_key), from_hex(&signature)) else {
        return Err(ServerError::bad_request("invalid hex encoding"));
    };
    let address = normalise_address(&address);
    if address != to_hex(&public_key) {
        return Err(ServerError::bad_request(
            "address does not match verified public key",
        ));
    }
    if let Err(WalletError::Malformed(why)) = algorithm.check_shape(&public_key, &signature) {
        return Err(ServerError::bad_request(why));
    }
    // Single use: taken now, whatever happens next.
    let stored = server.inner.store.take_challenge(address.clone()).await;
    let valid = stored.is_some_and(|stored| {
        stored.expires_at > SystemTime::now()
            && bool::from(stored.value.as_bytes().ct_eq(challenge.as_bytes()))
    });
    if !valid {
        return Err(ServerError::unauthorized("invalid or expired challenge"));
    }
    match algorithm.verify(&public_key, challenge.as_bytes(), &signature) {
        Ok(()) => {}
        Err(WalletError::Malformed(why)) => return Err(ServerError::bad_request(why)),
        Err(WalletError::BadSignature) => {
            return Err(ServerError::unauthorized("signature verification failed"));
        }
    }
    let mut identity = Map::new();
    identity.insert("sub".into(), json!(address));
    identity.insert("role".into(), json!("wallet"));
    identity.insert("algorithm".into(), json!(algorithm.as_str()));
    identity.insert("wallet_address".into(), json!(address));
    let (access, refresh) = server.issue(identity, None).await?;
    let mut body = server.token_response(access, refresh);
    body.insert("address".into(), json!(address));
    body.insert("algorithm".into(), json!(algorithm.as_str()));
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
struct LoginRequest {
    email: Option<String>,
    password: Option<String>,
}

#[allow_anonymous]
#[post("/login")]
async fn login_endpoint(
    server: web::Data<AuthServer>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ServerError> {
    let Some(admin) = &server.inner.admin else {
        return Err(ServerError::forbidden("password login disabled"));
    };
    let body = body.into_inner();
    let (Some(email), Some(password)) = (required(body.email), body.password) else {
        return Err(ServerError::bad_request("email and password required"));
    };
    // Both checks always run, so the answer time does not tell which one failed.
    let email_ok = bool::from(
        email
            .trim()
            .to_ascii_lowercase()
            .as_bytes()
            .ct_eq(admin.email().to_ascii_lowercase().as_bytes()),
    );
    let password_ok = admin.verifies(&password);
    if !(email_ok && password_ok) {
        tracing::info!("admin login refused");
        return Err(ServerError::unauthorized("invalid credentials"));
    }
    let mut identity = Map::new();
    identity.insert("sub".into(), json!(admin.email()));
    identity.insert("email".into(), json!(admin.email()));
    identity.insert("role".into(), json!("admin"));
    let (access, refresh) = server.issue(identity, None).await?;
    Ok(HttpResponse::Ok().json(server.token_response(access, refresh)))
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: Option<String>,
}

#[allow_anonymous]
#[post("/refresh")]
async fn refresh_endpoint(
    server: web::Data<AuthServer>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ServerError> {
    let token = required(body.into_inner().refresh_token)
        .ok_or(ServerError::bad_request("refresh_token required"))?;
    match server
        .inner
        .store
        .use_refresh(server.refresh_hash(&token))
        .await
    {
        RefreshUse::Fresh(record) => {
            let (access, refresh) = server.issue(record.claims, Some(record.family)).await?;
            Ok(HttpResponse::Ok().json(server.token_response(access, refresh)))
        }
        RefreshUse::Reused { family } => {
            server.inner.store.revoke_family(family).await;
            tracing::warn!("a spent refresh token was presented again; its family is revoked");
            Err(ServerError::unauthorized(
                "refresh token already used; every session from that sign-in is revoked, sign in again",
            ))
        }
        RefreshUse::Unknown => Err(ServerError::unauthorized(
            "invalid or expired refresh token",
        )),
    }
}
