//! Revocation: an admin revokes a token or a subject, a client signs out, validators read the
//! list. Validators built here reread it at once after each revocation.

use auth_runtime::{RevocationPage, RevokedToken};
use serde::Deserialize;

use super::required;
use crate::clock::{later, unix_seconds};
use crate::error::ServerError;
use crate::hex::to_hex;
use crate::server::AuthServer;
use crate::store::{Listing, Revoke, Revoked};

/// A subject's revocation also covers the tokens issued this long after it: a refresh that
/// raced it (on another instance, its clock a little ahead) cannot issue one that escapes.
/// Instances' clocks must agree within it, as for every expiry.
const SUBJECT_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

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
            (Some(jti), None) => {
                // Only a `jti` this issuer gave out, and only while its token lives.
                let expires_at = self
                    .issued_jti(&jti)
                    .filter(|exp| *exp > self.state.clock.now())
                    .ok_or(ServerError::UnknownJti)?;
                Revoke::Token { jti, expires_at }
            }
            (None, Some(subject)) => Revoke::Subject {
                subject,
                issued_before: later(self.state.clock.now(), SUBJECT_MARGIN),
                until: later(self.last_access_expiry(), SUBJECT_MARGIN),
            },
            _ => return Err(ServerError::RevokeTargetRequired),
        };
        let by_jti = matches!(what, Revoke::Token { .. });
        let revoked = self.revoke(what).await?;
        if by_jti && revoked.listed == 0 {
            return Err(ServerError::UnknownJti);
        }
        tracing::info!(
            listed = revoked.listed,
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
        let until = self.last_access_expiry();
        let revoked = self.revoke(Revoke::Session { id, until }).await?;
        tracing::info!(listed = revoked.listed, "signed out");
        Ok(())
    }

    /// The latest `exp` of an access token issued until now.
    fn last_access_expiry(&self) -> std::time::SystemTime {
        crate::clock::later(self.state.clock.now(), self.state.config.access_token_ttl)
    }

    /// Revokes `what` in the store, and has every validator built by
    /// [`jwt_auth`](Self::jwt_auth) reread the list at once when something was listed.
    async fn revoke(&self, what: Revoke) -> Result<Revoked, ServerError> {
        let revoked = self
            .state
            .store
            .revoke(what, self.state.clock.now())
            .await?;
        if revoked.listed > 0 {
            self.tell_validators().await;
        }
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
                .map(|entry| {
                    let exp = unix_seconds(entry.expires_at);
                    match entry.listing {
                        Listing::Token(jti) => RevokedToken::token(&jti, exp),
                        Listing::Session(id) => RevokedToken::session(&to_hex(&id), exp),
                        Listing::Subject {
                            subject,
                            issued_before,
                        } => RevokedToken::subject(&subject, unix_seconds(issued_before), exp),
                    }
                })
                .collect(),
            cursor: format!("{epoch}.{last}"),
            full: after.is_none(),
            more,
        })
    }
}
