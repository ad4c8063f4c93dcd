//! Revocation: an admin revokes a token or a subject, a client signs out, validators read the
//! list. Validators built here reread it at once after each revocation.

use auth_runtime::{RevocationPage, RevokedToken};
use serde::Deserialize;

use super::required;
use crate::clock::unix_seconds;
use crate::error::ServerError;
use crate::server::AuthServer;
use crate::store::{Revoke, Revoked};

/// Entries per answer of `GET /revoked-jtis` at most.
const REVOCATION_PAGE_SIZE: usize = 10_000;

/// The body of `POST /revoke`: exactly one of the two.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeRequest {
    jti: Option<String>,
    subject: Option<String>,
}

/// The body of `POST /sign-out`.
#[derive(Deserialize)]
pub(crate) struct SignOutRequest {
    refresh_token: Option<String>,
}

impl AuthServer {
    /// Revokes one access token (`jti`), or every token and session of a subject, for an
    /// admin.
    pub(crate) async fn revoke_for_admin(
        &self,
        request: RevokeRequest,
    ) -> Result<Revoked, ServerError> {
        let what = match (required(request.jti), required(request.subject)) {
            (Some(jti), None) => Revoke::Token(jti),
            (None, Some(subject)) => Revoke::Subject(subject),
            _ => return Err(ServerError::RevokeTargetRequired),
        };
        let by_jti = matches!(what, Revoke::Token(_));
        let revoked = self.revoke(what).await?;
        if by_jti && revoked.tokens == 0 {
            return Err(ServerError::UnknownJti);
        }
        tracing::info!(
            tokens = revoked.tokens,
            sessions = revoked.sessions,
            "tokens revoked by an admin"
        );
        Ok(revoked)
    }

    /// Ends the session of a refresh token: the token stops working and the session's access
    /// tokens are revoked.
    pub(crate) async fn sign_out(&self, request: SignOutRequest) -> Result<(), ServerError> {
        let token =
            required(request.refresh_token).ok_or(ServerError::MissingFields("refresh_token"))?;
        let (id, _) = self
            .parse_refresh_token(&token)
            .ok_or(ServerError::InvalidRefreshToken)?;
        let revoked = self.revoke(Revoke::Session(id)).await?;
        tracing::info!(tokens = revoked.tokens, "signed out");
        Ok(())
    }

    /// Revokes `what` in the store, and has every validator built by
    /// [`jwt_auth`](Self::jwt_auth) reread the list at once.
    async fn revoke(&self, what: Revoke) -> Result<Revoked, ServerError> {
        let revoked = self
            .state
            .store
            .revoke(what, self.state.clock.now())
            .await?;
        self.tell_validators().await;
        Ok(revoked)
    }

    /// One answer of `GET /revoked-jtis`: the list after `since`, or from the start when
    /// `since` is missing or not one of this store's cursors.
    pub(crate) async fn revocation_page(
        &self,
        since: Option<&str>,
    ) -> Result<RevocationPage, ServerError> {
        let epoch = self.state.revocation_epoch.as_str();
        let after = since
            .and_then(|cursor| cursor.split_once('.'))
            .filter(|(of, _)| *of == epoch)
            .and_then(|(_, seq)| seq.parse::<u64>().ok());
        let start = after.unwrap_or(0);
        let mut entries = self
            .state
            .store
            .revoked_after(start, REVOCATION_PAGE_SIZE + 1, self.state.clock.now())
            .await?;
        let more = entries.len() > REVOCATION_PAGE_SIZE;
        entries.truncate(REVOCATION_PAGE_SIZE);
        let last = entries.last().map_or(start, |entry| entry.seq);
        Ok(RevocationPage {
            revoked: entries
                .into_iter()
                .map(|entry| RevokedToken::token(&entry.jti, unix_seconds(entry.expires_at)))
                .collect(),
            cursor: format!("{epoch}.{last}"),
            full: after.is_none(),
            more,
        })
    }
}
