//! What one list holds: revoked tokens, sessions and subjects, each kind in a large base
//! shared between refreshes plus the entries added since it was built.

use std::collections::HashMap;
use std::sync::Arc;

use super::source::Listed;
use crate::claims::ValidToken;

/// Smallest number of recent entries that makes a rebuild worth it.
const MIN_REBUILD: usize = 1024;

/// The revoked tokens (by `jti`), sessions (by `sid`) and subjects (by `sub`, with a time)
/// of one list.
#[derive(Clone, Default)]
pub(super) struct Entries {
    jtis: Part<u64>,
    sids: Part<u64>,
    subjects: Part<Subject>,
}

/// A revoked subject: tokens issued at or before `issued_before` are refused until `exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Subject {
    issued_before: u64,
    exp: u64,
}

/// What an entry of a [`Part`] holds: at least the time after which it can be dropped.
trait Value: Copy + PartialEq {
    fn exp(self) -> u64;
    /// The entry when the same key is listed again: it covers both.
    fn merge(self, other: Self) -> Self;
}

impl Value for u64 {
    fn exp(self) -> u64 {
        self
    }

    fn merge(self, other: u64) -> u64 {
        self.max(other)
    }
}

impl Value for Subject {
    fn exp(self) -> u64 {
        self.exp
    }

    fn merge(self, other: Subject) -> Subject {
        Subject {
            issued_before: self.issued_before.max(other.issued_before),
            exp: self.exp.max(other.exp),
        }
    }
}

impl Entries {
    /// Whether an entry revokes `token`: its `jti`, its session (`sid`), or its subject
    /// (`sub`) up to the time of its `iat`. The claims a kind needs are only read when the
    /// list holds an entry of that kind.
    pub(super) fn revokes(&self, token: &ValidToken) -> bool {
        let jti = token.claims.jti.as_str();
        if !jti.is_empty() && self.jtis.contains(jti) {
            return true;
        }
        if !self.sids.is_empty()
            && let Some(sid) = token.raw.get("sid").and_then(|sid| sid.as_str())
            && self.sids.contains(sid)
        {
            return true;
        }
        if !self.subjects.is_empty()
            && let Some(subject) = self.subjects.get(&token.claims.sub)
        {
            // A token without `iat` cannot be placed in time: it goes with the others.
            let iat = token.raw.get("iat").and_then(|iat| iat.as_u64());
            return iat.is_none_or(|iat| iat <= subject.issued_before);
        }
        false
    }

    /// Whether the token `jti` is listed by itself.
    pub(super) fn lists_token(&self, jti: &str) -> bool {
        self.jtis.contains(jti)
    }

    /// How many entries are held.
    pub(super) fn len(&self) -> usize {
        self.jtis.len() + self.sids.len() + self.subjects.len()
    }

    /// The estimated memory the entries take, in bytes.
    pub(super) fn bytes(&self) -> usize {
        self.jtis.bytes() + self.sids.bytes() + self.subjects.bytes()
    }

    /// Lists what `entry` names until its `exp`, unless that passed before `horizon`.
    pub(super) fn add(&mut self, entry: Listed<'_>, exp: u64, horizon: u64) {
        match entry {
            Listed::Token(jti) => self.jtis.add(jti, exp, horizon),
            Listed::Session(sid) => self.sids.add(sid, exp, horizon),
            Listed::Subject { sub, issued_before } => {
                self.subjects
                    .add(sub, Subject { issued_before, exp }, horizon)
            }
        }
    }

    /// Rebuilds a base when its recent entries outgrew half of it or half of it expired,
    /// dropping the entries that expired before `horizon`.
    pub(super) fn settle(&mut self, horizon: u64) {
        self.jtis.settle(horizon);
        self.sids.settle(horizon);
        self.subjects.settle(horizon);
    }

    /// Drops every entry that expired before `horizon` now: what the bound is checked
    /// against, so that expired entries never count.
    pub(super) fn prune(&mut self, horizon: u64) {
        self.jtis.rebuild(horizon);
        self.sids.rebuild(horizon);
        self.subjects.rebuild(horizon);
    }
}

/// The entries of one kind, by key.
///
/// A refresh copies only the entries added since the base was built, never the base: adding
/// `k` entries costs `O(k)` plus, now and then, a rebuild of the base. The base is rebuilt
/// when the recent entries outgrow half of it, or when half of its entries have expired (the
/// median `exp` of its entries is behind the horizon); a rebuild drops the expired entries.
/// Each entry is so copied a bounded number of times on average, and each expired one is
/// dropped at an amortised constant cost.
#[derive(Clone)]
struct Part<V> {
    base: Arc<Base<V>>,
    recent: HashMap<Box<str>, V>,
    /// Estimated memory of the recent entries, in bytes.
    recent_bytes: usize,
}

impl<V> Default for Part<V> {
    fn default() -> Part<V> {
        Part {
            base: Arc::new(Base {
                keys: HashMap::new(),
                bytes: 0,
                half_expired_at: u64::MAX,
            }),
            recent: HashMap::new(),
            recent_bytes: 0,
        }
    }
}

struct Base<V> {
    keys: HashMap<Box<str>, V>,
    /// Estimated memory of the base, in bytes.
    bytes: usize,
    /// Once the horizon passes this, half of the base has expired.
    half_expired_at: u64,
}

/// The estimated memory one entry takes: its text, the key and value, and the map's own
/// overhead per slot.
fn cost<V>(key: &str) -> usize {
    key.len() + std::mem::size_of::<(Box<str>, V)>() + 8
}

impl<V: Value> Part<V> {
    fn get(&self, key: &str) -> Option<V> {
        let recent = self.recent.get(key).copied();
        let base = self.base.keys.get(key).copied();
        match (recent, base) {
            (Some(recent), Some(base)) => Some(recent.merge(base)),
            (one, other) => one.or(other),
        }
    }

    fn contains(&self, key: &str) -> bool {
        self.recent.contains_key(key) || self.base.keys.contains_key(key)
    }

    fn is_empty(&self) -> bool {
        self.recent.is_empty() && self.base.keys.is_empty()
    }

    fn len(&self) -> usize {
        self.base.keys.len() + self.recent.len()
    }

    fn bytes(&self) -> usize {
        self.base.bytes + self.recent_bytes
    }

    /// Lists `key` with `value`, unless it expired before `horizon` or the base holds it
    /// already with a value that covers this one.
    fn add(&mut self, key: &str, value: V, horizon: u64) {
        if value.exp() < horizon || key.is_empty() {
            return;
        }
        if let Some(held) = self.base.keys.get(key)
            && held.merge(value) == *held
        {
            return;
        }
        match self.recent.get_mut(key) {
            Some(held) => *held = held.merge(value),
            None => {
                self.recent.insert(Box::from(key), value);
                self.recent_bytes += cost::<V>(key);
            }
        }
    }

    fn settle(&mut self, horizon: u64) {
        let outgrown = self.recent.len() >= MIN_REBUILD.max(self.base.keys.len() / 2);
        let expired = !self.base.keys.is_empty() && horizon > self.base.half_expired_at;
        if outgrown || expired {
            self.rebuild(horizon);
        }
    }

    fn rebuild(&mut self, horizon: u64) {
        let mut keys: HashMap<Box<str>, V> = HashMap::with_capacity(self.len());
        let kept = self
            .base
            .keys
            .iter()
            .map(|(key, value)| (key.clone(), *value))
            .chain(self.recent.drain())
            .filter(|(_, value)| value.exp() >= horizon);
        let mut bytes = 0;
        for (key, value) in kept {
            match keys.get_mut(&key) {
                Some(held) => *held = held.merge(value),
                None => {
                    bytes += cost::<V>(&key);
                    keys.insert(key, value);
                }
            }
        }
        let mut exps: Vec<u64> = keys.values().map(|value| value.exp()).collect();
        let half_expired_at = if exps.is_empty() {
            u64::MAX
        } else {
            let middle = exps.len() / 2;
            *exps.select_nth_unstable(middle).1
        };
        self.base = Arc::new(Base {
            keys,
            bytes,
            half_expired_at,
        });
        self.recent_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(count: usize, exp: u64) -> Part<u64> {
        let mut entries = Part::<u64>::default();
        for i in 0..count {
            entries.add(&format!("jti-{i}"), exp, 0);
        }
        entries.settle(0);
        entries
    }

    #[test]
    fn a_refresh_that_adds_a_few_entries_does_not_copy_the_base() {
        let mut entries = filled(10_000, 1_000);
        assert_eq!(entries.recent.len(), 0, "settled into the base");
        let base = Arc::clone(&entries.base);
        let mut next = entries.clone();
        for i in 0..100 {
            next.add(&format!("new-{i}"), 1_000, 0);
        }
        next.settle(0);
        assert!(Arc::ptr_eq(&base, &next.base), "the base is shared");
        assert_eq!(next.len(), 10_100);
        assert!(next.contains("jti-5") && next.contains("new-5"));
        assert!(!entries.contains("new-5"), "the list held is untouched");
        entries.add("jti-5", 1_000, 0);
        assert_eq!(
            entries.len(),
            10_000,
            "an entry of the base is not added twice"
        );
    }

    #[test]
    fn the_base_is_rebuilt_when_the_recent_entries_outgrow_half_of_it() {
        let mut entries = filled(4_000, 1_000);
        let base = Arc::clone(&entries.base);
        for i in 0..2_000 {
            entries.add(&format!("new-{i}"), 1_000, 0);
        }
        entries.settle(0);
        assert!(!Arc::ptr_eq(&base, &entries.base));
        assert_eq!((entries.base.keys.len(), entries.recent.len()), (6_000, 0));
        assert_eq!(entries.bytes(), entries.base.bytes);
    }

    #[test]
    fn expired_entries_go_once_half_of_the_base_has_expired() {
        let mut entries = Part::<u64>::default();
        for i in 0..3_000 {
            entries.add(&format!("early-{i}"), 100, 0);
        }
        for i in 0..1_000 {
            entries.add(&format!("late-{i}"), 500, 0);
        }
        entries.settle(0);
        assert_eq!(entries.len(), 4_000);
        // Nothing expired yet: nothing is rebuilt.
        let base = Arc::clone(&entries.base);
        entries.settle(50);
        assert!(Arc::ptr_eq(&base, &entries.base));
        // Past the early entries' exp: they go, the late ones stay.
        entries.settle(101);
        assert_eq!(entries.len(), 1_000);
        assert!(entries.contains("late-1") && !entries.contains("early-1"));
        // An entry whose token already expired is never added.
        entries.add("stale", 100, 101);
        assert!(!entries.contains("stale"));
    }

    #[test]
    fn pruning_drops_every_expired_entry_at_once() {
        let mut entries = Part::<u64>::default();
        for i in 0..1_000 {
            entries.add(&format!("early-{i}"), 100, 0);
        }
        for i in 0..1_500 {
            entries.add(&format!("late-{i}"), 500, 0);
        }
        entries.settle(0);
        // Less than half expired: `settle` keeps them, `prune` does not.
        entries.settle(101);
        assert_eq!(entries.len(), 2_500);
        entries.rebuild(101);
        assert_eq!(entries.len(), 1_500);
    }

    #[test]
    fn memory_is_estimated_per_entry() {
        let mut entries = Part::<u64>::default();
        entries.add("abc", 10, 0);
        entries.add("abc", 10, 0);
        assert_eq!(entries.bytes(), cost::<u64>("abc"));
        assert!(cost::<u64>("abc") > 3);
    }
}
