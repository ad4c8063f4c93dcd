//! The key set fetched over HTTP from a JWKS URL: cached, refreshed in the background after
//! its TTL, refetched once (for every waiting request together) when a token names an
//! unknown `kid`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use super::set::{BoxFuture, JwksError, KeySet, KeySource, KeysUnavailable};
use crate::config::{AuthConfig, ConfigError, redacted};

/// A key set fetched from a JWKS URL and cached (see the module documentation for when it
/// refetches).
#[derive(Clone)]
pub struct JwksKeySource {
    inner: Arc<Inner>,
}

struct Inner {
    url: reqwest::Url,
    /// The URL as it may be shown: without any user name or password in it.
    shown: String,
    client: reqwest::Client,
    ttl: Duration,
    min_refresh_interval: Duration,
    max_bytes: usize,
    loaded: ArcSwapOption<Loaded>,
    /// Bumped on every successful fetch: a waiter that sees it move knows someone else
    /// already fetched for it.
    generation: AtomicU64,
    /// Serialises fetches; holds when the last attempt started.
    fetch_lock: tokio::sync::Mutex<Option<Instant>>,
    background_refresh: AtomicBool,
    fetches: AtomicU64,
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
    /// A source for the configured `jwks_endpoint`, TTL, refetch interval, timeout and size
    /// cap. Fails when the endpoint is plain http to a host that is not loopback: a key set
    /// fetched in clear text can be swapped on the way, and with it every identity. Nothing
    /// is fetched until the first token arrives (or [`prefetch`] is called).
    ///
    /// [`prefetch`]: JwksKeySource::prefetch
    pub fn new(config: &AuthConfig) -> Result<JwksKeySource, ConfigError> {
        let url = crate::config::check_jwks_url(&config.jwks_endpoint)?;
        let client = key_fetch_client(&url, config)?;
        Ok(JwksKeySource {
            inner: Arc::new(Inner {
                shown: redacted(&url),
                url,
                client,
                ttl: config.jwks_ttl,
                min_refresh_interval: config.jwks_min_refresh_interval,
                max_bytes: config.jwks_max_bytes,
                loaded: ArcSwapOption::empty(),
                generation: AtomicU64::new(0),
                fetch_lock: tokio::sync::Mutex::new(None),
                background_refresh: AtomicBool::new(false),
                fetches: AtomicU64::new(0),
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

/// The HTTP client that fetches keys (and, later, documents pointing at them) from `url`,
/// which must be the parsed URL that is then fetched (never text parsed again elsewhere).
///
/// Only an https URL may go through a proxy: the environment's (`HTTPS_PROXY`, `ALL_PROXY`,
/// `NO_PROXY`), unless `use_env_proxy` is off; TLS keeps such a proxy from changing what is
/// fetched. Anything else is fetched directly, never through a proxy: a proxy named in the
/// environment would otherwise see and answer a plain-http request, and could hand over keys
/// of its own.
pub(crate) fn key_fetch_client(
    url: &reqwest::Url,
    config: &AuthConfig,
) -> Result<reqwest::Client, ConfigError> {
    let plain_http = url.scheme() != "https";
    let mut builder = reqwest::Client::builder()
        .timeout(config.jwks_timeout)
        .connect_timeout(config.jwks_timeout)
        // The source is shared by every actix worker, each with its own runtime; a pooled
        // connection belongs to the runtime that opened it, so none is kept. Fetches are
        // rare enough that this costs nothing.
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("auth-runtime/", env!("CARGO_PKG_VERSION")));
    if plain_http || !config.use_env_proxy {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|err| {
        ConfigError::new(format!("cannot build the HTTP client for the JWKS: {err}"))
    })
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
        let mut last_attempt = self.fetch_lock.lock().await;
        let wanted = match trigger {
            Trigger::Prefetch => true,
            Trigger::Stale => self
                .loaded
                .load()
                .as_ref()
                .is_none_or(|loaded| loaded.stale_at <= Instant::now()),
            Trigger::UnknownKey { seen } => {
                seen == self.generation.load(Ordering::Acquire)
                    && last_attempt.is_none_or(|at| at.elapsed() >= self.min_refresh_interval)
            }
        };
        if !wanted {
            return self.current();
        }
        *last_attempt = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match self.fetch().await {
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

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(FetchError::Request)?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let too_large = FetchError::TooLarge(self.max_bytes);
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes as u64)
        {
            return Err(too_large);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(FetchError::Read)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        let set = KeySet::from_jwks_json(&body).map_err(FetchError::Document)?;
        if set.is_empty() {
            return Err(FetchError::NoUsableKey);
        }
        Ok(set)
    }
}

/// Why one fetch of the key set failed; logged, never shown to a caller.
#[derive(Debug)]
enum FetchError {
    Request(reqwest::Error),
    Status(reqwest::StatusCode),
    TooLarge(usize),
    Read(reqwest::Error),
    Document(JwksError),
    NoUsableKey,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Request(err) => write!(f, "request failed: {err}"),
            FetchError::Status(status) => write!(f, "answered {status}"),
            FetchError::TooLarge(max) => write!(f, "response larger than {max} bytes"),
            FetchError::Read(err) => write!(f, "reading the response failed: {err}"),
            FetchError::Document(err) => err.fmt(f),
            FetchError::NoUsableKey => f.write_str("the key set holds no usable signing key"),
        }
    }
}
