//! The key set fetched over HTTP from a JWKS URL, cached and refreshed.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use super::set::{JwksError, KeySet, KeySource, KeysUnavailable};
use crate::BoxFuture;
use crate::config::{ConfigError, IssuerConfig};
use crate::fetch::{Clients, check_fetch_url, read_capped, redacted};

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
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    /// The configured URL as it may be shown: without any user name or password in it.
    shown: String,
    clients: Clients,
    ttl: Duration,
    min_refresh_interval: Duration,
    max_bytes: usize,
    loaded: ArcSwapOption<Loaded>,
    /// Bumped on every successful fetch: a waiter that sees it move knows someone else
    /// already fetched for it.
    generation: AtomicU64,
    /// Serialises fetches; holds when the last attempt started, and the key set URL the
    /// last good discovery document named.
    fetch_lock: tokio::sync::Mutex<FetchState>,
    background_refresh: AtomicBool,
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

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    discovered: Option<reqwest::Url>,
}

struct Loaded {
    set: Arc<KeySet>,
    stale_at: Instant,
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
            inner: Arc::new(Inner {
                endpoint,
                shown,
                clients: Clients::new(issuer.jwks_timeout(), issuer.use_env_proxy())?,
                ttl: issuer.jwks_ttl(),
                min_refresh_interval: issuer.jwks_min_refresh_interval(),
                max_bytes: issuer.jwks_max_bytes(),
                loaded: ArcSwapOption::empty(),
                generation: AtomicU64::new(0),
                fetch_lock: tokio::sync::Mutex::new(FetchState::default()),
                background_refresh: AtomicBool::new(false),
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
        let loaded = self.inner.loaded.load();
        let loaded = loaded.as_ref()?;
        if loaded.stale_at <= Instant::now() {
            self.refresh_in_background();
        }
        Some(Arc::clone(&loaded.set))
    }

    fn refresh(&self) -> BoxFuture<'_, Result<Arc<KeySet>, KeysUnavailable>> {
        let seen = self.inner.generation.load(Ordering::Acquire);
        Box::pin(self.inner.refresh(Trigger::UnknownKey { seen }))
    }
}

impl JwksKeySource {
    fn refresh_in_background(&self) {
        if self.inner.background_refresh.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let _ = inner.refresh(Trigger::Stale).await;
                    inner.background_refresh.store(false, Ordering::Release);
                });
            }
            // Outside a runtime nothing can run in the background; the next request inside
            // one will try again.
            Err(_) => self
                .inner
                .background_refresh
                .store(false, Ordering::Release),
        }
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

impl Inner {
    /// Fetches the key set, once for all concurrent callers. A stale set is refetched when
    /// nobody refreshed it meanwhile; an unknown key forces a fetch only when nobody fetched
    /// since the caller looked and the last attempt is older than the refetch interval, so
    /// made-up `kid`s cannot drive the fetch rate.
    async fn refresh(&self, trigger: Trigger) -> Result<Arc<KeySet>, KeysUnavailable> {
        let mut state = self.fetch_lock.lock().await;
        let wanted = match trigger {
            Trigger::Prefetch => true,
            Trigger::Stale => self
                .loaded
                .load()
                .as_ref()
                .is_none_or(|loaded| loaded.stale_at <= Instant::now()),
            Trigger::UnknownKey { seen } => {
                seen == self.generation.load(Ordering::Acquire)
                    && state
                        .last_attempt
                        .is_none_or(|at| at.elapsed() >= self.min_refresh_interval)
            }
        };
        if !wanted {
            return self.current();
        }
        state.last_attempt = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = self.fetch(&mut state).await;
        crate::metrics::jwks_fetch(&self.issuer, fetched.is_ok());
        match fetched {
            Ok(set) => {
                let set = Arc::new(set);
                self.loaded.store(Some(Arc::new(Loaded {
                    set: Arc::clone(&set),
                    stale_at: Instant::now() + self.ttl,
                })));
                self.generation.fetch_add(1, Ordering::AcqRel);
                tracing::debug!(url = %self.shown, keys = set.len(), "JWKS loaded");
                Ok(set)
            }
            Err(why) => {
                let cached = self.current();
                if let Ok(set) = &cached {
                    // Try again after the refetch interval (at least a second), not on every
                    // request meanwhile.
                    let retry = self.min_refresh_interval.max(Duration::from_secs(1));
                    self.loaded.store(Some(Arc::new(Loaded {
                        set: Arc::clone(set),
                        stale_at: Instant::now() + retry,
                    })));
                }
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
        self.loaded
            .load()
            .as_ref()
            .map(|loaded| Arc::clone(&loaded.set))
            .ok_or(KeysUnavailable)
    }

    /// The key set URL, from the configuration or the discovery document; when the document
    /// cannot be used, the URL of the last good one.
    async fn jwks_url(&self, state: &mut FetchState) -> Result<reqwest::Url, FetchError> {
        let (document, issuer) = match &self.endpoint {
            Endpoint::Fixed(url) => return Ok(url.clone()),
            Endpoint::Discovered { document, issuer } => (document, issuer),
        };
        match self.discover(document, issuer).await {
            Ok(url) => {
                state.discovered = Some(url.clone());
                Ok(url)
            }
            Err(why) => match &state.discovered {
                Some(last) => {
                    tracing::warn!(
                        url = %self.shown,
                        error = %why,
                        "discovery document unavailable; using the key set URL it named before"
                    );
                    Ok(last.clone())
                }
                None => Err(why),
            },
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

    async fn fetch(&self, state: &mut FetchState) -> Result<KeySet, FetchError> {
        let url = self.jwks_url(state).await?;
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
