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
//! An operation is matched to its handler by `operation_id` (utoipa's default is the
//! function name); when several handlers share that name, or an `operation_id` was set by
//! hand, by its method and path against the route attribute below the auth attribute. An
//! operation whose handler cannot be told apart from another with the same name gets 401 and
//! 403 without scopes. A `security` or a 401/403 response the document already has is left as
//! it is.
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
            public_paths: &self.config().public_paths,
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

/// A handler whose attributes the document may describe.
#[derive(Clone, Copy)]
enum Declared {
    Anonymous(&'static AnonymousDeclaration),
    Policy(&'static PolicyDeclaration),
}

impl Declared {
    fn handler(self) -> &'static str {
        match self {
            Declared::Anonymous(decl) => decl.handler,
            Declared::Policy(decl) => decl.handler,
        }
    }

    fn serves(self, method: &str, path: &str) -> bool {
        match self {
            Declared::Anonymous(decl) => route_serves(decl.methods, decl.pattern, method, path),
            Declared::Policy(decl) => {
                decl.routes
                    .iter()
                    .any(|RouteDeclaration { methods, pattern }| {
                        route_serves(methods, pattern, method, path)
                    })
            }
        }
    }

    fn access(self) -> Access {
        match self {
            Declared::Anonymous(_) => Access::Open,
            Declared::Policy(decl) => Access::Policy {
                roles: decl.roles,
                scopes: decl.scopes,
                groups: decl.groups,
            },
        }
    }
}

/// Whether a route attribute's `(methods, pattern)` may serve the document's `path` for
/// `method`: the pattern, its `{name:regex}` segments written `{name}` as OpenAPI writes them,
/// is the path or ends it at a segment boundary (a scope may mount it under a prefix).
fn route_serves(methods: &[&str], pattern: &str, method: &str, path: &str) -> bool {
    if !methods.is_empty() && !methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
        return false;
    }
    let pattern = openapi_template(pattern);
    let pattern = pattern.trim_end_matches('/');
    let path = path.trim_end_matches('/');
    path.strip_suffix(pattern)
        .is_some_and(|prefix| prefix.is_empty() || pattern.starts_with('/'))
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
        let declared: Vec<Declared> = inventory::iter::<AnonymousDeclaration>
            .into_iter()
            .map(Declared::Anonymous)
            .chain(
                inventory::iter::<PolicyDeclaration>
                    .into_iter()
                    .map(Declared::Policy),
            )
            .collect();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                let access = self.access(&declared, method, path, operation);
                describe(operation, &access);
            }
        }
    }

    fn access(
        &self,
        declared: &[Declared],
        method: &str,
        path: &str,
        operation: &Operation,
    ) -> Access {
        let public = self.public_paths.iter().any(|prefix| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if public {
            return Access::Open;
        }
        let named: Vec<Declared> = match operation.operation_id.as_deref() {
            Some(id) => declared
                .iter()
                .copied()
                .filter(|d| d.handler() == id)
                .collect(),
            None => Vec::new(),
        };
        if let [only] = named.as_slice() {
            return only.access();
        }
        let pool = if named.is_empty() {
            declared
        } else {
            &named[..]
        };
        let routed: Vec<Declared> = pool
            .iter()
            .copied()
            .filter(|d| d.serves(method, path))
            .collect();
        match (routed.as_slice(), named.is_empty()) {
            ([only], _) => only.access(),
            // Several handlers of that name, and their routes do not tell which: at least
            // a token, and possibly a role, scope or group.
            (_, false) => Access::Policy {
                roles: &[],
                scopes: &[],
                groups: &[],
            },
            (_, true) => {
                let by_hand =
                    actix_web::http::Method::from_bytes(method.as_bytes()).is_ok_and(|method| {
                        self.anonymous.iter().any(|r| r.could_match(&method, path))
                    });
                if by_hand { Access::Open } else { Access::Token }
            }
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
    fn a_route_serves_its_path_under_any_scope() {
        assert!(route_serves(&["GET"], "/items/{id}", "GET", "/items/{id}"));
        assert!(route_serves(
            &["GET"],
            "/items/{id}",
            "GET",
            "/api/v1/items/{id}"
        ));
        assert!(!route_serves(
            &["GET"],
            "/items/{id}",
            "POST",
            "/items/{id}"
        ));
        assert!(!route_serves(&["GET"], "/items", "GET", "/api/all-items"));
        assert!(route_serves(&[], "/items", "DELETE", "/items/"));
    }
}
