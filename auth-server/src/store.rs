//! Where challenges and refresh tokens live.
//!
//! [`MemoryStore`], the default, needs no set-up and keeps everything in this process, bounded
//! in size. A restart loses every pending challenge and every refresh token (clients sign in
//! again; access tokens stay valid because the signing key is persisted). Several instances
//! behind a load balancer must share one store: implement [`AuthStore`] over a shared
//! database or cache, and give every instance the same signing key file.

use std::collections::HashMap;
use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use serde_json::{Map, Value};

/// A boxed future, as returned by [`AuthStore`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A keyed hash (HMAC-SHA256) of a refresh token: the token itself is never stored.
pub type TokenHash = [u8; 32];

/// A pending wallet challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// 64 hex characters.
    pub value: String,
    /// When it stops being accepted.
    pub expires_at: SystemTime,
}

/// What a refresh token stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshRecord {
    /// Every token descending from one sign-in shares a family; reuse of a spent token
    /// revokes the whole family.
    pub family: String,
    /// The identity claims to put into the next access token.
    pub claims: Map<String, Value>,
    /// When it stops being accepted.
    pub expires_at: SystemTime,
}

/// The answer of [`AuthStore::use_refresh`].
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshUse {
    /// First use: the token is now spent.
    Fresh(RefreshRecord),
    /// The token was already spent: someone replays it.
    Reused {
        /// The family to revoke.
        family: String,
    },
    /// Not a token of ours (or revoked, or forgotten).
    Unknown,
}

/// The store is at its configured bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreFull;

/// Storage for challenges and refresh tokens.
pub trait AuthStore: Send + Sync + 'static {
    /// Stores the one live challenge of `address`, replacing any earlier one.
    fn put_challenge(
        &self,
        address: String,
        challenge: Challenge,
    ) -> BoxFuture<'_, Result<(), StoreFull>>;

    /// Removes and returns the challenge of `address`: a challenge is used at most once,
    /// whatever the outcome of the sign-in.
    fn take_challenge(&self, address: String) -> BoxFuture<'_, Option<Challenge>>;

    /// Stores a new refresh token.
    fn put_refresh(
        &self,
        hash: TokenHash,
        record: RefreshRecord,
    ) -> BoxFuture<'_, Result<(), StoreFull>>;

    /// Marks a refresh token spent and says what it was.
    fn use_refresh(&self, hash: TokenHash) -> BoxFuture<'_, RefreshUse>;

    /// Forgets every refresh token of `family`.
    fn revoke_family(&self, family: String) -> BoxFuture<'_, ()>;
}

/// The in-process store; see the [module docs](self) for what a restart loses.
#[derive(Debug)]
pub struct MemoryStore {
    max_challenges: usize,
    max_refresh_tokens: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    challenges: HashMap<String, Challenge>,
    refresh: HashMap<TokenHash, RefreshEntry>,
}

#[derive(Debug)]
struct RefreshEntry {
    record: RefreshRecord,
    spent: bool,
}

impl MemoryStore {
    /// A store holding at most `max_challenges` pending challenges and `max_refresh_tokens`
    /// refresh tokens (spent ones count until they expire, for reuse detection).
    pub fn new(max_challenges: usize, max_refresh_tokens: usize) -> MemoryStore {
        MemoryStore {
            max_challenges,
            max_refresh_tokens,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the maps consistent, so a panic elsewhere while the
        // lock was held cannot have left half an update behind.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl AuthStore for MemoryStore {
    fn put_challenge(
        &self,
        address: String,
        challenge: Challenge,
    ) -> BoxFuture<'_, Result<(), StoreFull>> {
        let mut state = self.lock();
        if !state.challenges.contains_key(&address) && state.challenges.len() >= self.max_challenges
        {
            let now = SystemTime::now();
            state.challenges.retain(|_, c| c.expires_at > now);
            if state.challenges.len() >= self.max_challenges {
                return Box::pin(ready(Err(StoreFull)));
            }
        }
        state.challenges.insert(address, challenge);
        Box::pin(ready(Ok(())))
    }

    fn take_challenge(&self, address: String) -> BoxFuture<'_, Option<Challenge>> {
        Box::pin(ready(self.lock().challenges.remove(&address)))
    }

    fn put_refresh(
        &self,
        hash: TokenHash,
        record: RefreshRecord,
    ) -> BoxFuture<'_, Result<(), StoreFull>> {
        let mut state = self.lock();
        if state.refresh.len() >= self.max_refresh_tokens {
            let now = SystemTime::now();
            state.refresh.retain(|_, e| e.record.expires_at > now);
            if state.refresh.len() >= self.max_refresh_tokens {
                return Box::pin(ready(Err(StoreFull)));
            }
        }
        state.refresh.insert(
            hash,
            RefreshEntry {
                record,
                spent: false,
            },
        );
        Box::pin(ready(Ok(())))
    }

    fn use_refresh(&self, hash: TokenHash) -> BoxFuture<'_, RefreshUse> {
        let mut state = self.lock();
        let answer = match state.refresh.get_mut(&hash) {
            None => RefreshUse::Unknown,
            Some(entry) if entry.record.expires_at <= SystemTime::now() => RefreshUse::Unknown,
            Some(entry) if entry.spent => RefreshUse::Reused {
                family: entry.record.family.clone(),
            },
            Some(entry) => {
                entry.spent = true;
                RefreshUse::Fresh(entry.record.clone())
            }
        };
        Box::pin(ready(answer))
    }

    fn revoke_family(&self, family: String) -> BoxFuture<'_, ()> {
        self.lock()
            .refresh
            .retain(|_, entry| entry.record.family != family);
        Box::pin(ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run<T>(future: BoxFuture<'_, T>) -> T {
        let mut future = future;
        let waker = std::task::Waker::noop();
        match future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
        {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => unreachable!("the memory store never waits"),
        }
    }

    fn challenge(secs: i64) -> Challenge {
        let now = SystemTime::now();
        let expires_at = if secs >= 0 {
            now + Duration::from_secs(secs as u64)
        } else {
            now - Duration::from_secs(secs.unsigned_abs())
        };
        Challenge {
            value: "c".repeat(64),
            expires_at,
        }
    }

    #[test]
    fn one_live_challenge_per_address_and_single_use() {
        let store = MemoryStore::new(10, 10);
        run(store.put_challenge("a".into(), challenge(60))).unwrap();
        let mut newer = challenge(60);
        newer.value = "d".repeat(64);
        run(store.put_challenge("a".into(), newer.clone())).unwrap();
        assert_eq!(run(store.take_challenge("a".into())), Some(newer));
        assert_eq!(run(store.take_challenge("a".into())), None);
    }

    #[test]
    fn full_store_refuses_until_expired_entries_make_room() {
        let store = MemoryStore::new(2, 10);
        run(store.put_challenge("a".into(), challenge(-1))).unwrap();
        run(store.put_challenge("b".into(), challenge(60))).unwrap();
        run(store.put_challenge("c".into(), challenge(60))).unwrap();
        assert_eq!(
            run(store.put_challenge("d".into(), challenge(60))),
            Err(StoreFull)
        );
        // Replacing the challenge of a known address is always possible.
        run(store.put_challenge("b".into(), challenge(60))).unwrap();
    }

    #[test]
    fn refresh_tokens_are_single_use_and_reuse_names_the_family() {
        let store = MemoryStore::new(1, 10);
        let record = RefreshRecord {
            family: "f1".into(),
            claims: Map::new(),
            expires_at: SystemTime::now() + Duration::from_secs(60),
        };
        run(store.put_refresh([1; 32], record.clone())).unwrap();
        assert_eq!(run(store.use_refresh([1; 32])), RefreshUse::Fresh(record));
        assert_eq!(
            run(store.use_refresh([1; 32])),
            RefreshUse::Reused {
                family: "f1".into()
            }
        );
        run(store.revoke_family("f1".into()));
        assert_eq!(run(store.use_refresh([1; 32])), RefreshUse::Unknown);
    }
}
