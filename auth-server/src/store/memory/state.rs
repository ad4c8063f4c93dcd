//! What the in-process store holds: sessions, spent challenges and the revocation list.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::store::{ChallengeId, IssuedAccess, LISTED_PAST_EXPIRY, SessionId, TokenHash};

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
}

impl State {
    /// Puts `tokens` on the revocation list (those not on it yet); how many were added.
    pub(super) fn list(&mut self, tokens: Vec<IssuedAccess>) -> u64 {
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
    pub(super) fn prune_list(&mut self, now: SystemTime) {
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

    /// Revokes the session; hands over its live access tokens.
    pub(super) fn revoke(&mut self, now: SystemTime) -> Vec<IssuedAccess> {
        self.revoked = true;
        let mut access = std::mem::take(&mut self.access);
        access.retain(|token| token.expires_at > now);
        access
    }

    /// Whether the session still holds a place: not revoked, not ended, its token not expired.
    pub(super) fn live(&self, now: SystemTime) -> bool {
        !self.revoked && self.ends_at > now && self.token_expires_at > now
    }
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
