//! A value fetched from elsewhere and kept current: the key sets and the revocation lists.
//!
//! Readers load the value held through an atomic pointer, without a lock and without waiting.
//! A refresh runs one at a time (single flight), and every caller that waited for it shares
//! its outcome, success or failure, without fetching again: no caller waits longer than one
//! fetch. A failed refresh is remembered for the retry interval, during which no caller
//! fetches, and leaves the value held in place. A refresh may run in the background (at most
//! one at a time).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwapOption, Guard};

/// A value of type `T`, refreshed from its source.
pub(crate) struct Refreshing<T> {
    held: ArcSwapOption<Held<T>>,
    /// Serialises refreshes, and holds when they happened.
    attempts: tokio::sync::Mutex<Attempts>,
    /// Bumped on every successful refresh: a caller that saw another number knows someone
    /// else refreshed since it looked.
    generation: AtomicU64,
    /// Bumped when a fetch ends, successful or not: a caller that waited for the turn and
    /// finds another number shares the outcome of the fetch that ran meanwhile. A fetch
    /// cancelled half way (its request went away) ends nothing, so its waiters decide again.
    fetches: AtomicU64,
    background: AtomicBool,
    /// After a failure, the value held is due again after this long, not before.
    retry: Duration,
}

/// The value held, and when.
pub(crate) struct Held<T> {
    pub(crate) value: Arc<T>,
    /// When the source last answered.
    pub(crate) fetched_at: Instant,
    /// When a reader should start a refresh (in the background).
    pub(crate) stale_at: Instant,
}

/// When the refreshes happened.
#[derive(Default)]
pub(crate) struct Attempts {
    /// When the last refresh started.
    pub(crate) last: Option<Instant>,
    /// When the last refresh failed, unless one succeeded since.
    pub(crate) failed: Option<Instant>,
}

/// What [`Refreshing::refresh`] did.
pub(crate) enum Refreshed<T, E> {
    /// Nothing: the caller's rule said no refresh is wanted now.
    Skipped,
    /// The source answered this.
    Fetched(Arc<T>),
    /// The source failed; the value held (if any) stays.
    Failed(E),
    /// Not fetched: the fetch this caller waited for, or one within the retry interval,
    /// failed. The value held (if any) stays.
    RecentlyFailed,
}

impl<T: Send + Sync + 'static> Refreshing<T> {
    /// Nothing held yet; after a failure, the value is due again after `retry`.
    pub(crate) fn new(retry: Duration) -> Refreshing<T> {
        Refreshing {
            held: ArcSwapOption::empty(),
            attempts: tokio::sync::Mutex::new(Attempts::default()),
            generation: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            background: AtomicBool::new(false),
            retry,
        }
    }

    /// The value held and when it was fetched, without waiting and without touching a
    /// reference count; `None` before the first successful fetch.
    pub(crate) fn held(&self) -> Guard<Option<Arc<Held<T>>>> {
        self.held.load()
    }

    /// The value held, without waiting.
    pub(crate) fn value(&self) -> Option<Arc<T>> {
        self.held
            .load()
            .as_ref()
            .map(|held| Arc::clone(&held.value))
    }

    /// How many refreshes succeeded so far.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Refreshes the value, one refresh at a time: once it has the turn, `wanted` decides
    /// from the value held, the generation and the past attempts whether to fetch; `fetch`
    /// gets the value held, and answers the new value and how long it is fresh.
    pub(crate) async fn refresh<E, F, Fut>(
        &self,
        wanted: impl FnOnce(Option<&Held<T>>, u64, &Attempts) -> bool,
        fetch: F,
    ) -> Refreshed<T, E>
    where
        F: FnOnce(Option<Arc<T>>) -> Fut,
        Fut: Future<Output = Result<(T, Duration), E>>,
    {
        let before = self.fetches.load(Ordering::Acquire);
        let mut attempts = self.attempts.lock().await;
        let failed_recently = attempts
            .failed
            .is_some_and(|failed| failed.elapsed() < self.retry);
        if self.fetches.load(Ordering::Acquire) != before {
            // A fetch ran while this caller waited for its turn: its outcome is this one's.
            return match attempts.failed {
                Some(_) => Refreshed::RecentlyFailed,
                None => Refreshed::Skipped,
            };
        }
        let held = self.held.load_full();
        if !wanted(held.as_deref(), self.generation(), &attempts) {
            return Refreshed::Skipped;
        }
        if failed_recently {
            return Refreshed::RecentlyFailed;
        }
        attempts.last = Some(Instant::now());
        let current = held.as_ref().map(|held| Arc::clone(&held.value));
        match fetch(current).await {
            Ok((value, fresh_for)) => {
                attempts.failed = None;
                let value = Arc::new(value);
                let now = Instant::now();
                self.held.store(Some(Arc::new(Held {
                    value: Arc::clone(&value),
                    fetched_at: now,
                    stale_at: now + fresh_for,
                })));
                self.generation.fetch_add(1, Ordering::AcqRel);
                self.fetches.fetch_add(1, Ordering::AcqRel);
                Refreshed::Fetched(value)
            }
            Err(err) => {
                let now = Instant::now();
                attempts.failed = Some(now);
                if let Some(held) = held {
                    // Due again after the retry interval, not on every read meanwhile.
                    self.held.store(Some(Arc::new(Held {
                        value: Arc::clone(&held.value),
                        fetched_at: held.fetched_at,
                        stale_at: now + self.retry,
                    })));
                }
                self.fetches.fetch_add(1, Ordering::AcqRel);
                Refreshed::Failed(err)
            }
        }
    }
}

/// Starts `refresh` on the current runtime, unless a background refresh of `refreshing` is
/// still running. Outside a runtime nothing can run in the background; a later reader inside
/// one tries again.
pub(crate) fn in_background<T, Fut>(refreshing: &Arc<Refreshing<T>>, refresh: Fut)
where
    T: Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if refreshing.background.swap(true, Ordering::AcqRel) {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            let refreshing = Arc::clone(refreshing);
            runtime.spawn(async move {
                refresh.await;
                refreshing.background.store(false, Ordering::Release);
            });
        }
        Err(_) => refreshing.background.store(false, Ordering::Release),
    }
}
