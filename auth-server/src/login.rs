//! Admin password login: throttled per client address and per account, with the argon2id
//! check run on the blocking pool, a bounded number at a time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;

use crate::config::{AdminAccount, LoginLimits};
use crate::error::ServerError;

/// Client addresses tracked at once; beyond it, new addresses meet only the account limit.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// Logins waiting for a hashing slot, per slot, before further ones get 503.
const QUEUE_PER_SLOT: usize = 4;

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

/// Decaying counts per client address (an IPv6 /64), at most [`MAX_TRACKED_CLIENTS`] of them:
/// when full, counts that decayed to nothing make room, and a new address beyond that is not
/// counted (the account limit still holds for logins).
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
            self.clients
                .retain(|_, score| score.decayed(now, decay) > 0.0);
        }
        if self.clients.len() < MAX_TRACKED_CLIENTS {
            self.clients
                .entry(client)
                .or_default()
                .add(delta, now, decay);
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

/// A burst of `limit` actions per client address, one more per `decay`: wallet sign-ins.
pub(crate) struct ClientLimit {
    limit: u32,
    decay: Duration,
    clients: Mutex<ClientScores>,
}

impl ClientLimit {
    pub(crate) fn new((limit, decay): (u32, Duration)) -> ClientLimit {
        ClientLimit {
            limit,
            decay,
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
            crate::metrics::throttled("sign_in");
            return Err(ServerError::SignInsThrottled {
                retry_after: wait.as_secs_f64().ceil() as u64,
            });
        }
        clients.add(client, 1.0, now, self.decay);
        Ok(())
    }
}

/// The client's address: the peer, or, when the peer is a trusted reverse proxy, the
/// right-most address in `X-Forwarded-For` that is not one of the trusted proxies.
pub(crate) fn client_address(req: &actix_web::HttpRequest, trusted: &[IpAddr]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |peer| peer.ip());
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in forwarded.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(address) if trusted.contains(&address) => continue,
            Ok(address) => return address,
            // A hop that is not an address: nothing further left can be trusted.
            Err(_) => return peer,
        }
    }
    peer
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
            crate::metrics::throttled("client");
        }
        if account_wait.is_some() {
            crate::metrics::throttled("account");
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

    /// Whether `email` and `password` are the admin's. The argon2id check runs on the
    /// blocking pool once a hashing slot is free, so request workers keep serving.
    pub(crate) async fn verify(
        &self,
        admin: &AdminAccount,
        email: &str,
        password: String,
    ) -> Result<bool, ServerError> {
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
        let Some(slot) = slot else {
            crate::metrics::throttled("busy");
            return Err(ServerError::LoginsBusy);
        };
        // Both checks always run, so the answer time does not tell which one failed.
        let email_ok = bool::from(
            email
                .trim()
                .to_ascii_lowercase()
                .as_bytes()
                .ct_eq(admin.email().to_ascii_lowercase().as_bytes()),
        );
        let account = admin.clone();
        // The slot travels with the hash: a cancelled request frees it only when the hash
        // it started is done.
        let password_ok = actix_web::web::block(move || {
            let _slot = slot;
            account.verifies(&password)
        })
        .await
        .map_err(|_| ServerError::Internal)?;
        Ok(email_ok && password_ok)
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
