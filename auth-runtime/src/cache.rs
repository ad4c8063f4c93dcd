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
//!   is bounded by its memory (`token_cache_max_bytes`), counted for each entry from what it
//!   really holds (the token, every parsed claim, the roles, the allocations around them),
//!   sharded (no global lock), and its S3-FIFO eviction keeps the tokens that keep coming
//!   back.
//! - The claims in the application's own type ([`Claims`](crate::Claims)) are kept with the
//!   identity, once asked for; they are not counted, and take at most about as much memory
//!   again as the parsed claims that are.
//! - Roles are stored with the token only when the role resolver says they may be
//!   ([`RoleResolver::cacheable`](crate::RoleResolver::cacheable)).

use std::sync::Arc;

use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, Weighter};

use serde_json::{Map, Value};

use crate::claims::ValidToken;
use crate::principal::Principal;
use crate::validate::Verified;

/// The least share of the bound one shard of the cache gets (unless the bound is smaller).
const MIN_SHARD_BYTES: u64 = 1024 * 1024;

/// Per-entry memory the cache itself spends on an entry: its slot, hash and bookkeeping.
const SLOT_OVERHEAD: usize = 128;

/// A verified token, ready to be accepted again.
pub(crate) struct Entry {
    verified: Verified,
    /// Present when the roles may be cached with the token.
    principal: Option<Principal>,
    /// What the entry holds in memory, counted once when it is made.
    weight: u64,
}

impl Entry {
    /// An entry for `token`, weighed by everything it keeps alive: the token text (the key),
    /// the parsed claims (raw and extracted), the roles, and the allocations around them.
    /// The claims are walked once here, on a miss that just verified a signature; a token
    /// whose claims are shaped to be small as text and large in memory weighs what it costs.
    pub(crate) fn new(token: &str, verified: Verified, principal: Option<Principal>) -> Entry {
        let mut bytes = SLOT_OVERHEAD
            + heap(token.len())
            + heap(size_of::<Entry>() + 2 * size_of::<usize>())
            + heap(size_of::<ValidToken>() + 2 * size_of::<usize>())
            + verified.kid.as_ref().map_or(0, |kid| heap(kid.len()))
            + claims_bytes(&verified.token);
        if let Some(principal) = &principal {
            bytes += heap(6 * size_of::<usize>())
                + heap(principal.roles_capacity() * size_of::<String>())
                + principal
                    .roles()
                    .iter()
                    .map(|r| heap(r.capacity()))
                    .sum::<usize>();
        }
        Entry {
            verified,
            principal,
            weight: bytes as u64,
        }
    }

    pub(crate) fn verified(&self) -> &Verified {
        &self.verified
    }

    pub(crate) fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }
}

/// What one allocation of `len` bytes takes from the allocator: a header and rounding to 16
/// bytes, 32 at least (glibc's malloc; jemalloc and mimalloc take less).
fn heap(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len + 8).next_multiple_of(16).max(32)
    }
}

fn claims_bytes(token: &ValidToken) -> usize {
    let claims = &token.claims;
    [
        &claims.sub,
        &claims.email,
        &claims.role,
        &claims.org_id,
        &claims.jti,
    ]
    .iter()
    .map(|s| heap(s.capacity()))
    .sum::<usize>()
        + heap(claims.groups.capacity() * size_of::<String>())
        + claims
            .groups
            .iter()
            .map(|g| heap(g.capacity()))
            .sum::<usize>()
        + object_bytes(&token.raw)
}

fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => heap(s.capacity()),
        Value::Array(items) => {
            heap(items.capacity() * size_of::<Value>())
                + items.iter().map(value_bytes).sum::<usize>()
        }
        Value::Object(map) => object_bytes(map),
    }
}

fn object_bytes(map: &Map<String, Value>) -> usize {
    let members: usize = map
        .iter()
        .map(|(name, value)| heap(name.capacity()) + value_bytes(value))
        .sum();
    members + map_structure_bytes(map.len())
}

/// The memory of a map's own structure for `len` members. serde_json's map is a `BTreeMap`
/// (nodes of up to 11 members, at least 5 below the root) unless some crate in the build
/// turns on its `preserve_order` feature, which makes it an `IndexMap` (a vector of members
/// plus a hash table, both grown by doubling); the map's size tells which.
fn map_structure_bytes(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let member = size_of::<String>() + size_of::<Value>();
    if size_of::<Map<String, Value>>() <= 3 * size_of::<usize>() {
        const NODE_HEADER: usize = 16;
        let leaf = heap(NODE_HEADER + 11 * member);
        let internal = heap(NODE_HEADER + 11 * member + 12 * size_of::<usize>());
        let leaves = if len <= 11 { 1 } else { len.div_ceil(5) };
        let internals = if leaves == 1 {
            0
        } else {
            leaves.div_ceil(5) + 1
        };
        leaves * leaf + internals * internal
    } else {
        let capacity = len.next_power_of_two();
        heap(capacity * (member + size_of::<usize>()))
            + heap(capacity * (size_of::<usize>() + 1) + 16)
    }
}

/// Weighs an entry by what [`Entry::new`] counted.
#[derive(Clone, Copy)]
struct EntryWeight;

impl Weighter<Box<str>, Arc<Entry>> for EntryWeight {
    fn weight(&self, _token: &Box<str>, entry: &Arc<Entry>) -> u64 {
        entry.weight
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
        // A typical token of a kilobyte with ten claims weighs about 4 KiB.
        let typical = 4 * 1024;
        let items = (max_bytes / typical).max(16) as usize;
        let parallelism = std::thread::available_parallelism().map_or(4, |n| n.get()) as u64;
        // Each shard holds its share of the bound, and a token weighing more than that share
        // is never kept: shards of at least 1 MiB keep even the heaviest tokens cacheable.
        let shards = (max_bytes / MIN_SHARD_BYTES).clamp(1, 4 * parallelism);
        let options = OptionsBuilder::new()
            .estimated_items_capacity(items)
            .weight_capacity(max_bytes)
            .shards(shards as usize)
            .build();
        let entries = match options {
            Ok(options) => Cache::with_options(
                options,
                EntryWeight,
                DefaultHashBuilder::default(),
                DefaultLifecycle::default(),
            ),
            // Only fails when a capacity above is missing, which it never is.
            Err(_) => Cache::with_weighter(items, max_bytes, EntryWeight),
        };
        TokenCache { entries }
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
