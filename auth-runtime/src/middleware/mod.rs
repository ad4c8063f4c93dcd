//! The actix middleware: the builder, the authentication chain, the service and its responses.
//!
//! How a request is decided (the contract and the actix facts behind it are in the project's
//! route-policy design note):
//!
//! - `builder`: [`JwtAuthBuilder`] turns a checked configuration into one
//!   [`Issuer`](crate::issuer::Issuer) per trusted issuer (checks, key source, role resolver,
//!   revocation list) and the anonymous routes the attributes declared.
//! - `authenticator`: the one chain both the middleware and [`JwtAuth::authenticate`] run:
//!   the verified-token cache, the signature and claims, the issuer's revocation list, its
//!   roles.
//! - `service`: [`JwtAuthMiddleware::call`] picks one of four paths. Auth disabled or a
//!   `public_paths` prefix: not looked at. No declared anonymous route can match the path:
//!   the token decides before routing. One may match and a token is sent: the token is
//!   checked first (so the identity is in the extensions), and on failure routing says
//!   whether the request needed it. One may match and no token is sent: routing first; the
//!   guard's mark, read through the per-thread routing window, decides, and an unmarked
//!   request gets its 401 on a request rebuilt from a copy of its head. The handler of a
//!   rejected request is dropped unpolled: none of its code runs.
//! - `response`: rejections as ordinary `Ok` responses (so outer middleware such as CORS
//!   decorates them), shaped by the error format or handler, counted and logged once; the
//!   `authenticate` span.

mod authenticator;
mod builder;
mod response;
mod service;

use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use actix_web::Error;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};

use crate::anonymous::AnonymousRoute;
use crate::cache::TokenCacheStats;
use crate::config::AuthConfig;
use crate::error::AuthError;
use crate::principal::Principal;
use crate::resource_metadata::ResourceMetadata;
use crate::responder::Responder;
use crate::revocation::RevocationList;
use crate::validate::Validator;

pub(crate) use authenticator::Authenticator;
pub use authenticator::bearer_token;
pub use builder::JwtAuthBuilder;
pub use service::{JwtAuthFuture, JwtAuthMiddleware};

/// The actix middleware: deny by default, validate Bearer tokens, run the handler inside the
/// caller's [`SecurityContext`](crate::SecurityContext) with its [`Principal`] in the request's extensions
/// (`web::ReqData<Principal>`, and other middleware, read it there).
///
/// For each request inside the wrapped app or scope:
///
/// | route | no token | invalid token | valid token |
/// |---|---|---|---|
/// | default | 401 | 401 | handler runs with the identity |
/// | anonymous ([`AnonymousGuard`](crate::AnonymousGuard)) | handler runs, no identity | same | same |
/// | under a `public_paths` prefix | not looked at | not looked at | not looked at |
///
/// A rejected request never reaches its handler. Rejections are ordinary responses, so
/// middleware wrapped *around* this one (CORS, `DefaultHeaders`, `Logger`) still sees and
/// decorates them. A rejection decided after routing (the request could have reached an
/// anonymous handler and did not) goes out on a request rebuilt from the original's head,
/// without the extensions and app data of the original. Wrap `JwtAuth` first (innermost),
/// then the rest:
///
/// ```no_run
/// use actix_web::{App, HttpServer};
/// use auth_runtime::JwtAuth;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let figment = auth_runtime::figment_from("config.yaml");
/// let auth = JwtAuth::from_figment(&figment)?;
/// HttpServer::new(move || App::new().wrap(auth.clone()))
///     .bind("127.0.0.1:8080")?
///     .run()
///     .await?;
/// # Ok(()) }
/// ```
///
/// Each request that goes through authentication runs in one `tracing` span, `authenticate`
/// (level `info`): the method and the path, then the issuer (`iss`) and subject (`sub`) of a
/// verified token, the `outcome` (`authenticated`, `anonymous`, `rejected`, `forbidden`) and
/// the `reason` (the [`AuthError::code`]); never the token, nor a claim of a token that failed
/// its checks. The handler's own events are inside it, and each rejection is an event in it
/// (`warn` for a 503):
///
/// ```
/// use actix_web::{HttpResponse, get};
///
/// #[get("/orders")]
/// async fn orders() -> HttpResponse {
///     // With `tracing_subscriber::fmt()`, logged as
///     // INFO authenticate{method=GET path=/orders iss=https://id.example sub=alice}: shop: listing orders
///     tracing::info!("listing orders");
///     HttpResponse::Ok().finish()
/// }
///
/// tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).init();
/// // A request without a token, then, logs:
/// // INFO authenticate{method=GET path=/orders outcome=rejected reason=missing_token}: auth_runtime::middleware: request rejected status=401 detail=Missing or invalid Authorization header
/// ```
///
/// The authentication middleware and its configuration. Cheap to clone: build it once,
/// clone it into every worker's `App`.
#[derive(Clone)]
pub struct JwtAuth {
    policy: Arc<Policy>,
}

/// What the middleware does with each request, shared by every worker.
#[derive(Clone)]
struct Policy {
    config: AuthConfig,
    authenticator: Authenticator,
    anonymous: Vec<AnonymousRoute>,
    /// How rejections are answered.
    responder: Responder,
    /// The protected resource metadata, when served.
    metadata: Option<ResourceMetadata>,
    /// Whether a refused CORS preflight was already reported.
    preflight_warned: Arc<AtomicBool>,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuth")
            .field("config", &self.policy.config)
            .field("anonymous", &self.policy.anonymous)
            .finish_non_exhaustive()
    }
}

impl JwtAuth {
    /// The anonymous routes the middleware knows: declared by hand and by the attributes.
    #[cfg(feature = "openapi")]
    pub(crate) fn anonymous_routes(&self) -> &[AnonymousRoute] {
        &self.policy.anonymous
    }

    /// The configuration in effect.
    pub fn config(&self) -> &AuthConfig {
        &self.policy.config
    }

    /// The token validator, to check tokens outside a request.
    pub fn validator(&self) -> &Validator {
        self.policy.authenticator.validator()
    }

    /// Validates `token` and resolves its roles, as the middleware does for each request:
    /// the verified-token cache, the signature and claims, the revocation list, the roles.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        self.policy
            .authenticator
            .authenticate(
                token,
                &crate::dpop::Presented::bearer(),
                crate::issuer::Wait::ForFetch,
            )
            .await
    }

    /// What the verified-token cache holds, or `None` when it is off
    /// (`token_cache_max_bytes: 0`).
    pub fn token_cache_stats(&self) -> Option<TokenCacheStats> {
        self.policy.authenticator.cache_stats()
    }

    /// The revocation list held for the configured issuer `issuer`, or `None` when that
    /// issuer has none (no `revocation_endpoint`, no revocation source given).
    pub fn revocation_list(&self, issuer: &str) -> Option<&RevocationList> {
        self.policy
            .authenticator
            .validator()
            .issuers()
            .iter()
            .find(|entry| entry.name() == issuer)?
            .revocation()
    }
}

impl Policy {
    /// Whether the decoded path (as routing sees it) lies under a `public_paths` prefix.
    fn is_public_path(&self, path: &str) -> bool {
        self.config.public_paths().iter().any(|prefix| {
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
        ready(Ok(JwtAuthMiddleware::new(
            service,
            Arc::clone(&self.policy),
        )))
    }
}
