//! Proofs seen, so that each is accepted once: bounded in memory under any flood, never wrong
//! about a replay, and fair: a client that floods the record pays for it, not the others.
//!
//! Each accepted proof is held under its key (the proof key's thumbprint) until a little
//! after the last second it could be accepted again (its `iat` plus `dpop_max_age_seconds`
//! plus the leeway). When a shard is full, room is made in the key holding the most entries:
//! its entry that expires first goes, and that expiry becomes the key's floor. A proof of that
//! key that would expire at or before its floor is refused, since one like it may have been
//! dropped. A client whose proofs come in order of `iat` never meets its floor (the entries
//! dropped are older than its new proofs); one that floods with proofs out of order, or dated
//! ahead, shrinks its own window only. Only when a shard holds more keys than entries (a flood
//! of distinct keys, each needing a token bound to it) does a whole key's record go, and its
//! floor then applies to the shard.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Mutex, PoisonError};

use super::DpopReason;

/// Shards, each with its own lock. A proof's shard follows its identity, so that one key's
/// proofs spread over all of them and one client can use the whole record when alone.
const SHARDS: usize = 64;

/// Seconds an entry is kept past its expiry: a request that judged its proof fresh a moment
/// before taking the lock, or a clock stepped back a little, still finds it.
const GRACE: u64 = 5;

/// What one key's record counts for in the bound, in entries: a record with one entry takes
/// about five times the memory of an entry of a record with many (measured: 250,000 entries
/// of a few keys take 14 MB; as many one-entry records took 80 MB counted as one each).
const RECORD_WEIGHT: usize = 5;

/// Calls to a shard between two sweeps of its idle keys.
const SWEEP_EVERY: u32 = 1024;

/// The record of proofs seen.
pub(crate) struct ReplayRecord {
    shards: Box<[Mutex<Shard>]>,
    /// What one shard may hold: entries, plus [`RECORD_WEIGHT`] for each key's record.
    per_shard: usize,
}

#[derive(Default)]
struct Shard {
    keys: HashMap<u64, KeyRecord>,
    /// Entries held, and key records weighted.
    held: usize,
    /// The latest expiry held by a key record dropped whole: any proof expiring no later is
    /// refused.
    floor: u64,
    /// Calls since the last sweep.
    calls: u32,
}

#[derive(Default)]
struct KeyRecord {
    /// Proof (`jti`) to its expiry.
    seen: HashMap<u64, u64>,
    /// The same entries by expiry, soonest first.
    by_expiry: BinaryHeap<Reverse<(u64, u64)>>,
    /// The latest expiry of an entry of this key dropped before its time.
    floor: u64,
}

impl ReplayRecord {
    /// A record of at most about `max_entries` proofs (and at least one per shard).
    pub(crate) fn new(max_entries: usize) -> ReplayRecord {
        let per_shard = max_entries.div_ceil(SHARDS).max(2 * RECORD_WEIGHT);
        ReplayRecord {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
        }
    }

    /// Records proof `id` of the key `key`, accepted until `expires`, at time `now`: `Err`
    /// when it was seen before, or cannot be told apart from one that was.
    pub(crate) fn record(
        &self,
        key: u64,
        id: u64,
        expires: u64,
        now: u64,
    ) -> Result<(), DpopReason> {
        // The id is a hash: its low bits spread proofs over the shards evenly.
        let shard = &self.shards[(id as usize) % SHARDS];
        // A panic while the lock was held leaves at worst an entry in one of a key's two
        // collections, which only refuses a proof: a poisoned lock is taken.
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        shard.calls += 1;
        if shard.calls >= SWEEP_EVERY {
            shard.sweep(now);
        }
        if expires <= shard.floor {
            return Err(DpopReason::ReplayUnverifiable);
        }
        let shard = &mut *shard;
        let record = match shard.keys.get_mut(&key) {
            Some(record) => record,
            None => {
                shard.held += RECORD_WEIGHT;
                shard.keys.entry(key).or_default()
            }
        };
        shard.held -= record.prune(now);
        if record.seen.contains_key(&id) {
            return Err(DpopReason::Replayed);
        }
        if expires <= record.floor {
            return Err(DpopReason::ReplayUnverifiable);
        }
        record.seen.insert(id, expires);
        record.by_expiry.push(Reverse((expires, id)));
        shard.held += 1;
        while shard.held > self.per_shard && shard.make_room(key) {}
        Ok(())
    }

    /// Entries and key records held.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).held)
            .sum()
    }
}

impl Shard {
    /// Drops what can no longer be accepted anyway: expired entries, and the records of keys
    /// left with neither entries nor a floor still to enforce.
    fn sweep(&mut self, now: u64) {
        self.calls = 0;
        let mut held = 0;
        self.keys.retain(|_, record| {
            record.prune(now);
            let keep = !record.seen.is_empty() || record.floor.saturating_add(GRACE) >= now;
            if keep {
                held += RECORD_WEIGHT + record.seen.len();
            }
            keep
        });
        self.held = held;
    }

    /// Makes room for one: drops the entry that expires first in the key holding the most
    /// (`current`, the key just recorded, when it holds at least its share), raising that
    /// key's floor; or, when no key holds an entry, a whole key record, raising the shard's.
    /// `false` when nothing could go (one key's empty record is all there is).
    fn make_room(&mut self, current: u64) -> bool {
        let share = self.held / self.keys.len().max(1);
        let victim = match self.keys.get(&current) {
            Some(record) if record.seen.len() >= share.max(1) => Some(current),
            _ => self
                .keys
                .iter()
                .filter(|(_, record)| !record.seen.is_empty())
                .max_by_key(|(_, record)| record.seen.len())
                .map(|(key, _)| *key),
        };
        if let Some(record) = victim.and_then(|key| self.keys.get_mut(&key))
            && let Some(Reverse((expires, id))) = record.by_expiry.pop()
        {
            record.seen.remove(&id);
            record.floor = record.floor.max(expires);
            record.fit();
            self.held -= 1;
            return true;
        }
        // Only empty records are left: the one whose floor is lowest goes whole, its floor
        // now the shard's (the lowest, so that the shard's rises as little as it can).
        let Some(key) = self
            .keys
            .iter()
            .filter(|(key, _)| **key != current)
            .min_by_key(|(_, record)| record.floor)
            .map(|(key, _)| *key)
        else {
            return false;
        };
        if let Some(record) = self.keys.remove(&key) {
            self.floor = self.floor.max(record.floor);
            self.held -= RECORD_WEIGHT;
        }
        true
    }
}

impl KeyRecord {
    /// Drops the entries that can no longer be accepted anyway; how many went.
    fn prune(&mut self, now: u64) -> usize {
        let mut dropped = 0;
        while let Some(Reverse((expires, id))) = self.by_expiry.peek().copied() {
            if expires.saturating_add(GRACE) >= now {
                break;
            }
            self.by_expiry.pop();
            self.seen.remove(&id);
            dropped += 1;
        }
        if dropped > 0 {
            self.fit();
        }
        dropped
    }

    /// Gives back memory the record no longer needs: the bound counts entries, so a record
    /// that held many and holds few must not keep room for many.
    fn fit(&mut self) {
        let len = self.seen.len();
        if self.seen.capacity() > 4 * len + 16 {
            self.seen.shrink_to(2 * len);
            self.by_expiry.shrink_to(2 * len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proof ids that all fall in one shard.
    fn id(n: u64) -> u64 {
        n * SHARDS as u64
    }

    #[test]
    fn a_proof_is_accepted_once() {
        let record = ReplayRecord::new(1_000);
        assert_eq!(record.record(1, 7, 1_060, 1_000), Ok(()));
        assert_eq!(record.record(1, 7, 1_060, 1_001), Err(DpopReason::Replayed));
        assert_eq!(record.record(1, 8, 1_060, 1_001), Ok(()));
        // The same `jti` hash under another key is another proof.
        assert_eq!(record.record(2, 7, 1_060, 1_001), Ok(()));
    }

    #[test]
    fn one_key_alone_may_use_the_whole_record_within_one_second() {
        let record = ReplayRecord::new(SHARDS * 100);
        for n in 0..(SHARDS as u64 * 90) {
            assert_eq!(record.record(1, n, 1_090, 1_000), Ok(()), "{n}");
        }
    }

    #[test]
    fn an_entry_is_kept_a_little_past_its_expiry_then_forgotten() {
        let record = ReplayRecord::new(1_000);
        assert_eq!(record.record(1, id(7), 1_060, 1_000), Ok(()));
        assert_eq!(record.record(1, id(8), 1_200, 1_065), Ok(()));
        assert_eq!(
            record.record(1, id(7), 1_060, 1_060),
            Err(DpopReason::Replayed)
        );
        assert_eq!(record.record(1, id(9), 1_200, 1_066), Ok(()));
        assert_eq!(
            record.held(),
            RECORD_WEIGHT + 2,
            "one key record, two entries"
        );
    }

    #[test]
    fn a_flooding_key_shrinks_its_own_window_only() {
        let record = ReplayRecord::new(SHARDS * 100);
        let now = 1_000;
        let (flooder, victim) = (1, 2);
        // Every proof in one shard. The flooder's are dated ahead and out of order.
        for n in 0..5_000u64 {
            let expires = now + 100 + (n * 7919) % 1_000;
            let _ = record.record(flooder, id(n), expires, now);
        }
        assert!(record.held() <= SHARDS * 100);
        // The victim's proofs, made a second apart while the flood goes on, all pass, each
        // once.
        for n in 0..500u64 {
            let now = now + n;
            let _ = record.record(flooder, id(10_000 + n), now + 1_000, now);
            assert_eq!(record.record(victim, id(n), now + 90, now), Ok(()), "{n}");
            assert_eq!(
                record.record(victim, id(n), now + 90, now),
                Err(DpopReason::Replayed)
            );
        }
        // Whatever the flooder sent before is refused, held or not.
        for n in 0..5_000u64 {
            let expires = now + 100 + (n * 7919) % 1_000;
            assert!(
                record.record(flooder, id(n), expires, now + 500).is_err(),
                "{n}"
            );
        }
    }

    #[test]
    fn a_flood_of_fresh_keys_raises_the_floor_only_to_its_oldest_entries() {
        // About ten one-entry keys fill a shard. A key a second, each proof dated 5 s ahead:
        // the shard holds the last ten seconds of the flood.
        let record = ReplayRecord::new(SHARDS * 80);
        for t in 0..200u64 {
            let now = 1_000 + t;
            let _ = record.record(10_000 + t, id(t), now + 95, now);
            // A fresh proof by a key of its own, made now, passes all along.
            assert_eq!(
                record.record(5, id(100_000 + t), now + 90, now),
                Ok(()),
                "{t}"
            );
        }
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_within_the_bound_and_never_lets_a_replay_through() {
        let record = ReplayRecord::new(SHARDS * 10);
        let now = 1_000;
        // Every key in one shard, more keys than it holds entries: whole key records go, and
        // the shard's floor refuses what may have been dropped.
        for key in 1..=2_000 {
            let _ = record.record(key, id(1), now + 60, now);
        }
        assert!(record.held() <= SHARDS * 10);
        for key in 1..=2_000 {
            assert!(record.record(key, id(1), now + 60, now).is_err());
        }
    }

    /// Fills a record of the default size with a million proofs from `keys` keys, in this
    /// process, and prints how much its resident memory grew.
    fn fill_and_measure(keys: u64) -> u64 {
        fn rss_kib() -> u64 {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|status| {
                    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
                    line.split_whitespace().nth(1)?.parse().ok()
                })
                .unwrap_or(0)
        }
        let before = rss_kib();
        let record = ReplayRecord::new(250_000);
        for n in 0..1_000_000u64 {
            let _ = record.record(
                n % keys,
                n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                2_000,
                1_000,
            );
        }
        let grown = rss_kib().saturating_sub(before);
        drop(record);
        grown
    }

    /// The memory of a full record stays near its bound whatever the mix of keys: measured in
    /// a process of its own for each mix (this test binary, run again), so that memory freed
    /// by one mix is not reused by the next.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_full_record_takes_about_fourteen_megabytes_whatever_the_mix_of_keys() {
        if let Ok(keys) = std::env::var("REPLAY_RECORD_KEYS") {
            let keys: u64 = keys.parse().unwrap();
            println!("grown_kib={} ", fill_and_measure(keys));
            return;
        }
        let test = "dpop::replay::tests::a_full_record_takes_about_fourteen_megabytes_whatever_the_mix_of_keys";
        for keys in [1u64, 1_000, 1_000_000] {
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .args([test, "--exact", "--nocapture", "--test-threads=1"])
                .env("REPLAY_RECORD_KEYS", keys.to_string())
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            let grown: u64 = stdout
                .split("grown_kib=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or_else(|| panic!("no measure: {stdout}"));
            // 250,000 entries of about 56 bytes: 14 MB; the bound leaves room for the
            // allocator's rounding, not for a record that counts wrong.
            assert!(grown < 20 * 1024, "{keys} keys: {grown} KiB");
        }
    }
}
