//! One issuer's revocation list, held in memory, refreshed, and checked on every request.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::entries::Entries;
use super::source::{RevocationFetchError, RevocationSource};
use crate::claims::ValidToken;
use crate::clock::now;
use crate::config::IssuerConfig;
use crate::error::AuthError;
use crate::issuer::Wait;
use crate::refreshing::{self, Attempts, Held, Refreshed, Refreshing};

/// The target of this list's events, as before the module was split.
const LOG_TARGET: &str = "auth_runtime::revocation";

/// Pages read in one refresh at most: a source that always says `more` cannot keep a
/// refresh going forever. What was read is kept, and the next refresh goes on from there.
const MAX_PAGES: usize = 64;

/// Least time between two failed refreshes.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// Revoked tokens: the issuer's list of revoked tokens, sessions and subjects, kept current
/// and checked on every request.
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
/// refresh, so made-up tokens cannot drive the fetch rate. One refresh, all its pages
/// together, has one deadline (`jwks_timeout_seconds`): a list that answers slowly, or in
/// more pages than one refresh reads (64), is not taken as read until its last page came;
/// what was read is kept and the next refresh goes on from there, while requests are answered
/// by the staleness rule above. Every request waiting for a refresh shares its outcome, so
/// none waits longer than that deadline.
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
/// - `revoked`: entries, each naming one token (`"jti"`), one session (`"sid"`: every token
///   whose `sid` claim is that value) or one subject (`"sub"` with `"issued_before"`: every
///   token of it whose `iat` is at or before that time, or that has no `iat`), with the `exp`
///   of the last token it revokes ([`RevokedToken`](crate::RevokedToken)). An entry is
///   dropped (by the issuer and by this list) once its tokens would have expired anyway. An
///   entry naming several of these, or none that a token could carry, makes the answer
///   unreadable: the refresh fails.
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
    inner: Arc<ListState>,
}

/// What every clone of a [`RevocationList`] shares: the source, the rules, the list held.
struct ListState {
    source: Arc<dyn RevocationSource>,
    poll: Duration,
    max_staleness: Duration,
    fail_open: bool,
    /// Entries are kept this long past their token's `exp`: the validator's leeway.
    leeway: u64,
    list: Arc<Refreshing<Revoked>>,
    fetches: AtomicU64,
    /// How long one refresh may take, all its pages together.
    deadline: Duration,
    /// The most entries, and estimated bytes, the list may hold.
    max_entries: usize,
    max_bytes: usize,
    /// The list as far as an unfinished refresh read it: the next one goes on from there.
    /// Only touched by the refresh under way (one at a time).
    unfinished: std::sync::Mutex<Option<Revoked>>,
}

/// The list as last read.
#[derive(Default, Clone)]
struct Revoked {
    /// Revoked tokens, sessions and subjects.
    entries: Entries,
    cursor: Option<String>,
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
            inner: Arc::new(ListState {
                source,
                poll: issuer.revocation_poll(),
                max_staleness: issuer.revocation_max_staleness(),
                fail_open: issuer.revocation_fail_open(),
                leeway: issuer.leeway_seconds(),
                list: Arc::new(Refreshing::new(RETRY_AFTER_FAILURE)),
                fetches: AtomicU64::new(0),
                deadline: issuer.jwks_timeout(),
                max_entries: issuer.revocation_max_entries(),
                max_bytes: issuer.revocation_max_bytes(),
                unfinished: std::sync::Mutex::new(None),
            }),
        }
    }

    /// Whether the token `jti` is on the list held now (no refresh).
    pub fn contains(&self, jti: &str) -> bool {
        self.inner
            .list
            .held()
            .as_ref()
            .is_some_and(|held| held.value.entries.lists_token(jti))
    }

    /// How many entries (tokens, sessions and subjects) the list holds.
    pub fn len(&self) -> usize {
        self.inner
            .list
            .held()
            .as_ref()
            .map_or(0, |held| held.value.entries.len())
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

    /// The verdict of a list held and young enough that no refresh is due, in either way;
    /// `None` when [`check`](Self::check) would refresh it, in the background or not.
    pub(crate) fn check_now(&self, token: &ValidToken) -> Option<Result<(), AuthError>> {
        let held = self.inner.list.held();
        let held = held.as_ref()?;
        (held.fetched_at.elapsed() < self.inner.poll).then(|| verdict(&held.value, token))
    }

    /// Refuses a revoked `jti`: 401 when it is on the list, 503 when the list is too old
    /// and cannot be refreshed (unless failing open). With [`Wait::Never`], a list too old
    /// to answer without a read is [`AuthError::RevocationUnavailable`] at once, and no read
    /// is started.
    pub(crate) async fn check(&self, token: &ValidToken, wait: Wait) -> Result<(), AuthError> {
        let inner = &self.inner;
        // Read before the list: a refresh that ends in between is then seen as one.
        let seen = inner.list.generation();
        if let Some(held) = inner.list.held().as_ref() {
            let age = held.fetched_at.elapsed();
            if age < inner.poll {
                return verdict(&held.value, token);
            }
            if age < inner.max_staleness {
                self.refresh_in_background(seen);
                return verdict(&held.value, token);
            }
        }
        if wait == Wait::Never {
            return Err(AuthError::RevocationUnavailable);
        }
        if let Err(err) = inner.refresh(Refresh::Unless(seen)).await {
            tracing::warn!(
                target: LOG_TARGET,
                error = %err,
                fail_open = inner.fail_open,
                "revocation list could not be refreshed"
            );
        }
        match inner.list.held().as_ref() {
            Some(held) if held.fetched_at.elapsed() < inner.max_staleness || inner.fail_open => {
                verdict(&held.value, token)
            }
            // Never read: failing open accepts against an empty list.
            None if inner.fail_open => Ok(()),
            _ => Err(AuthError::RevocationUnavailable),
        }
    }

    fn refresh_in_background(&self, seen: u64) {
        let inner = Arc::clone(&self.inner);
        refreshing::in_background(&self.inner.list, async move {
            if let Err(err) = inner.refresh(Refresh::Unless(seen)).await {
                tracing::warn!(target: LOG_TARGET, error = %err, "revocation list could not be refreshed");
            }
        });
    }
}

impl ListState {
    /// Entries of tokens that expired before this (seconds since the epoch) are dropped.
    fn horizon(&self) -> u64 {
        now().saturating_sub(self.leeway)
    }

    /// Refreshes the list, unless the caller's view is out of date (someone refreshed since
    /// it looked) or a refresh failed less than a second ago.
    async fn refresh(&self, when: Refresh) -> Result<(), RevocationFetchError> {
        // Set by the rule below, read after it ran; an atomic, since the future moves between
        // threads.
        let recently_failed = AtomicBool::new(false);
        let wanted = |held: Option<&Held<Revoked>>, generation: u64, attempts: &Attempts| {
            let Refresh::Unless(seen) = when else {
                return true;
            };
            if held.is_some() && generation != seen {
                return false;
            }
            let failed = attempts
                .failed
                .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE);
            recently_failed.store(failed, Ordering::Relaxed);
            !failed
        };
        let fetch = |current: Option<Arc<Revoked>>| self.read(current);
        match self.list.refresh(wanted, fetch).await {
            Refreshed::Fetched(_) => Ok(()),
            Refreshed::Skipped if recently_failed.load(Ordering::Relaxed) => Err(
                RevocationFetchError::new("the last refresh failed less than a second ago"),
            ),
            Refreshed::Skipped => Ok(()),
            Refreshed::RecentlyFailed => Err(RevocationFetchError::new(
                "the last refresh failed moments ago",
            )),
            Refreshed::Failed(err) => Err(err),
        }
    }

    /// Reads what was revoked since `current` (all of it without one), or since what an
    /// unfinished refresh read, page by page, and merges it into a copy; fresh for the poll
    /// interval. Fails when the source fails, when the pages do not all come within the
    /// deadline, or when they do not end within [`MAX_PAGES`]: what was read is then kept for
    /// the next refresh, and the list held stays as it was.
    async fn read(
        &self,
        current: Option<Arc<Revoked>>,
    ) -> Result<(Revoked, Duration), RevocationFetchError> {
        let deadline = tokio::time::Instant::now() + self.deadline;
        let unfinished = self
            .unfinished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let mut list = match (unfinished, current) {
            (Some(unfinished), _) => unfinished,
            (None, Some(current)) => Revoked::clone(&current),
            (None, None) => Revoked::default(),
        };
        let horizon = self.horizon();
        for _ in 0..MAX_PAGES {
            self.fetches.fetch_add(1, Ordering::Relaxed);
            let fetched =
                tokio::time::timeout_at(deadline, self.source.fetch(list.cursor.as_deref())).await;
            let page = match fetched {
                Ok(Ok(page)) => page,
                Ok(Err(err)) => return Err(self.unfinished(list, err)),
                Err(_) => {
                    let why = RevocationFetchError::new(format!(
                        "the list did not come within {} s (jwks_timeout_seconds)",
                        self.deadline.as_secs_f32()
                    ));
                    return Err(self.unfinished(list, why));
                }
            };
            for entry in &page.revoked {
                match entry.listed() {
                    Ok(Some(listed)) => list.entries.add(listed, entry.exp, horizon),
                    Ok(None) => {}
                    Err(()) => {
                        // An entry not understood may revoke anything: the list cannot be
                        // taken as read.
                        let why = RevocationFetchError::new(
                            "an entry of the list names several of `jti`, `sid` and `sub`, or \
                             `sub` without `issued_before`",
                        );
                        return Err(self.unfinished(list, why));
                    }
                }
            }
            list.cursor = Some(page.cursor);
            let over = |list: &Revoked| {
                list.entries.len() > self.max_entries || list.entries.bytes() > self.max_bytes
            };
            if over(&list) {
                // Expired entries still held never count against the bound.
                list.entries.prune(horizon);
            }
            if over(&list) {
                // Nothing of it is kept: the list held stays, and ages into the staleness rule.
                tracing::error!(
                    target: LOG_TARGET,
                    entries = list.entries.len(),
                    bytes = list.entries.bytes(),
                    max_entries = self.max_entries,
                    max_bytes = self.max_bytes,
                    "revocation list is over its bound; it is treated as unavailable"
                );
                return Err(RevocationFetchError::new(format!(
                    "the list is over its bound of {} entries and {} bytes \
                     (revocation_max_entries, revocation_max_bytes)",
                    self.max_entries, self.max_bytes
                )));
            }
            if !page.more {
                list.entries.settle(horizon);
                return Ok((list, self.poll));
            }
        }
        let why = RevocationFetchError::new(format!(
            "the list did not end within {MAX_PAGES} pages; the next refresh reads on"
        ));
        Err(self.unfinished(list, why))
    }

    /// Keeps `list`, as far as it was read, for the next refresh; answers `why`.
    fn unfinished(&self, list: Revoked, why: RevocationFetchError) -> RevocationFetchError {
        *self
            .unfinished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(list);
        why
    }
}

/// When [`ListState::refresh`] reads the source.
#[derive(Debug, Clone, Copy)]
enum Refresh {
    /// Always.
    Now,
    /// Unless the list was refreshed since the caller saw this many refreshes.
    Unless(u64),
}

fn verdict(list: &Revoked, token: &ValidToken) -> Result<(), AuthError> {
    if list.entries.revokes(token) {
        Err(AuthError::Revoked)
    } else {
        Ok(())
    }
}
