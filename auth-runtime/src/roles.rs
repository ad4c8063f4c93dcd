//! Turning a validated token into the caller's roles.

use std::future::Future;

use crate::BoxFuture;
use crate::claims::{RawClaims, TokenClaims};

/// Turning a validated token into the caller's roles.
///
/// By default the roles are read from the claim that `auth_client.roles_claim` names (`role`
/// unless configured): a claim name, or a dotted path into nested objects such as
/// `realm_access.roles`, holding a string (one role) or an array of strings. A claim whose
/// whole name matches is taken before the path is split, so a namespaced claim like
/// `https://example.com/roles` works as written. Roles that need code plug their own
/// resolver into [`JwtAuthBuilder::role_resolver`](crate::JwtAuthBuilder::role_resolver), which replaces
/// `roles_claim`:
///
/// ```
/// use auth_runtime::{AuthConfig, ConfigError, JwtAuth, RawClaims, TokenClaims};
///
/// /// Realm roles and this API's client roles together.
/// fn keycloak_roles(_: &TokenClaims, raw: &RawClaims) -> Vec<String> {
///     let strings = |value: Option<&serde_json::Value>| -> Vec<String> {
///         value
///             .and_then(|roles| roles.as_array())
///             .map(|roles| roles.iter().filter_map(|r| r.as_str().map(String::from)).collect())
///             .unwrap_or_default()
///     };
///     let mut roles = strings(raw.get("realm_access").and_then(|a| a.get("roles")));
///     roles.extend(strings(
///         raw.get("resource_access").and_then(|a| a.get("my-api")).and_then(|c| c.get("roles")),
///     ));
///     roles
/// }
///
/// fn middleware(config: AuthConfig) -> Result<JwtAuth, ConfigError> {
///     JwtAuth::builder(config).role_resolver(keycloak_roles).build()
/// }
/// # let _ = middleware;
/// ```
///
/// A resolver that needs I/O (a database lookup) implements the trait with an `async fn`:
///
/// ```
/// use auth_runtime::{RawClaims, RoleResolver, TokenClaims};
///
/// struct FromDirectory;
///
/// impl RoleResolver for FromDirectory {
///     async fn resolve(&self, claims: &TokenClaims, _raw: &RawClaims) -> Vec<String> {
///         // e.g. `SELECT role FROM members WHERE user_id = $1` with claims.sub
///         vec![format!("member-of-{}", claims.org_id)]
///     }
/// }
/// ```
///
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

/// The roles in one claim: what `auth_client.roles_claim` configures, and so what the
/// middleware uses unless [`JwtAuthBuilder::role_resolver`](crate::JwtAuthBuilder::role_resolver)
/// gives another resolver. `ClaimRoles::new("role")` is the default.
///
/// The claim is named by its whole name first (`https://example.com/roles`), else by a
/// dotted path into nested objects (`realm_access.roles`). A string there is one role (none
/// when empty), a number its text, an array its non-empty strings; anything else, or nothing
/// there, no roles.
///
/// ```
/// use auth_runtime::{ClaimRoles, RoleResolver, TokenClaims};
///
/// let raw = serde_json::json!({"realm_access": {"roles": ["admin", "ops"]}});
/// let raw = raw.as_object().expect("an object");
/// let roles = ClaimRoles::new("realm_access.roles").roles(raw);
/// assert_eq!(roles, ["admin", "ops"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRoles {
    path: std::sync::Arc<str>,
}

impl ClaimRoles {
    /// Roles read from the claim (or dotted path) `path`.
    pub fn new(path: &str) -> ClaimRoles {
        ClaimRoles { path: path.into() }
    }

    /// The roles in `raw`.
    pub fn roles(&self, raw: &RawClaims) -> Vec<String> {
        roles_at(raw, &self.path)
    }
}

impl RoleResolver for ClaimRoles {
    fn resolve(
        &self,
        _claims: &TokenClaims,
        raw: &RawClaims,
    ) -> impl Future<Output = Vec<String>> + Send {
        std::future::ready(self.roles(raw))
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

/// Where a caller's roles were read from, for the log line of a 403.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum RolesSource {
    /// The claim (or dotted path) `roles_claim` names.
    Claim(std::sync::Arc<str>),
    /// A custom [`RoleResolver`].
    Resolver,
    /// Given with the identity ([`Principal::new`](crate::Principal::new)).
    #[default]
    Given,
}

impl std::fmt::Display for RolesSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RolesSource::Claim(path) => write!(f, "claim `{path}`"),
            RolesSource::Resolver => f.write_str("a custom RoleResolver"),
            RolesSource::Given => f.write_str("the roles given to Principal::new"),
        }
    }
}

/// The resolver as the middleware holds it: the configured claim needs no boxing per request.
#[derive(Clone)]
pub(crate) enum Resolver {
    /// `roles_claim`: a claim name or a dotted path.
    Claim(ClaimRoles),
    Custom(std::sync::Arc<dyn ErasedResolver>),
}

impl Resolver {
    pub(crate) fn claim(path: &str) -> Resolver {
        Resolver::Claim(ClaimRoles::new(path))
    }

    pub(crate) fn custom<R: RoleResolver>(resolver: R) -> Resolver {
        Resolver::Custom(std::sync::Arc::new(resolver))
    }

    /// Where the roles come from, as a debug log names it.
    pub(crate) fn source(&self) -> RolesSource {
        match self {
            Resolver::Claim(claim) => RolesSource::Claim(std::sync::Arc::clone(&claim.path)),
            Resolver::Custom(_) => RolesSource::Resolver,
        }
    }

    pub(crate) fn cacheable(&self) -> bool {
        match self {
            Resolver::Claim(_) => true,
            Resolver::Custom(resolver) => resolver.cacheable_erased(),
        }
    }

    pub(crate) async fn resolve(&self, claims: &TokenClaims, raw: &RawClaims) -> Vec<String> {
        match self {
            Resolver::Claim(claim) => claim.roles(raw),
            Resolver::Custom(resolver) => resolver.resolve_boxed(claims, raw).await,
        }
    }
}

/// The roles at `path` in `raw`: the claim named exactly `path`, else the dotted path. A
/// string is one role (none when empty), a number its text, an array its non-empty strings;
/// anything else, or nothing there, no roles.
fn roles_at(raw: &RawClaims, path: &str) -> Vec<String> {
    let found = raw.get(path).or_else(|| {
        let mut segments = path.split('.');
        let first = raw.get(segments.next()?)?;
        segments.try_fold(first, |value, segment| value.as_object()?.get(segment))
    });
    match found {
        Some(serde_json::Value::String(role)) if !role.is_empty() => vec![role.clone()],
        Some(serde_json::Value::Number(number)) => vec![number.to_string()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_str())
            .filter(|role| !role.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::roles_at;
    use serde_json::json;

    fn raw(value: serde_json::Value) -> crate::RawClaims {
        match value {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn roles_come_from_a_claim_or_a_dotted_path() {
        let claims = raw(json!({
            "role": "admin",
            "roles": ["a", "", 7, "b"],
            "realm_access": { "roles": ["realm-admin"] },
            "resource_access": { "my-api": { "roles": ["writer"] } },
            "https://example.com/roles": ["namespaced"],
            "https://example": { "com/roles": ["not this"] },
            "level": 3,
            "empty": "",
            "object": { "a": 1 },
        }));
        let cases: &[(&str, &[&str])] = &[
            ("role", &["admin"]),
            ("roles", &["a", "b"]),
            ("realm_access.roles", &["realm-admin"]),
            ("resource_access.my-api.roles", &["writer"]),
            ("https://example.com/roles", &["namespaced"]),
            ("level", &["3"]),
            ("empty", &[]),
            ("object", &[]),
            ("missing", &[]),
            ("realm_access.missing", &[]),
            ("role.deeper", &[]),
            ("realm_access..roles", &[]),
            (".role", &[]),
        ];
        for (path, expected) in cases {
            assert_eq!(roles_at(&claims, path), *expected, "{path}");
        }
    }
}
