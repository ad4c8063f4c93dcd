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
    let mut refused = None;
    let result = attempt(&server, body.into_inner(), &mut refused).await;
    metrics::refresh(refused.unwrap_or_else(|| metrics::outcome(&result)));
    result
}

/// The refresh; a 401 puts its reason in `refused` (`reused`, `revoked`, `expired`,
/// `unknown`).
async fn attempt(
    server: &AuthServer,
    body: RefreshRequest,
    refused: &mut Option<&'static str>,
) -> Result<HttpResponse, ServerError> {
    let token =
        required(body.refresh_token).ok_or(ServerError::bad_request("refresh_token required"))?;
    let invalid = || ServerError::unauthorized("invalid or expired refresh token");
    let Some((id, presented)) = server.parse_refresh_token(&token) else {
        *refused = Some("unknown");
        return Err(invalid());
    };
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
            *refused = Some("reused");
            server.tell_validators().await;
            tracing::warn!(
                "a spent refresh token was presented again; its session and access tokens are \
                 revoked"
            );
            Err(ServerError::unauthorized(
                "refresh token already used; every session from that sign-in is revoked, sign in again",
            ))
        }
        Rotation::Revoked => {
            *refused = Some("revoked");
            Err(ServerError::unauthorized(
                "this session was revoked after a refresh token was reused; sign in again",
            ))
        }
        Rotation::Expired => {
            *refused = Some("expired");
            Err(ServerError::unauthorized("session expired; sign in again"))
        }
        Rotation::Unknown => {
            *refused = Some("unknown");
            Err(invalid())
        }
    }
}
