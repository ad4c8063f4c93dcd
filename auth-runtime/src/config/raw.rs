//! The `auth_client` section as written, before checking: [`RawConfig`], [`RawIssuer`] and
//! [`Audience`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ErrorFormat;
use crate::dpop::{DEFAULT_DPOP_ALGORITHMS, DpopMode};

/// The `auth_client` section as written in YAML or the environment, before checking.
///
/// Use [`AuthConfig::from_figment`](crate::AuthConfig::from_figment) (or [`RawConfig::validate`]) to get the checked form.
/// The keys from `issuer` to `roles_claim` describe one trusted issuer; with several, list
/// them under `issuers` (each entry takes those same keys, and a key an entry leaves out
/// takes the value written at the top level, or its default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    /// `false` turns the middleware into a pass-through. Default `true`.
    pub enabled: bool,
    /// Expected `iss`, compared exactly. Required when enabled (unless `issuers` is used).
    pub issuer: String,
    /// Expected `aud`: one value or a list, of which the token's `aud` (a string or an
    /// array) must contain at least one. Required when enabled.
    pub audience: Audience,
    /// `true`: the key set URL is the `jwks_uri` of the issuer's OpenID Provider metadata,
    /// fetched from `{issuer}/.well-known/openid-configuration`, whose `issuer` must equal the
    /// configured one exactly. Default `false`: `jwks_endpoint`, or the pico-server-auth path.
    pub discovery: bool,
    /// Where the JWKS lives. Empty: `{issuer without trailing /}/api/v1/auth/jwks`, or the
    /// discovered `jwks_uri` with `discovery: true`.
    #[serde(alias = "jwks_url")]
    pub jwks_endpoint: String,
    /// A JWKS document on disk holding the keys, instead of an endpoint: read at start-up
    /// (which fails when it cannot be), and again when the file changes (checked at most once
    /// a second, and when a token names a key it does not hold). Not with `jwks_endpoint` or
    /// `discovery`. Default empty: keys from the endpoint.
    pub keys_file: String,
    /// The secret HS256/384/512 tokens are signed with, for an issuer that has no public
    /// keys (no endpoint, discovery or key file): `accepted_algorithms` then lists HS*
    /// only, and the secret is at least as long as the hash (32 bytes for HS256, 48 for
    /// HS384, 64 for HS512). Best set from the environment (`AUTH_CLIENT__SHARED_SECRET`);
    /// never shown in logs, errors or `Debug`. Default empty: no HS* algorithm.
    pub shared_secret: SharedSecret,
    /// How long a fetched key set (and discovery document) is fresh. Default 300.
    pub jwks_ttl_seconds: u64,
    /// Least time between two refetches forced by an unknown `kid`. Default 2.
    pub jwks_min_refresh_interval_seconds: u64,
    /// Connect-and-read timeout of one fetch. Default 5.
    pub jwks_timeout_seconds: u64,
    /// Largest JWKS (or discovery document) read, in bytes. Default 262144 (256 KiB).
    pub jwks_max_bytes: usize,
    /// Whether https key fetches go through the proxy named by `HTTPS_PROXY` / `ALL_PROXY`
    /// (honouring `NO_PROXY`). Default `true`: TLS keeps a proxy from changing the keys.
    /// Plain-http fetches never use a proxy, whatever this says.
    pub use_env_proxy: bool,
    /// Algorithms a token may be signed with. Default `["RS256"]`.
    pub accepted_algorithms: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds. Default 30.
    pub leeway_seconds: u64,
    /// Largest token accepted, in bytes, checked before any parsing. Default 16384: wallet
    /// tokens carry the wallet's public key, about 10.5 KB for ML-DSA-65.
    pub max_token_bytes: usize,
    /// Longest lifetime a token may claim, in seconds: `exp - iat`, or `exp - now` for a
    /// token without `iat`. Default: no limit.
    pub max_token_lifetime_seconds: Option<u64>,
    /// The header `typ` every token must carry (`at+jwt` for RFC 9068 access tokens;
    /// compared without case, an `application/` prefix ignored). Default empty: any `typ`.
    pub required_token_type: String,
    /// Path prefixes that are never checked (`/health` covers `/health` and `/health/...`).
    pub public_paths: Vec<String>,
    /// Bound on the verified-token cache's estimated memory, in bytes; `0` turns the cache
    /// off. Default 33554432 (32 MiB).
    pub token_cache_max_bytes: u64,
    /// The body of 401/403/503 answers: `json` (default, `{"detail": "..."}`) or `problem`
    /// (RFC 9457 problem details, `application/problem+json`, with the error's `code`).
    pub error_format: ErrorFormat,
    /// Where the caller's roles are: a claim name, or a dotted path into nested objects
    /// (`realm_access.roles`), holding a string or an array of strings. A claim whose whole
    /// name matches is taken first, so namespaced claims such as
    /// `https://example.com/roles` work as written. Default `role`. A custom
    /// [`RoleResolver`](crate::RoleResolver) replaces it.
    pub roles_claim: String,
    /// Where the issuer serves its list of revoked `jti`s (auth-server:
    /// `{issuer}/api/v1/auth/revoked-jtis`); https, or plain http to loopback. A token on the
    /// list is refused (401). Default empty: no revocation list.
    pub revocation_endpoint: String,
    /// How old the revocation list may get before a request starts a refresh in the
    /// background, in seconds. Default 15.
    pub revocation_poll_seconds: u64,
    /// How old the revocation list may get before requests wait for a refresh, and are
    /// refused with 503 when it fails (see `revocation_fail_open`), in seconds. Default 60.
    pub revocation_max_staleness_seconds: u64,
    /// `true`: when the list is too old and cannot be refreshed, accept tokens against the
    /// last list held instead of refusing them. Default `false`.
    pub revocation_fail_open: bool,
    /// The most entries the revocation list may hold. A list that grows past it is treated
    /// as unavailable (the staleness rule applies: 503 unless `revocation_fail_open`) and
    /// logged at `error`. Default 1000000.
    pub revocation_max_entries: usize,
    /// The most memory, estimated in bytes, the revocation list may take; past it, as past
    /// `revocation_max_entries`. Default 67108864 (64 MiB).
    pub revocation_max_bytes: usize,
    /// Whether tokens may, must or must not be sender-constrained by DPoP (RFC 9449):
    /// `allowed` (default: unbound tokens as `Bearer`, bound ones as `DPoP` with a proof),
    /// `required` (bound tokens only), `off` (unbound tokens only).
    pub dpop: DpopMode,
    /// Algorithms a DPoP proof may be signed with. Default `[ES256, EdDSA, RS256, PS256,
    /// ML-DSA-44, ML-DSA-65, ML-DSA-87]`; shared-secret algorithms are refused.
    pub dpop_algorithms: Vec<String>,
    /// How old a DPoP proof's `iat` may be, in seconds, plus `leeway_seconds`. Default 60.
    pub dpop_max_age_seconds: u64,
    /// The URL (or URLs) clients reach this app at, as `https://api.example.com`: the
    /// scheme, host and port (and any path prefix a proxy removes) a DPoP proof's `htu`
    /// must name. Default empty: taken from the request's scheme and `Host` header, which
    /// is wrong behind a proxy.
    pub public_url: PublicUrls,
    /// The most DPoP proofs remembered, per issuer, to refuse their replay (about 56 bytes
    /// each, 14 MB at the default). When more arrive within their lifetime, the client key holding the most makes
    /// room: its oldest proofs go, and its proofs no newer than those are refused; other
    /// clients are not affected. Size it to at least the DPoP requests per second times
    /// `dpop_max_age_seconds` plus twice the leeway. Default 250000.
    pub dpop_replay_max_entries: usize,
    /// `true`: DPoP proofs must carry a nonce this app gave out (RFC 9449 section 9): a
    /// proof without one, or with one too old, is answered 401 `use_dpop_nonce` with a fresh
    /// nonce in `DPoP-Nonce`, and every answer to a DPoP request carries the current one.
    /// A proof then stops working once its nonce is two windows old, whatever its `iat`
    /// says. Default `false`.
    pub dpop_nonce: bool,
    /// How long one nonce window lasts, in seconds; a nonce is accepted in its window and
    /// the next. Default 60.
    pub dpop_nonce_seconds: u64,
    /// The secret nonces are made under, at least 32 bytes, the same on every instance so
    /// that each accepts the others' nonces (`AUTH_CLIENT__DPOP_NONCE_SECRET`). Default
    /// empty: a random secret per process, fine for a single instance.
    pub dpop_nonce_secret: SharedSecret,
    /// `true`: the middleware serves this app's protected resource metadata (RFC 9728) at
    /// `/.well-known/oauth-protected-resource` without a token, and every 401 challenge
    /// names it (`resource_metadata="..."`). Needs `public_url`, the resource's identifier.
    /// Default `false`.
    pub resource_metadata: bool,
    /// Several trusted issuers, each with its own keys, algorithms, audience and role
    /// mapping; the token's `iss` picks one before any key is looked up. Default empty: the
    /// one issuer described by the keys above.
    pub issuers: Vec<RawIssuer>,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            enabled: true,
            issuer: String::new(),
            audience: Audience::default(),
            discovery: false,
            jwks_endpoint: String::new(),
            keys_file: String::new(),
            shared_secret: SharedSecret::default(),
            jwks_ttl_seconds: 300,
            jwks_min_refresh_interval_seconds: 2,
            jwks_timeout_seconds: 5,
            jwks_max_bytes: 256 * 1024,
            use_env_proxy: true,
            accepted_algorithms: vec!["RS256".to_owned()],
            leeway_seconds: 30,
            max_token_bytes: 16 * 1024,
            max_token_lifetime_seconds: None,
            required_token_type: String::new(),
            public_paths: Vec::new(),
            token_cache_max_bytes: 32 * 1024 * 1024,
            error_format: ErrorFormat::Json,
            roles_claim: "role".to_owned(),
            revocation_endpoint: String::new(),
            revocation_poll_seconds: 15,
            revocation_max_staleness_seconds: 60,
            revocation_fail_open: false,
            revocation_max_entries: 1_000_000,
            revocation_max_bytes: 64 * 1024 * 1024,
            dpop: DpopMode::Allowed,
            dpop_algorithms: DEFAULT_DPOP_ALGORITHMS
                .iter()
                .map(|alg| alg.as_str().to_owned())
                .collect(),
            dpop_max_age_seconds: 60,
            public_url: PublicUrls::default(),
            dpop_replay_max_entries: 250_000,
            dpop_nonce: false,
            dpop_nonce_seconds: 60,
            dpop_nonce_secret: SharedSecret::default(),
            resource_metadata: false,
            issuers: Vec::new(),
        }
    }
}

/// One entry of `auth_client.issuers`: the keys of the single-issuer form. A key left out
/// takes the value written at the top level of `auth_client` (or that key's default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)] // each key means what the same key of `RawConfig` means
pub struct RawIssuer {
    pub issuer: String,
    pub audience: Option<Audience>,
    pub discovery: Option<bool>,
    #[serde(alias = "jwks_url")]
    pub jwks_endpoint: Option<String>,
    pub keys_file: Option<String>,
    pub shared_secret: Option<SharedSecret>,
    pub jwks_ttl_seconds: Option<u64>,
    pub jwks_min_refresh_interval_seconds: Option<u64>,
    pub jwks_timeout_seconds: Option<u64>,
    pub jwks_max_bytes: Option<usize>,
    pub use_env_proxy: Option<bool>,
    pub accepted_algorithms: Option<Vec<String>>,
    pub leeway_seconds: Option<u64>,
    pub max_token_lifetime_seconds: Option<u64>,
    pub required_token_type: Option<String>,
    pub roles_claim: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub revocation_poll_seconds: Option<u64>,
    pub revocation_max_staleness_seconds: Option<u64>,
    pub revocation_fail_open: Option<bool>,
    pub revocation_max_entries: Option<usize>,
    pub revocation_max_bytes: Option<usize>,
    pub dpop: Option<DpopMode>,
    pub dpop_algorithms: Option<Vec<String>>,
    pub dpop_max_age_seconds: Option<u64>,
}

/// A secret from the configuration (`shared_secret`). Its `Debug` never shows it; read it
/// with [`SharedSecret::expose`].
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SharedSecret(String);

impl SharedSecret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("SharedSecret(\"\")")
        } else {
            f.write_str("SharedSecret(<redacted>)")
        }
    }
}

impl From<&str> for SharedSecret {
    fn from(secret: &str) -> SharedSecret {
        SharedSecret(secret.to_owned())
    }
}

impl From<String> for SharedSecret {
    fn from(secret: String) -> SharedSecret {
        SharedSecret(secret)
    }
}

/// One accepted audience or several: `audience: my-api` or `audience: [my-api, admin-api]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience(pub Vec<String>);

impl Audience {
    /// The audiences, in the order written.
    pub fn values(&self) -> &[String] {
        &self.0
    }
}

impl From<&str> for Audience {
    fn from(one: &str) -> Audience {
        Audience(vec![one.to_owned()])
    }
}

impl From<String> for Audience {
    fn from(one: String) -> Audience {
        Audience(vec![one])
    }
}

impl From<Vec<String>> for Audience {
    fn from(many: Vec<String>) -> Audience {
        Audience(many)
    }
}

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_one_or_many(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Audience, D::Error> {
        deserialize_one_or_many(deserializer).map(Audience)
    }
}

/// The URL clients reach the app at, or several: `public_url: https://api.example.com` or a
/// list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicUrls(pub Vec<String>);

impl PublicUrls {
    /// The URLs, in the order written.
    pub fn values(&self) -> &[String] {
        &self.0
    }
}

impl From<&str> for PublicUrls {
    fn from(one: &str) -> PublicUrls {
        PublicUrls(vec![one.to_owned()])
    }
}

impl Serialize for PublicUrls {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_one_or_many(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for PublicUrls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<PublicUrls, D::Error> {
        deserialize_one_or_many(deserializer).map(PublicUrls)
    }
}

/// A key that takes one value or a list. A single value is written as text, so that the
/// environment override of the key is read as text too (see `EnvSection`).
fn serialize_one_or_many<S: serde::Serializer>(
    values: &[String],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match values {
        [] => serializer.serialize_str(""),
        [one] => serializer.serialize_str(one),
        many => many.serialize(serializer),
    }
}

/// Reads a string (or a number, as text) or a list of strings.
fn deserialize_one_or_many<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: serde::de::Error>(self, one: &str) -> Result<Vec<String>, E> {
            Ok(vec![one.to_owned()])
        }
        fn visit_u64<E: serde::de::Error>(self, one: u64) -> Result<Vec<String>, E> {
            Ok(vec![one.to_string()])
        }
        fn visit_i64<E: serde::de::Error>(self, one: i64) -> Result<Vec<String>, E> {
            Ok(vec![one.to_string()])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut all = Vec::new();
            while let Some(one) = seq.next_element::<String>()? {
                all.push(one);
            }
            Ok(all)
        }
    }
    deserializer.deserialize_any(Visitor)
}
