//! Proofs seen, so that each is accepted once: bounded in memory under any flood, and never
//! wrong about a replay.
//!
//! Each accepted proof is held until the last second it could be accepted again (its `iat`
//! plus `dpop_max_age_seconds` plus the leeway). When the record is full, the entry that
//! expires first makes room, and its expiry becomes the shard's floor: a proof that would
//! expire at or before the floor is refused, since one like it may have been dropped. Under
//! a flood, the window of accepted proofs shrinks; it never lets a replay through.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Mutex, PoisonError};

use super::DpopReason;

/// Shards, each with its own lock: requests on different cores rarely meet.
const SHARDS: usize = 16;

/// The record of proofs seen.
pub(crate) struct ReplayRecord {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

#[derive(Default)]
struct Shard {
    /// Proof id to its expiry.
    seen: HashMap<u128, u64>,
    /// The same entries by expiry, soonest first.
    by_expiry: BinaryHeap<Reverse<(u64, u128)>>,
    /// The latest expiry of an entry dropped before its time.
    floor: u64,
}

impl ReplayRecord {
    /// A record of at most `max_entries` proofs (at least one per shard).
    pub(crate) fn new(max_entries: usize) -> ReplayRecord {
        let per_shard = max_entries.div_ceil(SHARDS).max(1);
        ReplayRecord {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
        }
    }

    /// Records proof `id`, accepted until `expires`, at time `now`: `Err` when it was seen
    /// before, or cannot be told apart from one that was.
    pub(crate) fn record(&self, id: u128, expires: u64, now: u64) -> Result<(), DpopReason> {
        // The id is a hash: its low bits spread proofs over the shards evenly.
        let shard = &self.shards[(id as usize) % SHARDS];
        // A panic while the lock was held cannot leave the shard inconsistent in a way that
        // matters here (at worst an entry is in one map only), so a poisoned lock is taken.
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        shard.prune(now);
        if shard.seen.contains_key(&id) {
            return Err(DpopReason::Replayed);
        }
        if expires <= shard.floor {
            return Err(DpopReason::ReplayUnverifiable);
        }
        if shard.seen.len() >= self.per_shard {
            shard.drop_soonest();
            if expires <= shard.floor {
                return Err(DpopReason::ReplayUnverifiable);
            }
        }
        shard.seen.insert(id, expires);
        shard.by_expiry.push(Reverse((expires, id)));
        Ok(())
    }

    /// How many proofs are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .seen
                    .len()
            })
            .sum()
    }
}

impl Shard {
    /// Drops the entries that can no longer be accepted anyway.
    fn prune(&mut self, now: u64) {
        while let Some(Reverse((expires, id))) = self.by_expiry.peek().copied() {
            if expires >= now {
                break;
            }
            self.by_expiry.pop();
            self.seen.remove(&id);
        }
    }

    /// Drops the entry that expires first, raising the floor to its expiry.
    fn drop_soonest(&mut self) {
        if let Some(Reverse((expires, id))) = self.by_expiry.pop() {
            self.seen.remove(&id);
            self.floor = self.floor.max(expires);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_accepted_once() {
        let record = ReplayRecord::new(100);
        assert_eq!(record.record(7, 1_060, 1_000), Ok(()));
        assert_eq!(record.record(7, 1_060, 1_001), Err(DpopReason::Replayed));
        assert_eq!(record.record(8, 1_060, 1_001), Ok(()));
    }

    #[test]
    fn an_expired_entry_makes_room_and_a_late_replay_is_no_longer_tracked() {
        let record = ReplayRecord::new(SHARDS);
        assert_eq!(record.record(16, 1_060, 1_000), Ok(()));
        // Past its expiry the proof itself is refused as stale by its `iat`; the record
        // forgets it.
        assert_eq!(record.record(32, 1_200, 1_100), Ok(()));
        assert_eq!(record.len(), 1);
    }

    #[test]
    fn a_flood_shrinks_the_window_and_never_lets_a_replay_through() {
        let record = ReplayRecord::new(SHARDS * 4);
        let now = 1_000;
        // Every id in one shard (multiples of SHARDS), each accepted until a later second.
        let ids: Vec<u128> = (1..=1_000).map(|n| n * SHARDS as u128).collect();
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(record.record(*id, now + 10 + n as u64, now), Ok(()));
        }
        assert!(record.len() <= SHARDS * 4);
        // Any earlier proof, replayed: refused, held or not.
        for (n, id) in ids.iter().enumerate() {
            assert!(record.record(*id, now + 10 + n as u64, now).is_err(), "{n}");
        }
        // A fresh proof that expires after the floor still passes.
        assert_eq!(
            record.record(SHARDS as u128 * 5_000, now + 5_000, now),
            Ok(())
        );
        // One that expires no later than the dropped ones is refused as unverifiable.
        assert_eq!(
            record.record(SHARDS as u128 * 5_001, now + 20, now),
            Err(DpopReason::ReplayUnverifiable)
        );
    }
}
