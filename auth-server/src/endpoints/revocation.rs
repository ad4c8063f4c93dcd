//! Revocation: `POST /revoke` (admin), `GET /revoked-jtis` (validators), `POST /sign-out`.

use actix_web::{HttpResponse, get, post, web};
use auth_runtime::{allow_anonymous, requires_role};
use serde::Deserialize;
use serde_json::json;

use super::required;
use crate::error::ServerError;
use crate::server::AuthServer;
use crate::store::Revoke;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeRequest {
    jti: Option<String>,
    subject: Option<String>,
}

/// Revokes one access token (`{"jti"}`), or every token and session of a subject
/// (`{"subject"}`). Admin only.
#[requires_role("admin")]
#[post("/revoke")]
pub(super) async fn revoke(
    server: web::Data<AuthServer>,
    body: web::Json<RevokeRequest>,
) -> Result<HttpResponse, ServerError> {
    let body = body.into_inner();
    let what = match (required(body.jti), required(body.subject)) {
        (Some(jti), None) => Revoke::Token(jti),
        (None, Some(subject)) => Revoke::Subject(subject),
        _ => {
            return Err(ServerError::RevokeTargetRequired);
        }
    };
    let by_jti = matches!(what, Revoke::Token(_));
    let revoked = server.revoke(what).await?;
    if by_jti && revoked.tokens == 0 {
        return Err(ServerError::UnknownJti);
    }
    tracing::info!(
        tokens = revoked.tokens,
        sessions = revoked.sessions,
        "tokens revoked by an admin"
    );
    Ok(HttpResponse::Ok().json(json!({
        "revoked_tokens": revoked.tokens,
        "revoked_sessions": revoked.sessions,
    })))
}

#[derive(Deserialize)]
pub(super) struct RevokedQuery {
    since: Option<String>,
}

/// The revocation list, whole or after a cursor (the format of `auth_runtime::revocation`).
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

#[derive(Deserialize)]
pub(super) struct SignOutRequest {
    refresh_token: Option<String>,
}

/// Ends the session of a refresh token: the token stops working and the session's access
/// tokens are revoked.
#[allow_anonymous]
#[post("/sign-out")]
pub(super) async fn sign_out(
    server: web::Data<AuthServer>,
    body: web::Json<SignOutRequest>,
) -> Result<HttpResponse, ServerError> {
    let token = required(body.into_inner().refresh_token)
        .ok_or(ServerError::MissingFields("refresh_token"))?;
    let (id, _) = server
        .parse_refresh_token(&token)
        .ok_or(ServerError::InvalidRefreshToken)?;
    let revoked = server.revoke(Revoke::Session(id)).await?;
    tracing::info!(tokens = revoked.tokens, "signed out");
    Ok(HttpResponse::NoContent().finish())
}
