//! Throttling: wallet sign-ins per client address ([`ClientLimit`]), failed password logins per
//! client address and per account, and the password hashes checked at once ([`LoginGuard`]).
//! Counts decay with time; a client is an address, or its /64 for IPv6. The table of clients is
//! bounded, and a full one makes room by forgetting the lowest counts: no address goes
//! uncounted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::LoginLimits;
use crate::error::ServerError;
use crate::metrics;

/// Client addresses tracked at once.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// Client addresses a full table keeps when a new one comes: making room for an eighth at
/// once lets the next 1,250 new addresses in without another pass over the table.
const KEPT_WHEN_FULL: usize = MAX_TRACKED_CLIENTS - MAX_TRACKED_CLIENTS / 8;

/// Logins waiting for a hashing slot, per slot, before further ones get 503.
const QUEUE_PER_SLOT: usize = 4;

/// The limits of password logins: failures per client and per account, and hashing slots.
pub(crate) struct LoginGuard {
    limits: LoginLimits,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    scores: Mutex<Scores>,
}

#[derive(Default)]
struct Scores {
    clients: ClientScores,
    account: Score,
}

/// Decaying counts per client address (an IPv6 /64), at most [`MAX_TRACKED_CLIENTS`] of them.
/// A new address that finds the table full is counted all the same: the counts that decayed to
/// nothing make room, and if that is not enough, the lowest counts are forgotten down to
/// [`KEPT_WHEN_FULL`]. An address loses its count only when most of the tracked ones count at
/// least as much: new addresses that each try less than one did cannot free it.
#[derive(Default)]
struct ClientScores {
    clients: HashMap<IpAddr, Score>,
}

impl ClientScores {
    /// How long until one more action of `client` fits under `limit`, if it does not now.
    fn wait(
        &self,
        client: IpAddr,
        limit: u32,
        now: SystemTime,
        decay: Duration,
    ) -> Option<Duration> {
        self.clients
            .get(&client)
            .copied()
            .unwrap_or_default()
            .wait(limit, now, decay)
    }

    fn add(&mut self, client: IpAddr, delta: f64, now: SystemTime, decay: Duration) {
        if let Some(score) = self.clients.get_mut(&client) {
            score.add(delta, now, decay);
            return;
        }
        if delta <= 0.0 {
            return;
        }
        if self.clients.len() >= MAX_TRACKED_CLIENTS {
            self.make_room(now, decay);
        }
        self.clients
            .entry(client)
            .or_default()
            .add(delta, now, decay);
    }

    /// Forgets the counts that decayed to nothing, then the lowest ones until
    /// [`KEPT_WHEN_FULL`] remain. One pass over the table, O(n), which only every
    /// `MAX_TRACKED_CLIENTS / 8`-th new address makes: amortised O(1) per new address.
    fn make_room(&mut self, now: SystemTime, decay: Duration) {
        self.clients
            .retain(|_, score| score.decayed(now, decay) > 0.0);
        let excess = self.clients.len().saturating_sub(KEPT_WHEN_FULL);
        if excess == 0 {
            return;
        }
        // Every count decays at the same rate, so the lowest now stay the lowest.
        let mut counts: Vec<(f64, IpAddr)> = self
            .clients
            .iter()
            .map(|(client, score)| (score.decayed(now, decay), *client))
            .collect();
        counts.select_nth_unstable_by(excess - 1, |a, b| a.0.total_cmp(&b.0));
        for (_, client) in &counts[..excess] {
            self.clients.remove(client);
        }
    }
}

/// A count of recent failures that decays by one per `failure_decay`.
#[derive(Debug, Clone, Copy, Default)]
struct Score {
    value: f64,
    at: Option<SystemTime>,
}

impl Score {
    fn decayed(self, now: SystemTime, decay: Duration) -> f64 {
        let elapsed = self
            .at
            .and_then(|at| now.duration_since(at).ok())
            .unwrap_or(Duration::ZERO);
        (self.value - elapsed.as_secs_f64() / decay.as_secs_f64()).max(0.0)
    }

    fn add(&mut self, delta: f64, now: SystemTime, decay: Duration) {
        self.value = (self.decayed(now, decay) + delta).max(0.0);
        self.at = Some(now);
    }

    /// How long until one more attempt fits under `limit`, if it does not now.
    fn wait(self, limit: u32, now: SystemTime, decay: Duration) -> Option<Duration> {
        let excess = self.decayed(now, decay) + 1.0 - f64::from(limit);
        (excess > 0.0).then(|| {
            Duration::try_from_secs_f64(decay.as_secs_f64() * excess).unwrap_or(Duration::MAX)
        })
    }
}

/// The attempt counted against a client (and the account) until it is known to succeed.
#[derive(Debug)]
pub(crate) struct Attempt {
    client: IpAddr,
    account: bool,
}

/// What a [`ClientLimit`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limited {
    /// Wallet sign-ins.
    SignIn,
    /// `/refresh` and `/sign-out` calls.
    SessionCall,
}

/// A burst of `limit` actions per client address, one more per `decay`: wallet sign-ins, or
/// refreshes and sign-outs.
pub(crate) struct ClientLimit {
    limit: u32,
    decay: Duration,
    limited: Limited,
    clients: Mutex<ClientScores>,
}

impl ClientLimit {
    pub(crate) fn new((limit, decay): (u32, Duration), limited: Limited) -> ClientLimit {
        ClientLimit {
            limit,
            decay,
            limited,
            clients: Mutex::new(ClientScores::default()),
        }
    }

    /// Counts one action of `client`, or says how long to wait.
    pub(crate) fn take(&self, client: IpAddr, now: SystemTime) -> Result<(), ServerError> {
        let client = client_key(client);
        // Each critical section writes whole values; a panic cannot leave half of one.
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(wait) = clients.wait(client, self.limit, now, self.decay) {
            let retry_after = wait.as_secs_f64().ceil() as u64;
            return Err(match self.limited {
                Limited::SignIn => {
                    metrics::throttled("sign_in");
                    ServerError::SignInsThrottled { retry_after }
                }
                Limited::SessionCall => {
                    metrics::throttled("session_call");
                    ServerError::SessionCallsThrottled { retry_after }
                }
            });
        }
        clients.add(client, 1.0, now, self.decay);
        Ok(())
    }
}

/// The key of a client: its address, or its /64 for IPv6 (one host holds a whole /64).
fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

impl LoginGuard {
    pub(crate) fn new(limits: LoginLimits) -> LoginGuard {
        LoginGuard {
            limits,
            slots: Arc::new(Semaphore::new(limits.concurrent_hashes)),
            waiting: AtomicUsize::new(0),
            scores: Mutex::new(Scores::default()),
        }
    }

    fn scores(&self) -> MutexGuard<'_, Scores> {
        // Each critical section writes whole values; a panic cannot leave half of one.
        self.scores
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts one attempt from `client` (for the admin account when `account`), or says how
    /// long to wait when either is locked out. Counting before the check means concurrent
    /// guesses cannot slip past the limit.
    pub(crate) fn begin(
        &self,
        client: IpAddr,
        account: bool,
        now: SystemTime,
    ) -> Result<Attempt, ServerError> {
        let LoginLimits {
            failures_per_client,
            failures_per_account,
            failure_decay: decay,
            ..
        } = self.limits;
        let client = client_key(client);
        let mut scores = self.scores();
        let scores = &mut *scores;
        let client_wait = scores.clients.wait(client, failures_per_client, now, decay);
        let account_wait = account
            .then(|| scores.account.wait(failures_per_account, now, decay))
            .flatten();
        if client_wait.is_some() {
            metrics::throttled("client");
        }
        if account_wait.is_some() {
            metrics::throttled("account");
        }
        let wait = client_wait.max(account_wait);
        if let Some(wait) = wait {
            tracing::info!(
                retry_after_seconds = wait.as_secs_f64().ceil(),
                "login throttled after repeated failures"
            );
            return Err(ServerError::LoginsThrottled {
                retry_after: wait.as_secs_f64().ceil() as u64,
            });
        }
        scores.clients.add(client, 1.0, now, decay);
        if account {
            scores.account.add(1.0, now, decay);
        }
        Ok(Attempt { client, account })
    }

    /// The attempt did not fail (it succeeded, or no password was checked): it no longer
    /// counts as a failure.
    pub(crate) fn refund(&self, attempt: Attempt, now: SystemTime) {
        let decay = self.limits.failure_decay;
        let mut scores = self.scores();
        scores.clients.add(attempt.client, -1.0, now, decay);
        if attempt.account {
            scores.account.add(-1.0, now, decay);
        }
    }

    /// A slot to check a password hash in, once one is free; [`ServerError::LoginsBusy`] when
    /// the queue for one is full. The check runs off the request workers while the permit is
    /// held.
    pub(crate) async fn hashing_slot(&self) -> Result<OwnedSemaphorePermit, ServerError> {
        let slot = {
            // Counted out again when this scope ends, also when the request is cancelled
            // while it waits.
            let queued = Queued::join(&self.waiting);
            if queued.ahead >= self.limits.concurrent_hashes * QUEUE_PER_SLOT {
                None
            } else {
                Arc::clone(&self.slots).acquire_owned().await.ok()
            }
        };
        slot.ok_or_else(|| {
            metrics::throttled("busy");
            ServerError::LoginsBusy
        })
    }
}

/// A place in the queue for a hashing slot.
struct Queued<'a> {
    waiting: &'a AtomicUsize,
    ahead: usize,
}

impl<'a> Queued<'a> {
    fn join(waiting: &'a AtomicUsize) -> Queued<'a> {
        let ahead = waiting.fetch_add(1, Ordering::AcqRel);
        Queued { waiting, ahead }
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LoginLimits {
        LoginLimits {
            failures_per_client: 3,
            failures_per_account: 5,
            failure_decay: Duration::from_secs(10),
            concurrent_hashes: 1,
        }
    }

    fn at(secs: f64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_secs_f64(secs)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_client_is_locked_out_after_its_failures_and_the_lockout_decays() {
        let guard = LoginGuard::new(limits());
        for _ in 0..3 {
            guard.begin(ip("10.0.0.1"), false, at(0.0)).unwrap();
        }
        let err = guard.begin(ip("10.0.0.1"), false, at(0.0)).unwrap_err();
        assert_eq!(actix_web::ResponseError::status_code(&err).as_u16(), 429);
        assert_eq!(err.retry_after(), Some(10));
        // Another client is not affected; after one decay period one more attempt fits.
        guard.begin(ip("10.0.0.2"), false, at(0.0)).unwrap();
        guard.begin(ip("10.0.0.1"), false, at(10.0)).unwrap();
        assert!(guard.begin(ip("10.0.0.1"), false, at(10.0)).is_err());
    }

    #[test]
    fn the_account_limit_holds_across_clients_and_success_refunds() {
        let guard = LoginGuard::new(limits());
        for n in 0..5 {
            guard
                .begin(ip(&format!("10.0.1.{n}")), true, at(0.0))
                .unwrap();
        }
        assert!(guard.begin(ip("10.0.2.1"), true, at(0.0)).is_err());
        // Guesses at other e-mails do not lock the admin out.
        guard.begin(ip("10.0.2.1"), false, at(0.0)).unwrap();
        let guard = LoginGuard::new(limits());
        for _ in 0..10 {
            let attempt = guard.begin(ip("10.0.0.1"), true, at(0.0)).unwrap();
            guard.refund(attempt, at(0.0));
        }
    }

    #[test]
    fn a_huge_decay_period_saturates_instead_of_panicking() {
        let guard = LoginGuard::new(LoginLimits {
            failure_decay: Duration::from_secs(u64::MAX),
            ..limits()
        });
        for _ in 0..3 {
            guard.begin(ip("10.0.0.1"), false, at(0.0)).unwrap();
        }
        let err = guard.begin(ip("10.0.0.1"), false, at(0.0)).unwrap_err();
        assert!(err.retry_after().is_some_and(|secs| secs > 1_000_000));
    }

    #[test]
    fn a_full_table_of_clients_still_locks_a_fresh_client_out_and_keeps_the_busiest() {
        let guard = LoginGuard::new(limits());
        for _ in 0..3 {
            guard.begin(ip("192.0.2.1"), false, at(0.0)).unwrap();
        }
        // Twice as many addresses as the table holds, one failure each.
        for n in 0..2 * MAX_TRACKED_CLIENTS as u32 {
            let [_, a, b, c] = n.to_be_bytes();
            let client = IpAddr::from([10, a, b, c]);
            guard.begin(client, false, at(1.0)).unwrap();
        }
        for _ in 0..3 {
            guard.begin(ip("192.0.2.2"), false, at(2.0)).unwrap();
        }
        assert!(guard.begin(ip("192.0.2.2"), false, at(2.0)).is_err());
        assert!(guard.begin(ip("192.0.2.1"), false, at(2.0)).is_err());
        let limit = ClientLimit::new((3, Duration::from_secs(10)), Limited::SignIn);
        for n in 0..2 * MAX_TRACKED_CLIENTS as u32 {
            let [_, a, b, c] = n.to_be_bytes();
            limit.take(IpAddr::from([10, a, b, c]), at(0.0)).unwrap();
        }
        for _ in 0..3 {
            limit.take(ip("192.0.2.3"), at(1.0)).unwrap();
        }
        assert!(limit.take(ip("192.0.2.3"), at(1.0)).is_err());
        assert!(limit.clients.lock().unwrap().clients.len() <= MAX_TRACKED_CLIENTS);
    }

    #[test]
    fn a_full_table_forgets_decayed_counts_first_then_the_lowest_down_to_seven_eighths() {
        let decay = Duration::from_secs(10);
        let client = |n: u32| {
            let [_, a, b, c] = n.to_be_bytes();
            IpAddr::from([10, a, b, c])
        };
        let mut scores = ClientScores::default();
        for n in 0..MAX_TRACKED_CLIENTS as u32 {
            scores.add(client(n), 2.0, at(0.0), decay);
        }
        // Nothing decayed yet: the lowest counts go, down to seven eighths of the table.
        scores.add(client(0), 1.0, at(0.0), decay);
        scores.add(ip("192.0.2.1"), 1.0, at(0.0), decay);
        assert_eq!(scores.clients.len(), KEPT_WHEN_FULL + 1);
        assert!(scores.clients.contains_key(&client(0)), "the busiest stays");
        assert!(scores.clients.contains_key(&ip("192.0.2.1")));
        // Refill; once every count has decayed, a new address clears them all.
        let mut n = MAX_TRACKED_CLIENTS as u32;
        while scores.clients.len() < MAX_TRACKED_CLIENTS {
            scores.add(client(n), 1.0, at(0.0), decay);
            n += 1;
        }
        scores.add(ip("192.0.2.2"), 1.0, at(30.0), decay);
        assert_eq!(scores.clients.len(), 1);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
    }
}
