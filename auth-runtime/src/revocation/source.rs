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

/// One revoked token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp` (seconds since the epoch): after it the entry is dropped.
    pub exp: u64,
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
