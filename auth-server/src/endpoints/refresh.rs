//! `POST /refresh`: a new token pair for the current refresh token of a session.

use actix_web::{HttpRequest, HttpResponse, post, web};
use auth_runtime::allow_anonymous;

use super::client::client_address;
use super::{dpop_header, token_body};
use crate::error::ServerError;
use crate::flows::RefreshRequest;
use crate::server::AuthServer;

#[allow_anonymous]
#[post("/refresh")]
pub(super) async fn refresh(
    server: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ServerError> {
    server.count_session_call(client_address(&req, &server.config().trusted_proxies))?;
    let tokens = server.refresh(body.into_inner(), dpop_header(&req)).await?;
    Ok(HttpResponse::Ok().json(token_body(tokens)))
}
