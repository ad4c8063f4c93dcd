//! `POST /challenge`: a challenge for a wallet address. Nothing is stored.

use actix_web::{HttpResponse, post, web};
use auth_runtime::allow_anonymous;
use serde::Deserialize;
use serde_json::json;

use super::{MAX_ADDRESS_HEX, normalise_address, required};
use crate::clock::later;
use crate::error::ServerError;
use crate::hex::from_hex;
use crate::server::AuthServer;

#[derive(Deserialize)]
pub(super) struct ChallengeRequest {
    address: Option<String>,
}

#[allow_anonymous]
#[post("/challenge")]
pub(super) async fn challenge(
    server: web::Data<AuthServer>,
    body: web::Json<ChallengeRequest>,
) -> Result<HttpResponse, ServerError> {
    let address =
        required(body.into_inner().address).ok_or(ServerError::MissingFields("address"))?;
    let address = normalise_address(&address);
    if address.len() > MAX_ADDRESS_HEX || from_hex(&address).is_none() {
        return Err(ServerError::InvalidAddress);
    }
    let ttl = server.inner.config.challenge_ttl;
    let expires_at = later(server.now(), ttl);
    let value = server
        .inner
        .challenges
        .issue(&address, expires_at, server.random_bytes()?);
    Ok(HttpResponse::Ok().json(json!({ "challenge": value, "ttl": ttl.as_secs() })))
}
