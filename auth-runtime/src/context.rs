//! The caller's identity, readable from anywhere inside the request.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::{Future, Ready, ready};
use std::sync::{Arc, OnceLock};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::claims::{RawClaims, TokenClaims, ValidToken};
use crate::error::{AuthError, InvalidReason, printable_up_to};
use crate::roles::RolesSource;
use crate::scope::{self, Scopes};
use serde::de::DeserializeOwned;

use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    static CURRENT: Option<Principal>;
}

/// An authenticated caller: the token's claims and the roles resolved for it.
///
/// Also an extractor: a handler parameter `me: Principal` gets the same identity as
/// [`SecurityContext::require`] (401 where there is none); `Option<Principal>` is `None`
/// on anonymous routes.
///
/// The middleware also puts it in the request's extensions, where actix code looks for it:
/// `web::ReqData<Principal>`, and other middleware (an access log, a rate limiter keyed by
/// subject) reading `req.extensions()`. Routes marked anonymous have none there.
///
/// ```
/// use actix_web::{HttpMessage as _, HttpResponse, dev::ServiceResponse, get, web};
/// use auth_runtime::Principal;
///
/// #[get("/me")]
/// async fn me(caller: web::ReqData<Principal>) -> HttpResponse {
///     HttpResponse::Ok().body(caller.claims().sub.clone())
/// }
///
/// /// In middleware wrapped around `JwtAuth`, once the response is there.
/// fn subject_of<B>(res: &ServiceResponse<B>) -> Option<String> {
///     let extensions = res.request().extensions();
///     extensions.get::<Principal>().map(|caller| caller.claims().sub.clone())
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    inner: Arc<PrincipalData>,
}

struct PrincipalData {
    token: Arc<ValidToken>,
    roles: Vec<String>,
    /// Where the roles were read from, for the log line of a 403.
    roles_source: RolesSource,
    /// The claims in the first type an application asked for ([`Principal::claims_as`]),
    /// kept as long as the identity (with the token in the verified-token cache).
    typed: OnceLock<(TypeId, Arc<dyn Any + Send + Sync>)>,
}

impl PartialEq for PrincipalData {
    fn eq(&self, other: &PrincipalData) -> bool {
        self.token == other.token
            && self.roles == other.roles
            && self.roles_source == other.roles_source
    }
}

impl fmt::Debug for PrincipalData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrincipalData")
            .field("token", &self.token)
            .field("roles", &self.roles)
            .field("roles_source", &self.roles_source)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// An identity made of validated claims and resolved roles.
    pub fn new(claims: TokenClaims, roles: Vec<String>, raw: RawClaims) -> Principal {
        Principal::from_token(
            Arc::new(ValidToken { claims, raw }),
            roles,
            RolesSource::Given,
        )
    }

    pub(crate) fn from_token(
        token: Arc<ValidToken>,
        roles: Vec<String>,
        roles_source: RolesSource,
    ) -> Principal {
        Principal {
            inner: Arc::new(PrincipalData {
                token,
                roles,
                roles_source,
                typed: OnceLock::new(),
            }),
        }
    }

    /// How many roles the role list has room for (what it holds in memory).
    pub(crate) fn roles_capacity(&self) -> usize {
        self.inner.roles.capacity()
    }

    /// The well-known claims (`sub`, `email`, `role`, `org_id`, `jti`, `groups`).
    pub fn claims(&self) -> &TokenClaims {
        &self.inner.token.claims
    }

    /// The roles the [`RoleResolver`](crate::RoleResolver) granted.
    pub fn roles(&self) -> &[String] {
        &self.inner.roles
    }

    /// The token's groups.
    pub fn groups(&self) -> &[String] {
        &self.inner.token.claims.groups
    }

    /// Every claim of the token.
    pub fn raw_claims(&self) -> &RawClaims {
        &self.inner.token.raw
    }

    /// The token's claims in the application's own type (unknown claims ignored, as serde
    /// does unless `T` says otherwise). The first type asked for is deserialised once per
    /// identity and kept with it, so with the verified-token cache once per token; a token
    /// whose claims do not fit `T` is refused: 401 `unexpected_claims`. The
    /// [`Claims`](crate::Claims) extractor calls this.
    ///
    /// ```
    /// use auth_runtime::{AuthError, Principal};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct ShopClaims {
    ///     tenant: String,
    /// }
    ///
    /// fn tenant(caller: &Principal) -> Result<String, AuthError> {
    ///     Ok(caller.claims_as::<ShopClaims>()?.tenant.clone())
    /// }
    /// ```
    pub fn claims_as<T>(&self) -> Result<Arc<T>, AuthError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        if let Some((kind, value)) = self.inner.typed.get()
            && *kind == TypeId::of::<T>()
            && let Ok(typed) = Arc::clone(value).downcast::<T>()
        {
            return Ok(typed);
        }
        let raw = serde_json::Value::Object(self.inner.token.raw.clone());
        let typed = Arc::new(T::deserialize(&raw).map_err(|err| {
            tracing::debug!(
                claims_type = std::any::type_name::<T>(),
                // serde quotes what it found (an unknown field or variant) as written.
                error = %printable_up_to(&err.to_string(), 200),
                "the token's claims do not fit the application's type"
            );
            AuthError::InvalidToken(InvalidReason::UnexpectedClaims)
        })?);
        let shared: Arc<dyn Any + Send + Sync> = typed.clone();
        // Only the first type is kept; another one is deserialised on each call.
        let _ = self.inner.typed.set((TypeId::of::<T>(), shared));
        Ok(typed)
    }

    /// Whether `role` was granted (exact, case-sensitive match).
    pub fn has_role(&self, role: &str) -> bool {
        self.inner.roles.iter().any(|held| held == role)
    }

    /// `Ok` when any of `roles` was granted, else the 403 that names them.
    pub(crate) fn require_any_role<S: AsRef<str>>(&self, roles: &[S]) -> Result<(), AuthError> {
        if roles.iter().any(|role| self.has_role(role.as_ref())) {
            Ok(())
        } else {
            tracing::debug!(
                roles = ?self.inner.roles,
                read_from = %self.inner.roles_source,
                "the caller holds none of the roles required"
            );
            Err(AuthError::MissingRole(owned(roles)))
        }
    }

    /// Whether the token lists `group` (exact, case-sensitive match).
    pub fn has_group(&self, group: &str) -> bool {
        self.inner
            .token
            .claims
            .groups
            .iter()
            .any(|held| held == group)
    }

    /// `Ok` when the token lists any of `groups`, else the 403 that names them.
    pub(crate) fn require_any_group<S: AsRef<str>>(&self, groups: &[S]) -> Result<(), AuthError> {
        if groups.iter().any(|group| self.has_group(group.as_ref())) {
            Ok(())
        } else {
            Err(AuthError::MissingGroup(owned(groups)))
        }
    }

    /// The token's scopes: its `scope` claim, else `scp` (see [`scope`]).
    pub fn scopes(&self) -> Scopes<'_> {
        Scopes::of(&self.inner.token.raw)
    }

    /// Whether a scope of the token satisfies `required`: equal to it, or a `prefix:*`
    /// wildcard on either side (see the rules in [`scope`]).
    pub fn has_scope(&self, required: &str) -> bool {
        self.scopes()
            .any(|granted| scope::satisfies(granted, required))
    }

    /// `Ok` when any of `required` is satisfied, else the 403 that names them.
    pub(crate) fn require_any_scope<S: AsRef<str>>(&self, required: &[S]) -> Result<(), AuthError> {
        if required.iter().any(|one| self.has_scope(one.as_ref())) {
            Ok(())
        } else {
            Err(AuthError::MissingScope(owned(required)))
        }
    }
}

/// The caller's identity, readable from anywhere inside the request.
///
/// The middleware runs the handler, its extractors and everything they await inside a
/// task-local scope holding the [`Principal`]. Code far from the handler reads it through
/// [`SecurityContext`] without the identity being passed down:
///
/// ```
/// use auth_runtime::{AuthError, SecurityContext};
///
/// fn audit(action: &str) -> Result<(), AuthError> {
///     let me = SecurityContext::require()?;
///     println!("{} did {action}", me.claims().sub);
///     Ok(())
/// }
/// ```
///
/// Concurrent requests never see each other's identity: each request's future carries its
/// own scope. A task started with `tokio::spawn` (or `actix_web::rt::spawn`) is a new task
/// and starts with **no** identity; wrap its future in [`SecurityContext::propagate`] to carry
/// the current one along:
///
/// ```
/// # async fn demo() {
/// use auth_runtime::SecurityContext;
/// let job = SecurityContext::propagate(async {
///     // sees the same identity as the request that spawned it
///     SecurityContext::get().map(|me| me.claims().sub.clone())
/// });
/// actix_web::rt::spawn(job);
/// # }
/// ```
///
/// Static access to the identity of the request being handled.
///
/// Every function reads the task-local scope the middleware opened; outside a request (or on
/// an anonymous route) there is no identity.
#[derive(Debug, Clone, Copy)]
pub struct SecurityContext;

impl SecurityContext {
    /// The caller, or `None` on anonymous routes and outside a request.
    pub fn get() -> Option<Principal> {
        CURRENT.try_with(|current| current.clone()).ok().flatten()
    }

    /// The caller, or [`AuthError::NoSecurityContext`] (a 401 when returned from a handler).
    pub fn require() -> Result<Principal, AuthError> {
        SecurityContext::get().ok_or(AuthError::NoSecurityContext)
    }

    /// The caller's roles; empty without a caller.
    pub fn roles() -> Vec<String> {
        SecurityContext::with(|p| p.roles().to_vec()).unwrap_or_default()
    }

    /// Whether the caller holds `role`.
    pub fn has_role(role: &str) -> bool {
        SecurityContext::with(|p| p.has_role(role)).unwrap_or(false)
    }

    /// The caller, if they hold any of `roles`; 401 without a caller, 403 with
    /// `Requires one of roles: [...]` otherwise.
    pub fn require_role<S: AsRef<str>>(roles: &[S]) -> Result<Principal, AuthError> {
        let principal = SecurityContext::require()?;
        principal.require_any_role(roles)?;
        Ok(principal)
    }

    /// The caller's groups; empty without a caller.
    pub fn groups() -> Vec<String> {
        SecurityContext::with(|p| p.groups().to_vec()).unwrap_or_default()
    }

    /// Whether the caller's token lists `group`.
    pub fn has_group(group: &str) -> bool {
        SecurityContext::with(|p| p.has_group(group)).unwrap_or(false)
    }

    /// The caller, if their token lists any of `groups`; 401 without a caller, 403 otherwise.
    pub fn require_group<S: AsRef<str>>(groups: &[S]) -> Result<Principal, AuthError> {
        let principal = SecurityContext::require()?;
        principal.require_any_group(groups)?;
        Ok(principal)
    }

    /// The caller's scopes; empty without a caller.
    pub fn scopes() -> Vec<String> {
        SecurityContext::with(|p| p.scopes().map(str::to_owned).collect()).unwrap_or_default()
    }

    /// Whether the caller's token has a scope that satisfies `scope` (see
    /// [`Principal::has_scope`]).
    pub fn has_scope(scope: &str) -> bool {
        SecurityContext::with(|p| p.has_scope(scope)).unwrap_or(false)
    }

    /// The caller, if any of `scopes` is satisfied; 401 without a caller, 403 with
    /// `Requires one of scopes: [...]` and `WWW-Authenticate: Bearer ...
    /// error="insufficient_scope", scope="..."` otherwise.
    pub fn require_scope<S: AsRef<str>>(scopes: &[S]) -> Result<Principal, AuthError> {
        let principal = SecurityContext::require()?;
        principal.require_any_scope(scopes)?;
        Ok(principal)
    }

    /// Runs `future` with `principal` as the identity (or none). The middleware does this for
    /// every request; call it yourself for work outside a request, or in tests.
    pub async fn scope<F: Future>(principal: Option<Principal>, future: F) -> F::Output {
        CURRENT.scope(principal, future).await
    }

    /// Runs `future` with no identity: what an anonymous route sees.
    pub(crate) fn anonymous_scope<F: Future>(future: F) -> TaskLocalFuture<Option<Principal>, F> {
        CURRENT.scope(None, future)
    }

    /// Wraps `future` so that it runs with the identity current *now*: for work handed to
    /// `tokio::spawn`, which otherwise starts with no identity.
    pub fn propagate<F: Future>(future: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(SecurityContext::get(), future)
    }

    /// Runs `check` on the caller without cloning it; 401 without a caller.
    pub(crate) fn check(
        check: impl FnOnce(&Principal) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        SecurityContext::with(check).unwrap_or(Err(AuthError::NoSecurityContext))
    }

    fn with<T>(f: impl FnOnce(&Principal) -> T) -> Option<T> {
        CURRENT
            .try_with(|current| current.as_ref().map(f))
            .ok()
            .flatten()
    }
}

fn owned<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    items.iter().map(|s| s.as_ref().to_owned()).collect()
}

impl FromRequest for Principal {
    type Error = AuthError;
    type Future = Ready<Result<Principal, AuthError>>;

    fn from_request(_req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(SecurityContext::require())
    }
}
