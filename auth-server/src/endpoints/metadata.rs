//! `GET /.well-known/oauth-authorization-server[/issuer path]`: the issuer's metadata
//! (RFC 8414), at the root of the app rather than under the endpoints' prefix, where RFC 8414
//! section 3 puts it: the well-known path, then the path of the issuer's URL.

use actix_web::{HttpRequest, HttpResponse, Resource, http::header, web};
use auth_runtime::Anonymous;

use serde_json::json;

use crate::server::AuthServer;

/// The pattern of the resource: the well-known path (RFC 8414 section 3) and any rest, compared with the issuer's
/// path by the handler (an issuer with a path serves its document under it).
const PATTERN: &str = "/.well-known/oauth-authorization-server{rest:.*}";

// Anonymous like the endpoints under the prefix, which `#[allow_anonymous]` declares: the
// validator routes a request without a token for this pattern instead of refusing it.
auth_runtime::__private::inventory::submit! {
    auth_runtime::__private::AnonymousDeclaration {
        handler: "authorization_server_metadata",
        methods: &["GET"],
        pattern: PATTERN,
    }
}

/// The resource serving the document of `server`.
pub(super) fn resource(server: &AuthServer) -> Resource {
    web::resource(PATTERN)
        .app_data(web::Data::new(server.clone()))
        .route(web::get().to(authorization_server_metadata).wrap(Anonymous))
}

/// The document, when the request's path is the issuer's; 404 otherwise.
async fn authorization_server_metadata(
    server: web::Data<AuthServer>,
    req: HttpRequest,
) -> HttpResponse {
    let rest = req.match_info().get("rest").unwrap_or_default();
    match &server.state.metadata {
        Some(metadata) if metadata.issuer_path == rest => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .json(&metadata.document),
        _ => HttpResponse::NotFound()
            .json(json!({ "detail": "no authorization server metadata at this path" })),
    }
}
