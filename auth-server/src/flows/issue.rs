//! Token issuing: access tokens (RS256 JWTs), refresh tokens, and the sessions behind them.
//!
//! A refresh token is 64 base64url characters: the 16-byte session id, 16 random bytes, and a
//! 16-byte MAC over both, so a made-up token is refused before the store is asked. The store
//! keeps only an HMAC of the current one, so a token read from the store's tables signs
//! nobody in, and an earlier token of the session is recognised as reuse.
//!
//! With `refresh_reuse_grace_seconds` set, a refresh token's successor is not drawn at random
//! but derived from it, so that a retry within the grace gets the very token its first
//! presentation got, on any instance, without the store holding a token in the clear. See
//! [`AuthServer::successor_token`].

use std::time::{Duration, SystemTime};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;

use crate::clock::{later, random_bytes, unix_seconds};
use crate::error::ServerError;
use crate::hex::{from_hex, to_hex};
use crate::server::AuthServer;
use crate::store::{IssuedAccess, NewSession, SessionId, TokenHash};

/// A new token pair, as sign-in, login and refresh hand it out.
pub(crate) struct TokenPair {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    /// The access token's lifetime.
    pub(crate) expires_in: Duration,
    /// The thumbprint of the DPoP key the access token is bound to (`cnf.jkt`), if any.
    pub(crate) dpop_jkt: Option<String>,
}

/// Without the tokens: they are bearer credentials, never logged.
impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .field("dpop_jkt", &self.dpop_jkt)
            .finish_non_exhaustive()
    }
}

/// A refresh token and what the store knows of it.
pub(crate) struct RefreshToken {
    pub(crate) token: String,
    pub(crate) hash: TokenHash,
}

impl AuthServer {
    /// Starts a session for `identity` and hands out its first token pair.
    /// `bounded`: whether the session counts against `max_sessions`; `dpop_jkt`: the
    /// thumbprint of the DPoP key the session and its access tokens are bound to, if any.
    pub(crate) async fn start_session(
        &self,
        identity: Map<String, Value>,
        bounded: bool,
        dpop_jkt: Option<String>,
    ) -> Result<TokenPair, ServerError> {
        let now = self.state.clock.now();
        let config = &self.state.config;
        let id: SessionId = random_bytes()?;
        let refresh = self.refresh_token(id)?;
        let ends_at = later(now, config.session_max);
        let issued = self.new_access(now)?;
        let access = self.access_token(&identity, id, &issued, now, dpop_jkt.as_deref())?;
        self.state
            .store
            .start_session(
                NewSession {
                    id,
                    claims: identity,
                    token_hash: refresh.hash,
                    token_expires_at: self.refresh_expiry(now, ends_at),
                    ends_at,
                    bounded,
                    dpop_jkt: dpop_jkt.clone(),
                },
                now,
            )
            .await?;
        Ok(self.token_pair(access, refresh.token, dpop_jkt))
    }

    /// When a refresh token issued at `now` stops being accepted: its own lifetime, never
    /// beyond the session's end.
    pub(crate) fn refresh_expiry(
        &self,
        now: SystemTime,
        session_ends_at: SystemTime,
    ) -> SystemTime {
        later(now, self.state.config.refresh_token_ttl).min(session_ends_at)
    }

    /// A new refresh token of session `id`.
    pub(crate) fn refresh_token(&self, id: SessionId) -> Result<RefreshToken, ServerError> {
        Ok(self.refresh_token_from(id, random_bytes::<16>()?))
    }

    /// The successor of the refresh token `presented` (of session `id`), the same each time it
    /// is asked for: its 16 middle bytes are an HMAC of `presented` under a key derived from
    /// the store's secret, which every instance on one store shares.
    ///
    /// Derived from the token itself, not from its hash: the store keeps the hash of the
    /// token the latest rotation spent and, on PostgreSQL, the secret too, so a successor
    /// derived from that hash would let anyone who reads the database compute the current
    /// token of every session rotated since. Derived from the token, it takes a token of the
    /// session in hand, and the secret, to compute the tokens that follow it. Random tokens
    /// do not even allow that, so the successor is derived only when a grace is configured;
    /// without one it is drawn at random as before.
    pub(crate) fn successor_token(&self, id: SessionId, presented: &str) -> RefreshToken {
        let tag = hmac::sign(&self.state.successor_key, presented.as_bytes());
        let mut middle = [0u8; 16];
        middle.copy_from_slice(&tag.as_ref()[..16]);
        self.refresh_token_from(id, middle)
    }

    /// The refresh token of session `id` with `middle` as its 16 middle bytes.
    fn refresh_token_from(&self, id: SessionId, middle: [u8; 16]) -> RefreshToken {
        let mut bytes = [0u8; 48];
        bytes[..16].copy_from_slice(&id);
        bytes[16..32].copy_from_slice(&middle);
        let tag = hmac::sign(&self.state.refresh_tag_key, &bytes[..32]);
        bytes[32..].copy_from_slice(&tag.as_ref()[..16]);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let hash = self.refresh_hash(&token);
        RefreshToken { token, hash }
    }

    /// The session a presented refresh token names, and its hash; `None` when it is not
    /// shaped like one of ours.
    pub(crate) fn parse_refresh_token(&self, token: &str) -> Option<(SessionId, TokenHash)> {
        if token.len() != 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != 48 {
            return None;
        }
        let tag = hmac::sign(&self.state.refresh_tag_key, &bytes[..32]);
        if !bool::from(tag.as_ref()[..16].ct_eq(&bytes[32..])) {
            return None;
        }
        let id: SessionId = bytes.get(..16)?.try_into().ok()?;
        Some((id, self.refresh_hash(token)))
    }

    fn refresh_hash(&self, token: &str) -> TokenHash {
        let tag = hmac::sign(&self.state.refresh_key, token.as_bytes());
        let mut hash = [0u8; 32];
        hash.copy_from_slice(tag.as_ref());
        hash
    }

    /// The `jti` and expiry of an access token issued at `now`. The `jti` is 48 hex digits: 8
    /// random bytes, the expiry (seconds, big-endian) and an 8-byte MAC over both, so that an
    /// admin can revoke the token by its `jti` alone (see [`issued_jti`](Self::issued_jti)),
    /// with no record of it kept.
    pub(crate) fn new_access(&self, now: SystemTime) -> Result<IssuedAccess, ServerError> {
        let expires_at = later(now, self.state.config.access_token_ttl);
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&random_bytes::<8>()?);
        bytes[8..16].copy_from_slice(&unix_seconds(expires_at).to_be_bytes());
        let tag = hmac::sign(&self.state.jti_key, &bytes[..16]);
        bytes[16..].copy_from_slice(&tag.as_ref()[..8]);
        Ok(IssuedAccess {
            jti: to_hex(&bytes),
            expires_at,
        })
    }

    /// The expiry of the access token whose `jti` this is, when this issuer (or another
    /// sharing its store) issued it; `None` for any other text.
    /// Only the text as issued (lower-case hex) counts: validators compare a `jti` exactly, so
    /// listing another spelling of it would revoke nothing.
    pub(crate) fn issued_jti(&self, jti: &str) -> Option<SystemTime> {
        if jti.len() != 48 || jti.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let bytes = from_hex(jti)?;
        let tag = hmac::sign(&self.state.jti_key, bytes.get(..16)?);
        if !bool::from(tag.as_ref()[..8].ct_eq(bytes.get(16..)?)) {
            return None;
        }
        let seconds = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
    }

    /// The signed access token `issued` for `identity` in session `session`, which its `sid`
    /// claim names; bound to the DPoP key `dpop_jkt` (`cnf.jkt`, RFC 9449 section 6) if any.
    pub(crate) fn access_token(
        &self,
        identity: &Map<String, Value>,
        session: SessionId,
        issued: &IssuedAccess,
        now: SystemTime,
        dpop_jkt: Option<&str>,
    ) -> Result<String, ServerError> {
        let config = &self.state.config;
        let mut claims = identity.clone();
        claims.insert("iss".into(), json!(config.issuer));
        claims.insert("aud".into(), json!(config.audience));
        claims.insert("iat".into(), json!(unix_seconds(now)));
        claims.insert("exp".into(), json!(unix_seconds(issued.expires_at)));
        claims.insert("jti".into(), json!(issued.jti));
        claims.insert("sid".into(), json!(to_hex(&session)));
        if let Some(jkt) = dpop_jkt {
            claims.insert("cnf".into(), json!({ "jkt": jkt }));
        }
        self.state
            .keys
            .current
            .sign(&Value::Object(claims))
            .map_err(|()| ServerError::Internal)
    }

    /// The pair of a new access token (bound to `dpop_jkt`, if any) and refresh token.
    pub(crate) fn token_pair(
        &self,
        access_token: String,
        refresh_token: String,
        dpop_jkt: Option<String>,
    ) -> TokenPair {
        TokenPair {
            access_token,
            refresh_token,
            expires_in: self.state.config.access_token_ttl,
            dpop_jkt,
        }
    }
}
