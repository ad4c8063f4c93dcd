//! The in-process store.

use std::collections::{BTreeMap, HashMap};
use std::future::ready;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use serde_json::{Map, Value};

use super::{
    AuthStore, BoxFuture, ChallengeId, IssuedAccess, LISTED_PAST_EXPIRY, NewSession, Revoke,
    Revoked, RevokedEntry, Rotate, Rotation, SessionId, SignInOutcome, StoreError, TokenHash,
};

/// The in-process store: bounded, lost on restart, one instance only. Its secret is drawn at
/// random when it is created.
pub struct MemoryStore {
    max_sessions: usize,
    max_spent_challenges: usize,
    secret: [u8; 32],
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_sessions", &self.max_sessions)
            .field("max_spent_challenges", &self.max_spent_challenges)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    sessions: HashMap<SessionId, Session>,
    /// Challenges spent by a verified signature: kept until they expire, whatever it takes.
    spent: HashMap<ChallengeId, SystemTime>,
    /// Challenges burnt by a failed signature: kept while there is room.
    burnt: HashMap<ChallengeId, SystemTime>,
    /// When full, ended sessions are looked for at most once a second, so that refused
    /// sign-ins do not each walk every session under the lock.
    last_purge: Option<SystemTime>,
    /// The revocation list by `seq`, and the `jti`s on it.
    revoked: BTreeMap<u64, (String, SystemTime)>,
    revoked_jtis: HashMap<String, u64>,
    last_seq: u64,
}

impl State {
    /// Puts `tokens` on the revocation list (those not on it yet); how many were added.
    fn list(&mut self, tokens: Vec<IssuedAccess>) -> u64 {
        let mut added = 0;
        for token in tokens {
            if self.revoked_jtis.contains_key(&token.jti) {
                continue;
            }
            self.last_seq += 1;
            self.revoked_jtis.insert(token.jti.clone(), self.last_seq);
            self.revoked
                .insert(self.last_seq, (token.jti, token.expires_at));
            added += 1;
        }
        added
    }

    /// Forgets list entries of tokens expired longer than the listing margin ago.
    fn prune_list(&mut self, now: SystemTime) {
        let horizon = now
            .checked_sub(LISTED_PAST_EXPIRY)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let gone: Vec<u64> = self
            .revoked
            .iter()
            .filter(|(_, (_, expires_at))| *expires_at < horizon)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in gone {
            if let Some((jti, _)) = self.revoked.remove(&seq) {
                self.revoked_jtis.remove(&jti);
            }
        }
    }
}

struct Session {
    claims: Map<String, Value>,
    token_hash: TokenHash,
    token_expires_at: SystemTime,
    ends_at: SystemTime,
    generation: u64,
    revoked: bool,
    /// The access tokens issued in this session that have not expired yet.
    access: Vec<IssuedAccess>,
}

impl Session {
    /// The session's subject (`sub`).
    fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// Revokes the session; hands over its live access tokens.
    fn revoke(&mut self, now: SystemTime) -> Vec<IssuedAccess> {
        self.revoked = true;
        let mut access = std::mem::take(&mut self.access);
        access.retain(|token| token.expires_at > now);
        access
    }

    /// Whether the session still holds a place: not revoked, not ended, its token not expired.
    fn live(&self, now: SystemTime) -> bool {
        !self.revoked && self.ends_at > now && self.token_expires_at > now
    }
}

impl MemoryStore {
    /// A store holding at most `max_sessions` live sessions and `max_spent_challenges` spent
    /// challenges (each for at most its time to live).
    ///
    /// # Panics
    /// When the system's random generator fails, which happens only on a broken system.
    pub fn new(max_sessions: usize, max_spent_challenges: usize) -> MemoryStore {
        let mut secret = [0u8; 32];
        // aws-lc's generator reads the kernel's getrandom, which waits for seeding and does not
        // fail on Linux or the BSDs; a failure means a broken system, where no secret is safe.
        SystemRandom::new()
            .fill(&mut secret)
            .expect("the system random generator works");
        MemoryStore {
            max_sessions,
            max_spent_challenges,
            secret,
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

/// Makes room in `map` (at most `max` entries) by dropping expired entries; whether there is
/// room then.
fn room(map: &mut HashMap<ChallengeId, SystemTime>, max: usize, now: SystemTime) -> bool {
    if map.len() >= max {
        map.retain(|_, expires_at| *expires_at > now);
    }
    map.len() < max
}

impl AuthStore for MemoryStore {
    fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    fn spend_challenge(
        &self,
        id: ChallengeId,
        expires_at: SystemTime,
        outcome: SignInOutcome,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        let mut state = self.lock();
        let state = &mut *state;
        let seen = |map: &HashMap<ChallengeId, SystemTime>| {
            map.get(&id).is_some_and(|expiry| *expiry > now)
        };
        let answer = if seen(&state.spent) || seen(&state.burnt) {
            Ok(false)
        } else {
            match outcome {
                SignInOutcome::Verified => {
                    if room(&mut state.spent, self.max_spent_challenges, now) {
                        state.spent.insert(id, expires_at);
                        Ok(true)
                    } else {
                        Err(StoreError::Full {
                            what: "spent challenges",
                        })
                    }
                }
                SignInOutcome::Failed => {
                    if room(&mut state.burnt, self.max_spent_challenges, now) {
                        state.burnt.insert(id, expires_at);
                    }
                    Ok(true)
                }
            }
        };
        Box::pin(ready(answer))
    }

    fn start_session(
        &self,
        session: NewSession,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let mut state = self.lock();
        let purged_lately = state
            .last_purge
            .and_then(|at| now.duration_since(at).ok())
            .is_some_and(|since| since < std::time::Duration::from_secs(1));
        if session.bounded && state.sessions.len() >= self.max_sessions && !purged_lately {
            state.sessions.retain(|_, s| s.live(now));
            state.last_purge = Some(now);
        }
        let answer = if session.bounded && state.sessions.len() >= self.max_sessions {
            Err(StoreError::Full { what: "sessions" })
        } else {
            state.sessions.insert(
                session.id,
                Session {
                    claims: session.claims,
                    token_hash: session.token_hash,
                    token_expires_at: session.token_expires_at,
                    ends_at: session.ends_at,
                    generation: 0,
                    revoked: false,
                    access: vec![session.access],
                },
            );
            Ok(())
        };
        Box::pin(ready(answer))
    }

    fn rotate(&self, rotate: Rotate) -> BoxFuture<'_, Result<Rotation, StoreError>> {
        let mut state = self.lock();
        let state = &mut *state;
        let answer = match state.sessions.get_mut(&rotate.id) {
            None => Rotation::Unknown,
            Some(session) if session.revoked => Rotation::Revoked,
            Some(session)
                if session.ends_at <= rotate.now || session.token_expires_at <= rotate.now =>
            {
                Rotation::Expired
            }
            Some(session) if session.token_hash != rotate.presented => {
                let access = session.revoke(rotate.now);
                state.list(access);
                Rotation::Reused
            }
            Some(session) => {
                session.token_hash = rotate.next;
                session.token_expires_at = rotate.next_expires_at.min(session.ends_at);
                session.generation += 1;
                session.access.retain(|token| token.expires_at > rotate.now);
                session.access.push(rotate.access);
                Rotation::Rotated {
                    claims: session.claims.clone(),
                    generation: session.generation,
                }
            }
        };
        Box::pin(ready(Ok(answer)))
    }

    fn revoke(&self, what: Revoke, now: SystemTime) -> BoxFuture<'_, Result<Revoked, StoreError>> {
        let mut state = self.lock();
        let state = &mut *state;
        state.prune_list(now);
        let mut sessions = 0;
        let mut tokens = Vec::new();
        match what {
            Revoke::Token(jti) => {
                for session in state.sessions.values() {
                    tokens.extend(
                        session
                            .access
                            .iter()
                            .filter(|token| token.jti == jti && token.expires_at > now)
                            .cloned(),
                    );
                }
            }
            Revoke::Subject(subject) => {
                for session in state.sessions.values_mut() {
                    if session.subject() == Some(subject.as_str()) {
                        sessions += u64::from(!session.revoked);
                        tokens.extend(session.revoke(now));
                    }
                }
            }
            Revoke::Session(id) => {
                if let Some(session) = state.sessions.get_mut(&id) {
                    sessions += u64::from(!session.revoked);
                    tokens.extend(session.revoke(now));
                }
            }
        }
        let tokens = state.list(tokens);
        Box::pin(ready(Ok(Revoked { tokens, sessions })))
    }

    fn revoked_after(
        &self,
        after: u64,
        limit: usize,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<Vec<RevokedEntry>, StoreError>> {
        let mut state = self.lock();
        state.prune_list(now);
        let entries = state
            .revoked
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(seq, (jti, expires_at))| RevokedEntry {
                seq: *seq,
                jti: jti.clone(),
                expires_at: *expires_at,
            })
            .collect();
        Box::pin(ready(Ok(entries)))
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

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn session(id: u8, token: u8) -> NewSession {
        NewSession {
            id: [id; 16],
            claims: Map::new(),
            token_hash: [token; 32],
            token_expires_at: at(100),
            ends_at: at(1000),
            bounded: true,
            access: IssuedAccess {
                jti: format!("s{id}-t{token}"),
                expires_at: at(60),
            },
        }
    }

    fn rotate(id: u8, presented: u8, next: u8, now: u64) -> Rotate {
        Rotate {
            id: [id; 16],
            presented: [presented; 32],
            next: [next; 32],
            next_expires_at: at(now + 100),
            now: at(now),
            access: IssuedAccess {
                jti: format!("s{id}-t{next}"),
                expires_at: at(now + 60),
            },
        }
    }

    #[test]
    fn rotation_is_single_use_and_reuse_revokes_the_session() {
        let store = MemoryStore::new(10, 10);
        run(store.start_session(session(1, 1), at(0))).unwrap();
        assert!(matches!(
            run(store.rotate(rotate(1, 1, 2, 10))).unwrap(),
            Rotation::Rotated { generation: 1, .. }
        ));
        assert_eq!(
            run(store.rotate(rotate(1, 1, 3, 20))).unwrap(),
            Rotation::Reused
        );
        assert_eq!(
            run(store.rotate(rotate(1, 2, 4, 30))).unwrap(),
            Rotation::Revoked
        );
        assert_eq!(
            run(store.rotate(rotate(9, 1, 4, 30))).unwrap(),
            Rotation::Unknown
        );
    }

    #[test]
    fn the_bound_counts_live_sessions_not_rotations() {
        let store = MemoryStore::new(2, 10);
        run(store.start_session(session(1, 1), at(0))).unwrap();
        for n in 1..200u8 {
            assert!(matches!(
                run(store.rotate(rotate(1, n, n + 1, 1))).unwrap(),
                Rotation::Rotated { .. }
            ));
        }
        run(store.start_session(session(2, 1), at(0))).unwrap();
        assert!(matches!(
            run(store.start_session(session(3, 1), at(0))),
            Err(StoreError::Full { what: "sessions" })
        ));
        // A session whose token expired gives its place up.
        let mut short = session(4, 1);
        short.token_expires_at = at(1);
        run(store.start_session(short, at(50))).unwrap_err();
        assert_eq!(
            run(store.rotate(rotate(2, 1, 2, 100))).unwrap(),
            Rotation::Expired
        );
        run(store.start_session(session(5, 1), at(150))).unwrap();
    }

    #[test]
    fn sessions_end_at_their_absolute_end() {
        let store = MemoryStore::new(2, 10);
        let mut long = session(1, 1);
        long.token_expires_at = at(1000);
        run(store.start_session(long, at(0))).unwrap();
        // Rotated just before the end: the next token expires with the session, not later.
        assert!(matches!(
            run(store.rotate(rotate(1, 1, 2, 999))).unwrap(),
            Rotation::Rotated { .. }
        ));
        assert_eq!(
            run(store.rotate(rotate(1, 2, 3, 1000))).unwrap(),
            Rotation::Expired
        );
    }

    #[test]
    fn the_revocation_list_is_ordered_paged_and_forgets_long_expired_tokens() {
        let store = MemoryStore::new(10, 10);
        run(store.start_session(session(1, 1), at(0))).unwrap();
        run(store.start_session(session(2, 1), at(0))).unwrap();
        assert!(matches!(
            run(store.rotate(rotate(1, 1, 2, 10))).unwrap(),
            Rotation::Rotated { .. }
        ));
        let revoked = run(store.revoke(Revoke::Session([1; 16]), at(20))).unwrap();
        assert_eq!(
            revoked,
            Revoked {
                tokens: 2,
                sessions: 1
            }
        );
        // Again: nothing new.
        let again = run(store.revoke(Revoke::Session([1; 16]), at(21))).unwrap();
        assert_eq!(again, Revoked::default());
        run(store.revoke(Revoke::Token("s2-t1".into()), at(22))).unwrap();
        let all = run(store.revoked_after(0, 10, at(30))).unwrap();
        let jtis: Vec<&str> = all.iter().map(|e| e.jti.as_str()).collect();
        assert_eq!(jtis.len(), 3);
        assert_eq!(jtis[2], "s2-t1");
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        let page = run(store.revoked_after(all[0].seq, 1, at(30))).unwrap();
        assert_eq!(page, vec![all[1].clone()]);
        // A token past its expiry is not revoked; listed ones go an hour after expiry.
        let late = run(store.revoke(Revoke::Subject(String::new()), at(100))).unwrap();
        assert_eq!(late.tokens, 0);
        assert_eq!(
            run(store.revoked_after(0, 10, at(60 + 3599)))
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            run(store.revoked_after(0, 10, at(70 + 3601)))
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn spent_challenges_are_kept_and_burnt_ones_never_crowd_them_out() {
        let store = MemoryStore::new(1, 2);
        let spend = |id: u8, outcome| run(store.spend_challenge([id; 16], at(60), outcome, at(0)));
        for id in 10..50 {
            assert!(spend(id, SignInOutcome::Failed).unwrap());
        }
        assert!(spend(1, SignInOutcome::Verified).unwrap());
        assert!(!spend(1, SignInOutcome::Verified).unwrap());
        assert!(!spend(10, SignInOutcome::Verified).unwrap(), "burnt first");
        assert!(spend(2, SignInOutcome::Verified).unwrap());
        assert!(matches!(
            spend(3, SignInOutcome::Verified),
            Err(StoreError::Full { .. })
        ));
        // Expired entries make room.
        assert!(
            run(store.spend_challenge([3; 16], at(200), SignInOutcome::Verified, at(61))).unwrap()
        );
    }
}
