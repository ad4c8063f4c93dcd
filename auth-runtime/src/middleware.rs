//! The actix middleware: deny by default, validate Bearer tokens, run the handler inside the
//! caller's [`SecurityContext`] with its [`Principal`] in the request's extensions
//! (`web::ReqData<Principal>`, and other middleware, read it there).
//!
//! For each request inside the wrapped app or scope:
//!
//! | route | no token | invalid token | valid token |
//! |---|---|---|---|
//! | default | 401 | 401 | handler runs with the identity |
//! | anonymous ([`AnonymousGuard`](crate::AnonymousGuard)) | handler runs, no identity | same | same |
//! | under a `public_paths` prefix | not looked at | not looked at | not looked at |
//!
//! A rejected request never reaches its handler. Rejections are ordinary responses, so
//! middleware wrapped *around* this one (CORS, `DefaultHeaders`, `Logger`) still sees and
//! decorates them. A rejection decided after routing (the request could have reached an
//! anonymous handler and did not) goes out on a request rebuilt from the original's head,
//! without the extensions and app data of the original. Wrap `JwtAuth` first (innermost),
//! then the rest:
//!
//! ```no_run
//! use actix_web::{App, HttpServer};
//! use auth_runtime::JwtAuth;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let figment = auth_runtime::config::figment_from("config.yaml");
//! let auth = JwtAuth::from_figment(&figment)?;
//! HttpServer::new(move || App::new().wrap(auth.clone()))
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Each request that goes through authentication runs in one `tracing` span, `authenticate`
//! (level `info`): the method and the path, then the issuer (`iss`) and subject (`sub`) of a
//! verified token, the `outcome` (`authenticated`, `anonymous`, `rejected`, `forbidden`) and
//! the `reason` (the [`AuthError::code`]); never the token, nor a claim of a token that failed
//! its checks. The handler's own events are inside it, and each rejection is an event in it
//! (`warn` for a 503):
//!
//! ```
//! use actix_web::{HttpResponse, get};
//!
//! #[get("/orders")]
//! async fn orders() -> HttpResponse {
//!     // With `tracing_subscriber::fmt()`, logged as
//!     // INFO authenticate{method=GET path=/orders iss=https://id.example sub=alice}: shop: listing orders
//!     tracing::info!("listing orders");
//!     HttpResponse::Ok().finish()
//! }
//!
//! tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).init();
//! // A request without a token, then, logs:
//! // INFO authenticate{method=GET path=/orders outcome=rejected reason=missing_token}: auth_runtime::middleware: request rejected status=401 detail=Missing or invalid Authorization header
//! ```

use std::cell::RefCell;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{
    RequestHead, Service, ServiceRequest, ServiceResponse, Transform, forward_ready,
};
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::http::{Method, Uri, Version};
use actix_web::{Error, HttpMessage as _, HttpRequest, HttpResponse};
use figment::Figment;
use futures_util::future::{Either, MapOk, TryFutureExt as _};
use tokio::task::futures::TaskLocalFuture;
use tracing::field::{Empty, display};
use tracing::{Instrument as _, Span};

use crate::anonymous::{self, AnonymousRoute};
use crate::cache::{Entry, TokenCache, TokenCacheStats};
use crate::config::{AuthConfig, ConfigError};
use crate::context::{Principal, SecurityContext};
use crate::error::{AuthError, ErrorHandler, Responder};
use crate::jwks::{JwksKeySource, KeySource};
use crate::metrics;
use crate::revocation::{HttpRevocationSource, RevocationList, RevocationSource};
use crate::roles::{Resolver, RoleResolver};
use crate::validate::{ValidToken, Validator, now};

/// The authentication middleware and its configuration. Cheap to clone: build it once,
/// clone it into every worker's `App`.
#[derive(Clone)]
pub struct JwtAuth {
    shared: Arc<Shared>,
}

struct Shared {
    config: AuthConfig,
    validator: Validator,
    /// One per issuer, in the configuration's order (the same custom resolver for all).
    resolvers: Vec<Resolver>,
    anonymous: Vec<AnonymousRoute>,
    /// Shared by every worker, like the rest of `Shared`.
    cache: Option<Arc<TokenCache>>,
    /// One per issuer: its revocation list, if it has one.
    revocations: Vec<Option<RevocationList>>,
    /// How rejections are answered.
    responder: Responder,
}

/// The index of the configured issuer a source was given for (`None` for the only one);
/// `Ok(None)` when auth is disabled and the source is not needed.
fn issuer_index(
    config: &AuthConfig,
    issuer: Option<String>,
    method: &str,
) -> Result<Option<usize>, ConfigError> {
    match issuer {
        Some(issuer) => config
            .issuers
            .iter()
            .position(|entry| entry.issuer == issuer)
            .map(Some)
            .ok_or_else(|| {
                ConfigError::new(format!(
                    "a {} was given for the issuer `{issuer}`, which is not among the \
                     configured ones (auth_client.issuer / issuers)",
                    method.replace('_', " ")
                ))
            }),
        None if config.issuers.len() == 1 => Ok(Some(0)),
        // Disabled: nothing is ever validated, so the source is not needed.
        None if !config.enabled => Ok(None),
        None => Err(ConfigError::new(format!(
            "JwtAuthBuilder::{method} serves a single issuer, and several are configured; \
             use issuer_{method}(issuer, source) for each one it serves"
        ))),
    }
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuth")
            .field("config", &self.shared.config)
            .field("anonymous", &self.shared.anonymous)
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwtAuth`] step by step; see [`JwtAuth::builder`].
pub struct JwtAuthBuilder {
    config: AuthConfig,
    /// Key sources given for issuers, by `iss`; `None` stands for "the only issuer".
    keys: Vec<(Option<String>, Arc<dyn KeySource>)>,
    /// Revocation sources given for issuers, the same way.
    revocations: Vec<(Option<String>, Arc<dyn RevocationSource>)>,
    resolver: Option<Resolver>,
    anonymous: Vec<AnonymousRoute>,
    error_handler: Option<ErrorHandler>,
}

impl JwtAuth {
    /// Reads and checks the `auth_client` section, and fetches keys from each issuer's JWKS
    /// endpoint (or discovered `jwks_uri`). Fails with the key at fault and the fix.
    pub fn from_figment(figment: &Figment) -> Result<JwtAuth, ConfigError> {
        JwtAuth::builder(AuthConfig::from_figment(figment)?).build()
    }

    /// A middleware for a checked configuration, with the default key source and resolver.
    pub fn new(config: AuthConfig) -> Result<JwtAuth, ConfigError> {
        JwtAuth::builder(config).build()
    }

    /// Starts a builder to plug in a key source or a role resolver.
    ///
    /// ```
    /// # fn demo(config: auth_runtime::AuthConfig) -> Result<(), auth_runtime::ConfigError> {
    /// use auth_runtime::{JwtAuth, RawClaims, TokenClaims};
    ///
    /// let auth = JwtAuth::builder(config)
    ///     .role_resolver(|_: &TokenClaims, raw: &RawClaims| {
    ///         raw.get("roles")
    ///             .and_then(|r| r.as_array())
    ///             .map(|r| r.iter().filter_map(|v| v.as_str().map(String::from)).collect())
    ///             .unwrap_or_default()
    ///     })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(config: AuthConfig) -> JwtAuthBuilder {
        JwtAuthBuilder {
            resolver: None,
            config,
            keys: Vec::new(),
            revocations: Vec::new(),
            anonymous: Vec::new(),
            error_handler: None,
        }
    }

    /// Declares an anonymous route for a hand-registered resource (see
    /// [`AnonymousGuard`](crate::AnonymousGuard)); `methods` empty means any method.
    pub fn anonymous_route(self, methods: &[Method], pattern: &str) -> JwtAuth {
        let mut shared = match Arc::try_unwrap(self.shared) {
            Ok(shared) => shared,
            Err(shared) => Shared {
                config: shared.config.clone(),
                validator: shared.validator.clone(),
                resolvers: shared.resolvers.clone(),
                anonymous: shared.anonymous.clone(),
                cache: shared.cache.clone(),
                revocations: shared.revocations.clone(),
                responder: shared.responder.clone(),
            },
        };
        shared.anonymous.push(AnonymousRoute::new(methods, pattern));
        JwtAuth {
            shared: Arc::new(shared),
        }
    }

    /// The anonymous routes the middleware knows: declared by hand and by the attributes.
    #[cfg(feature = "openapi")]
    pub(crate) fn anonymous_routes(&self) -> &[AnonymousRoute] {
        &self.shared.anonymous
    }

    /// The configuration in effect.
    pub fn config(&self) -> &AuthConfig {
        &self.shared.config
    }

    /// The token validator, to check tokens outside a request.
    pub fn validator(&self) -> &Validator {
        &self.shared.validator
    }

    /// Validates `token` and resolves its roles, as the middleware does for each request.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        self.shared.authenticate(token).await
    }

    /// What the verified-token cache holds, or `None` when it is off
    /// (`token_cache_max_bytes: 0`).
    pub fn token_cache_stats(&self) -> Option<TokenCacheStats> {
        self.shared.cache.as_ref().map(|cache| cache.stats())
    }

    /// The revocation list held for the configured issuer `issuer`, or `None` when that
    /// issuer has none (no `revocation_endpoint`, no revocation source given).
    pub fn revocation_list(&self, issuer: &str) -> Option<&RevocationList> {
        let index = self
            .shared
            .config
            .issuers
            .iter()
            .position(|entry| entry.issuer == issuer)?;
        self.shared.revocations.get(index)?.as_ref()
    }
}

impl JwtAuthBuilder {
    /// Takes keys from `source` instead of the configured JWKS endpoint, for a configuration
    /// with one issuer ([`build`](JwtAuthBuilder::build) fails with several; use
    /// [`issuer_key_source`](JwtAuthBuilder::issuer_key_source) then).
    pub fn key_source(mut self, source: impl KeySource) -> JwtAuthBuilder {
        self.keys.push((None, Arc::new(source)));
        self
    }

    /// Takes the keys of the configured issuer whose `iss` is `issuer` from `source` (an
    /// issuer embedded in the same process, say); the others keep their JWKS endpoints.
    pub fn issuer_key_source(mut self, issuer: &str, source: impl KeySource) -> JwtAuthBuilder {
        self.keys.push((Some(issuer.to_owned()), Arc::new(source)));
        self
    }

    /// Reads the revoked tokens of a configuration's only issuer from `source` instead of its
    /// `revocation_endpoint` (see [`key_source`](JwtAuthBuilder::key_source) for several
    /// issuers).
    pub fn revocation_source(mut self, source: impl RevocationSource) -> JwtAuthBuilder {
        self.revocations.push((None, Arc::new(source)));
        self
    }

    /// Reads the revoked tokens of the configured issuer `issuer` from `source` (an issuer
    /// embedded in the same process, say), with that issuer's `revocation_*` settings.
    pub fn issuer_revocation_source(
        mut self,
        issuer: &str,
        source: impl RevocationSource,
    ) -> JwtAuthBuilder {
        self.revocations
            .push((Some(issuer.to_owned()), Arc::new(source)));
        self
    }

    /// Resolves roles with `resolver` instead of the claim each issuer's `roles_claim` names.
    pub fn role_resolver(mut self, resolver: impl RoleResolver) -> JwtAuthBuilder {
        self.resolver = Some(Resolver::custom(resolver));
        self
    }

    /// Declares an anonymous route (see [`JwtAuth::anonymous_route`]).
    pub fn anonymous_route(mut self, methods: &[Method], pattern: &str) -> JwtAuthBuilder {
        self.anonymous.push(AnonymousRoute::new(methods, pattern));
        self
    }

    /// Answers every rejection (401, 403, 503) with what `handler` makes of it, instead of the
    /// configured `error_format`: those the middleware decides before or after routing, those
    /// of the attributes, and any [`AuthError`] a handler or an extractor such as
    /// [`Principal`] returns inside the wrapped app.
    ///
    /// The handler's response gives the body and adds or replaces headers. The rejection's
    /// status and its headers (`WWW-Authenticate` with the RFC 6750 challenge, `Retry-After`
    /// on a 503, `Cache-Control: no-store`) stay unless the handler sets its own: a response
    /// built with a success status (`HttpResponse::Ok()`, any 1xx or 2xx) goes out with the
    /// rejection's status, since a rejection never goes out as a success; a redirection or an
    /// error status (3xx to 5xx) replaces it (a 302 to a sign-in page, a 404 that hides a
    /// resource). [`AuthError::code`] names the error.
    ///
    /// ```
    /// # fn demo(config: auth_runtime::AuthConfig) -> Result<(), auth_runtime::ConfigError> {
    /// use actix_web::{HttpRequest, HttpResponse};
    /// use auth_runtime::{AuthError, JwtAuth};
    /// use serde_json::json;
    ///
    /// let auth = JwtAuth::builder(config)
    ///     .error_handler(|err: &AuthError, req: &HttpRequest| {
    ///         HttpResponse::Ok().json(json!({
    ///             "error": { "code": err.code(), "message": err.detail(), "path": req.path() }
    ///         }))
    ///     })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn error_handler<F>(mut self, handler: F) -> JwtAuthBuilder
    where
        F: Fn(&AuthError, &HttpRequest) -> HttpResponse + Send + Sync + 'static,
    {
        self.error_handler = Some(Arc::new(handler));
        self
    }

    /// The middleware. Fails when a key source names an issuer that is not configured, or
    /// when an issuer's JWKS (or discovery) URL cannot be used.
    pub fn build(mut self) -> Result<JwtAuth, ConfigError> {
        self.anonymous.extend(crate::__private::declared_routes());
        let mut given: Vec<Option<Arc<dyn KeySource>>> = vec![None; self.config.issuers.len()];
        for (issuer, source) in self.keys {
            if let Some(index) = issuer_index(&self.config, issuer, "key_source")? {
                given[index] = Some(source);
            }
        }
        let mut revocation_sources: Vec<Option<Arc<dyn RevocationSource>>> =
            vec![None; self.config.issuers.len()];
        for (issuer, source) in self.revocations {
            if let Some(index) = issuer_index(&self.config, issuer, "revocation_source")? {
                revocation_sources[index] = Some(source);
            }
        }
        let mut revocations = Vec::with_capacity(revocation_sources.len());
        for (source, issuer) in revocation_sources.into_iter().zip(&self.config.issuers) {
            let source = match source {
                Some(source) => Some(source),
                None if issuer.revocation_endpoint.is_empty() => None,
                None => {
                    Some(Arc::new(HttpRevocationSource::new(issuer)?) as Arc<dyn RevocationSource>)
                }
            };
            revocations.push(source.map(|source| RevocationList::new(source, issuer)));
        }
        let mut keys = Vec::with_capacity(given.len());
        for (source, issuer) in given.into_iter().zip(&self.config.issuers) {
            keys.push(match source {
                Some(source) => source,
                None => Arc::new(JwksKeySource::new(issuer)?) as Arc<dyn KeySource>,
            });
        }
        let resolvers = match self.resolver {
            Some(custom) => vec![custom; self.config.issuers.len()],
            None => self
                .config
                .issuers
                .iter()
                .map(|issuer| Resolver::claim(&issuer.roles_claim))
                .collect(),
        };
        let cache = (self.config.enabled && self.config.token_cache_max_bytes > 0)
            .then(|| Arc::new(TokenCache::new(self.config.token_cache_max_bytes)));
        let responder = Responder::new(self.config.error_format, self.error_handler);
        Ok(JwtAuth {
            shared: Arc::new(Shared {
                validator: Validator::new(&self.config, keys)?,
                config: self.config,
                resolvers,
                revocations,
                anonymous: self.anonymous,
                cache,
                responder,
            }),
        })
    }
}

impl Shared {
    async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let Some(cache) = &self.cache else {
            let verified = self.validator.verify(token).await?;
            self.check_revoked(verified.issuer, &verified.token.claims.jti)
                .await?;
            return Ok(self.with_roles(verified.issuer, verified.token).await);
        };
        if let Some(entry) = cache.get(token) {
            let seen = entry.verified();
            if self
                .validator
                .still_trusts(seen.issuer, seen.kid.as_deref(), &seen.key)
            {
                metrics::cache_hit();
                if let Err(err) = self
                    .validator
                    .check_times(seen.issuer, seen.exp, seen.nbf, now())
                {
                    cache.remove(token);
                    record_cache_size(cache);
                    return Err(err);
                }
                self.check_revoked(seen.issuer, &seen.token.claims.jti)
                    .await?;
                return Ok(match entry.principal() {
                    Some(principal) => principal.clone(),
                    None => self.with_roles(seen.issuer, Arc::clone(&seen.token)).await,
                });
            }
            cache.remove(token);
            record_cache_size(cache);
        }
        metrics::cache_miss();
        let verified = self.validator.verify(token).await?;
        self.check_revoked(verified.issuer, &verified.token.claims.jti)
            .await?;
        let principal = self
            .with_roles(verified.issuer, Arc::clone(&verified.token))
            .await;
        let cacheable = self
            .resolvers
            .get(verified.issuer)
            .is_some_and(Resolver::cacheable);
        let cached = cacheable.then(|| principal.clone());
        cache.insert(token, Entry::new(token, verified, cached));
        record_cache_size(cache);
        Ok(principal)
    }

    /// Refuses a token of issuer `issuer` whose `jti` that issuer revoked.
    async fn check_revoked(&self, issuer: usize, jti: &str) -> Result<(), AuthError> {
        match self.revocations.get(issuer) {
            Some(Some(list)) => list.check(jti).await,
            _ => Ok(()),
        }
    }

    /// The caller behind a request's bearer token.
    async fn authenticate_request(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        self.authenticate(bearer_token(headers)?).await
    }

    /// The caller behind a token that issuer `issuer` vouched for, with the roles that
    /// issuer's resolver finds.
    async fn with_roles(&self, issuer: usize, token: Arc<ValidToken>) -> Principal {
        let roles = match self.resolvers.get(issuer) {
            Some(resolver) => resolver.resolve(&token.claims, &token.raw).await,
            None => Vec::new(),
        };
        Principal::from_token(token, roles)
    }

    /// Whether the decoded path (as routing sees it) lies under a `public_paths` prefix.
    fn is_public_path(&self, path: &str) -> bool {
        self.config.public_paths.iter().any(|prefix| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }

    /// Whether routing could pick an anonymous resource for this request. Asked before
    /// routing, from the path and method alone; the mark set by the guard decides after.
    fn could_be_anonymous(&self, req: &ServiceRequest) -> bool {
        if self.anonymous.is_empty() {
            return false;
        }
        let path = req.match_info().unprocessed();
        let method = req.method();
        self.anonymous
            .iter()
            .any(|route| route.could_match(method, path))
    }
}

/// The bearer token of a request, read as the middleware reads it: exactly one
/// `Authorization` header, scheme `Bearer` (any case), one non-empty token without spaces.
/// Several headers, another scheme, or an empty token all count as missing
/// ([`AuthError::MissingCredentials`]): an ambiguous credential is no credential.
///
/// ```
/// use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
/// use auth_runtime::middleware::bearer_token;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc.def.ghi"));
/// assert_eq!(bearer_token(&headers), Ok("abc.def.ghi"));
/// headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer other"));
/// assert!(bearer_token(&headers).is_err());
/// ```
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION);
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(AuthError::MissingCredentials);
    };
    let value = value.to_str().map_err(|_| AuthError::MissingCredentials)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MissingCredentials)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(AuthError::MissingCredentials);
    }
    Ok(token)
}

impl<S, B> Transform<S, ServiceRequest> for JwtAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = JwtAuthMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(JwtAuthMiddleware {
            service: Rc::new(service),
            shared: Arc::clone(&self.shared),
            spare_headers: RefCell::new(HeaderMap::new()),
        }))
    }
}

/// The per-worker service [`JwtAuth`] wraps around the app.
pub struct JwtAuthMiddleware<S> {
    service: Rc<S>,
    shared: Arc<Shared>,
    /// Headers of the request being routed first, kept in case it needs a rejection.
    spare_headers: RefCell<HeaderMap>,
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The future of an anonymous request: the routed handler inside an empty identity scope.
/// Spelled out, not boxed, so that anonymous routes cost as little as possible.
type AnonymousFuture<F, B> = MapOk<TaskLocalFuture<Option<Principal>, F>, LeftBody<B>>;

type LeftBody<B> = fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>;

impl<S, B> Service<ServiceRequest> for JwtAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future =
        Either<AnonymousFuture<S::Future, B>, LocalBoxFuture<Result<Self::Response, Self::Error>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if !self.shared.config.enabled || self.shared.is_public_path(req.match_info().as_str()) {
            let (shared, service) = (Arc::clone(&self.shared), Rc::clone(&self.service));
            return Either::Right(Box::pin(async move {
                Ok(shared.finish(service.call(req).await?, false))
            }));
        }

        if !self.shared.could_be_anonymous(&req) {
            // No anonymous resource can answer: decide before routing, so that a rejection
            // is an ordinary response that outer middleware still decorates.
            let (shared, service) = (Arc::clone(&self.shared), Rc::clone(&self.service));
            let span = auth_span(&req);
            return Either::Right(Box::pin(
                async move {
                    match shared.authenticate_request(req.headers()).await {
                        Ok(principal) => shared.run(&*service, req, principal).await,
                        Err(err) => Ok(shared.reject(req, err)),
                    }
                }
                .instrument(span),
            ));
        }

        if bearer_token(req.headers()).is_ok() {
            // An anonymous resource may answer, and the request carries a token. It is checked
            // before routing, so that the identity is in the request's extensions when the
            // handler runs (`web::ReqData<Principal>`); an anonymous route ignores the outcome.
            let (shared, service) = (Arc::clone(&self.shared), Rc::clone(&self.service));
            let span = auth_span(&req);
            return Either::Right(Box::pin(
                async move {
                    let err = match shared.authenticate_request(req.headers()).await {
                        Ok(principal) => return shared.run(&*service, req, principal).await,
                        Err(err) => err,
                    };
                    // A rejection, unless routing picks an anonymous route: routing takes the
                    // request, so a copy of its head answers for it (a rare path).
                    let head = copy_head(&req, req.headers().clone());
                    let (routed, anonymous) = anonymous::route(|| service.call(req));
                    if anonymous {
                        let res = SecurityContext::anonymous_scope(routed).await?;
                        return Ok(shared.finish_routed(res, true));
                    }
                    // The request belongs to the unpolled handler future, dropped here without
                    // having run; the answer goes out on a request rebuilt from the head, so
                    // that outer middleware handles it like any other response.
                    drop(routed);
                    Ok(shared.reject(rebuilt(head), err))
                }
                .instrument(span),
            ));
        }

        // An anonymous resource may answer and there is no token: route first, then look at
        // the mark. Routing takes the request; a copy of its head answers for it if it turns
        // out to need the 401.
        let head = {
            let mut spare = self.spare_headers.borrow_mut();
            spare.clear();
            for (name, value) in req.headers().iter() {
                spare.append(name.clone(), value.clone());
            }
            HeadCopy::of(&req)
        };
        let (routed, anonymous) = anonymous::route(|| self.service.call(req));
        if anonymous {
            // The copy is not needed; it must not keep this request's headers around.
            self.spare_headers.borrow_mut().clear();
            if self.shared.responder.reshapes() {
                let shared = Arc::clone(&self.shared);
                return Either::Right(Box::pin(async move {
                    let res = SecurityContext::anonymous_scope(routed).await?;
                    Ok(shared.finish(res, false))
                }));
            }
            let left: LeftBody<B> = anonymous_answer;
            return Either::Left(SecurityContext::anonymous_scope(routed).map_ok(left));
        }
        drop(routed);
        let head = head.finish(std::mem::take(&mut *self.spare_headers.borrow_mut()));
        let req = rebuilt(head);
        let response =
            auth_span(&req).in_scope(|| self.shared.reject(req, AuthError::MissingCredentials));
        Either::Right(Box::pin(ready(Ok(response))))
    }
}

impl Shared {
    /// Runs the request for `principal`: the identity goes into the request's extensions and
    /// the task-local scope, unless routing picks a route marked anonymous (whose guard takes
    /// it back out of the extensions).
    async fn run<S, B>(
        &self,
        service: &S,
        req: ServiceRequest,
        principal: Principal,
    ) -> Result<ServiceResponse<EitherBody<B>>, Error>
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    {
        req.extensions_mut().insert(principal.clone());
        let (routed, anonymous) = anonymous::route(|| service.call(req));
        let span = Span::current();
        if !anonymous && !span.is_disabled() {
            if let Some(iss) = principal
                .raw_claims()
                .get("iss")
                .and_then(|iss| iss.as_str())
            {
                span.record("iss", display(iss));
            }
            span.record("sub", display(&principal.claims().sub));
        }
        let identity = (!anonymous).then_some(principal);
        let res = SecurityContext::scope(identity, routed).await?;
        Ok(self.finish_routed(res, anonymous))
    }

    /// [`finish`](Shared::finish) for a request that went through authentication: the span's
    /// outcome is `authenticated` or `anonymous` unless the response is a rejection.
    fn finish_routed<B>(
        &self,
        res: ServiceResponse<B>,
        anonymous: bool,
    ) -> ServiceResponse<EitherBody<B>> {
        let refused = res
            .response()
            .error()
            .is_some_and(|err| err.as_error::<AuthError>().is_some());
        if !refused {
            let outcome = if anonymous {
                metrics::anonymous();
                "anonymous"
            } else {
                metrics::authenticated();
                "authenticated"
            };
            Span::current().record("outcome", display(outcome));
        }
        self.finish(res, true)
    }

    /// The routed response, counted and logged when it is an [`AuthError`] the attributes,
    /// an extractor or the handler returned, and reshaped when rejections are not answered in
    /// the default way. `in_span`: the request has its `authenticate` span. A rejection that
    /// a `JwtAuth` nested inside this one answered already is left as it is.
    fn finish<B>(
        &self,
        mut res: ServiceResponse<B>,
        in_span: bool,
    ) -> ServiceResponse<EitherBody<B>> {
        let Some(err) = unanswered(&res) else {
            return res.map_into_left_body();
        };
        record_rejection(err, in_span);
        if !self.responder.reshapes() {
            res.response_mut().extensions_mut().insert(Answered);
            return res.map_into_left_body();
        }
        let err = err.clone();
        let (req, _) = res.into_parts();
        let mut response = self.responder.respond(&err, &req);
        response.extensions_mut().insert(Answered);
        ServiceResponse::new(req, response).map_into_right_body()
    }

    /// The answer to a request refused with `err`.
    fn reject<B>(&self, req: ServiceRequest, err: AuthError) -> ServiceResponse<EitherBody<B>> {
        record_rejection(&err, true);
        let (req, _) = req.into_parts();
        let mut response = self.responder.respond(&err, &req);
        response.extensions_mut().insert(Answered);
        ServiceResponse::new(req, response).map_into_right_body()
    }
}

/// The parts of a request head kept aside while routing takes the request.
struct HeadCopy {
    method: Method,
    uri: Uri,
    version: Version,
    peer_addr: Option<std::net::SocketAddr>,
}

impl HeadCopy {
    fn of(req: &ServiceRequest) -> HeadCopy {
        let head = req.head();
        HeadCopy {
            method: head.method.clone(),
            uri: head.uri.clone(),
            version: head.version,
            peer_addr: head.peer_addr,
        }
    }

    /// The whole head, with `headers`.
    fn finish(self, headers: HeaderMap) -> RequestHead {
        let mut head = RequestHead::default();
        head.method = self.method;
        head.uri = self.uri;
        head.version = self.version;
        head.peer_addr = self.peer_addr;
        head.headers = headers;
        head
    }
}

/// A copy of `req`'s head, with `headers`.
fn copy_head(req: &ServiceRequest, headers: HeaderMap) -> RequestHead {
    HeadCopy::of(req).finish(headers)
}

/// A request carrying `head` (method, URI, version, headers, peer address), to answer for one
/// that routing consumed. It has no extensions and no app data of its own.
fn rebuilt(head: RequestHead) -> ServiceRequest {
    let mut req = actix_web::test::TestRequest::default().to_srv_request();
    req.match_info_mut().get_mut().update(&head.uri);
    *req.head_mut() = head;
    req
}

/// Sets the cache's size gauges (with the feature `metrics`; nothing otherwise).
fn record_cache_size(cache: &TokenCache) {
    metrics::cache_size(|| {
        let stats = cache.stats();
        (stats.entries, stats.weight_bytes)
    });
}

/// The span of one request's authentication. Its fields are filled in as they become known:
/// `iss` and `sub` once the token is verified and the route needs them, `outcome`
/// (`authenticated`, `anonymous`, `rejected` or `forbidden`) and `reason` (the
/// [`AuthError::code`]). It never holds the token or a claim of a token that failed its checks.
fn auth_span(req: &ServiceRequest) -> Span {
    tracing::info_span!(
        "authenticate",
        method = %req.method(),
        path = %req.path(),
        iss = Empty,
        sub = Empty,
        outcome = Empty,
        reason = Empty,
    )
}

/// Marks a response whose rejection was counted, logged and shaped, so that a `JwtAuth`
/// wrapped around the one that did it leaves it alone.
struct Answered;

/// The [`AuthError`] a response carries, unless a `JwtAuth` answered it already.
fn unanswered<B>(res: &ServiceResponse<B>) -> Option<&AuthError> {
    let err = res.response().error()?.as_error::<AuthError>()?;
    (!res.response().extensions().contains::<Answered>()).then_some(err)
}

/// What an anonymous route answered, with a rejection from its handler (asking for an
/// identity there is none of) counted and logged; rejections are answered the default way
/// here (the middleware takes another path when they are not).
fn anonymous_answer<B>(mut res: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> {
    if let Some(err) = unanswered(&res) {
        record_rejection(err, false);
        res.response_mut().extensions_mut().insert(Answered);
    }
    res.map_into_left_body()
}

/// Counts and logs a rejection: `info`, or `warn` when authentication is unavailable (503);
/// `in_span`: also puts it on the request's `authenticate` span, the current one.
fn record_rejection(err: &AuthError, in_span: bool) {
    let status = err.status();
    if in_span {
        let span = Span::current();
        let outcome = if status == actix_web::http::StatusCode::FORBIDDEN {
            "forbidden"
        } else {
            "rejected"
        };
        span.record("outcome", display(outcome));
        span.record("reason", display(err.code()));
    }
    metrics::refused(err.code());
    let status = status.as_u16();
    if status == 503 {
        tracing::warn!(status, detail = %err, "request rejected");
    } else {
        tracing::info!(status, detail = %err, "request rejected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&headers(&["bearer abc"])), Ok("abc"));
        assert_eq!(bearer_token(&headers(&["Bearer abc"])), Ok("abc"));
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_missing() {
        for bad in ["Basic abc", "Bearer", "Bearer ", "Token abc", "Bearer a b"] {
            assert_eq!(
                bearer_token(&headers(&[bad])),
                Err(AuthError::MissingCredentials),
                "{bad}"
            );
        }
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        assert_eq!(
            bearer_token(&headers(&["Bearer a", "Bearer b"])),
            Err(AuthError::MissingCredentials)
        );
    }
}
