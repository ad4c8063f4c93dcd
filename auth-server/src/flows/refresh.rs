//! A new token pair for the current refresh token of a session.

use serde::Deserialize;

use auth_runtime::DpopReason;

use super::{ProofHeader, TokenPair, required};
use crate::clock::later;
use crate::dpop::TokenEndpoint;
use crate::error::ServerError;
use crate::metrics;
use crate::server::AuthServer;
use crate::store::{Rotate, Rotation};

/// The body of `POST /refresh`.
#[derive(Deserialize)]
pub(crate) struct RefreshRequest {
    refresh_token: Option<String>,
}

/// How a refresh that succeeded was answered, for its metric.
enum Refreshed {
    /// The presented token was current and is now spent.
    Rotated,
    /// The presented token was spent by the latest rotation, within the grace: its successor
    /// again.
    Retried,
}

impl AuthServer {
    /// Counts one `/refresh` or `/sign-out` call of `client` against its limit (the sign-in
    /// burst and decay, counted apart), or says how long to wait.
    pub(crate) fn count_session_call(&self, client: std::net::IpAddr) -> Result<(), ServerError> {
        self.state
            .session_calls
            .take(client, self.state.clock.now())
    }

    /// Rotates the session's refresh token and hands out a new pair; a spent token presented
    /// again revokes the session, unless it is the one spent last, within
    /// `refresh_reuse_grace_seconds` of that refresh and before its successor was used: then
    /// that same successor and a new access token. Counted in `auth_server_refreshes_total`.
    ///
    /// With a DPoP proof in `proof`, the new access token is bound to its key. A session bound
    /// to a key (from its sign-in or login) is refreshed only with a proof by that key; an
    /// unbound one stays unbound whatever the proof: binding it now would let whoever holds a
    /// stolen refresh token bind the session to their own key and lock its owner out.
    pub(crate) async fn refresh(
        &self,
        request: RefreshRequest,
        proof: ProofHeader,
    ) -> Result<TokenPair, ServerError> {
        let result = self.try_refresh(request, proof).await;
        metrics::refresh(match &result {
            Ok((_, Refreshed::Retried)) => "retried",
            _ => metrics::refresh_outcome(&result),
        });
        result.map(|(pair, _)| pair)
    }

    async fn try_refresh(
        &self,
        request: RefreshRequest,
        proof: ProofHeader,
    ) -> Result<(TokenPair, Refreshed), ServerError> {
        let token =
            required(request.refresh_token).ok_or(ServerError::MissingFields("refresh_token"))?;
        let (id, presented) = self
            .parse_refresh_token(&token)
            .ok_or(ServerError::InvalidRefreshToken)?;
        let proved = self.proof_key(proof, TokenEndpoint::Refresh)?;
        let dpop_proof = proved.as_ref().map(|proved| proved.proof);
        let dpop_jkt = proved.map(|proved| proved.jkt);
        let now = self.state.clock.now();
        let grace = self.state.config.refresh_reuse_grace;
        // With a grace, a retry must be answered with the successor the first presentation got:
        // derived from the presented token, it is the same whichever instance computes it.
        let next = if grace.is_zero() {
            self.refresh_token(id)?
        } else {
            self.successor_token(id, &token)
        };
        let issued = self.new_access(now)?;
        let rotation = self
            .state
            .store
            .rotate(Rotate {
                id,
                presented,
                next: next.hash,
                next_expires_at: later(now, self.state.config.refresh_token_ttl),
                now,
                access: issued.clone(),
                grace,
                dpop_jkt: dpop_jkt.clone(),
                dpop_proof,
            })
            .await?;
        match rotation {
            Rotation::Rotated { claims, .. } => {
                // Signing cannot fail short of a broken crypto library; the rotation is already
                // stored, so the pair is built from values in hand.
                let access = self.access_token(&claims, id, &issued, now, dpop_jkt.as_deref())?;
                let pair = self.token_pair(access, next.token, dpop_jkt);
                Ok((pair, Refreshed::Rotated))
            }
            Rotation::Reused => {
                self.tell_validators().await;
                tracing::warn!(
                    "a spent refresh token was presented again; its session and access tokens \
                     are revoked"
                );
                Err(ServerError::RefreshTokenReused)
            }
            Rotation::Retried { claims, .. } => {
                tracing::info!(
                    "a spent refresh token was presented again within the grace, before its \
                     successor was used; the same successor is handed out again"
                );
                let access = self.access_token(&claims, id, &issued, now, dpop_jkt.as_deref())?;
                let pair = self.token_pair(access, next.token, dpop_jkt);
                Ok((pair, Refreshed::Retried))
            }
            Rotation::WrongKey => {
                // The owner holds the key; anyone else holding a token of the session stole it.
                tracing::warn!(
                    with_proof = dpop_jkt.is_some(),
                    "a refresh token of a session bound to a DPoP key came without a proof by \
                     that key; refused, the session is unchanged"
                );
                Err(ServerError::InvalidDpopProof(match dpop_jkt {
                    None => DpopReason::Missing,
                    Some(_) => DpopReason::WrongKey,
                }))
            }
            Rotation::ReplayedProof => {
                // A captured request sent again (to another instance, whose record of the
                // proofs it saw does not have it): refused, and the session goes on.
                tracing::warn!(
                    "a refresh of a session bound to a DPoP key came with a proof the session \
                     was refreshed with already; refused, the session is unchanged"
                );
                Err(ServerError::InvalidDpopProof(DpopReason::Replayed))
            }
            Rotation::Revoked => Err(ServerError::SessionRevoked),
            Rotation::Expired => Err(ServerError::SessionExpired),
            Rotation::Unknown => Err(ServerError::InvalidRefreshToken),
        }
    }
}
