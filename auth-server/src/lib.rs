//! An embeddable token issuer for actix-web, the companion of [`auth_runtime`]: the endpoints
//! that sign tokens (wallet sign-in, password login for a bootstrap admin, refresh, sign-out,
//! revocation) and publish their keys, served from your own app next to the handlers that
//! `auth_runtime` protects. [`embed`] returns the endpoints and a [`JwtAuth`] validator that
//! trusts them directly, without an HTTP call to itself; other services trust the issuer
//! through its JWKS like any other.
//!
//! ```toml
//! [dependencies]
//! auth-server = "0.1"      # features: "postgres", "metrics"
//! auth-runtime = "0.1"
//! actix-web = "4"
//! ```
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
//!     let (issuer, auth) = auth_server::embed(&figment).await?; // the validator trusts the issuer
//!     HttpServer::new(move || {
//!         App::new()
//!             .wrap(auth.clone())
//!             .service(issuer.service()) // /api/v1/auth/{jwks,challenge,sign-in,login,refresh,...}
//!             .service(profile)
//!     })
//!     .bind("127.0.0.1:8100")?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! with, in `config.yaml` (every key is in [`config::RawServerConfig`]):
//!
//! ```yaml
//! server_auth:
//!   issuer: https://auth.example.com    # `iss` of the tokens; `auth_client` trusts it
//!   audience: my-api                    # `aud` of the tokens
//!   signing_key_path: /var/lib/my-api/signing-key.pem   # created on first start
//! ```
//!
//! # Endpoints
//!
//! Under [`BASE_PATH`], the paths of pico-server-auth; anonymous unless said, JSON in and out,
//! errors as `{"detail": "..."}`:
//!
//! | endpoint | body | answer |
//! |---|---|---|
//! | `GET /api/v1/auth/jwks` | | `{"keys": [...]}`: the signing key and any retiring keys |
//! | `POST /api/v1/auth/challenge` | `{"address"}` | `{"challenge", "ttl"}`: 64 hex characters, single use |
//! | `POST /api/v1/auth/sign-in` | `{"address", "public_key", "signature", "challenge", "algorithm"}` | `{"access_token", "refresh_token", "address", "algorithm", ...}` |
//! | `POST /api/v1/auth/login` | `{"email", "password"}` | `{"access_token", "refresh_token", ...}` for the bootstrap admin |
//! | `POST /api/v1/auth/refresh` | `{"refresh_token"}` | a new pair; the old refresh token is spent |
//! | `POST /api/v1/auth/sign-out` | `{"refresh_token"}` | 204: the session ends, its access tokens are revoked |
//! | `POST /api/v1/auth/revoke` (admin) | `{"jti"}` or `{"subject"}` | `{"revoked_tokens", "revoked_sessions"}` |
//! | `GET /api/v1/auth/revoked-jtis` | `?since=CURSOR` | the revocation list (`auth_runtime::revocation`) |
//!
//! Wallets sign the challenge with Ed25519, secp256k1 or ML-DSA-65 ([`WalletAlgorithm`]). A
//! refresh token works once: presenting a spent one again revokes its whole session.
//!
//! # Keys and storage
//!
//! Access tokens are signed with RS256 by default, or ML-DSA (`signing_algorithm`); the key is
//! persisted at `signing_key_path`, and keys listed in `retiring_key_paths` stay in the JWKS
//! during a rotation. Sessions, spent challenges and issued tokens live in an [`AuthStore`]:
//! [`MemoryStore`] by default (a restart ends every session), or, with the feature `postgres`
//! and `store_url`, a PostgreSQL database that several instances share (see [`store`]). Your
//! own store goes in through [`AuthServer::builder`].
//!
//! # Metrics
//!
//! With the feature `metrics`, the issuer counts through the `metrics` facade (and turns on
//! the validator's metrics, `auth_runtime::metrics`): `auth_server_sign_ins_total`
//! (`algorithm`, `outcome`), `auth_server_logins_total` (`outcome`),
//! `auth_server_refreshes_total` (`outcome`, `reused` being a reuse detection) and
//! `auth_server_throttled_total` (`limit`: `client`, `account`, `busy`, `sign_in`). `outcome`
//! is `ok` or the refusal (`invalid`, `refused`, `disabled`, `throttled`, `unavailable`,
//! `error`; a refused refresh says `reused`, `revoked`, `expired` or `unknown`). Install a
//! recorder before serving:
//!
//! ```no_run
//! # #[cfg(feature = "metrics")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
//! let figment = auth_server::config::figment_from("config.yaml");
//! let (issuer, auth) = auth_server::embed(&figment).await?;
//! // ... serve `issuer.service()` behind `auth`; later, the text format:
//! let exposition: String = prometheus.render();
//! # let _ = (issuer, auth, exposition);
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unreachable_pub)]
#![warn(missing_docs)]

mod challenge;
mod clock;
pub mod config;
mod endpoints;
mod error;
mod hex;
mod issue;
mod keys;
mod login;
mod metrics;
mod server;
pub mod store;
pub mod wallet;

use auth_runtime::{AuthConfig, ConfigError, JwtAuth};
use figment::Figment;
use figment::providers::Serialized;

pub use clock::Clock;
pub use config::{AdminAccount, RawServerConfig, ServerConfig};
pub use error::ServerError;
pub use server::{AuthServer, AuthServerBuilder, BASE_PATH};
pub use store::{AuthStore, MemoryStore};
pub use wallet::WalletAlgorithm;

/// Reads `server_auth` and `auth_client` from one figment, opens the store `server_auth`
/// names, and returns the issuer and a validator that trusts it directly (no HTTP call to
/// itself). `auth_client.issuer` and `auth_client.audience` default to the `server_auth` ones;
/// when set, they must agree. With `auth_client.issuers`, one entry must be this issuer; the
/// others are fetched from as usual.
pub async fn embed(figment: &Figment) -> Result<(AuthServer, JwtAuth), ConfigError> {
    let server = AuthServer::connect(figment).await?;
    let listed = figment
        .find_value("auth_client.issuers")
        .is_ok_and(|issuers| issuers.as_array().is_some_and(|list| !list.is_empty()));
    let client_figment = if listed {
        figment.clone()
    } else {
        figment
            .clone()
            .join(Serialized::default(
                "auth_client.issuer",
                &server.config().issuer,
            ))
            .join(Serialized::default(
                "auth_client.audience",
                &server.config().audience,
            ))
    };
    let auth = server.validator(AuthConfig::from_figment(&client_figment)?)?;
    Ok((server, auth))
}
