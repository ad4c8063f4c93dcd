//! The verified-token cache: a token seen and verified before is accepted again without its
//! signature being checked, as Envoy's `jwt_authn` does.
//!
//! - Only the exact same token bytes hit: the key is the whole token, compared in full.
//! - A hit skips the signature, never the clock: `exp` and `nbf` (with the leeway) are checked
//!   on every request, and an expired entry is dropped.
//! - An entry is used only while the key that verified it is still the one the key source
//!   holds for its `kid`: a key that leaves the set takes its tokens with it (and a refetched
//!   set, whose keys are parsed anew, makes every token be verified once more).
//! - Only verified tokens are stored, so a flood of forged tokens never enters it; the cache
//!   is bounded by an estimate of its memory (`token_cache_max_bytes`), sharded (no global
//!   lock), and its S3-FIFO eviction keeps the tokens that keep coming back.
//! - Roles are stored with the token only when the role resolver says they may be
//!   ([`RoleResolver::cacheable`](crate::RoleResolver::cacheable)).

use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::context::Principal;
use crate::validate::Verified;

/// Per-entry memory beyond the token text: the map slot, the `Arc`s, the parsed claims'
/// structure.
const ENTRY_OVERHEAD: u64 = 512;

/// A verified token, ready to be accepted again.
pub(crate) struct Entry {
    pub(crate) verified: Verified,
    /// Present when the roles may be cached with the token.
    pub(crate) principal: Option<Principal>,
}

/// An entry's estimated memory: the token (kept as the key) and its decoded claims (kept
/// twice: raw and extracted), which are smaller than the base64 they came from.
#[derive(Clone, Copy)]
struct EntryWeight;

impl Weighter<Box<str>, Arc<Entry>> for EntryWeight {
    fn weight(&self, token: &Box<str>, _entry: &Arc<Entry>) -> u64 {
        3 * token.len() as u64 + ENTRY_OVERHEAD
    }
}

pub(crate) struct TokenCache {
    entries: Cache<Box<str>, Arc<Entry>, EntryWeight>,
}

/// What the verified-token cache holds; see [`JwtAuth::token_cache_stats`](crate::JwtAuth::token_cache_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheStats {
    /// Tokens held.
    pub entries: usize,
    /// Their estimated memory, in bytes.
    pub weight_bytes: u64,
    /// The bound on that estimate (`token_cache_max_bytes`).
    pub capacity_bytes: u64,
    /// Requests answered from the cache so far.
    pub hits: u64,
    /// Requests that had to verify a signature so far.
    pub misses: u64,
}

impl TokenCache {
    pub(crate) fn new(max_bytes: u64) -> TokenCache {
        let typical = 3 * 1024 + ENTRY_OVERHEAD;
        let items = (max_bytes / typical).max(16) as usize;
        TokenCache {
            entries: Cache::with_weighter(items, max_bytes, EntryWeight),
        }
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<Entry>> {
        self.entries.get(token)
    }

    pub(crate) fn insert(&self, token: &str, entry: Entry) {
        self.entries.insert(Box::from(token), Arc::new(entry));
    }

    pub(crate) fn remove(&self, token: &str) {
        self.entries.remove(token);
    }

    pub(crate) fn stats(&self) -> TokenCacheStats {
        TokenCacheStats {
            entries: self.entries.len(),
            weight_bytes: self.entries.weight(),
            capacity_bytes: self.entries.capacity(),
            hits: self.entries.hits(),
            misses: self.entries.misses(),
        }
    }
}
