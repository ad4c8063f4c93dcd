//! What the in-process store holds: sessions, spent challenges and the revocation list.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::revocation_file::{Entry, RevocationFile};
use crate::store::{
    ChallengeId, IssuedAccess, LISTED_PAST_EXPIRY, Revoked, SessionId, StoreError, TokenHash,
};

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
    /// The revocation list by `seq`, and the `jti`s on it.
    pub(super) revoked: BTreeMap<u64, (String, SystemTime)>,
    pub(super) revoked_jtis: HashMap<String, u64>,
    pub(super) last_seq: u64,
    /// Where the list is kept across restarts, when it is.
    pub(super) file: Option<RevocationFile>,
}

impl State {
    /// Revokes the sessions `ids` (those that exist) and puts `tokens` and the sessions' live
    /// access tokens on the revocation list (those not on it yet). The new entries are written
    /// to the file first: when that fails, nothing changes.
    pub(super) fn revoke(
        &mut self,
        ids: &[SessionId],
        mut tokens: Vec<IssuedAccess>,
        now: SystemTime,
    ) -> Result<Revoked, StoreError> {
        self.prune_list(now);
        for id in ids {
            if let Some(session) = self.sessions.get(id) {
                tokens.extend(session.live_access(now).cloned());
            }
        }
        let mut seen = HashSet::new();
        tokens.retain(|token| {
            !self.revoked_jtis.contains_key(&token.jti) && seen.insert(token.jti.clone())
        });
        if let Some(file) = &mut self.file {
            let lines: Vec<(&str, SystemTime)> = tokens
                .iter()
                .map(|token| (token.jti.as_str(), token.expires_at))
                .collect();
            file.append(&lines)
                .map_err(|err| StoreError::Unavailable(Box::new(err)))?;
        }
        let mut sessions = 0;
        for id in ids {
            if let Some(session) = self.sessions.get_mut(id) {
                sessions += u64::from(!session.revoked);
                session.revoke();
            }
        }
        let added = tokens.len() as u64;
        for token in tokens {
            self.insert((token.jti, token.expires_at));
        }
        if let Some(file) = &mut self.file
            && file.sparse(self.revoked.len())
        {
            file.compact(
                self.revoked
                    .values()
                    .map(|(jti, expires_at)| (jti.as_str(), *expires_at)),
            );
        }
        Ok(Revoked {
            tokens: added,
            sessions,
        })
    }

    /// Puts an entry on the list, after the others, unless its `jti` is on it already.
    pub(super) fn insert(&mut self, (jti, expires_at): Entry) {
        if self.revoked_jtis.contains_key(&jti) {
            return;
        }
        self.last_seq += 1;
        self.revoked_jtis.insert(jti.clone(), self.last_seq);
        self.revoked.insert(self.last_seq, (jti, expires_at));
    }

    /// Forgets list entries of tokens expired longer than the listing margin ago.
    pub(super) fn prune_list(&mut self, now: SystemTime) {
        let horizon = listed_from(now);
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

pub(super) struct Session {
    pub(super) claims: Map<String, Value>,
    pub(super) token_hash: TokenHash,
    pub(super) token_expires_at: SystemTime,
    pub(super) ends_at: SystemTime,
    pub(super) generation: u64,
    pub(super) revoked: bool,
    /// The access tokens issued in this session that have not expired yet.
    pub(super) access: Vec<IssuedAccess>,
}

impl Session {
    /// The session's subject (`sub`).
    pub(super) fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// The access tokens of the session that have not expired at `now`.
    pub(super) fn live_access(&self, now: SystemTime) -> impl Iterator<Item = &IssuedAccess> {
        self.access
            .iter()
            .filter(move |token| token.expires_at > now)
    }

    /// Revokes the session; its access tokens are no longer its concern.
    pub(super) fn revoke(&mut self) {
        self.revoked = true;
        self.access.clear();
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
