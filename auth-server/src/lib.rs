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
//!     let figment = auth_server::figment_from("config.yaml");
//!     let (issuer, auth) = auth_server::embed(&figment).await?; // the validator trusts the issuer
//!     HttpServer::new(move || {
//!         App::new()
//!             .wrap(auth.clone())
//!             .service(issuer.service()) // /api/v1/auth/{jwks,...} and /.well-known/...
//!             .service(profile)
//!     })
//!     .bind("127.0.0.1:8100")?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! Endpoints (anonymous unless said, JSON in and out, errors as `{"detail": "..."}`, each
//! refusal a [`ServerError`] variant with a stable [`code`](ServerError::code)):
//!
//! | endpoint | body | answer |
//! |---|---|---|
//! | `GET /api/v1/auth/jwks` | | `{"keys": [...]}`: the signing key and any retiring keys |
//! | `POST /api/v1/auth/challenge` | `{"address"}` | `{"challenge", "ttl"}`: 64 hex characters, single use |
//! | `POST /api/v1/auth/sign-in` | `{"address", "public_key", "signature", "challenge", "algorithm"}` | `{"access_token", "refresh_token", "address", "algorithm", ...}` |
//! | `POST /api/v1/auth/login` | `{"email", "password"}` | `{"access_token", "refresh_token", ...}` for the bootstrap admin |
//! | `POST /api/v1/auth/refresh` | `{"refresh_token"}` | a new pair; the old refresh token is spent (presented again within `refresh_reuse_grace_seconds`, before the new one is used: the same refresh token, a new access token) |
//! | `POST /api/v1/auth/sign-out` | `{"refresh_token"}` | 204: the session ends, its access tokens are revoked |
//! | `POST /api/v1/auth/revoke` (admin) | `{"jti"}` or `{"subject"}` | `{"listed_entries", "revoked_sessions"}` |
//! | `GET /api/v1/auth/revoked-jtis` | `?since=CURSOR` | the revocation list (`auth_runtime::RevocationList`) |
//! | `GET /.well-known/oauth-authorization-server` | | the issuer's metadata (RFC 8414): `issuer`, `jwks_uri`, the endpoints, `dpop_signing_alg_values_supported` |
//!
//! Sign-in, login and refresh take a DPoP proof (RFC 9449) in a `DPoP` header, for the
//! endpoint's URL under the configured `issuer` (`{issuer}/api/v1/auth/sign-in`): the access
//! token is then bound to the proof's key (`cnf.jkt`, `token_type: "DPoP"`) and, from a
//! sign-in or login, so is the session, whose refreshes need a proof by that key. A proof that
//! does not pass is refused ([`ServerError::InvalidDpopProof`]); see
//! [`RawServerConfig::dpop`].
//!
//! The signing key is persisted (see [`RawServerConfig::signing_key_path`]); sessions
//! and spent challenges live in an [`AuthStore`](store::AuthStore), in memory by default, or in PostgreSQL
//! shared by several instances (see [`store`]). Revoked tokens stay revoked across a restart:
//! the in-memory store also keeps them in a file (see [`RawServerConfig::revocations_path`]).
//!
//! With the feature `metrics`, the issuer counts through the `metrics` facade (and turns on
//! the validator's metrics, `auth_runtime::metrics`): `auth_server_sign_ins_total`
//! (`algorithm`, `outcome`), `auth_server_logins_total` (`outcome`),
//! `auth_server_refreshes_total` (`outcome`, `reused` being a reuse detection, `retried` a
//! retry within `refresh_reuse_grace_seconds`) and
//! `auth_server_throttled_total` (`limit`: `client`, `account`, `busy`, `sign_in`). `outcome`
//! is `ok` or the refusal (`invalid`, `refused`, `disabled`, `throttled`, `unavailable`,
//! `error`; a refused refresh says `reused`, `revoked`, `expired` or `unknown`). Install a
//! recorder before serving:
//!
//! ```no_run
//! # #[cfg(feature = "metrics")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
//! let figment = auth_server::figment_from("config.yaml");
//! let (issuer, auth) = auth_server::embed(&figment).await?;
//! // ... serve `issuer.service()` behind `auth`; later, the text format:
//! let exposition: String = prometheus.render();
//! # let _ = (issuer, auth, exposition);
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unreachable_pub)]
#![warn(missing_docs)]

// Layers, each importing only those before it: hex, keys, network, wallet, store; error; clock,
// challenge, dpop (the token endpoints' URLs and spent proofs), config, metadata, metrics,
// throttle; server (the issuer value); flows (what the endpoints do, as `AuthServer` methods);
// embed and endpoints (HTTP: parse, call the flow, render).
mod challenge;
mod clock;
mod config;
mod dpop;
mod embed;
mod endpoints;
mod error;
mod flows;
mod hex;
mod keys;
mod metadata;
mod metrics;
mod network;
mod server;
pub mod store;
mod throttle;
mod wallet;

pub use clock::Clock;
pub use config::{
    AdminAccount, DpopSettings, LoginLimits, RawServerConfig, ServerConfig, figment_from,
    figment_from_optional,
};
pub use embed::embed;
pub use endpoints::IssuerService;
pub use error::ServerError;
pub use network::IpNetwork;
pub use server::{AuthServer, AuthServerBuilder, BASE_PATH};
pub use wallet::{WalletAlgorithm, WalletError};
