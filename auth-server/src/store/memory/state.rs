//! What the in-process store holds: sessions, spent challenges and the revocation list.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::revocation_file::{Entry, RevocationFile};
use crate::store::{ChallengeId, LISTED_PAST_EXPIRY, Revoked, SessionId, StoreError, TokenHash};

#[derive(Default)]
pub(super) struct State {
    pub(super) sessions: HashMap<SessionId, Session>,
    /// Challenges spent by a verified signature: kept until they expire, whatever it takes.
    pub(super) spent: HashMap<ChallengeId, SystemTime>,
    /// Challenges burnt by a failed signature: kept while there is room.
    pub(super) burnt: HashMap<ChallengeId, SystemTime>,
    /// When full, ended sessions are looked for at most once a second, so that refused
    /// sign-ins do not each walk every session under the lock.
    pub(super) last_purge: Option<SystemTime>,
    /// The revocation list by `seq`, and the keys on it (see
    /// [`Listing::key`](crate::store::Listing::key)).
    pub(super) revoked: BTreeMap<u64, (String, SystemTime)>,
    pub(super) revoked_jtis: HashMap<String, u64>,
    /// The same entries by expiry, so that pruning takes only the expired ones.
    pub(super) expiries: BTreeSet<(SystemTime, u64)>,
    pub(super) last_seq: u64,
    /// Where the list is kept across restarts, when it is.
    pub(super) file: Option<RevocationFile>,
}

impl State {
    /// Revokes the sessions `ids` (those that exist) and puts `entry` (the key of a
    /// [`Listing`](crate::store::Listing), with the time it is listed until) on the revocation
    /// list, unless it is on it already. A new entry is written to the file first: when that
    /// fails, nothing changes.
    pub(super) fn revoke(
        &mut self,
        ids: &[SessionId],
        entry: Entry,
        now: SystemTime,
    ) -> Result<Revoked, StoreError> {
        self.prune_list(now);
        let new = !self.revoked_jtis.contains_key(&entry.0);
        if new && let Some(file) = &mut self.file {
            file.append(&[(entry.0.as_str(), entry.1)])
                .map_err(|err| StoreError::Unavailable(Box::new(err)))?;
        }
        let mut sessions = 0;
        for id in ids {
            if let Some(session) = self.sessions.get_mut(id) {
                sessions += u64::from(!session.revoked);
                session.revoked = true;
            }
        }
        if new {
            self.insert(entry);
        }
        let listed = u64::from(new);
        if let Some(file) = &mut self.file
            && file.sparse(self.revoked.len())
        {
            file.compact(
                self.revoked
                    .values()
                    .map(|(key, expires_at)| (key.as_str(), *expires_at)),
            );
        }
        Ok(Revoked { listed, sessions })
    }

    /// Puts an entry on the list, after the others, unless its key is on it already.
    pub(super) fn insert(&mut self, (key, expires_at): Entry) {
        if self.revoked_jtis.contains_key(&key) {
            return;
        }
        self.last_seq += 1;
        self.revoked_jtis.insert(key.clone(), self.last_seq);
        self.expiries.insert((expires_at, self.last_seq));
        self.revoked.insert(self.last_seq, (key, expires_at));
    }

    /// Forgets list entries of tokens expired longer than the listing margin ago: only those
    /// are looked at, so each entry costs its removal once.
    pub(super) fn prune_list(&mut self, now: SystemTime) {
        let horizon = listed_from(now);
        while let Some(&(expires_at, seq)) = self.expiries.first() {
            if expires_at >= horizon {
                break;
            }
            self.expiries.pop_first();
            if let Some((key, _)) = self.revoked.remove(&seq) {
                self.revoked_jtis.remove(&key);
            }
        }
    }
}

pub(super) struct Session {
    pub(super) claims: Map<String, Value>,
    pub(super) token_hash: TokenHash,
    /// The token spent by the latest rotation, and when: what a retry within the grace
    /// presents.
    pub(super) previous: Option<(TokenHash, SystemTime)>,
    pub(super) token_expires_at: SystemTime,
    pub(super) ends_at: SystemTime,
    pub(super) generation: u64,
    pub(super) revoked: bool,
    /// The thumbprint of the DPoP key the session is bound to.
    pub(super) dpop_jkt: Option<String>,
    /// The proofs its latest refreshes came with, newest last.
    pub(super) recent_proofs: Vec<[u8; 16]>,
}

impl Session {
    /// The session's subject (`sub`).
    pub(super) fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// Whether the session still holds a place: not revoked, not ended, its token not expired.
    pub(super) fn live(&self, now: SystemTime) -> bool {
        !self.revoked && self.ends_at > now && self.token_expires_at > now
    }
}

/// The earliest `exp` of a token on the list at `now`: tokens expired longer than the listing
/// margin ago are forgotten.
pub(super) fn listed_from(now: SystemTime) -> SystemTime {
    now.checked_sub(LISTED_PAST_EXPIRY)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Makes room in `map` (at most `max` entries) by dropping expired entries; whether there is
/// room then.
pub(super) fn room(
    map: &mut HashMap<ChallengeId, SystemTime>,
    max: usize,
    now: SystemTime,
) -> bool {
    if map.len() >= max {
        map.retain(|_, expires_at| *expires_at > now);
    }
    map.len() < max
}
