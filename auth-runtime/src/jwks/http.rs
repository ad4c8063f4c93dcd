//! The key set fetched over HTTP from a JWKS URL, cached and refreshed.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::set::{JwksError, KeySet, KeySource, KeysUnavailable};
use crate::BoxFuture;
use crate::config::{ConfigError, IssuerConfig};
use crate::fetch::{Clients, check_fetch_url, read_capped, redacted};
use crate::refreshing::{self, Attempts, Held, Refreshed, Refreshing};

/// The key set fetched over HTTP from a JWKS URL: cached, refreshed in the background after
/// its TTL, refetched once (for every waiting request together) when a token names an
/// unknown `kid`.
///
/// With discovery, every fetch of the key set first reads the issuer's OpenID Provider
/// metadata (`{issuer}/.well-known/openid-configuration`), refuses it unless its `issuer` is
/// the configured one exactly, and fetches the `jwks_uri` it names, under the same rules as
/// a configured URL (https, or plain http to loopback only, never through a proxy). When the
/// document cannot be read, the `jwks_uri` of the last good one is used.
///
/// A key set fetched from a JWKS URL and cached (see the module documentation for when it
/// refetches).
#[derive(Clone)]
pub struct JwksKeySource {
    inner: Arc<Fetcher>,
}

/// What every clone of a [`JwksKeySource`] shares: where and how to fetch, and the keys held.
struct Fetcher {
    endpoint: Endpoint,
    /// The configured URL as it may be shown: without any user name or password in it.
    shown: String,
    clients: Clients,
    ttl: Duration,
    min_refresh_interval: Duration,
    max_bytes: usize,
    keys: Arc<Refreshing<KeySet>>,
    /// The key set URL the last good discovery document named; only read and written by a
    /// refresh, which runs one at a time.
    discovered: Mutex<Option<reqwest::Url>>,
    fetches: AtomicU64,
    /// The configured `iss`, the label of this source's metrics.
    issuer: String,
}

/// Where the key set URL comes from.
enum Endpoint {
    /// Configured.
    Fixed(reqwest::Url),
    /// The `jwks_uri` of the discovery document at `document`, whose `issuer` must be
    /// `issuer`.
    Discovered {
        document: reqwest::Url,
        issuer: Box<str>,
    },
}

impl std::fmt::Debug for JwksKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksKeySource")
            .field("url", &self.inner.shown)
            .finish_non_exhaustive()
    }
}

impl JwksKeySource {
    /// A source for one issuer's `jwks_endpoint` (or, with `discovery`, the `jwks_uri` of
    /// its discovery document), TTL, refetch interval, timeout and size cap. Fails when the
    /// URL is plain http to a host that is not loopback: a key set fetched in clear text can
    /// be swapped on the way, and with it every identity. Nothing is fetched until the first
    /// token arrives (or [`prefetch`] is called).
    ///
    /// [`prefetch`]: JwksKeySource::prefetch
    pub fn new(issuer: &IssuerConfig) -> Result<JwksKeySource, ConfigError> {
        let endpoint = if issuer.discovery() {
            Endpoint::Discovered {
                document: check_fetch_url(
                    &issuer.discovery_url(),
                    &format!("{}.issuer", issuer.config_key()),
                    "discovery document",
                )?,
                issuer: Box::from(issuer.issuer()),
            }
        } else {
            Endpoint::Fixed(check_fetch_url(
                issuer.jwks_url(),
                &format!("{}.jwks_endpoint", issuer.config_key()),
                "JWKS",
            )?)
        };
        let shown = match &endpoint {
            Endpoint::Fixed(url) | Endpoint::Discovered { document: url, .. } => redacted(url),
        };
        Ok(JwksKeySource {
            inner: Arc::new(Fetcher {
                endpoint,
                shown,
                clients: Clients::new(issuer.jwks_timeout(), issuer.use_env_proxy())?,
                ttl: issuer.jwks_ttl(),
                min_refresh_interval: issuer.jwks_min_refresh_interval(),
                max_bytes: issuer.jwks_max_bytes(),
                // After a failed fetch, try again after the refetch interval (at least a
                // second), not on every request meanwhile.
                keys: Arc::new(Refreshing::new(
                    issuer
                        .jwks_min_refresh_interval()
                        .max(Duration::from_secs(1)),
                )),
                discovered: Mutex::new(None),
                fetches: AtomicU64::new(0),
                issuer: issuer.issuer().to_owned(),
            }),
        })
    }

    /// Fetches the key set now, so that the first request does not wait for it. A failure is
    /// returned (and the first request will try again).
    pub async fn prefetch(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        self.inner.refresh(Trigger::Prefetch).await
    }

    /// How many fetches were attempted so far (successful or not).
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }
}

impl KeySource for JwksKeySource {
    fn cached(&self) -> Option<Arc<KeySet>> {
        let held = self.inner.keys.held();
        let held = held.as_ref()?;
        if held.stale_at <= Instant::now() {
            let inner = Arc::clone(&self.inner);
            refreshing::in_background(&self.inner.keys, async move {
                let _ = inner.refresh(Trigger::Stale).await;
            });
        }
        Some(Arc::clone(&held.value))
    }

    fn refresh(&self) -> BoxFuture<'_, Result<Arc<KeySet>, KeysUnavailable>> {
        let seen = self.inner.keys.generation();
        Box::pin(self.inner.refresh(Trigger::UnknownKey { seen }))
    }
}

/// Why a fetch is wanted.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// Explicit warm-up.
    Prefetch,
    /// The cached set outlived its TTL (or the retry delay after a failure).
    Stale,
    /// A token named a key the set (of generation `seen`) does not hold.
    UnknownKey { seen: u64 },
}

impl Fetcher {
    /// Fetches the key set, once for all concurrent callers. A stale set is refetched when
    /// nobody refreshed it meanwhile; an unknown key forces a fetch only when nobody fetched
    /// since the caller looked and the last attempt is older than the refetch interval, so
    /// made-up `kid`s cannot drive the fetch rate.
    async fn refresh(&self, trigger: Trigger) -> Result<Arc<KeySet>, KeysUnavailable> {
        let min_interval = self.min_refresh_interval;
        let wanted =
            |held: Option<&Held<KeySet>>, generation: u64, attempts: &Attempts| match trigger {
                Trigger::Prefetch => true,
                Trigger::Stale => held.is_none_or(|held| held.stale_at <= Instant::now()),
                Trigger::UnknownKey { seen } => {
                    seen == generation
                        && attempts.last.is_none_or(|at| at.elapsed() >= min_interval)
                }
            };
        let fetch = |_| async {
            self.fetches.fetch_add(1, Ordering::Relaxed);
            let fetched = self.fetch().await;
            crate::metrics::jwks_fetch(&self.issuer, fetched.is_ok());
            fetched.map(|set| (set, self.ttl))
        };
        match self.keys.refresh(wanted, fetch).await {
            Refreshed::Skipped | Refreshed::RecentlyFailed => self.current(),
            Refreshed::Fetched(set) => {
                tracing::debug!(url = %self.shown, keys = set.len(), "JWKS loaded");
                Ok(set)
            }
            Refreshed::Failed(why) => {
                let cached = self.current();
                tracing::warn!(
                    url = %self.shown,
                    error = %why,
                    serving_cached_keys = cached.is_ok(),
                    "JWKS fetch failed"
                );
                cached
            }
        }
    }

    fn current(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        self.keys.value().ok_or(KeysUnavailable)
    }

    /// The key set URL, from the configuration or the discovery document; when the document
    /// cannot be used, the URL of the last good one.
    async fn jwks_url(&self) -> Result<reqwest::Url, FetchError> {
        let (document, issuer) = match &self.endpoint {
            Endpoint::Fixed(url) => return Ok(url.clone()),
            Endpoint::Discovered { document, issuer } => (document, issuer),
        };
        match self.discover(document, issuer).await {
            Ok(url) => {
                *self.discovered_url() = Some(url.clone());
                Ok(url)
            }
            Err(why) => {
                let last = self.discovered_url().clone();
                match last {
                    Some(last) => {
                        tracing::warn!(
                            url = %self.shown,
                            error = %why,
                            "discovery document unavailable; using the key set URL it named before"
                        );
                        Ok(last)
                    }
                    None => Err(why),
                }
            }
        }
    }

    async fn discover(
        &self,
        document: &reqwest::Url,
        issuer: &str,
    ) -> Result<reqwest::Url, FetchError> {
        #[derive(serde::Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: String,
        }
        let body = self.get(document).await?;
        let metadata: Metadata = serde_json::from_slice(&body)
            .map_err(|err| FetchError::Discovery(format!("not OpenID Provider metadata: {err}")))?;
        if metadata.issuer != issuer {
            let shown: String = metadata.issuer.chars().take(200).collect();
            return Err(FetchError::Discovery(format!(
                "its issuer {:?} is not the configured `{issuer}`",
                shown
            )));
        }
        check_fetch_url(&metadata.jwks_uri, "jwks_uri", "discovered JWKS")
            .map_err(|err| FetchError::Discovery(err.message().to_owned()))
    }

    /// GETs `url` as JSON, bounded by the size cap.
    async fn get(&self, url: &reqwest::Url) -> Result<Vec<u8>, FetchError> {
        Ok(read_capped(self.clients.for_url(url), url, self.max_bytes).await?)
    }

    /// The last good discovered key set URL. A poisoned lock (a panic while it was held)
    /// still holds a URL that was good.
    fn discovered_url(&self) -> std::sync::MutexGuard<'_, Option<reqwest::Url>> {
        self.discovered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let url = self.jwks_url().await?;
        let body = self.get(&url).await?;
        let set = KeySet::from_jwks_json(&body).map_err(FetchError::Document)?;
        if set.is_empty() {
            return Err(FetchError::NoUsableKey);
        }
        Ok(set)
    }
}

/// Why one key set fetch failed; logged, never shown to a caller.
#[derive(Debug)]
enum FetchError {
    Get(crate::fetch::FetchError),
    Document(JwksError),
    NoUsableKey,
    Discovery(String),
}

impl From<crate::fetch::FetchError> for FetchError {
    fn from(err: crate::fetch::FetchError) -> FetchError {
        FetchError::Get(err)
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Get(err) => err.fmt(f),
            FetchError::Document(err) => err.fmt(f),
            FetchError::NoUsableKey => f.write_str("the key set holds no usable signing key"),
            FetchError::Discovery(why) => write!(f, "discovery document refused: {why}"),
        }
    }
}
