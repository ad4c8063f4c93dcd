//! Where revocation lists come from: the source trait, its answers, and the HTTP source.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::BoxFuture;
use crate::config::{ConfigError, IssuerConfig};
use crate::fetch::{Clients, check_fetch_url, read_capped, redacted};

/// Where the list of revoked tokens is served under the issuer URL (by `TestIssuer`).
#[cfg(feature = "testing")]
pub(crate) const REVOCATION_PATH: &str = "/api/v1/auth/revoked-jtis";

/// Largest answer read from a revocation endpoint, in bytes (a page of 10,000 entries is
/// well under a megabyte).
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// One entry of a revocation list: a token (`jti`), a session (`sid`: every token whose `sid`
/// claim names it), or a subject (`sub`: every token of it issued at or before
/// `issued_before`). An entry names exactly one of the three; a list holding any other entry,
/// or a member not named here, cannot be read.
///
/// ```
/// use auth_runtime::RevokedToken;
///
/// let one = RevokedToken::token("5f0c9e1ab2d34c7f", 1764003600);
/// let session = RevokedToken::session("3b9a0c4d", 1764003600);
/// assert_eq!(
///     serde_json::to_string(&session).unwrap(),
///     r#"{"sid":"3b9a0c4d","exp":1764003600}"#
/// );
/// # let _ = one;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RevokedToken {
    /// The revoked token's `jti`; empty in an entry for a session or a subject.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
    /// The revoked session: every token whose `sid` claim is this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The revoked subject: every token of this `sub` issued at or before `issued_before`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// With `sub`: tokens whose `iat` is at or before this (seconds since the epoch), or that
    /// have no `iat`, are revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<u64>,
    /// When the last token the entry revokes expires (seconds since the epoch): after it the
    /// entry is dropped.
    pub exp: u64,
}

/// What one [`RevokedToken`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listed<'a> {
    Token(&'a str),
    Session(&'a str),
    Subject { sub: &'a str, issued_before: u64 },
}

impl RevokedToken {
    /// The token whose `jti` is `jti` and whose `exp` is `exp`.
    pub fn token(jti: &str, exp: u64) -> RevokedToken {
        RevokedToken {
            jti: jti.to_owned(),
            sid: None,
            sub: None,
            issued_before: None,
            exp,
        }
    }

    /// Every token whose `sid` claim is `sid`; `exp`: when the last of them expires.
    pub fn session(sid: &str, exp: u64) -> RevokedToken {
        RevokedToken {
            sid: Some(sid.to_owned()),
            ..RevokedToken::token("", exp)
        }
    }

    /// Every token of `sub` issued (`iat`) at or before `issued_before`, or without `iat`;
    /// `exp`: when the last of them expires.
    pub fn subject(sub: &str, issued_before: u64, exp: u64) -> RevokedToken {
        RevokedToken {
            sub: Some(sub.to_owned()),
            issued_before: Some(issued_before),
            ..RevokedToken::token("", exp)
        }
    }

    /// What the entry names: `Ok(None)` for nothing (an empty `jti` alone, which no token
    /// can carry), `Err(())` when it names several, or a subject without `issued_before`.
    pub(super) fn listed(&self) -> Result<Option<Listed<'_>>, ()> {
        let (jti, sid, sub) = (self.jti.as_str(), self.sid.as_deref(), self.sub.as_deref());
        match (jti, sid, sub, self.issued_before) {
            ("", None, None, None) => Ok(None),
            (jti, None, None, None) => Ok(Some(Listed::Token(jti))),
            ("", Some(sid), None, None) if !sid.is_empty() => Ok(Some(Listed::Session(sid))),
            ("", None, Some(sub), Some(issued_before)) if !sub.is_empty() => {
                Ok(Some(Listed::Subject { sub, issued_before }))
            }
            _ => Err(()),
        }
    }
}

/// One answer of a revocation source (see [`RevocationList`](crate::RevocationList) for the
/// format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationPage {
    /// Tokens revoked (after `since`, unless `full`).
    pub revoked: Vec<RevokedToken>,
    /// Passed as `since` to get only later revocations.
    pub cursor: String,
    /// Whether this answer starts from the beginning of the list.
    pub full: bool,
    /// Whether more entries follow at once.
    pub more: bool,
}

/// Why a revocation list could not be read; logged, never shown to a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationFetchError(String);

impl RevocationFetchError {
    /// An error saying `why`.
    pub fn new(why: impl Into<String>) -> RevocationFetchError {
        RevocationFetchError(why.into())
    }
}

impl fmt::Display for RevocationFetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RevocationFetchError {}

/// Where an issuer's revocation list comes from: its HTTP endpoint
/// ([`HttpRevocationSource`]), or an issuer in the same process.
pub trait RevocationSource: Send + Sync + 'static {
    /// The whole list (`since: None`), or what was revoked after the answer whose `cursor`
    /// is `since`.
    fn fetch<'a>(
        &'a self,
        since: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RevocationPage, RevocationFetchError>>;
}

/// The list at an issuer's `revocation_endpoint`, read over HTTP under the rules of key
/// fetches: https, or plain http to loopback only; no redirects; a proxy only for https.
pub struct HttpRevocationSource {
    url: reqwest::Url,
    shown: String,
    clients: Clients,
}

impl fmt::Debug for HttpRevocationSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRevocationSource")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl HttpRevocationSource {
    /// The source at `issuer.revocation_endpoint`. Fails when it is empty, not a URL, or
    /// plain http to a host that is not loopback.
    pub fn new(issuer: &IssuerConfig) -> Result<HttpRevocationSource, ConfigError> {
        let url = check_fetch_url(
            issuer.revocation_endpoint(),
            &format!("{}.revocation_endpoint", issuer.config_key()),
            "revocation list",
        )?;
        Ok(HttpRevocationSource {
            shown: redacted(&url),
            url,
            clients: Clients::new(issuer.jwks_timeout(), issuer.use_env_proxy())?,
        })
    }
}

impl RevocationSource for HttpRevocationSource {
    fn fetch<'a>(
        &'a self,
        since: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RevocationPage, RevocationFetchError>> {
        Box::pin(async move {
            let mut url = self.url.clone();
            if let Some(since) = since {
                url.query_pairs_mut().append_pair("since", since);
            }
            let body = read_capped(self.clients.for_url(&url), &url, MAX_PAGE_BYTES)
                .await
                .map_err(|err| RevocationFetchError(format!("{}: {err}", self.shown)))?;
            serde_json::from_slice::<RevocationPage>(&body).map_err(|err| {
                RevocationFetchError(format!("{}: not a revocation list: {err}", self.shown))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_of_a_kind_not_known_here_is_refused_not_skipped() {
        for text in [
            r#"{"session": "s-1", "exp": 1}"#,
            r#"{"jti": "a", "iss": "https://other", "exp": 1}"#,
        ] {
            assert!(
                serde_json::from_str::<RevokedToken>(text).is_err(),
                "{text}"
            );
        }
        let entry: RevokedToken = serde_json::from_str(r#"{"sid": "s-1", "exp": 1}"#).unwrap();
        assert_eq!(entry.listed(), Ok(Some(Listed::Session("s-1"))));
        let entry: RevokedToken = serde_json::from_str(r#"{"sub": "a", "exp": 1}"#).unwrap();
        assert_eq!(entry.listed(), Err(()));
    }
}
