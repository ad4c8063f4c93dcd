//! `POST /refresh`: a new token pair for the current refresh token of a session.

use actix_web::{HttpResponse, post, web};
use auth_runtime::allow_anonymous;
use serde::Deserialize;

use super::required;
use crate::clock::later;
use crate::error::ServerError;
use crate::metrics;
use crate::server::AuthServer;
use crate::store::{Rotate, Rotation};

#[derive(Deserialize)]
pub(super) struct RefreshRequest {
    refresh_token: Option<String>,
}

#[allow_anonymous]
#[post("/refresh")]
pub(super) async fn refresh(
    server: web::Data<AuthServer>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ServerError> {
    let result = attempt(&server, body.into_inner()).await;
    metrics::refresh(metrics::refresh_outcome(&result));
    result
}

async fn attempt(server: &AuthServer, body: RefreshRequest) -> Result<HttpResponse, ServerError> {
    let token = required(body.refresh_token).ok_or(ServerError::MissingFields("refresh_token"))?;
    let (id, presented) = server
        .parse_refresh_token(&token)
        .ok_or(ServerError::InvalidRefreshToken)?;
    let now = server.now();
    let next = server.refresh_token(id)?;
    let issued = server.new_access(now)?;
    let rotation = server
        .inner
        .store
        .rotate(Rotate {
            id,
            presented,
            next: next.hash,
            next_expires_at: later(now, server.inner.config.refresh_token_ttl),
            now,
            access: issued.clone(),
        })
        .await?;
    match rotation {
        Rotation::Rotated { claims, .. } => {
            // Signing cannot fail short of a broken crypto library; the rotation is already
            // stored, so the pair is built from values in hand.
            let access = server.access_token(&claims, &issued, now)?;
            Ok(HttpResponse::Ok().json(server.token_response(access, next.token)))
        }
        Rotation::Reused => {
            server.tell_validators().await;
            tracing::warn!(
                "a spent refresh token was presented again; its session and access tokens are \
                 revoked"
            );
            Err(ServerError::RefreshTokenReused)
        }
        Rotation::Revoked => Err(ServerError::SessionRevoked),
        Rotation::Expired => Err(ServerError::SessionExpired),
        Rotation::Unknown => Err(ServerError::InvalidRefreshToken),
    }
}
