//! `POST /challenge`: a challenge for a wallet address. Nothing is stored.

use actix_web::{HttpResponse, post, web};
use auth_runtime::allow_anonymous;
use serde_json::json;

use crate::error::ServerError;
use crate::flows::ChallengeRequest;
use crate::server::AuthServer;

#[allow_anonymous]
#[post("/challenge")]
pub(super) async fn challenge(
    server: web::Data<AuthServer>,
    body: web::Json<ChallengeRequest>,
) -> Result<HttpResponse, ServerError> {
    let issued = server.challenge(body.into_inner())?;
    Ok(HttpResponse::Ok()
        .json(json!({ "challenge": issued.challenge, "ttl": issued.ttl.as_secs() })))
}
