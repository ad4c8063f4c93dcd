//! JWT bearer authentication for actix-web.
//!
//! `auth-runtime` validates `Authorization: Bearer` tokens against your identity provider's
//! JWKS, makes the caller's identity available to every piece of code the handler awaits, and
//! answers 401/403 for you. Every route of a wrapped app needs a valid token unless it is
//! explicitly anonymous.
//!
//! ```toml
//! [dependencies]
//! auth-runtime = "0.1"
//! actix-web = "4"
//!
//! [dev-dependencies]
//! auth-runtime = { version = "0.1", features = ["testing"] }
//! ```
//!
//! ```yaml
//! # config.yaml; every key can also be set as AUTH_CLIENT__<KEY>, which wins
//! auth_client:
//!   issuer: https://id.example.com
//!   audience: my-api
//! ```
//!
//! ```no_run
//! use actix_web::{App, HttpServer, Responder, get, web};
//! use auth_runtime::{JwtAuth, Principal, SecurityContext, allow_anonymous, requires_role};
//!
//! #[allow_anonymous]
//! #[get("/health")]
//! async fn health() -> &'static str {
//!     "up"
//! }
//!
//! #[get("/api/profile")]
//! async fn profile(me: Principal) -> impl Responder {
//!     web::Json(serde_json::json!({ "subject": me.claims().sub, "roles": me.roles() }))
//! }
//!
//! #[requires_role("admin")]
//! #[get("/api/admin")]
//! async fn admin() -> impl Responder {
//!     // any code the handler awaits can read the identity
//!     let me = SecurityContext::require()?;
//!     Ok::<_, auth_runtime::AuthError>(format!("Welcome, {}", me.claims().sub))
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let figment = auth_runtime::figment_from("config.yaml");
//!     let auth = JwtAuth::from_figment(&figment)?; // fails fast on bad config
//!     HttpServer::new(move || {
//!         App::new()
//!             .wrap(auth.clone())
//!             .service(health)
//!             .service(profile)
//!             .service(admin)
//!     })
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! # Where to look
//!
//! - [`JwtAuth`]: the middleware, what it answers for each request, and its
//!   [builder](JwtAuthBuilder) (key sources, role resolver, error handler).
//! - [`requires_role`], [`requires_scope`], [`requires_group`], [`allow_anonymous`]: the
//!   policy of one handler; [`AnonymousGuard`] for routes registered by hand.
//! - [`AuthConfig`]: the `auth_client` section, read with [`figment_from`].
//! - [`Principal`] and [`SecurityContext`]: the caller, as an extractor or from any code the
//!   handler awaits; [`scope`] holds the rules scopes are compared by.
//! - [`Validator`]: what is checked, in which order; [`JwksKeySource`] and [`KeySource`]:
//!   where keys come from; [`RevocationList`]: revoked tokens; [`RoleResolver`]: roles.
//! - [`AuthError`]: every rejection, its status, challenge and stable code.
//! - [`metrics`] (feature `metrics`): what is counted; [`openapi`] (feature `openapi`):
//!   security schemes in utoipa documents.
//! - [`testing`] (feature `testing`): a real issuer on loopback for your own tests.
//!
//! # Stability
//!
//! The crate is pre-1.0: a release that changes the public API bumps the minor version
//! (0.1 to 0.2). Every public item has one path, from the crate root unless it lives in one
//! of the modules above.
//!
// The feature-gated modules are linked where they are built, and on docs.rs otherwise.
#![cfg_attr(feature = "testing", doc = "[`testing`]: crate::testing")]
#![cfg_attr(
    not(feature = "testing"),
    doc = "[`testing`]: https://docs.rs/auth-runtime/latest/auth_runtime/testing/index.html"
)]
#![cfg_attr(feature = "openapi", doc = "[`openapi`]: crate::openapi")]
#![cfg_attr(
    not(feature = "openapi"),
    doc = "[`openapi`]: https://docs.rs/auth-runtime/latest/auth_runtime/openapi/index.html"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unreachable_pub)]
#![warn(missing_docs)]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod algorithm;
mod anonymous;
mod cache;
mod challenge;
mod claims;
mod clock;
mod config;
mod config_error;
mod context;
mod dpop;
mod error;
mod fetch;
mod issuer;
mod jwks;
pub mod metrics;
mod middleware;
#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub mod openapi;
mod principal;
mod refreshing;
mod resource_metadata;
mod responder;
mod revocation;
mod roles;
pub mod scope;
mod strict_json;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod typed_claims;
mod validate;

pub use algorithm::Algorithm;
pub use anonymous::{Anonymous, AnonymousGuard, AnonymousRoute, AnonymousService};
pub use cache::TokenCacheStats;
pub use claims::{RawClaims, TokenClaims, ValidToken};
pub use config::{
    Audience, AuthConfig, ConfigError, ConfigErrorKind, ErrorFormat, IssuerConfig, PublicUrls,
    RawConfig, RawIssuer, SharedSecret, figment_from, figment_from_optional,
};
pub use context::SecurityContext;
pub use dpop::{DpopMode, DpopReason};
pub use error::{AuthError, InvalidReason};
pub use jwks::{
    FileKeySource, JwksError, JwksKeySource, KeyError, KeySet, KeySource, KeysUnavailable,
    VerifyingKey,
};
pub use middleware::{JwtAuth, JwtAuthBuilder, JwtAuthFuture, JwtAuthMiddleware, bearer_token};
pub use principal::Principal;
pub use revocation::{
    HttpRevocationSource, RevocationFetchError, RevocationList, RevocationPage, RevocationSource,
    RevokedToken,
};
pub use roles::{ClaimRoles, RoleResolver};
pub use typed_claims::Claims;
pub use validate::Validator;

/// A boxed future that can move between threads, as [`KeySource::refresh`],
/// [`RevocationSource::fetch`] and [`RoleResolver`]s that need I/O return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Restricts a handler to callers holding any of the listed roles.
///
/// # Syntax
///
/// ```text
/// #[requires_role("role", "other-role", ...)]
/// ```
///
/// One or more role names as string literals, on an `async fn` handler, above or below its
/// route attribute (`#[get(..)]`, `#[actix_web::post(..)]`, `#[route(..)]`, `#[routes]`), or
/// on a handler registered by hand with `.to(handler)`.
///
/// # Semantics
///
/// Inside an app wrapped by [`JwtAuth`]: no valid token is 401 (the middleware's answer), a
/// valid token whose roles (as resolved by the [`RoleResolver`]) contain none of the listed
/// ones is 403 `{"detail": "Requires one of roles: ['admin']"}` with
/// `WWW-Authenticate: Bearer ... error="insufficient_scope"`. Either way the handler's body
/// never runs. Without a valid token the middleware answers before the handler is reached,
/// so none of its extractors is even built. The 403 comes from the hidden first extractor:
/// actix builds every extractor of a handler (the synchronous `FromRequest::from_request`)
/// and then polls them in order, so the role check ends the request before any other
/// extractor's future is polled and before the body is read; only work an extractor does
/// inside `from_request` itself runs for such a request. Role names are compared exactly. Outside a wrapped app there is never an identity, so the handler
/// answers 401: the attribute fails closed.
///
/// The attribute adds a hidden first parameter; everything else about the handler (name,
/// visibility, docs, other attributes, generics, parameters, return type, body) stays as
/// written.
///
/// # Errors
///
/// Compile errors, each pointing at the offending token: no roles, a role that is not a
/// string literal, an empty or repeated role, a role with a comma or whitespace in it
/// (`"admin,support"`; the error shows `#[requires_role("admin", "support")]`), `name = value` arguments, a handler that is
/// not an `async fn` (or not a function at all), two `#[requires_role]` on one handler
/// (list all roles in one), and `#[requires_role]` together with `#[allow_anonymous]`.
///
/// # Combining
///
/// [`requires_scope`] and [`requires_group`] can sit on the same handler, in any order: each
/// attribute is any-of, and all of them must hold. The first one unmet, in the order roles,
/// scopes, groups, gives the 403.
///
/// # Examples
///
/// ```
/// use actix_web::{App, HttpResponse, get, post, web};
/// use auth_runtime::{JwtAuth, SecurityContext, requires_role};
///
/// #[requires_role("admin")]
/// #[get("/api/admin/dashboard")]
/// async fn dashboard() -> HttpResponse {
///     let me = SecurityContext::require().expect("the attribute guarantees a caller");
///     HttpResponse::Ok().body(format!("Welcome, {}", me.claims().sub))
/// }
///
/// #[derive(serde::Deserialize)]
/// struct Article {
///     title: String,
/// }
///
/// /// Editors or admins; below the route attribute works too.
/// #[post("/api/articles")]
/// #[requires_role("editor", "admin")]
/// async fn create(article: web::Json<Article>) -> HttpResponse {
///     HttpResponse::Created().body(article.into_inner().title)
/// }
///
/// fn app(auth: JwtAuth) {
///     let _ = App::new().wrap(auth).service(dashboard).service(create);
/// }
/// ```
#[doc(inline)]
pub use auth_macros::requires_role;

/// Restricts a handler to tokens that carry any of the listed OAuth scopes.
///
/// # Syntax
///
/// ```text
/// #[requires_scope("articles:write", "articles:admin", ...)]
/// ```
///
/// One or more scopes as string literals, placed like [`requires_role`]. A scope is printable
/// ASCII without spaces, quotes or backslashes; `*` may only end it, after a `:` and a prefix
/// (`"articles:*"`).
///
/// # Semantics
///
/// The token's scopes are its `scope` claim, or `scp` when it has no `scope`, each either a
/// space-delimited string or an array of strings. The handler runs when one of them satisfies
/// one of the listed scopes: equal to it (case-sensitive), or a `prefix:*` wildcard on either
/// side. A granted `articles:*` satisfies a required `articles:write` (and
/// `articles:write:draft`), a required `articles:*` is satisfied by any granted scope under
/// `articles:`, and `articles:*` never matches `articles` itself. The full table is in
/// [`scope`].
///
/// Otherwise, like [`requires_role`]: no valid token is 401, an unmet requirement is 403, and
/// the handler neither runs nor reads its body. The 403 carries
/// `{"detail": "Requires one of scopes: ['articles:write']"}` and
/// `WWW-Authenticate: Bearer realm="api", error="insufficient_scope", error_description="...",
/// scope="articles:write"` (RFC 6750 section 3). It combines with [`requires_role`] and
/// [`requires_group`]: all must hold.
///
/// # Errors
///
/// Compile errors as for [`requires_role`], plus a scope that is not in scope syntax (a
/// space, a quote, a `*` anywhere but at the end after `:`, a bare `:*`).
///
/// # Examples
///
/// ```
/// use actix_web::{App, HttpResponse, post};
/// use auth_runtime::{JwtAuth, requires_role, requires_scope};
///
/// /// A token with `scope: "articles:write"` (or `articles:*`).
/// #[requires_scope("articles:write")]
/// #[post("/api/articles")]
/// async fn create() -> HttpResponse {
///     HttpResponse::Created().finish()
/// }
///
/// /// Both: the `admin` role and a scope under `articles:`.
/// #[requires_role("admin")]
/// #[requires_scope("articles:*")]
/// #[post("/api/articles/purge")]
/// async fn purge() -> HttpResponse {
///     HttpResponse::NoContent().finish()
/// }
///
/// fn app(auth: JwtAuth) {
///     let _ = App::new().wrap(auth).service(create).service(purge);
/// }
/// ```
#[doc(inline)]
pub use auth_macros::requires_scope;

/// Restricts a handler to tokens whose `groups` claim lists any of the given groups.
///
/// # Syntax
///
/// ```text
/// #[requires_group("engineering", "operations", ...)]
/// ```
///
/// One or more group names as string literals, placed like [`requires_role`].
///
/// # Semantics
///
/// The token's `groups` claim (an array of strings, or one string) must contain one of the
/// listed groups, compared exactly. Otherwise as for [`requires_role`]: 401 without a valid
/// token, 403 `{"detail": "Requires one of groups: ['engineering']"}` with
/// `error="insufficient_scope"`, and the handler neither runs nor reads its body. It combines
/// with [`requires_role`] and [`requires_scope`]: all must hold.
///
/// # Errors
///
/// The same compile errors as for [`requires_role`].
///
/// # Examples
///
/// ```
/// use actix_web::{App, HttpResponse, get};
/// use auth_runtime::{JwtAuth, requires_group};
///
/// #[requires_group("engineering", "operations")]
/// #[get("/api/deployments")]
/// async fn deployments() -> HttpResponse {
///     HttpResponse::Ok().finish()
/// }
///
/// fn app(auth: JwtAuth) {
///     let _ = App::new().wrap(auth).service(deployments);
/// }
/// ```
#[doc(inline)]
pub use auth_macros::requires_group;

/// Lets a handler answer without a token.
///
/// # Syntax
///
/// ```text
/// #[allow_anonymous]
/// #[get("/path")]      // or any route attribute: #[post], #[route(..)], #[routes], ...
/// ```
///
/// No arguments, on an `async fn` handler, **above** its route attribute(s).
///
/// # Semantics
///
/// Inside an app wrapped by [`JwtAuth`] the handler runs for every request, with or without a
/// token; a token that is sent, valid or not, is ignored, and [`SecurityContext::get`] is
/// `None` in the handler. Only this handler is anonymous: another handler on the same path
/// with another method, or the same relative path in another scope, keeps its own policy.
///
/// The attribute appends `guard = "..."` (an always-true guard that marks the request) to
/// each route attribute, after any guard of your own, and declares the route to the
/// middleware. A resource registered by hand gets the same effect from
/// [`AnonymousGuard`] plus [`JwtAuth::anonymous_route`].
///
/// # Errors
///
/// Compile errors: arguments (`#[allow_anonymous(..)]`), no route attribute below it (which
/// is also what placing it under the route attribute looks like), a handler that is not an
/// `async fn`, two `#[allow_anonymous]`, and `#[allow_anonymous]` together with
/// `#[requires_role]`, `#[requires_scope]` or `#[requires_group]`.
///
/// # Examples
///
/// ```
/// use actix_web::{App, HttpResponse, get, post};
/// use auth_runtime::{JwtAuth, SecurityContext, allow_anonymous};
///
/// #[allow_anonymous]
/// #[get("/items")]
/// async fn list_items() -> HttpResponse {
///     assert!(SecurityContext::get().is_none());
///     HttpResponse::Ok().body("[]")
/// }
///
/// /// Same path, another method: needs a token.
/// #[post("/items")]
/// async fn add_item() -> HttpResponse {
///     HttpResponse::Created().finish()
/// }
///
/// fn app(auth: JwtAuth) {
///     let _ = App::new().wrap(auth).service(list_items).service(add_item);
/// }
/// ```
#[doc(inline)]
pub use auth_macros::allow_anonymous;
