//! `POST /sign-in`: a wallet signs a challenge and gets a session.

use actix_web::{HttpRequest, HttpResponse, post, web};
use auth_runtime::allow_anonymous;
use serde::Deserialize;
use serde_json::{Map, json};

use super::{normalise_address, required};
use crate::error::ServerError;
use crate::hex::{from_hex, to_hex};
use crate::metrics;
use crate::server::AuthServer;
use crate::store::SignInOutcome;
use crate::wallet::{WalletAlgorithm, WalletError};

#[derive(Deserialize)]
pub(super) struct SignInRequest {
    address: Option<String>,
    public_key: Option<String>,
    signature: Option<String>,
    challenge: Option<String>,
    algorithm: Option<String>,
}

#[allow_anonymous]
#[post("/sign-in")]
pub(super) async fn sign_in(
    server: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Json<SignInRequest>,
) -> Result<HttpResponse, ServerError> {
    let body = body.into_inner();
    let algorithm = body
        .algorithm
        .as_deref()
        .and_then(WalletAlgorithm::from_name)
        .filter(|alg| server.inner.config.wallet_algorithms.contains(alg))
        .map_or("unsupported", WalletAlgorithm::as_str);
    let result = attempt(&server, &req, body).await;
    metrics::sign_in(algorithm, metrics::outcome(&result));
    result
}

async fn attempt(
    server: &AuthServer,
    req: &HttpRequest,
    body: SignInRequest,
) -> Result<HttpResponse, ServerError> {
    let (Some(address), Some(public_key), Some(signature), Some(challenge)) = (
        required(body.address),
        required(body.public_key),
        required(body.signature),
        required(body.challenge),
    ) else {
        return Err(ServerError::MissingFields(
            "address, public_key, signature, and challenge",
        ));
    };
    let supported = &server.inner.config.wallet_algorithms;
    let algorithm = body
        .algorithm
        .as_deref()
        .and_then(WalletAlgorithm::from_name)
        .filter(|alg| supported.contains(alg))
        .ok_or_else(|| ServerError::UnsupportedAlgorithm {
            given: body.algorithm.clone().unwrap_or_default(),
            supported: supported.iter().map(|alg| alg.as_str()).collect(),
        })?;
    let (Some(public_key), Some(signature)) = (from_hex(&public_key), from_hex(&signature)) else {
        return Err(ServerError::InvalidHex);
    };
    let address = normalise_address(&address);
    if address != to_hex(&public_key) {
        return Err(ServerError::AddressMismatch);
    }
    if let Err(WalletError::Malformed(why)) = algorithm.check_shape(&public_key, &signature) {
        return Err(ServerError::MalformedKeyOrSignature(why));
    }
    let now = server.now();
    let Some(valid) = server.inner.challenges.check(&address, &challenge, now) else {
        return Err(ServerError::InvalidChallenge);
    };
    // Each attempt that costs a signature check (and may store a spent challenge and a
    // session) counts against the client's address.
    let client = crate::login::client_address(req, &server.inner.config.trusted_proxies);
    server.inner.sign_ins.take(client, now)?;
    let outcome = match algorithm.verify(&public_key, challenge.as_bytes(), &signature) {
        Ok(()) => SignInOutcome::Verified,
        Err(WalletError::Malformed(why)) => return Err(ServerError::MalformedKeyOrSignature(why)),
        Err(WalletError::BadSignature) => SignInOutcome::Failed,
    };
    // Single use: spent now, whatever the outcome.
    let first_use = server
        .inner
        .store
        .spend_challenge(valid.id, valid.expires_at, outcome, now)
        .await?;
    if outcome == SignInOutcome::Failed {
        return Err(ServerError::BadSignature);
    }
    if !first_use {
        return Err(ServerError::InvalidChallenge);
    }
    let mut identity = Map::new();
    identity.insert("sub".into(), json!(address));
    identity.insert("role".into(), json!("wallet"));
    identity.insert("algorithm".into(), json!(algorithm.as_str()));
    identity.insert("wallet_address".into(), json!(address));
    let mut body = server.start_session(identity, true).await?;
    body.insert("address".into(), json!(address));
    body.insert("algorithm".into(), json!(algorithm.as_str()));
    Ok(HttpResponse::Ok().json(body))
}
