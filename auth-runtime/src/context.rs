//! The caller's identity, readable from anywhere inside the request.

use std::future::{Future, Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use tokio::task::futures::TaskLocalFuture;

use crate::error::AuthError;
use crate::principal::Principal;

tokio::task_local! {
    static CURRENT: Option<Principal>;
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

/// The caller as an extractor: 401 where there is none (see [`Principal`]).
impl FromRequest for Principal {
    type Error = AuthError;
    type Future = Ready<Result<Principal, AuthError>>;

    fn from_request(_req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(SecurityContext::require())
    }
}
