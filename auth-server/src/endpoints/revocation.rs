//! Revocation: `POST /revoke` (admin), `GET /revoked-jtis` (validators), `POST /sign-out`.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use auth_runtime::{allow_anonymous, requires_role};
use serde::Deserialize;
use serde_json::json;

use super::client::client_address;
use crate::error::ServerError;
use crate::flows::{RevokeRequest, SignOutRequest};
use crate::server::AuthServer;

/// Revokes one access token (`{"jti"}`), or every token and session of a subject
/// (`{"subject"}`). Admin only.
#[requires_role("admin")]
#[post("/revoke")]
pub(super) async fn revoke(
    server: web::Data<AuthServer>,
    body: web::Json<RevokeRequest>,
) -> Result<HttpResponse, ServerError> {
    let revoked = server.revoke_for_admin(body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "listed_entries": revoked.listed,
        "revoked_sessions": revoked.sessions,
    })))
}

#[derive(Deserialize)]
pub(super) struct RevokedQuery {
    since: Option<String>,
}

/// The revocation list, whole or after a cursor (the format `auth_runtime::RevocationList` reads).
#[allow_anonymous]
#[get("/revoked-jtis")]
pub(super) async fn revoked_jtis(
    server: web::Data<AuthServer>,
    query: web::Query<RevokedQuery>,
) -> Result<HttpResponse, ServerError> {
    let page = server
        .revocation_page(query.into_inner().since.as_deref())
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(page))
}

/// Ends the session of a refresh token: the token stops working and the session's access
/// tokens are revoked.
#[allow_anonymous]
#[post("/sign-out")]
pub(super) async fn sign_out(
    server: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Json<SignOutRequest>,
) -> Result<HttpResponse, ServerError> {
    server.count_session_call(client_address(&req, &server.config().trusted_proxies))?;
    server.sign_out(body.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
