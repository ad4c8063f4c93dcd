//! The keys a validator trusts, indexed by `kid`, and the [`KeySource`] trait.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::key::VerifyingKey;
use crate::BoxFuture;

/// Why a JWKS document was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// Not JSON of the form `{"keys": [...]}` (the parser's reason).
    NotJwks(String),
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::NotJwks(why) => {
                write!(
                    f,
                    "not a JWKS document (expected {{\"keys\": [...]}}): {why}"
                )
            }
        }
    }
}

impl std::error::Error for JwksError {}

/// A parsed key set, indexed by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
    by_kid: HashMap<String, usize>,
    /// The keys have no `kid` of their own (PEM keys, a shared secret): a token is checked
    /// against each of them, whatever `kid` it names.
    unnamed: bool,
}

/// The answer of [`KeySet::find`].
#[derive(Debug)]
pub(crate) enum KeyLookup<'a> {
    /// The key to verify with.
    Found(&'a Arc<VerifyingKey>),
    /// The set holds no key with this `kid` (or, for a token without `kid`, no key at all).
    Unknown,
    /// The token has no `kid` and the set holds several keys.
    Ambiguous,
    /// Keys without a `kid` of their own (PEM keys, a shared secret): the token is checked
    /// against each in turn. Never empty.
    Each(&'a [Arc<VerifyingKey>]),
}

impl KeySet {
    /// Builds a set from parsed keys; a later key with a `kid` already seen is ignored.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> KeySet {
        let mut set = KeySet::default();
        for key in keys {
            if let Some(kid) = &key.kid {
                if set.by_kid.contains_key(kid) {
                    continue;
                }
                set.by_kid.insert(kid.clone(), set.keys.len());
            }
            set.keys.push(Arc::new(key));
        }
        set
    }

    /// Parses a JWKS document (`{"keys": [...]}`). Keys that cannot be used are skipped and
    /// logged; the document itself must be JSON with a `keys` array.
    pub fn from_jwks_json(body: &[u8]) -> Result<KeySet, JwksError> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document =
            serde_json::from_slice(body).map_err(|err| JwksError::NotJwks(err.to_string()))?;
        let mut keys = Vec::with_capacity(document.keys.len());
        for (index, value) in document.keys.into_iter().enumerate() {
            match VerifyingKey::from_json(&value) {
                Ok(key) => keys.push(key),
                Err(why) => tracing::debug!(index, why = %why, "skipping JWKS key"),
            }
        }
        Ok(KeySet::new(keys))
    }

    /// The public keys of a PEM file (`PUBLIC KEY` and `RSA PUBLIC KEY` blocks). They have no
    /// `kid`: a token is checked against each, whatever `kid` it names. Fails on a block that
    /// is not a public key, or does not parse.
    pub fn from_pem(text: &[u8]) -> Result<KeySet, String> {
        super::pem::keys_from_pem(text).map(KeySet::unnamed)
    }

    /// An issuer's shared secret, for the HS* algorithms among `algorithms`.
    pub(crate) fn shared_secret(secret: &[u8], algorithms: &[crate::Algorithm]) -> KeySet {
        KeySet::unnamed(vec![VerifyingKey::from_shared_secret(secret, algorithms)])
    }

    /// A set of keys without a `kid` of their own: a token is checked against each.
    fn unnamed(keys: Vec<VerifyingKey>) -> KeySet {
        KeySet {
            keys: keys.into_iter().map(Arc::new).collect(),
            by_kid: HashMap::new(),
            unnamed: true,
        }
    }

    /// Finds the key for a token's `kid`. A token without `kid` is matched only when the set
    /// holds exactly one key; in a set of keys without `kid`s, every key is a candidate.
    pub(crate) fn find(&self, kid: Option<&str>) -> KeyLookup<'_> {
        if self.unnamed {
            return match self.keys.as_slice() {
                [] => KeyLookup::Unknown,
                keys => KeyLookup::Each(keys),
            };
        }
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(&index) => KeyLookup::Found(&self.keys[index]),
                None => KeyLookup::Unknown,
            },
            None => match self.keys.as_slice() {
                [only] => KeyLookup::Found(only),
                [] => KeyLookup::Unknown,
                _ => KeyLookup::Ambiguous,
            },
        }
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// No key set could be obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysUnavailable;

/// Where the validator gets its keys.
///
/// The request path only ever reads an already-parsed [`KeySet`] through an atomic pointer:
/// no lock, no I/O. The network is touched in three cases only:
///
/// - no key set was loaded yet (the first request waits for the first fetch);
/// - a token names a `kid` the set does not hold (a key was rotated in at the issuer): one
///   forced refetch, shared by every waiting request on every worker, and at most one per
///   `jwks_min_refresh_interval_seconds`, so a flood of made-up `kid`s costs the issuer at
///   most one fetch per interval;
/// - the set is older than `jwks_ttl_seconds`: the request that notices is served from the
///   cached set and a refresh runs in the background.
///
/// A fetch runs one at a time and every request waiting for it shares its outcome, so none
/// waits longer than one fetch; a failed fetch is remembered for the retry interval
/// (`jwks_min_refresh_interval_seconds`, one second at least), keeps the set already cached
/// and logs a warning. With no set at all, requests get 503 with `Retry-After`.
///
/// The pieces: [`VerifyingKey`] (one JWK, parsed into a verifying key), [`KeySet`] and the
/// [`KeySource`] trait (the keys a validator trusts, and where they come from), and
/// [`JwksKeySource`](crate::JwksKeySource) (the HTTP source with its single-flight refresh).
///
/// [`JwksKeySource`](crate::JwksKeySource) fetches them over HTTP; an issuer embedded in the same process can hand
/// its keys over directly by implementing this trait.
pub trait KeySource: Send + Sync + 'static {
    /// The keys at hand, without waiting; `None` when none were loaded yet. Called on every
    /// request, so it must be cheap and must not block.
    fn cached(&self) -> Option<Arc<KeySet>>;

    /// Called when a token's `kid` is not in [`cached`](KeySource::cached) (or nothing is
    /// cached): get a newer set if the source allows it now, and return the newest set held.
    fn refresh(&self) -> BoxFuture<'_, Result<Arc<KeySet>, KeysUnavailable>>;
}

/// A fixed key set: for keys known at start-up, and for tests.
impl KeySource for Arc<KeySet> {
    fn cached(&self) -> Option<Arc<KeySet>> {
        Some(Arc::clone(self))
    }

    fn refresh(&self) -> BoxFuture<'_, Result<Arc<KeySet>, KeysUnavailable>> {
        let set = Arc::clone(self);
        Box::pin(async move { Ok(set) })
    }
}
