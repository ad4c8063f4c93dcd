//! OpenAPI documents that say how each operation is protected (feature `openapi`, with
//! [`utoipa`]).
//!
//! [`secure`] (or the modifier [`BearerSecurity`]) adds the HTTP bearer scheme `bearer` (JWT)
//! to a document's components and, to each operation:
//!
//! | handler | `security` | responses added |
//! |---|---|---|
//! | no attribute | `[{"bearer": []}]` | 401 |
//! | `#[requires_role]`, `#[requires_scope]`, `#[requires_group]` | `[{"bearer": [the scopes]}]` | 401, and 403 naming what is required |
//! | `#[allow_anonymous]`, or under `public_paths` ([`JwtAuth::secure_openapi`]) | `[]` (none) | none |
//!
//! An operation is said to need no token only on a definite match: under `public_paths`, a
//! route declared with [`JwtAuth::anonymous_route`] for exactly its method and path, or an
//! `#[allow_anonymous]` handler whose name is the operation's `operation_id` (utoipa's
//! default is the function name) and whose route is exactly the operation's path. An
//! anonymous handler mounted under a scope is therefore documented as needing a token, unless
//! its `#[utoipa::path]` says `security(())`, which is left as it says. The requirements of
//! `#[requires_*]` come from the handler named by the `operation_id`, unless its route (seen
//! when the attribute sits above the route attribute) does not end the operation's path; among
//! several of that name, from the one whose route does; with none of that name, from one
//! whose route is exactly the path. Handlers of that name that cannot be told apart give 401
//! and 403 without scopes; anything else needs a valid token (401). A `security` or a 401/403
//! response the document already has is left as it is.
//!
//! ```
//! use actix_web::{HttpResponse, get};
//! use auth_runtime::{allow_anonymous, openapi::BearerSecurity, requires_scope};
//! use utoipa::OpenApi;
//!
//! #[utoipa::path(responses((status = 200, description = "The articles")))]
//! #[requires_scope("articles:read")]
//! #[get("/articles")]
//! async fn list_articles() -> HttpResponse {
//!     HttpResponse::Ok().finish()
//! }
//!
//! #[allow_anonymous]
//! #[utoipa::path(responses((status = 200, description = "Up")))]
//! #[get("/health")]
//! async fn health() -> HttpResponse {
//!     HttpResponse::Ok().finish()
//! }
//!
//! #[derive(OpenApi)]
//! #[openapi(paths(list_articles, health), modifiers(&BearerSecurity))]
//! struct ApiDoc;
//!
//! let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
//! let list = &doc["paths"]["/articles"]["get"];
//! assert_eq!(list["security"], serde_json::json!([{ "bearer": ["articles:read"] }]));
//! assert!(list["responses"]["403"].is_object());
//! assert_eq!(doc["paths"]["/health"]["get"]["security"], serde_json::json!([]));
//! ```

use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, OpenApi, PathItem, RefOr};

use crate::__private::{AnonymousDeclaration, PolicyDeclaration, RouteDeclaration};
use crate::anonymous::AnonymousRoute;
use crate::middleware::JwtAuth;

/// The name of the security scheme added to the document's components.
pub const SCHEME: &str = "bearer";

/// A utoipa modifier that runs [`secure`] on the document:
/// `#[openapi(modifiers(&BearerSecurity))]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut OpenApi) {
        secure(openapi);
    }
}

/// Adds the bearer scheme and, per operation, its security requirement and its 401/403
/// responses, from the attributes of the handlers in the program (see the module docs).
pub fn secure(doc: &mut OpenApi) {
    Securer {
        public_paths: &[],
        anonymous: &[],
    }
    .apply(doc);
}

#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
impl JwtAuth {
    /// [`secure`], also knowing this middleware's `public_paths` and the anonymous routes
    /// declared with [`JwtAuth::anonymous_route`]: their operations need no token.
    pub fn secure_openapi(&self, doc: &mut OpenApi) {
        let by_hand: Vec<AnonymousRoute> = self
            .anonymous_routes()
            .iter()
            .filter(|route| !route.by_attribute)
            .cloned()
            .collect();
        Securer {
            public_paths: self.config().public_paths(),
            anonymous: &by_hand,
        }
        .apply(doc);
    }
}

struct Securer<'a> {
    public_paths: &'a [String],
    anonymous: &'a [AnonymousRoute],
}

/// How an operation is reached.
enum Access {
    /// No token needed.
    Open,
    /// Any valid token.
    Token,
    /// A valid token, and what the attributes ask for.
    Policy {
        roles: &'static [&'static str],
        scopes: &'static [&'static str],
        groups: &'static [&'static str],
    },
}

/// Whether a route attribute's `(methods, pattern)` may serve the document's `path` for
/// `method`: the pattern, its `{name:regex}` segments written `{name}` as OpenAPI writes them,
/// is the path, or (`suffix`) ends it at a segment boundary, as under a scope.
fn route_serves(methods: &[&str], pattern: &str, method: &str, path: &str, suffix: bool) -> bool {
    if !methods.is_empty() && !methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
        return false;
    }
    let pattern = openapi_template(pattern);
    let pattern = pattern.trim_end_matches('/');
    let path = path.trim_end_matches('/');
    if !suffix {
        return path == pattern;
    }
    path.strip_suffix(pattern)
        .is_some_and(|prefix| prefix.is_empty() || pattern.starts_with('/'))
}

/// Whether a policy declaration's routes may serve `method` and `path`; `None` when its route
/// attribute was above it, out of its sight.
fn policy_serves(decl: &PolicyDeclaration, method: &str, path: &str) -> Option<bool> {
    (!decl.routes.is_empty()).then(|| {
        decl.routes
            .iter()
            .any(|RouteDeclaration { methods, pattern }| {
                route_serves(methods, pattern, method, path, true)
            })
    })
}

/// Whether one of `decl`'s routes is exactly `path`: a handler of another name is taken
/// for this operation only then.
fn routed_exactly(decl: &PolicyDeclaration, method: &str, path: &str) -> bool {
    decl.routes
        .iter()
        .any(|RouteDeclaration { methods, pattern }| {
            route_serves(methods, pattern, method, path, false)
        })
}

/// `/items/{id:\d+}` as OpenAPI writes it: `/items/{id}`.
fn openapi_template(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut depth = 0usize;
    let mut skipping = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                depth += 1;
                if !skipping {
                    out.push(c);
                }
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    skipping = false;
                    out.push(c);
                }
            }
            ':' if depth == 1 => skipping = true,
            _ if !skipping => out.push(c),
            _ => {}
        }
    }
    out
}

fn policy(decl: &PolicyDeclaration) -> Access {
    Access::Policy {
        roles: decl.roles,
        scopes: decl.scopes,
        groups: decl.groups,
    }
}

impl Securer<'_> {
    fn apply(&self, doc: &mut OpenApi) {
        let scheme = SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        );
        doc.components
            .get_or_insert_with(Components::new)
            .add_security_scheme(SCHEME, scheme);
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                let access = self.access(method, path, operation);
                describe(operation, &access);
            }
        }
    }

    /// How the operation `method path` (utoipa's `operation`) is reached. "No token needed"
    /// is said only on a definite match; when in doubt, a token is required.
    fn access(&self, method: &str, path: &str, operation: &Operation) -> Access {
        let public = self.public_paths.iter().any(|prefix| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        let id = operation.operation_id.as_deref();
        // An `#[allow_anonymous]` handler of that name whose route is this very path, or a
        // route declared by hand for this very path.
        let anonymous = inventory::iter::<AnonymousDeclaration>
            .into_iter()
            .any(|decl| {
                Some(decl.handler) == id
                    && route_serves(decl.methods, decl.pattern, method, path, false)
            })
            || self.anonymous.iter().any(|route| {
                route.pattern().is_some_and(|pattern| {
                    let methods: Vec<&str> = route.methods().iter().map(|m| m.as_str()).collect();
                    route_serves(&methods, pattern, method, path, false)
                })
            });
        if public || anonymous {
            return Access::Open;
        }
        let policies: Vec<&PolicyDeclaration> =
            inventory::iter::<PolicyDeclaration>.into_iter().collect();
        // The handler of that name, unless its route says it is another one.
        let fitting: Vec<&PolicyDeclaration> = policies
            .iter()
            .copied()
            .filter(|decl| Some(decl.handler) == id)
            .filter(|decl| policy_serves(decl, method, path) != Some(false))
            .collect();
        if let [only] = fitting.as_slice() {
            return policy(only);
        }
        // Several of that name: the one whose route serves this path. None of that name: a
        // handler whose route is exactly this path.
        let routed: Vec<&PolicyDeclaration> = if fitting.is_empty() {
            policies
                .iter()
                .copied()
                .filter(|decl| routed_exactly(decl, method, path))
                .collect()
        } else {
            fitting
                .iter()
                .copied()
                .filter(|decl| policy_serves(decl, method, path) == Some(true))
                .collect()
        };
        match routed.as_slice() {
            [only] => policy(only),
            // Handlers that cannot be told apart: at least a token, and possibly a role,
            // scope or group.
            [] if fitting.is_empty() => Access::Token,
            _ => Access::Policy {
                roles: &[],
                scopes: &[],
                groups: &[],
            },
        }
    }
}

/// The operations of a path item with their methods, upper case.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("OPTIONS", item.options.as_mut()),
        ("HEAD", item.head.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("TRACE", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
}

fn describe(operation: &mut Operation, access: &Access) {
    // The operation says itself that it needs no token (`security(())`): left as it is.
    let declared_open = operation.security.as_ref().is_some_and(|requirements| {
        requirements.is_empty() || requirements.contains(&SecurityRequirement::default())
    });
    if declared_open {
        return;
    }
    let (scopes, forbidden) = match access {
        Access::Open => {
            operation.security.get_or_insert_with(Vec::new);
            return;
        }
        Access::Token => (&[][..], None),
        Access::Policy {
            roles,
            scopes,
            groups,
        } => {
            let mut needs = Vec::new();
            for (what, list) in [("roles", roles), ("scopes", scopes), ("groups", groups)] {
                if !list.is_empty() {
                    needs.push(format!("one of the {what} {}", list.join(", ")));
                }
            }
            let needs = if needs.is_empty() {
                "the role, scope or group its handler requires".to_owned()
            } else {
                needs.join("; and ")
            };
            (
                &scopes[..],
                Some(format!(
                    "Forbidden: the token is valid but lacks {needs} (`WWW-Authenticate: Bearer \
                     error=\"insufficient_scope\"`)"
                )),
            )
        }
    };
    operation
        .security
        .get_or_insert_with(|| vec![SecurityRequirement::new(SCHEME, scopes.iter().copied())]);
    let responses = &mut operation.responses.responses;
    responses.entry("401".to_owned()).or_insert_with(|| {
        RefOr::T(
            ResponseBuilder::new()
                .description(
                    "Unauthorized: no bearer token, or one that is invalid, expired or revoked \
                     (`WWW-Authenticate: Bearer`)",
                )
                .build(),
        )
    });
    if let Some(description) = forbidden {
        responses
            .entry("403".to_owned())
            .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(description).build()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_read_as_openapi_templates() {
        assert_eq!(openapi_template("/items/{id:\\d+}"), "/items/{id}");
        assert_eq!(openapi_template("/a/{x:[0-9]{2}}/b"), "/a/{x}/b");
        assert_eq!(openapi_template("/plain/{id}"), "/plain/{id}");
    }

    #[test]
    fn a_route_serves_its_path_exactly_or_under_a_scope() {
        let serves = route_serves;
        assert!(serves(&["GET"], "/items/{id}", "GET", "/items/{id}", false));
        assert!(serves(
            &["GET"],
            "/items/{id}",
            "GET",
            "/api/v1/items/{id}",
            true
        ));
        assert!(!serves(
            &["GET"],
            "/items/{id}",
            "GET",
            "/api/v1/items/{id}",
            false
        ));
        assert!(!serves(
            &["GET"],
            "/items/{id}",
            "POST",
            "/items/{id}",
            true
        ));
        assert!(!serves(&["GET"], "/items", "GET", "/api/all-items", true));
        assert!(serves(&[], "/items", "DELETE", "/items/", false));
    }
}
