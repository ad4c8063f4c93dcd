//! `POST /refresh`: a new token pair for the current refresh token of a session.

use actix_web::{HttpResponse, post, web};
use auth_runtime::allow_anonymous;
use serde::Deserialize;

use super::required;
use crate::clock::later;
use crate::error::ServerError;
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
    let token = required(body.into_inner().refresh_token)
        .ok_or(ServerError::bad_request("refresh_token required"))?;
    let invalid = || ServerError::unauthorized("invalid or expired refresh token");
    let (id, presented) = server.parse_refresh_token(&token).ok_or_else(invalid)?;
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
            Err(ServerError::unauthorized(
                "refresh token already used; every session from that sign-in is revoked, sign in again",
            ))
        }
        Rotation::Revoked => Err(ServerError::unauthorized(
            "this session was revoked after a refresh token was reused; sign in again",
        )),
        Rotation::Expired => Err(ServerError::unauthorized("session expired; sign in again")),
        Rotation::Unknown => Err(invalid()),
    }
}
