//! Revoked tokens: the issuer's list of revoked `jti`s, kept current and checked.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::BoxFuture;
use crate::config::{ConfigError, IssuerConfig};
use crate::error::AuthError;
use crate::fetch::{Clients, check_fetch_url, read_capped, redacted};
use crate::validate::now;

/// Where the list of revoked tokens is served under the issuer URL (by `TestIssuer`).
#[cfg(feature = "testing")]
pub(crate) const REVOCATION_PATH: &str = "/api/v1/auth/revoked-jtis";

/// Largest answer read from a revocation endpoint, in bytes (a page of 10,000 entries is
/// well under a megabyte).
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Pages read in one refresh at most: a source that always says `more` cannot keep a
/// refresh going forever.
const MAX_PAGES: usize = 64;

/// Least time between two failed refreshes.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// One revoked token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp` (seconds since the epoch): after it the entry is dropped.
    pub exp: u64,
}

/// One answer of a revocation source (see [`RevocationList`] for the format).
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

/// Revoked tokens: the issuer's list of revoked `jti`s, kept current and checked on every
/// request.
///
/// With `revocation_endpoint` set for an issuer, the middleware holds that issuer's list of
/// revoked token ids. A token whose `jti` is on it is refused with 401 `Token has been
/// revoked`, also when it sits in the verified-token cache. Checking costs one lock-free load
/// and one hash lookup; the network is never waited on while the list is fresh.
///
/// The list is refreshed while requests come in: when it is older than
/// `revocation_poll_seconds` (default 15), the next request starts a refresh in the
/// background and goes on with the list in hand. When it is older than
/// `revocation_max_staleness_seconds` (default 60), or was never loaded, the request waits for
/// one refresh; if that fails, requests are refused with 503 (fail closed) unless
/// `revocation_fail_open: true`, which accepts them against the last list held. A failed
/// refresh is retried at most once a second. Only tokens whose signature verified cause a
/// refresh, so made-up tokens cannot drive the fetch rate.
///
/// # The wire format
///
/// `GET {revocation_endpoint}` answers the whole list, `GET {revocation_endpoint}?since=CURSOR`
/// what was revoked after an earlier answer:
///
/// ```json
/// {
///   "revoked": [{"jti": "5f0c...", "exp": 1764003600}],
///   "cursor": "9c1e2f3a4b5c6d7e.42",
///   "full": true,
///   "more": false
/// }
/// ```
///
/// - `revoked`: each revoked token's `jti` and the `exp` of that token. An entry is dropped
///   (by the issuer and by this list) once its token would have expired anyway.
/// - `cursor`: opaque; the next request passes it as `since`.
/// - `full`: the answer starts from the beginning (no `since`, or a `since` the issuer no
///   longer knows, such as one from before a restart).
/// - `more`: more entries follow at once; the next page is fetched immediately.
///
/// Entries are only ever added: an answer, full or not, is merged into the list held.
///
/// Another [`RevocationSource`] (an issuer in the same process, say) is given with
/// [`JwtAuthBuilder::issuer_revocation_source`](crate::JwtAuthBuilder::issuer_revocation_source);
/// [`RevocationList::prefetch`] rereads the list at once, when the source is known to hold
/// something new.
///
/// One issuer's revocation list as held in memory, shared by every worker. Cheap to clone.
#[derive(Clone)]
pub struct RevocationList {
    inner: Arc<Inner>,
}

struct Inner {
    source: Arc<dyn RevocationSource>,
    poll: Duration,
    max_staleness: Duration,
    fail_open: bool,
    /// Entries are kept this long past their token's `exp`: the validator's leeway.
    leeway: u64,
    held: ArcSwap<Held>,
    /// Serialises refreshes; holds when the last one failed.
    refresh_lock: tokio::sync::Mutex<Option<Instant>>,
    background_refresh: AtomicBool,
    fetches: AtomicU64,
}

#[derive(Default)]
struct Held {
    /// Revoked `jti` to the `exp` of its token.
    jtis: HashMap<Box<str>, u64>,
    cursor: Option<String>,
    /// When the source last answered.
    fetched_at: Option<Instant>,
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationList")
            .field("revoked", &self.len())
            .field("poll", &self.inner.poll)
            .field("max_staleness", &self.inner.max_staleness)
            .field("fail_open", &self.inner.fail_open)
            .finish_non_exhaustive()
    }
}

impl RevocationList {
    /// A list read from `source`, with `issuer`'s `revocation_poll_seconds`,
    /// `revocation_max_staleness_seconds`, `revocation_fail_open` and leeway. Nothing is read
    /// until the first token arrives (or [`prefetch`](Self::prefetch)).
    pub fn new(source: Arc<dyn RevocationSource>, issuer: &IssuerConfig) -> RevocationList {
        RevocationList {
            inner: Arc::new(Inner {
                source,
                poll: issuer.revocation_poll(),
                max_staleness: issuer.revocation_max_staleness(),
                fail_open: issuer.revocation_fail_open(),
                leeway: issuer.leeway_seconds(),
                held: ArcSwap::from_pointee(Held::default()),
                refresh_lock: tokio::sync::Mutex::new(None),
                background_refresh: AtomicBool::new(false),
                fetches: AtomicU64::new(0),
            }),
        }
    }

    /// Whether `jti` is on the list held now (no refresh).
    pub fn contains(&self, jti: &str) -> bool {
        self.inner.held.load().jtis.contains_key(jti)
    }

    /// How many tokens the list holds.
    pub fn len(&self) -> usize {
        self.inner.held.load().jtis.len()
    }

    /// Whether the list holds no token.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many times the source was asked (each page counts).
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Reads the list now, whatever its age: before the first request, or when the source
    /// is known to hold something new.
    pub async fn prefetch(&self) -> Result<(), RevocationFetchError> {
        self.inner.refresh(Refresh::Now).await
    }

    /// Refuses a revoked `jti`: 401 when it is on the list, 503 when the list is too old
    /// and cannot be refreshed (unless failing open).
    pub(crate) async fn check(&self, jti: &str) -> Result<(), AuthError> {
        let inner = &self.inner;
        let looked = {
            let held = inner.held.load();
            match held.fetched_at.map(|at| at.elapsed()) {
                Some(age) if age < inner.poll => return verdict(&held, jti),
                Some(age) if age < inner.max_staleness => {
                    self.refresh_in_background();
                    return verdict(&held, jti);
                }
                _ => held.fetched_at,
            }
        };
        if let Err(err) = inner.refresh(Refresh::Unless(looked)).await {
            tracing::warn!(
                error = %err,
                fail_open = inner.fail_open,
                "revocation list could not be refreshed"
            );
        }
        let held = inner.held.load();
        let usable = held
            .fetched_at
            .is_some_and(|at| at.elapsed() < inner.max_staleness);
        if usable || inner.fail_open {
            verdict(&held, jti)
        } else {
            Err(AuthError::RevocationUnavailable)
        }
    }

    fn refresh_in_background(&self) {
        let inner = &self.inner;
        if inner.background_refresh.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Outside a runtime nothing runs in the background; a later request tries again.
            inner.background_refresh.store(false, Ordering::Release);
            return;
        };
        let looked = inner.held.load().fetched_at;
        let inner = Arc::clone(inner);
        runtime.spawn(async move {
            if let Err(err) = inner.refresh(Refresh::Unless(looked)).await {
                tracing::warn!(error = %err, "revocation list could not be refreshed");
            }
            inner.background_refresh.store(false, Ordering::Release);
        });
    }
}

impl Inner {
    /// Entries of tokens that expired before this (seconds since the epoch) are dropped.
    fn horizon(&self) -> u64 {
        now().saturating_sub(self.leeway)
    }

    /// Refreshes the list, unless the caller's view is out of date (someone refreshed since
    /// it looked) or a refresh failed less than a second ago.
    async fn refresh(&self, when: Refresh) -> Result<(), RevocationFetchError> {
        let mut failed_at = self.refresh_lock.lock().await;
        let current = self.held.load_full();
        if let Refresh::Unless(looked) = when
            && current.fetched_at.is_some()
            && current.fetched_at != looked
        {
            return Ok(());
        }
        if matches!(when, Refresh::Unless(_))
            && failed_at.is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE)
        {
            return Err(RevocationFetchError::new(
                "the last refresh failed less than a second ago",
            ));
        }
        let mut cursor = current.cursor.clone();
        let mut pages = Vec::new();
        for _ in 0..MAX_PAGES {
            self.fetches.fetch_add(1, Ordering::Relaxed);
            let page = match self.source.fetch(cursor.as_deref()).await {
                Ok(page) => page,
                Err(err) => {
                    *failed_at = Some(Instant::now());
                    return Err(err);
                }
            };
            cursor = Some(page.cursor.clone());
            let more = page.more;
            pages.push(page);
            if !more {
                break;
            }
        }
        *failed_at = None;
        let horizon = self.horizon();
        let fetched_at = Some(Instant::now());
        self.held.rcu(|held| {
            let mut jtis = held.jtis.clone();
            jtis.retain(|_, exp| *exp >= horizon);
            for page in &pages {
                add(&mut jtis, &page.revoked, horizon);
            }
            Held {
                jtis,
                cursor: cursor.clone(),
                fetched_at,
            }
        });
        Ok(())
    }
}

/// When [`Inner::refresh`] reads the source.
#[derive(Debug, Clone, Copy)]
enum Refresh {
    /// Always.
    Now,
    /// Unless the list was refreshed since the caller saw it refreshed at this time.
    Unless(Option<Instant>),
}

fn verdict(held: &Held, jti: &str) -> Result<(), AuthError> {
    if held.jtis.contains_key(jti) {
        Err(AuthError::Revoked)
    } else {
        Ok(())
    }
}

fn add(jtis: &mut HashMap<Box<str>, u64>, revoked: &[RevokedToken], horizon: u64) {
    for token in revoked {
        if token.exp >= horizon && !token.jti.is_empty() {
            jtis.insert(Box::from(token.jti.as_str()), token.exp);
        }
    }
}
