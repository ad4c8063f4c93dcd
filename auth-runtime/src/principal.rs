//! [`Principal`]: an authenticated caller, its claims and roles, and what it may do.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;

use crate::claims::{RawClaims, TokenClaims, ValidToken};
use crate::error::{AuthError, InvalidReason, printable_up_to};
use crate::roles::RolesSource;
use crate::scope::{self, Scopes};

/// An authenticated caller: the token's claims and the roles resolved for it.
///
/// Also an extractor: a handler parameter `me: Principal` gets the same identity as
/// [`SecurityContext::require`](crate::SecurityContext::require) (401 where there is none); `Option<Principal>` is `None`
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

    /// The thumbprint (RFC 7638) of the key the token is bound to (`cnf.jkt`), when it is
    /// sender-constrained by DPoP. The middleware lets such a token through only with a
    /// valid proof made with that key, so the caller holds it.
    ///
    /// ```
    /// use auth_runtime::Principal;
    ///
    /// fn describe(caller: &Principal) -> &'static str {
    ///     match caller.dpop_thumbprint() {
    ///         Some(_) => "proved possession of its key",
    ///         None => "bearer token",
    ///     }
    /// }
    /// ```
    pub fn dpop_thumbprint(&self) -> Option<&str> {
        crate::dpop::bound_key(&self.inner.token.raw).ok().flatten()
    }

    /// Whether the token is sender-constrained (DPoP-bound): [`dpop_thumbprint`](Self::dpop_thumbprint) is `Some`.
    pub fn is_sender_constrained(&self) -> bool {
        self.dpop_thumbprint().is_some()
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

fn owned<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    items.iter().map(|s| s.as_ref().to_owned()).collect()
}
