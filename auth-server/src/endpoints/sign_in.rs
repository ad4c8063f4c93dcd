//! `POST /sign-in`: a wallet signs a challenge and gets a session.

use actix_web::{HttpRequest, HttpResponse, post, web};
use auth_runtime::allow_anonymous;
use serde_json::json;

use super::client::client_address;
use super::{dpop_header, token_body};
use crate::error::ServerError;
use crate::flows::SignInRequest;
use crate::server::AuthServer;

#[allow_anonymous]
#[post("/sign-in")]
pub(super) async fn sign_in(
    server: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Json<SignInRequest>,
) -> Result<HttpResponse, ServerError> {
    let client = client_address(&req, &server.config().trusted_proxies);
    let signed_in = server
        .sign_in(body.into_inner(), dpop_header(&req), client)
        .await?;
    let mut body = token_body(signed_in.tokens);
    body.insert("address".into(), json!(signed_in.address));
    body.insert("algorithm".into(), json!(signed_in.algorithm.as_str()));
    Ok(HttpResponse::Ok().json(body))
}
