//! `POST /login`: the bootstrap admin's password login.

use actix_web::{HttpRequest, HttpResponse, post, web};
use auth_runtime::allow_anonymous;

use super::client::client_address;
use super::{dpop_header, token_body};
use crate::error::ServerError;
use crate::flows::LoginRequest;
use crate::server::AuthServer;

#[allow_anonymous]
#[post("/login")]
pub(super) async fn login(
    server: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ServerError> {
    let client = client_address(&req, &server.config().trusted_proxies);
    let tokens = server
        .login(body.into_inner(), dpop_header(&req), client)
        .await?;
    Ok(HttpResponse::Ok().json(token_body(tokens)))
}
