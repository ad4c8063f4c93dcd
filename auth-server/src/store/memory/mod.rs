//! The in-process store.

mod revocation_file;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::ready;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use auth_runtime::ConfigError;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};

use self::revocation_file::RevocationFile;
use self::state::{Session, State, listed_from, room};
use super::{
    AuthStore, BoxFuture, ChallengeId, Listing, NewSession, Revoke, Revoked, RevokedEntry, Rotate,
    Rotation, SignInOutcome, StoreError,
};

/// The in-process store: bounded, one instance only. Its secret is drawn at random when it is
/// created, so a restart ends every session and voids outstanding challenges. The revocation
/// list is lost on restart too, unless the store keeps it in a file
/// ([`with_revocation_file`](Self::with_revocation_file), which the issuer built from a
/// configuration without `store_url` does).
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

impl MemoryStore {
    /// A store holding at most `max_sessions` live sessions and `max_spent_challenges` spent
    /// challenges (each for at most its time to live), with its revocation list in memory
    /// only.
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

    /// [`new`](Self::new), with the revocation list kept in an append-only JSON-lines file
    /// at `path` (created, with its folder, when missing; owner-only on Unix), one
    /// `{"jti": ..., "exp": ...}` line per revoked access token. Each revocation is written
    /// and synced to disk before it applies and is answered; when it cannot be, the
    /// revocation fails (the issuer answers 503) and changes nothing.
    ///
    /// Opening replays the file: tokens still listed at `now` (not expired more than
    /// [`LISTED_PAST_EXPIRY`](crate::store::LISTED_PAST_EXPIRY) ago) are on the list again, in
    /// the order they were revoked. A cut-short or unreadable last line (a write interrupted
    /// by a crash, never acknowledged) is skipped with a warning. The file is then rewritten
    /// without the other entries, through a temporary file renamed over it, and again
    /// whenever its lines of entries no longer listed outnumber the listed ones by more than
    /// 1024. One store at a time may use a file.
    ///
    /// # Errors
    /// When the file cannot be read or written, or a line other than the last is not a
    /// revocation record: the error names the file.
    ///
    /// ```
    /// # fn demo() -> Result<(), auth_runtime::ConfigError> {
    /// # let folder = std::env::temp_dir().join(format!("memory-store-doc-{}", std::process::id()));
    /// use auth_server::store::MemoryStore;
    /// let path = folder.join("revoked-jtis.jsonl");
    /// let store = MemoryStore::with_revocation_file(1000, 1000, &path, std::time::SystemTime::now())?;
    /// assert!(path.exists());
    /// # drop(store); std::fs::remove_dir_all(&folder).ok();
    /// # Ok(()) }
    /// # demo().unwrap();
    /// ```
    ///
    /// # Panics
    /// When the system's random generator fails, which happens only on a broken system.
    pub fn with_revocation_file(
        max_sessions: usize,
        max_spent_challenges: usize,
        path: impl AsRef<Path>,
        now: SystemTime,
    ) -> Result<MemoryStore, ConfigError> {
        let mut store = MemoryStore::new(max_sessions, max_spent_challenges);
        let (file, entries) = RevocationFile::open(path.as_ref(), listed_from(now))?;
        let state = store
            .state
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for entry in entries {
            state.insert(entry);
        }
        state.file = Some(file);
        Ok(store)
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
                    previous: None,
                    token_expires_at: session.token_expires_at,
                    ends_at: session.ends_at,
                    generation: 0,
                    revoked: false,
                    dpop_jkt: session.dpop_jkt,
                    recent_proofs: Vec::new(),
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
            Some(session) if !rotate.has_key(session.dpop_jkt.as_deref()) => Rotation::WrongKey,
            Some(session) if rotate.replays(&session.recent_proofs) => Rotation::ReplayedProof,
            Some(session) if session.revoked => Rotation::Revoked,
            Some(session)
                if session.ends_at <= rotate.now || session.token_expires_at <= rotate.now =>
            {
                Rotation::Expired
            }
            Some(session) if session.token_hash == rotate.presented => {
                rotate.remember_proof(&mut session.recent_proofs);
                session.previous = Some((session.token_hash, rotate.now));
                session.token_hash = rotate.next;
                session.token_expires_at = rotate.next_expires_at.min(session.ends_at);
                session.generation += 1;
                Rotation::Rotated {
                    claims: session.claims.clone(),
                    generation: session.generation,
                }
            }
            Some(session)
                if rotate.is_retry(
                    &session.token_hash,
                    session
                        .previous
                        .as_ref()
                        .map(|(spent, at)| (&spent[..], *at)),
                ) =>
            {
                rotate.remember_proof(&mut session.recent_proofs);
                Rotation::Retried {
                    claims: session.claims.clone(),
                    generation: session.generation,
                }
            }
            Some(_) => {
                let entry = (Listing::Session(rotate.id).key(), rotate.access.expires_at);
                match state.revoke(&[rotate.id], entry, rotate.now) {
                    Ok(_) => Rotation::Reused,
                    Err(err) => return Box::pin(ready(Err(err))),
                }
            }
        };
        Box::pin(ready(Ok(answer)))
    }

    fn revoke(&self, what: Revoke, now: SystemTime) -> BoxFuture<'_, Result<Revoked, StoreError>> {
        let mut state = self.lock();
        let (sessions, entry) = match what {
            Revoke::Token { jti, expires_at } => (Vec::new(), (jti, expires_at)),
            Revoke::Subject {
                subject,
                issued_before,
                until,
            } => {
                let sessions = state
                    .sessions
                    .iter()
                    .filter(|(_, session)| session.subject() == Some(subject.as_str()))
                    .map(|(id, _)| *id)
                    .collect();
                let listing = Listing::Subject {
                    subject,
                    issued_before,
                };
                (sessions, (listing.key(), until))
            }
            Revoke::Session { id, until } => {
                if state
                    .sessions
                    .get(&id)
                    .is_some_and(|session| session.revoked)
                {
                    // Ended already, and listed then: nothing to do.
                    return Box::pin(ready(Ok(Revoked::default())));
                }
                (vec![id], (Listing::Session(id).key(), until))
            }
        };
        Box::pin(ready(state.revoke(&sessions, entry, now)))
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
            .map(|(seq, (key, expires_at))| RevokedEntry {
                seq: *seq,
                listing: Listing::from_key(key),
                expires_at: *expires_at,
            })
            .collect();
        Box::pin(ready(Ok(entries)))
    }
}
