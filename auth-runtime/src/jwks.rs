//! Verification keys: the parsed key set, the [`KeySource`] trait, and the HTTP JWKS source.
//!
//! The request path only ever reads an already-parsed [`KeySet`] through an atomic pointer:
//! no lock, no I/O. The network is touched in three cases only:
//!
//! - no key set was loaded yet (the first request waits for the first fetch);
//! - a token names a `kid` the set does not hold (a key was rotated in at the issuer): one
//!   forced refetch, shared by every waiting request on every worker, and at most one per
//!   `jwks_min_refresh_interval_seconds`, so a flood of made-up `kid`s costs the issuer at
//!   most one fetch per interval;
//! - the set is older than `jwks_ttl_seconds`: the request that notices is served from the
//!   cached set and a refresh runs in the background.
//!
//! A failed fetch keeps the set already cached (and logs a warning). With no set at all,
//! requests get 503 with `Retry-After`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};

use crate::config::{Algorithm, AuthConfig, ConfigError};

/// A boxed future, as returned by [`KeySource::refresh`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The kinds of public key the validator can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (
                KeyKind::Rsa,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (KeyKind::P256, Algorithm::ES256)
                | (KeyKind::P384, Algorithm::ES384)
                | (KeyKind::Ed25519, Algorithm::EdDSA)
        )
    }
}

/// The aws-lc verification algorithm of a JOSE algorithm. RSA keys under 2048 bits are
/// refused by these.
fn verification(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
    }
}

/// Largest signature decoded: RSA-8192.
const MAX_SIGNATURE_BYTES: usize = 1024;

/// One public key, parsed once, ready to verify signatures.
///
/// The key is parsed into the crypto library's own form for each algorithm it may verify,
/// so that a verification does no key parsing at all.
pub struct VerifyingKey {
    kid: Option<String>,
    kind: KeyKind,
    /// The JWK's own `alg`, when it pins one.
    pinned: Option<Algorithm>,
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Parses a JWK. `Err` carries why it cannot be used (a private-use key, an unsupported
    /// type, a key that does not parse, an RSA key under 2048 bits); a key set skips such
    /// keys.
    pub fn from_jwk(jwk: &Jwk) -> Result<VerifyingKey, String> {
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return Err("its `use` is not `sig`".to_owned());
        }
        let decode = |field: &str| {
            URL_SAFE_NO_PAD
                .decode(field)
                .map_err(|_| "a key parameter is not base64url".to_owned())
        };
        let (kind, public) = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => (
                KeyKind::Rsa,
                rsa_public_key_der(&decode(&rsa.n)?, &decode(&rsa.e)?),
            ),
            AlgorithmParameters::EllipticCurve(ec) => {
                let (kind, len) = match ec.curve {
                    EllipticCurve::P256 => (KeyKind::P256, 32),
                    EllipticCurve::P384 => (KeyKind::P384, 48),
                    ref other => return Err(format!("curve {other:?} is not supported")),
                };
                let (x, y) = (decode(&ec.x)?, decode(&ec.y)?);
                if x.len() != len || y.len() != len {
                    return Err("its coordinates have the wrong length".to_owned());
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (kind, point)
            }
            AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
                EllipticCurve::Ed25519 => (KeyKind::Ed25519, decode(&okp.x)?),
                ref other => return Err(format!("curve {other:?} is not supported")),
            },
            // A symmetric key in a public key set is never used: it would let anyone who
            // can read the set forge tokens.
            AlgorithmParameters::OctetKey(_) => return Err("kty `oct` is refused".to_owned()),
            _ => return Err("its key type is not supported".to_owned()),
        };
        let pinned = match jwk.common.key_algorithm {
            None => None,
            Some(alg) => match key_algorithm(alg) {
                Some(alg) => Some(alg),
                None => return Err(format!("its alg {alg:?} is not supported")),
            },
        };
        let mut parsed = Vec::new();
        for alg in Algorithm::ALL {
            if kind.fits(alg) && pinned.is_none_or(|pinned| pinned == alg) {
                let key = ParsedPublicKey::new(verification(alg), &public)
                    .map_err(|err| format!("it does not parse: {err}"))?;
                parsed.push((alg, key));
            }
        }
        if parsed.is_empty() {
            return Err("its alg does not fit its key type".to_owned());
        }
        Ok(VerifyingKey {
            kid: jwk.common.key_id.clone(),
            kind,
            pinned,
            parsed,
        })
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether a token signed with `alg` may be checked with this key: the key type must fit
    /// the algorithm, and a key that pins an `alg` accepts only that one.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.parsed.iter().any(|(parsed, _)| *parsed == alg)
    }

    /// Checks `signature` (base64url, the token's third part) over `message` (the first two
    /// parts with their dot).
    pub(crate) fn verify(&self, message: &[u8], signature: &str, alg: Algorithm) -> bool {
        let Some((_, key)) = self.parsed.iter().find(|(parsed, _)| *parsed == alg) else {
            return false;
        };
        let mut decoded = [0u8; MAX_SIGNATURE_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(signature, &mut decoded) {
            Ok(len) => key.verify_sig(message, &decoded[..len]).is_ok(),
            Err(_) => false,
        }
    }
}

fn key_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// A DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017).
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(len: usize, out: &mut Vec<u8>) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn integer(value: &[u8], out: &mut Vec<u8>) {
        let start = value.iter().position(|b| *b != 0).unwrap_or(value.len());
        let value = &value[start..];
        let pad = value.first().is_none_or(|b| b & 0x80 != 0);
        out.push(0x02);
        length(value.len() + usize::from(pad), out);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(value);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(n, &mut body);
    integer(e, &mut body);
    let mut der = Vec::with_capacity(body.len() + 4);
    der.push(0x30);
    length(body.len(), &mut der);
    der.extend_from_slice(&body);
    der
}

/// A parsed key set, indexed by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
    by_kid: HashMap<String, usize>,
}

/// The answer of [`KeySet::find`].
#[derive(Debug)]
pub enum KeyLookup<'a> {
    /// The key to verify with.
    Found(&'a Arc<VerifyingKey>),
    /// The set holds no key with this `kid` (or, for a token without `kid`, no key at all).
    Unknown,
    /// The token has no `kid` and the set holds several keys.
    Ambiguous,
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
    pub fn from_jwks_json(body: &[u8]) -> Result<KeySet, String> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document = serde_json::from_slice(body)
            .map_err(|err| format!("not a JWKS document (expected {{\"keys\": [...]}}): {err}"))?;
        let mut keys = Vec::with_capacity(document.keys.len());
        for (index, value) in document.keys.into_iter().enumerate() {
            let parsed = serde_json::from_value::<Jwk>(value)
                .map_err(|err| format!("it is not a JWK: {err}"))
                .and_then(|jwk| VerifyingKey::from_jwk(&jwk));
            match parsed {
                Ok(key) => keys.push(key),
                Err(why) => tracing::debug!(index, why, "skipping JWKS key"),
            }
        }
        Ok(KeySet::new(keys))
    }

    /// Finds the key for a token's `kid`. A token without `kid` is matched only when the set
    /// holds exactly one key.
    pub fn find(&self, kid: Option<&str>) -> KeyLookup<'_> {
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
/// [`JwksKeySource`] fetches them over HTTP; an issuer embedded in the same process can hand
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

/// A key set fetched from a JWKS URL and cached (see the module documentation for when it
/// refetches).
#[derive(Clone)]
pub struct JwksKeySource {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    client: reqwest::Client,
    ttl: Duration,
    min_refresh_interval: Duration,
    max_bytes: usize,
    loaded: ArcSwapOption<Loaded>,
    /// Bumped on every successful fetch: a waiter that sees it move knows someone else
    /// already fetched for it.
    generation: AtomicU64,
    /// Serialises fetches; holds when the last attempt started.
    fetch_lock: tokio::sync::Mutex<Option<Instant>>,
    background_refresh: AtomicBool,
    fetches: AtomicU64,
}

struct Loaded {
    set: Arc<KeySet>,
    stale_at: Instant,
}

impl std::fmt::Debug for JwksKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksKeySource")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl JwksKeySource {
    /// A source for the configured `jwks_endpoint`, TTL, refetch interval, timeout and size
    /// cap. Fails when the endpoint is plain http to a host that is not loopback: a key set
    /// fetched in clear text can be swapped on the way, and with it every identity. Nothing
    /// is fetched until the first token arrives (or [`prefetch`] is called).
    ///
    /// [`prefetch`]: JwksKeySource::prefetch
    pub fn new(config: &AuthConfig) -> Result<JwksKeySource, ConfigError> {
        crate::config::check_jwks_url(&config.jwks_endpoint)?;
        let client = key_fetch_client(&config.jwks_endpoint, config)?;
        Ok(JwksKeySource {
            inner: Arc::new(Inner {
                url: config.jwks_endpoint.clone(),
                client,
                ttl: config.jwks_ttl,
                min_refresh_interval: config.jwks_min_refresh_interval,
                max_bytes: config.jwks_max_bytes,
                loaded: ArcSwapOption::empty(),
                generation: AtomicU64::new(0),
                fetch_lock: tokio::sync::Mutex::new(None),
                background_refresh: AtomicBool::new(false),
                fetches: AtomicU64::new(0),
            }),
        })
    }

    /// Fetches the key set now, so that the first request does not wait for it. A failure is
    /// returned (and the first request will try again).
    pub async fn prefetch(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        self.inner.refresh(Trigger::Prefetch).await
    }

    /// How many fetches were attempted so far (successful or not).
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }
}

impl KeySource for JwksKeySource {
    fn cached(&self) -> Option<Arc<KeySet>> {
        let loaded = self.inner.loaded.load();
        let loaded = loaded.as_ref()?;
        if loaded.stale_at <= Instant::now() {
            self.refresh_in_background();
        }
        Some(Arc::clone(&loaded.set))
    }

    fn refresh(&self) -> BoxFuture<'_, Result<Arc<KeySet>, KeysUnavailable>> {
        let seen = self.inner.generation.load(Ordering::Acquire);
        Box::pin(self.inner.refresh(Trigger::UnknownKey { seen }))
    }
}

impl JwksKeySource {
    fn refresh_in_background(&self) {
        if self.inner.background_refresh.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let _ = inner.refresh(Trigger::Stale).await;
                    inner.background_refresh.store(false, Ordering::Release);
                });
            }
            // Outside a runtime nothing can run in the background; the next request inside
            // one will try again.
            Err(_) => self
                .inner
                .background_refresh
                .store(false, Ordering::Release),
        }
    }
}

/// The HTTP client that fetches keys (and, later, documents pointing at them) from `url`.
///
/// A plain-http URL is fetched directly, never through a proxy: a proxy named in the
/// environment would otherwise see and answer the request, and could hand over its own keys.
/// An https URL follows the environment's proxy (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`)
/// unless `use_env_proxy` is off; TLS keeps such a proxy from changing what is fetched.
pub(crate) fn key_fetch_client(
    url: &str,
    config: &AuthConfig,
) -> Result<reqwest::Client, ConfigError> {
    let plain_http = url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
    let mut builder = reqwest::Client::builder()
        .timeout(config.jwks_timeout)
        .connect_timeout(config.jwks_timeout)
        // The source is shared by every actix worker, each with its own runtime; a pooled
        // connection belongs to the runtime that opened it, so none is kept. Fetches are
        // rare enough that this costs nothing.
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("auth-runtime/", env!("CARGO_PKG_VERSION")));
    if plain_http || !config.use_env_proxy {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|err| {
        ConfigError::new(format!("cannot build the HTTP client for the JWKS: {err}"))
    })
}

/// Why a fetch is wanted.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// Explicit warm-up.
    Prefetch,
    /// The cached set outlived its TTL (or the retry delay after a failure).
    Stale,
    /// A token named a key the set (of generation `seen`) does not hold.
    UnknownKey { seen: u64 },
}

impl Inner {
    /// Fetches the key set, once for all concurrent callers. A stale set is refetched when
    /// nobody refreshed it meanwhile; an unknown key forces a fetch only when nobody fetched
    /// since the caller looked and the last attempt is older than the refetch interval, so
    /// made-up `kid`s cannot drive the fetch rate.
    async fn refresh(&self, trigger: Trigger) -> Result<Arc<KeySet>, KeysUnavailable> {
        let mut last_attempt = self.fetch_lock.lock().await;
        let wanted = match trigger {
            Trigger::Prefetch => true,
            Trigger::Stale => self
                .loaded
                .load()
                .as_ref()
                .is_none_or(|loaded| loaded.stale_at <= Instant::now()),
            Trigger::UnknownKey { seen } => {
                seen == self.generation.load(Ordering::Acquire)
                    && last_attempt.is_none_or(|at| at.elapsed() >= self.min_refresh_interval)
            }
        };
        if !wanted {
            return self.current();
        }
        *last_attempt = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match self.fetch().await {
            Ok(set) => {
                let set = Arc::new(set);
                self.loaded.store(Some(Arc::new(Loaded {
                    set: Arc::clone(&set),
                    stale_at: Instant::now() + self.ttl,
                })));
                self.generation.fetch_add(1, Ordering::AcqRel);
                tracing::debug!(url = %self.url, keys = set.len(), "JWKS loaded");
                Ok(set)
            }
            Err(why) => {
                let cached = self.current();
                if let Ok(set) = &cached {
                    // Try again after the refetch interval (at least a second), not on every
                    // request meanwhile.
                    let retry = self.min_refresh_interval.max(Duration::from_secs(1));
                    self.loaded.store(Some(Arc::new(Loaded {
                        set: Arc::clone(set),
                        stale_at: Instant::now() + retry,
                    })));
                }
                tracing::warn!(
                    url = %self.url,
                    error = %why,
                    serving_cached_keys = cached.is_ok(),
                    "JWKS fetch failed"
                );
                cached
            }
        }
    }

    fn current(&self) -> Result<Arc<KeySet>, KeysUnavailable> {
        self.loaded
            .load()
            .as_ref()
            .map(|loaded| Arc::clone(&loaded.set))
            .ok_or(KeysUnavailable)
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let mut response = self
            .client
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| format!("request failed: {err}"))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes as u64)
        {
            return Err(format!("response larger than {} bytes", self.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| format!("reading the response failed: {err}"))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(format!("response larger than {} bytes", self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        let set = KeySet::from_jwks_json(&body)?;
        if set.is_empty() {
            return Err("the key set holds no usable signing key".to_owned());
        }
        Ok(set)
    }
}
