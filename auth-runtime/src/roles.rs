//! Turning a validated token into the caller's roles.
//!
//! The default resolver returns the `role` claim as a one-element list (or nothing when it is
//! empty). Tokens that carry roles elsewhere plug their own resolver into
//! [`JwtAuth::role_resolver`](crate::JwtAuth::role_resolver):
//!
//! ```
//! use auth_runtime::{RawClaims, TokenClaims};
//!
//! // Keycloak puts realm roles under `realm_access.roles`; a plain closure is a resolver.
//! let keycloak = |_claims: &TokenClaims, raw: &RawClaims| -> Vec<String> {
//!     raw.get("realm_access")
//!         .and_then(|access| access.get("roles"))
//!         .and_then(|roles| roles.as_array())
//!         .map(|roles| roles.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
//!         .unwrap_or_default()
//! };
//! # let _ = auth_runtime::JwtAuth::builder;
//! # fn takes(_: impl auth_runtime::RoleResolver) {}
//! # takes(keycloak);
//! ```
//!
//! A resolver that needs I/O (a database lookup) implements the trait with an `async fn`:
//!
//! ```
//! use auth_runtime::{RawClaims, RoleResolver, TokenClaims};
//!
//! struct FromDirectory;
//!
//! impl RoleResolver for FromDirectory {
//!     async fn resolve(&self, claims: &TokenClaims, _raw: &RawClaims) -> Vec<String> {
//!         // e.g. `SELECT role FROM members WHERE user_id = $1` with claims.sub
//!         vec![format!("member-of-{}", claims.org_id)]
//!     }
//! }
//! ```

use std::future::Future;

use crate::jwks::BoxFuture;
use crate::validate::{RawClaims, TokenClaims};

/// Decides which roles a validated token grants.
///
/// Implemented for every `Fn(&TokenClaims, &RawClaims) -> Vec<String>` closure; such a
/// closure is taken to depend on the token alone, so its answer is cached with the token.
pub trait RoleResolver: Send + Sync + 'static {
    /// The roles of the token's holder.
    fn resolve(
        &self,
        claims: &TokenClaims,
        raw: &RawClaims,
    ) -> impl Future<Output = Vec<String>> + Send;

    /// Whether the roles depend on the token alone, so that they may be cached with it and
    /// reused for every request carrying the same token. `false` (the default) runs the
    /// resolver on every request: right for one that reads a database.
    fn cacheable(&self) -> bool {
        false
    }
}

/// The `role` claim, alone; no roles when it is empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRoleResolver;

impl DefaultRoleResolver {
    fn roles(claims: &TokenClaims) -> Vec<String> {
        if claims.role.is_empty() {
            Vec::new()
        } else {
            vec![claims.role.clone()]
        }
    }
}

impl RoleResolver for DefaultRoleResolver {
    fn resolve(
        &self,
        claims: &TokenClaims,
        _raw: &RawClaims,
    ) -> impl Future<Output = Vec<String>> + Send {
        std::future::ready(DefaultRoleResolver::roles(claims))
    }

    fn cacheable(&self) -> bool {
        true
    }
}

impl<F> RoleResolver for F
where
    F: Fn(&TokenClaims, &RawClaims) -> Vec<String> + Send + Sync + 'static,
{
    fn resolve(
        &self,
        claims: &TokenClaims,
        raw: &RawClaims,
    ) -> impl Future<Output = Vec<String>> + Send {
        std::future::ready(self(claims, raw))
    }

    fn cacheable(&self) -> bool {
        true
    }
}

/// The resolver as the middleware holds it: the default needs no allocation per request.
#[derive(Clone)]
pub(crate) enum Resolver {
    Default,
    Custom(std::sync::Arc<dyn ErasedResolver>),
}

impl Resolver {
    pub(crate) fn custom<R: RoleResolver>(resolver: R) -> Resolver {
        Resolver::Custom(std::sync::Arc::new(resolver))
    }

    pub(crate) fn cacheable(&self) -> bool {
        match self {
            Resolver::Default => true,
            Resolver::Custom(resolver) => resolver.cacheable_erased(),
        }
    }

    pub(crate) async fn resolve(&self, claims: &TokenClaims, raw: &RawClaims) -> Vec<String> {
        match self {
            Resolver::Default => DefaultRoleResolver::roles(claims),
            Resolver::Custom(resolver) => resolver.resolve_boxed(claims, raw).await,
        }
    }
}

pub(crate) trait ErasedResolver: Send + Sync {
    fn resolve_boxed<'a>(
        &'a self,
        claims: &'a TokenClaims,
        raw: &'a RawClaims,
    ) -> BoxFuture<'a, Vec<String>>;

    fn cacheable_erased(&self) -> bool;
}

impl<R: RoleResolver> ErasedResolver for R {
    fn resolve_boxed<'a>(
        &'a self,
        claims: &'a TokenClaims,
        raw: &'a RawClaims,
    ) -> BoxFuture<'a, Vec<String>> {
        Box::pin(self.resolve(claims, raw))
    }

    fn cacheable_erased(&self) -> bool {
        self.cacheable()
    }
}
