//! JWT bearer authentication for actix-web.
//!
//! `auth-runtime` validates `Authorization: Bearer` tokens against your identity provider's
//! JWKS, makes the caller's identity available to every piece of code the handler awaits, and
//! answers 401/403 for you. Every route of a wrapped app needs a valid token unless it is
//! explicitly anonymous.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, Responder, get, web};
//! use auth_runtime::{JwtAuth, Principal, SecurityContext};
//!
//! #[get("/api/profile")]
//! async fn profile(me: Principal) -> impl Responder {
//!     web::Json(serde_json::json!({ "subject": me.claims().sub, "roles": me.roles() }))
//! }
//!
//! #[get("/api/whoami")]
//! async fn whoami() -> impl Responder {
//!     // any code the handler awaits can read the identity
//!     let me = SecurityContext::require()?;
//!     Ok::<_, auth_runtime::AuthError>(me.claims().sub.clone())
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // auth_client.issuer / audience / ... from config.yaml, AUTH_CLIENT__* wins
//!     let figment = auth_runtime::config::figment_from("config.yaml");
//!     let auth = JwtAuth::from_figment(&figment)?; // fails fast on bad config
//!     HttpServer::new(move || App::new().wrap(auth.clone()).service(profile).service(whoami))
//!         .bind("127.0.0.1:8080")?
//!         .run()
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! The pieces, one module each: [`config`] (the `auth_client` section), [`jwks`] (keys),
//! [`validate`] (token checks), [`roles`] (role resolution), [`context`] (the identity),
//! [`middleware`] (401/403), [`anonymous`] (routes without a token), [`error`] (the
//! answers), and, with the `testing` feature, [`testing`] (a loopback issuer for your tests).

#![deny(unreachable_pub)]
#![warn(missing_docs)]

pub mod anonymous;
pub mod config;
pub mod context;
pub mod error;
pub mod jwks;
pub mod middleware;
pub mod roles;
#[cfg(feature = "testing")]
pub mod testing;
pub mod validate;

pub use anonymous::{AnonymousGuard, AnonymousRoute};
pub use config::{Algorithm, AuthConfig, ConfigError, RawConfig};
pub use context::{Principal, SecurityContext};
pub use error::{AuthError, InvalidReason};
pub use jwks::{JwksKeySource, KeySet, KeySource, KeysUnavailable, VerifyingKey};
pub use middleware::{JwtAuth, JwtAuthBuilder};
pub use roles::{DefaultRoleResolver, RoleResolver};
pub use validate::{RawClaims, TokenClaims, ValidToken, Validator};
