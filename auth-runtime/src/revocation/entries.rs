//! The revoked tokens one list holds: a large base shared between refreshes, and the entries
//! added since it was built.

use std::collections::HashMap;
use std::sync::Arc;

/// Smallest number of recent entries that makes a rebuild worth it.
const MIN_REBUILD: usize = 1024;

/// Revoked `jti`s, each with the `exp` of its token.
///
/// A refresh copies only the entries added since the base was built, never the base: adding
/// `k` entries costs `O(k)` plus, now and then, a rebuild of the base. The base is rebuilt
/// when the recent entries outgrow half of it, or when half of its entries have expired (the
/// median `exp` of its entries is behind the horizon); a rebuild drops the expired entries.
/// Each entry is so copied a bounded number of times on average, and each expired one is
/// dropped at an amortised constant cost.
#[derive(Clone, Default)]
pub(super) struct Entries {
    base: Arc<Base>,
    recent: HashMap<Box<str>, u64>,
    /// Estimated memory of the recent entries, in bytes.
    recent_bytes: usize,
}

#[derive(Default)]
struct Base {
    jtis: HashMap<Box<str>, u64>,
    /// Estimated memory of the base, in bytes.
    bytes: usize,
    /// Once the horizon passes this, half of the base has expired.
    half_expired_at: u64,
}

/// The estimated memory one entry takes: its text, the key and value, and the map's own
/// overhead per slot.
fn cost(jti: &str) -> usize {
    jti.len() + std::mem::size_of::<(Box<str>, u64)>() + 8
}

impl Entries {
    /// Whether `jti` is listed.
    pub(super) fn contains(&self, jti: &str) -> bool {
        self.recent.contains_key(jti) || self.base.jtis.contains_key(jti)
    }

    /// How many entries are held.
    pub(super) fn len(&self) -> usize {
        self.base.jtis.len() + self.recent.len()
    }

    /// The estimated memory the entries take, in bytes.
    pub(super) fn bytes(&self) -> usize {
        self.base.bytes + self.recent_bytes
    }

    /// Lists `jti` until `exp`, unless its token expired before `horizon` or it is listed.
    pub(super) fn add(&mut self, jti: &str, exp: u64, horizon: u64) {
        if exp < horizon || jti.is_empty() || self.base.jtis.contains_key(jti) {
            return;
        }
        if self.recent.insert(Box::from(jti), exp).is_none() {
            self.recent_bytes += cost(jti);
        }
    }

    /// Rebuilds the base when the recent entries outgrew half of it or half of it expired,
    /// dropping the entries whose token expired before `horizon`.
    pub(super) fn settle(&mut self, horizon: u64) {
        let outgrown = self.recent.len() >= MIN_REBUILD.max(self.base.jtis.len() / 2);
        let expired = !self.base.jtis.is_empty() && horizon > self.base.half_expired_at;
        if outgrown || expired {
            self.rebuild(horizon);
        }
    }

    /// Rebuilds the base now, dropping the entries whose token expired before `horizon`: what
    /// the bound is checked against, so that expired entries never count.
    pub(super) fn prune(&mut self, horizon: u64) {
        self.rebuild(horizon);
    }

    fn rebuild(&mut self, horizon: u64) {
        let mut jtis = HashMap::with_capacity(self.len());
        let kept = self
            .base
            .jtis
            .iter()
            .map(|(jti, exp)| (jti.clone(), *exp))
            .chain(self.recent.drain())
            .filter(|(_, exp)| *exp >= horizon);
        let mut bytes = 0;
        for (jti, exp) in kept {
            bytes += cost(&jti);
            jtis.insert(jti, exp);
        }
        let mut exps: Vec<u64> = jtis.values().copied().collect();
        let half_expired_at = if exps.is_empty() {
            u64::MAX
        } else {
            let middle = exps.len() / 2;
            *exps.select_nth_unstable(middle).1
        };
        self.base = Arc::new(Base {
            jtis,
            bytes,
            half_expired_at,
        });
        self.recent_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(count: usize, exp: u64) -> Entries {
        let mut entries = Entries::default();
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
        assert_eq!((entries.base.jtis.len(), entries.recent.len()), (6_000, 0));
        assert_eq!(entries.bytes(), entries.base.bytes);
    }

    #[test]
    fn expired_entries_go_once_half_of_the_base_has_expired() {
        let mut entries = Entries::default();
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
        let mut entries = Entries::default();
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
        entries.prune(101);
        assert_eq!(entries.len(), 1_500);
    }

    #[test]
    fn memory_is_estimated_per_entry() {
        let mut entries = Entries::default();
        entries.add("abc", 10, 0);
        entries.add("abc", 10, 0);
        assert_eq!(entries.bytes(), cost("abc"));
        assert!(cost("abc") > 3);
    }
}
