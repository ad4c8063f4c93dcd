//! Configuration of the validator: the `auth_client` section, read through figment.
//!
//! ```yaml
//! auth_client:
//!   issuer: https://auth.example.com
//!   audience: my-api
//!   # everything below is optional
//!   jwks_endpoint: https://auth.example.com/.well-known/jwks.json
//!   accepted_algorithms: [RS256]
//!   public_paths: [/health, /docs]
//! ```
//!
//! With an OpenID Provider (Keycloak, Auth0, Entra ID, ...), `discovery: true` reads the key
//! set URL from `{issuer}/.well-known/openid-configuration`. Several trusted issuers go in a
//! list whose entries take the keys of the single form; a key an entry leaves out takes the
//! top-level value:
//!
//! ```yaml
//! auth_client:
//!   issuers:
//!     - issuer: https://id.example.com/realms/acme
//!       audience: my-api
//!       discovery: true
//!       roles_claim: realm_access.roles
//!     - issuer: http://localhost:8100
//!       audience: [my-api, admin-api]
//! ```
//!
//! Every key can be overridden from the environment with `AUTH_CLIENT__` and a double
//! underscore for nesting (`AUTH_CLIENT__ISSUER=https://...`); the environment wins over the
//! file. [`figment_from`] builds that layering; [`AuthConfig::from_figment`] reads the section
//! from any figment and checks it.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Yaml};
use serde::{Deserialize, Serialize};

/// The figment section this crate reads.
pub const SECTION: &str = "auth_client";

/// The path appended to the issuer when no `jwks_endpoint` is configured.
pub const DEFAULT_JWKS_PATH: &str = "/api/v1/auth/jwks";

mod env;

pub use env::{EnvSection, explain, is_secret_key};

/// Builds the standard figment: the YAML file at `yaml_path` (skipped when it does not
/// exist), then the `AUTH_CLIENT__*` environment variables on top (see [`EnvSection`]).
///
/// ```no_run
/// let figment = auth_runtime::config::figment_from("config.yaml");
/// let config = auth_runtime::AuthConfig::from_figment(&figment)?;
/// # Ok::<(), auth_runtime::ConfigError>(())
/// ```
pub fn figment_from(yaml_path: impl AsRef<Path>) -> Figment {
    Figment::new()
        .merge(Yaml::file(yaml_path.as_ref()))
        .merge(EnvSection::new(
            "AUTH_CLIENT",
            SECTION,
            &RawConfig::default(),
        ))
}

/// A signature algorithm the validator can accept.
///
/// Shared-secret algorithms (HS256/384/512) are deliberately absent: a validator that holds
/// only public keys must never be tricked into treating one as an HMAC secret.
///
/// The ML-DSA levels (FIPS 204, post-quantum) are verified with keys of type `AKP`
/// (`{"kty": "AKP", "alg": "ML-DSA-65", "pub": <base64url raw public key>}`), as the JOSE
/// ML-DSA draft writes them; like every algorithm but RS256, they are accepted only when
/// `accepted_algorithms` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)] // the variant names are the JOSE algorithm names
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
    /// ML-DSA-44 (FIPS 204, NIST security category 2); JOSE name `ML-DSA-44`.
    #[serde(rename = "ML-DSA-44")]
    MlDsa44,
    /// ML-DSA-65 (category 3); JOSE name `ML-DSA-65`.
    #[serde(rename = "ML-DSA-65")]
    MlDsa65,
    /// ML-DSA-87 (category 5); JOSE name `ML-DSA-87`.
    #[serde(rename = "ML-DSA-87")]
    MlDsa87,
}

impl Algorithm {
    /// Every algorithm the validator supports, in the order the docs list them.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::MlDsa44,
        Algorithm::MlDsa65,
        Algorithm::MlDsa87,
    ];

    /// The JOSE name (`"RS256"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::MlDsa44 => "ML-DSA-44",
            Algorithm::MlDsa65 => "ML-DSA-65",
            Algorithm::MlDsa87 => "ML-DSA-87",
        }
    }

    /// Parses a JOSE name; `None` for anything not supported (including `none` and HS*).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// The `jsonwebtoken` algorithm, for the ones it knows (not ML-DSA).
    #[cfg(feature = "testing")]
    pub(crate) fn to_jwt(self) -> Option<jsonwebtoken::Algorithm> {
        use jsonwebtoken::Algorithm as J;
        Some(match self {
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
            Algorithm::MlDsa44 | Algorithm::MlDsa65 | Algorithm::MlDsa87 => return None,
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `auth_client` section as written in YAML or the environment, before checking.
///
/// Use [`AuthConfig::from_figment`] (or [`RawConfig::validate`]) to get the checked form.
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
        // A single value is written as text, so that the environment override of the key is
        // read as text too (see `EnvSection`).
        match self.0.as_slice() {
            [] => serializer.serialize_str(""),
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Audience, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, one: &str) -> Result<Audience, E> {
                Ok(Audience::from(one))
            }
            fn visit_u64<E: serde::de::Error>(self, one: u64) -> Result<Audience, E> {
                Ok(Audience::from(one.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, one: i64) -> Result<Audience, E> {
                Ok(Audience::from(one.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Audience, A::Error> {
                let mut all = Vec::new();
                while let Some(one) = seq.next_element::<String>()? {
                    all.push(one);
                }
                Ok(Audience(all))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A configuration that was read and checked: everything the validator needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    /// `false`: the middleware lets every request through without looking at it.
    pub enabled: bool,
    /// The trusted issuers, at least one when enabled; each token is checked against the
    /// one its `iss` names.
    pub issuers: Vec<IssuerConfig>,
    /// Largest token accepted, in bytes.
    pub max_token_bytes: usize,
    /// Path prefixes that are never checked.
    pub public_paths: Vec<String>,
    /// Bound on the verified-token cache, in bytes; `0`: no cache.
    pub token_cache_max_bytes: u64,
    /// The body of rejections.
    pub error_format: ErrorFormat,
}

/// The body of the 401/403/503 answers the middleware and the attributes give (a
/// [`JwtAuthBuilder::error_handler`](crate::JwtAuthBuilder::error_handler) replaces either).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorFormat {
    /// `{"detail": "Token has expired"}`, as pico-client-auth answers.
    #[default]
    Json,
    /// RFC 9457 problem details, `application/problem+json`:
    /// `{"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "Token has
    /// expired", "code": "expired"}`, `code` being [`AuthError::code`](crate::AuthError::code).
    Problem,
}

/// One trusted issuer, checked: its keys, algorithms, audiences and role mapping.
///
/// Its `Debug` output shows the JWKS URL without any user name or password in it.
#[derive(Clone, PartialEq)]
pub struct IssuerConfig {
    /// Expected `iss`, compared exactly.
    pub issuer: String,
    /// Accepted `aud` values, never empty: a token's `aud` must contain one of them.
    pub audiences: Vec<String>,
    /// Whether the JWKS URL comes from the issuer's discovery document.
    pub discovery: bool,
    /// The JWKS URL (defaulted from the issuer when not configured); empty with discovery.
    pub jwks_endpoint: String,
    /// Freshness of a fetched key set (and discovery document).
    pub jwks_ttl: Duration,
    /// Least time between two forced refetches.
    pub jwks_min_refresh_interval: Duration,
    /// Timeout of one fetch.
    pub jwks_timeout: Duration,
    /// Largest JWKS (or discovery document) read.
    pub jwks_max_bytes: usize,
    /// Whether https key fetches follow the environment's proxy (plain http never does).
    pub use_env_proxy: bool,
    /// Accepted signature algorithms, never empty.
    pub accepted_algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// Longest lifetime a token may claim, in seconds; `None`: no limit.
    pub max_token_lifetime_seconds: Option<u64>,
    /// The `typ` every token must carry, without an `application/` prefix; `None`: any.
    pub required_token_type: Option<String>,
    /// Where the default role resolution reads roles (a claim name or a dotted path).
    pub roles_claim: String,
    /// Where the list of revoked `jti`s is read; empty: no list.
    pub revocation_endpoint: String,
    /// Age of the revocation list after which a request refreshes it in the background.
    pub revocation_poll: Duration,
    /// Age after which requests wait for a refresh, and are refused when it fails.
    pub revocation_max_staleness: Duration,
    /// Whether tokens are accepted against an old list when it cannot be refreshed.
    pub revocation_fail_open: bool,
    /// The configuration key of this issuer (`auth_client` or `auth_client.issuers[1]`),
    /// named by errors about it.
    key: String,
}

impl fmt::Debug for IssuerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerConfig")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("discovery", &self.discovery)
            .field("jwks_endpoint", &redacted_text(&self.jwks_endpoint))
            .field("jwks_ttl", &self.jwks_ttl)
            .field("jwks_min_refresh_interval", &self.jwks_min_refresh_interval)
            .field("jwks_timeout", &self.jwks_timeout)
            .field("jwks_max_bytes", &self.jwks_max_bytes)
            .field("use_env_proxy", &self.use_env_proxy)
            .field("accepted_algorithms", &self.accepted_algorithms)
            .field("leeway_seconds", &self.leeway_seconds)
            .field(
                "max_token_lifetime_seconds",
                &self.max_token_lifetime_seconds,
            )
            .field("required_token_type", &self.required_token_type)
            .field("roles_claim", &self.roles_claim)
            .field(
                "revocation_endpoint",
                &redacted_text(&self.revocation_endpoint),
            )
            .field("revocation_poll", &self.revocation_poll)
            .field("revocation_max_staleness", &self.revocation_max_staleness)
            .field("revocation_fail_open", &self.revocation_fail_open)
            .finish()
    }
}

/// A configuration that cannot be used, with the key at fault and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    /// An error with `message`, which should name the key at fault and the fix.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
        }
    }

    /// The message, naming the key and the fix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl AuthConfig {
    /// Reads the `auth_client` section of `figment` and checks it. A missing section means
    /// all defaults, which fails because `issuer` must be set.
    pub fn from_figment(figment: &Figment) -> Result<AuthConfig, ConfigError> {
        let raw: RawConfig = figment
            .focus(SECTION)
            .extract()
            .map_err(|err| explain(SECTION, err))?;
        raw.validate()
    }

    /// The only (or first) trusted issuer; `None` when auth is disabled.
    pub fn issuer(&self) -> Option<&IssuerConfig> {
        self.issuers.first()
    }

    /// The trusted issuer whose `iss` is `issuer`.
    pub fn find_issuer(&self, issuer: &str) -> Option<&IssuerConfig> {
        self.issuers.iter().find(|entry| entry.issuer == issuer)
    }
}

impl IssuerConfig {
    /// The key set URL in effect; empty with discovery (the discovered URL is fetched).
    pub fn jwks_url(&self) -> &str {
        &self.jwks_endpoint
    }

    /// The discovery document's URL: `{issuer without trailing /}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        discovery_url(&self.issuer)
    }

    /// The configuration key of this issuer: `auth_client`, or `auth_client.issuers[N]`.
    pub fn config_key(&self) -> &str {
        &self.key
    }
}

/// The path appended to the issuer to find its OpenID Provider metadata.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Where `issuer`'s OpenID Provider metadata is: without a trailing `/`, then the path.
fn discovery_url(issuer: &str) -> String {
    format!("{}{DISCOVERY_PATH}", issuer.trim().trim_end_matches('/'))
}

/// The keys of one issuer, before checking, with the configuration key they are written at.
struct IssuerDraft {
    key: String,
    /// The variable that overrides a key of this issuer, for the single form only.
    env: bool,
    issuer: String,
    audience: Audience,
    discovery: bool,
    jwks_endpoint: String,
    jwks_ttl_seconds: u64,
    jwks_min_refresh_interval_seconds: u64,
    jwks_timeout_seconds: u64,
    jwks_max_bytes: usize,
    use_env_proxy: bool,
    accepted_algorithms: Vec<String>,
    leeway_seconds: u64,
    max_token_lifetime_seconds: Option<u64>,
    required_token_type: String,
    roles_claim: String,
    revocation_endpoint: String,
    revocation_poll_seconds: u64,
    revocation_max_staleness_seconds: u64,
    revocation_fail_open: bool,
}

impl RawConfig {
    /// Checks the values and fills in derived defaults.
    pub fn validate(self) -> Result<AuthConfig, ConfigError> {
        if self.max_token_bytes < 256 {
            return Err(ConfigError::new(format!(
                "{SECTION}.max_token_bytes must be at least 256 (default 16384)"
            )));
        }
        let mut public_paths = Vec::with_capacity(self.public_paths.len());
        for path in &self.public_paths {
            if !path.starts_with('/') {
                return Err(ConfigError::new(format!(
                    "{SECTION}.public_paths: `{path}` must start with `/` (e.g. `/health`)"
                )));
            }
            let trimmed = path.trim_end_matches('/');
            if trimmed.is_empty() {
                return Err(ConfigError::new(format!(
                    "{SECTION}.public_paths: `/` would make every route public; disable auth \
                     with {SECTION}.enabled: false instead"
                )));
            }
            public_paths.push(trimmed.to_owned());
        }
        let mut config = AuthConfig {
            enabled: self.enabled,
            issuers: Vec::new(),
            max_token_bytes: self.max_token_bytes,
            public_paths,
            token_cache_max_bytes: self.token_cache_max_bytes,
            error_format: self.error_format,
        };
        if !self.enabled {
            // Nothing is ever validated, so no issuer is needed.
            return Ok(config);
        }

        if self.issuers.is_empty() {
            config.issuers.push(self.draft(SECTION.to_owned()).check()?);
            return Ok(config);
        }
        for (key, set) in [
            ("issuer", !self.issuer.trim().is_empty()),
            ("jwks_endpoint", !self.jwks_endpoint.trim().is_empty()),
        ] {
            if set {
                return Err(ConfigError::new(format!(
                    "{SECTION}.{key} and {SECTION}.issuers are both set: with a list of \
                     issuers, give each entry its own `{key}` and remove {SECTION}.{key} \
                     (and AUTH_CLIENT__{})",
                    key.to_ascii_uppercase()
                )));
            }
        }
        for (index, entry) in self.issuers.iter().enumerate() {
            let key = format!("{SECTION}.issuers[{index}]");
            let issuer = self.entry_draft(key, entry).check()?;
            if let Some(earlier) = config.find_issuer(&issuer.issuer) {
                return Err(ConfigError::new(format!(
                    "{}.issuer `{}` is already trusted by {}; list each issuer once (several \
                     audiences go in one entry's `audience: [..]`)",
                    issuer.key, issuer.issuer, earlier.key
                )));
            }
            config.issuers.push(issuer);
        }
        Ok(config)
    }

    fn draft(&self, key: String) -> IssuerDraft {
        IssuerDraft {
            key,
            env: true,
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            discovery: self.discovery,
            jwks_endpoint: self.jwks_endpoint.clone(),
            jwks_ttl_seconds: self.jwks_ttl_seconds,
            jwks_min_refresh_interval_seconds: self.jwks_min_refresh_interval_seconds,
            jwks_timeout_seconds: self.jwks_timeout_seconds,
            jwks_max_bytes: self.jwks_max_bytes,
            use_env_proxy: self.use_env_proxy,
            accepted_algorithms: self.accepted_algorithms.clone(),
            leeway_seconds: self.leeway_seconds,
            max_token_lifetime_seconds: self.max_token_lifetime_seconds,
            required_token_type: self.required_token_type.clone(),
            roles_claim: self.roles_claim.clone(),
            revocation_endpoint: self.revocation_endpoint.clone(),
            revocation_poll_seconds: self.revocation_poll_seconds,
            revocation_max_staleness_seconds: self.revocation_max_staleness_seconds,
            revocation_fail_open: self.revocation_fail_open,
        }
    }

    /// An entry of `issuers`, every key it leaves out taken from the top level.
    fn entry_draft(&self, key: String, entry: &RawIssuer) -> IssuerDraft {
        let top = self.draft(key);
        IssuerDraft {
            key: top.key,
            env: false,
            issuer: entry.issuer.clone(),
            audience: entry.audience.clone().unwrap_or(top.audience),
            discovery: entry.discovery.unwrap_or(top.discovery),
            jwks_endpoint: entry.jwks_endpoint.clone().unwrap_or_default(),
            jwks_ttl_seconds: entry.jwks_ttl_seconds.unwrap_or(top.jwks_ttl_seconds),
            jwks_min_refresh_interval_seconds: entry
                .jwks_min_refresh_interval_seconds
                .unwrap_or(top.jwks_min_refresh_interval_seconds),
            jwks_timeout_seconds: entry
                .jwks_timeout_seconds
                .unwrap_or(top.jwks_timeout_seconds),
            jwks_max_bytes: entry.jwks_max_bytes.unwrap_or(top.jwks_max_bytes),
            use_env_proxy: entry.use_env_proxy.unwrap_or(top.use_env_proxy),
            accepted_algorithms: entry
                .accepted_algorithms
                .clone()
                .unwrap_or(top.accepted_algorithms),
            leeway_seconds: entry.leeway_seconds.unwrap_or(top.leeway_seconds),
            max_token_lifetime_seconds: entry
                .max_token_lifetime_seconds
                .or(top.max_token_lifetime_seconds),
            required_token_type: entry
                .required_token_type
                .clone()
                .unwrap_or(top.required_token_type),
            roles_claim: entry.roles_claim.clone().unwrap_or(top.roles_claim),
            revocation_endpoint: entry
                .revocation_endpoint
                .clone()
                .unwrap_or(top.revocation_endpoint),
            revocation_poll_seconds: entry
                .revocation_poll_seconds
                .unwrap_or(top.revocation_poll_seconds),
            revocation_max_staleness_seconds: entry
                .revocation_max_staleness_seconds
                .unwrap_or(top.revocation_max_staleness_seconds),
            revocation_fail_open: entry
                .revocation_fail_open
                .unwrap_or(top.revocation_fail_open),
        }
    }
}

impl IssuerDraft {
    /// `how to set it`: the variable for the single form, the entry for a list.
    fn set_hint(&self, name: &str) -> String {
        if self.env {
            format!(
                "set {}.{name} or AUTH_CLIENT__{}",
                self.key,
                name.to_ascii_uppercase()
            )
        } else {
            format!("set `{name}` in this entry, or at the top level of {SECTION} for all")
        }
    }

    /// The single form can also be switched off; an entry cannot.
    fn disable_hint(&self) -> String {
        if self.env {
            format!(", or disable auth with {SECTION}.enabled: false")
        } else {
            String::new()
        }
    }

    fn check(self) -> Result<IssuerConfig, ConfigError> {
        let key = &self.key;
        let mut accepted = Vec::new();
        for name in &self.accepted_algorithms {
            let name = name.trim();
            if name.len() >= 2 && name[..2].eq_ignore_ascii_case("HS") {
                return Err(ConfigError::new(format!(
                    "{key}.accepted_algorithms: `{name}` is a shared-secret algorithm and \
                     is refused (a public JWKS key must never double as an HMAC secret); use \
                     RS256, PS256, ES256 or EdDSA"
                )));
            }
            let Some(alg) = Algorithm::from_name(name) else {
                let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
                return Err(ConfigError::new(format!(
                    "{key}.accepted_algorithms: `{name}` is not supported; use one of {}",
                    known.join(", ")
                )));
            };
            if !accepted.contains(&alg) {
                accepted.push(alg);
            }
        }
        let roles_claim = self.roles_claim.trim();
        if roles_claim.is_empty() {
            return Err(ConfigError::new(format!(
                "{key}.roles_claim must name the claim that holds the roles (`role`, \
                 `roles`, or a dotted path such as `realm_access.roles`); {}",
                self.set_hint("roles_claim")
            )));
        }
        if self.issuer.trim().is_empty() {
            let disable = self.disable_hint();
            return Err(ConfigError::new(format!(
                "{key}.issuer must be set when auth is enabled ({}{disable})",
                self.set_hint("issuer")
            )));
        }
        let audiences: Vec<String> = self
            .audience
            .0
            .iter()
            .map(|aud| aud.trim().to_owned())
            .collect();
        if audiences.iter().all(String::is_empty) {
            let disable = self.disable_hint();
            return Err(ConfigError::new(format!(
                "{key}.audience must be set when auth is enabled (the `aud` tokens of {} \
                 carry, one value or a list; {}{disable})",
                self.issuer.trim(),
                self.set_hint("audience")
            )));
        }
        if audiences.iter().any(String::is_empty) {
            return Err(ConfigError::new(format!(
                "{key}.audience has an empty entry; list only the audiences to accept"
            )));
        }
        if accepted.is_empty() {
            return Err(ConfigError::new(format!(
                "{key}.accepted_algorithms is empty: list at least one, e.g. [RS256]"
            )));
        }
        let configured_jwks = self.jwks_endpoint.trim();
        let jwks_endpoint = if self.discovery {
            if !configured_jwks.is_empty() {
                return Err(ConfigError::new(format!(
                    "{key}.jwks_endpoint and {key}.discovery: true both say where the keys \
                     are; keep one (discovery reads `jwks_uri` from the issuer's \
                     {DISCOVERY_PATH})"
                )));
            }
            check_fetch_url(
                &discovery_url(&self.issuer),
                &format!("{key}.issuer"),
                "discovery document",
            )?;
            String::new()
        } else if configured_jwks.is_empty() {
            format!(
                "{}{DEFAULT_JWKS_PATH}",
                self.issuer.trim().trim_end_matches('/')
            )
        } else {
            configured_jwks.to_owned()
        };
        if self.jwks_ttl_seconds == 0 {
            return Err(ConfigError::new(format!(
                "{key}.jwks_ttl_seconds must be at least 1 (default 300)"
            )));
        }
        if self.jwks_timeout_seconds == 0 {
            return Err(ConfigError::new(format!(
                "{key}.jwks_timeout_seconds must be at least 1 (default 5)"
            )));
        }
        if self.jwks_max_bytes < 1024 {
            return Err(ConfigError::new(format!(
                "{key}.jwks_max_bytes must be at least 1024 (default 262144)"
            )));
        }
        if self.max_token_lifetime_seconds == Some(0) {
            return Err(ConfigError::new(format!(
                "{key}.max_token_lifetime_seconds must be at least 1; leave it out for no \
                 limit"
            )));
        }
        let revocation_endpoint = self.revocation_endpoint.trim().to_owned();
        if !revocation_endpoint.is_empty() {
            check_fetch_url(
                &revocation_endpoint,
                &format!("{key}.revocation_endpoint"),
                "revocation list",
            )?;
        }
        if self.revocation_poll_seconds == 0 {
            return Err(ConfigError::new(format!(
                "{key}.revocation_poll_seconds must be at least 1 (default 15)"
            )));
        }
        if self.revocation_max_staleness_seconds < self.revocation_poll_seconds {
            return Err(ConfigError::new(format!(
                "{key}.revocation_max_staleness_seconds ({}) must be at least \
                 revocation_poll_seconds ({}): a list is refreshed after the poll interval and \
                 refused only when it is older than the staleness bound (default 60)",
                self.revocation_max_staleness_seconds, self.revocation_poll_seconds
            )));
        }
        Ok(IssuerConfig {
            issuer: self.issuer,
            audiences,
            discovery: self.discovery,
            jwks_endpoint,
            jwks_ttl: Duration::from_secs(self.jwks_ttl_seconds),
            jwks_min_refresh_interval: Duration::from_secs(self.jwks_min_refresh_interval_seconds),
            jwks_timeout: Duration::from_secs(self.jwks_timeout_seconds),
            jwks_max_bytes: self.jwks_max_bytes,
            use_env_proxy: self.use_env_proxy,
            accepted_algorithms: accepted,
            leeway_seconds: self.leeway_seconds,
            max_token_lifetime_seconds: self.max_token_lifetime_seconds,
            required_token_type: Some(media_type(&self.required_token_type))
                .filter(|typ| !typ.is_empty()),
            roles_claim: roles_claim.to_owned(),
            revocation_endpoint,
            revocation_poll: Duration::from_secs(self.revocation_poll_seconds),
            revocation_max_staleness: Duration::from_secs(self.revocation_max_staleness_seconds),
            revocation_fail_open: self.revocation_fail_open,
            key: self.key,
        })
    }
}

/// A JOSE `typ` in the form it is compared in: trimmed, lower case, without the
/// `application/` prefix that RFC 7515 (4.1.9) lets senders leave out.
pub(crate) fn media_type(typ: &str) -> String {
    let typ = typ.trim().to_ascii_lowercase();
    match typ.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => typ,
    }
}

/// A URL keys (or a document naming them) are fetched from, parsed once: the same parsed
/// form decides on a proxy and is fetched. Plain http is refused unless the host is
/// loopback: a key set fetched in clear text can be swapped by anyone on the path, and with
/// it every identity. `key` names the setting the URL comes from, `what` what it points at.
pub(crate) fn check_fetch_url(
    url: &str,
    key: &str,
    what: &str,
) -> Result<reqwest::Url, ConfigError> {
    let shown = redacted_text(url);
    let parsed = reqwest::Url::parse(url).map_err(|err| {
        ConfigError::new(format!(
            "{key}: the {what} URL `{shown}` is not a valid URL ({err}); give an absolute \
             https:// URL"
        ))
    })?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(ConfigError::new(format!(
            "{key}: the {what} URL `{shown}` uses plain http to a non-loopback host; use \
             https (plain http is allowed only for localhost, 127.0.0.1 and ::1)"
        ))),
        other => Err(ConfigError::new(format!(
            "{key}: the {what} URL `{shown}` has scheme `{other}`; use https://"
        ))),
    }
}

/// A URL as it may be shown in errors and logs: a user name or password in it is replaced.
pub(crate) fn redacted(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() || shown.password().is_some() {
        // Both setters only fail for URLs that cannot carry credentials at all.
        let _ = shown.set_username("redacted");
        let _ = shown.set_password(None);
    }
    shown.to_string()
}

/// [`redacted`] for text that may not even parse: everything up to an `@` in what would be
/// the authority is dropped.
fn redacted_text(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => redacted(&parsed),
        Err(_) => match url.split_once("://") {
            Some((scheme, rest)) => {
                let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                match rest[..authority_end].rfind('@') {
                    Some(at) => format!("{scheme}://redacted@{}", &rest[at + 1..]),
                    None => url.to_owned(),
                }
            }
            None => url.to_owned(),
        },
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_jwks_url_for_test(url: &str) -> Result<reqwest::Url, ConfigError> {
        check_fetch_url(url, "auth_client.jwks_endpoint", "JWKS")
    }

    fn raw(issuer: &str, audience: &str) -> RawConfig {
        RawConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            ..RawConfig::default()
        }
    }

    #[test]
    fn empty_issuer_fails_with_upstream_message() {
        let err = raw("", "api").validate().unwrap_err();
        assert!(
            err.message()
                .starts_with("auth_client.issuer must be set when auth is enabled"),
            "{err}"
        );
    }

    #[test]
    fn empty_audience_fails_with_upstream_message() {
        let err = raw("https://id.example", "").validate().unwrap_err();
        assert!(
            err.message()
                .starts_with("auth_client.audience must be set when auth is enabled"),
            "{err}"
        );
    }

    #[test]
    fn jwks_endpoint_defaults_from_issuer_without_trailing_slash() {
        let with = raw("https://id.example/", "api").validate().unwrap();
        let without = raw("https://id.example", "api").validate().unwrap();
        assert_eq!(
            with.issuers[0].jwks_endpoint,
            "https://id.example/api/v1/auth/jwks"
        );
        assert_eq!(
            without.issuers[0].jwks_endpoint,
            with.issuers[0].jwks_endpoint
        );
    }

    #[test]
    fn hs_algorithms_are_refused() {
        let mut config = raw("https://id.example", "api");
        config.accepted_algorithms = vec!["RS256".into(), "HS256".into()];
        let err = config.validate().unwrap_err();
        assert!(err.message().contains("HS256"), "{err}");
        assert!(err.message().contains("accepted_algorithms"), "{err}");
    }

    #[test]
    fn unknown_algorithm_names_the_choices() {
        let mut config = raw("https://id.example", "api");
        config.accepted_algorithms = vec!["none".into()];
        let err = config.validate().unwrap_err();
        assert!(err.message().contains("`none` is not supported"), "{err}");
        assert!(err.message().contains("EdDSA"), "{err}");
    }

    #[test]
    fn plain_http_is_refused_unless_loopback() {
        let err = check_jwks_url_for_test("http://id.example/jwks").unwrap_err();
        assert!(err.message().contains("plain http"), "{err}");
        for ok in [
            "http://localhost:8100",
            "http://127.0.0.1:1",
            "http://[::1]:9",
        ] {
            check_jwks_url_for_test(ok).unwrap();
        }
        assert!(check_jwks_url_for_test("ftp://id.example").is_err());
    }

    #[test]
    fn credentials_in_a_jwks_url_are_never_shown() {
        let err = check_jwks_url_for_test("http://client:hunter2@id.example/jwks").unwrap_err();
        assert!(!err.message().contains("hunter2"), "{err}");
        assert!(!err.message().contains("client:"), "{err}");
        let err = check_jwks_url_for_test("https://client:hunter2@id example/jwks").unwrap_err();
        assert!(!err.message().contains("hunter2"), "{err}");
        let mut config = raw("https://id.example", "api");
        config.jwks_endpoint = "https://client:hunter2@id.example/jwks".into();
        let config = config.validate().unwrap();
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("id.example"),
            "{shown}"
        );
    }

    #[test]
    fn disabled_needs_no_issuer() {
        let mut config = raw("", "");
        config.enabled = false;
        assert!(!config.validate().unwrap().enabled);
    }

    #[test]
    fn environment_overrides_yaml_and_jwks_url_alias_works() {
        let dir = std::env::temp_dir().join(format!("auth-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yaml");
        std::fs::write(
            &file,
            "auth_client:\n  issuer: https://file.example\n  audience: api\n  jwks_url: https://keys.example/jwks\n",
        )
        .unwrap();
        let figment =
            Figment::new()
                .merge(Yaml::file(&file))
                .merge(figment::providers::Serialized::default(
                    "auth_client.issuer",
                    "https://env.example",
                ));
        let config = AuthConfig::from_figment(&figment).unwrap();
        assert_eq!(config.issuers[0].issuer, "https://env.example");
        assert_eq!(config.issuers[0].jwks_endpoint, "https://keys.example/jwks");
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let figment = Figment::new().merge(figment::providers::Serialized::default(
            "auth_client.issuerr",
            "x",
        ));
        let err = AuthConfig::from_figment(&figment).unwrap_err();
        assert!(err.message().contains("issuerr"), "{err}");
    }

    #[test]
    fn public_path_root_is_refused() {
        let mut config = raw("https://id.example", "api");
        config.public_paths = vec!["/".into()];
        assert!(config.validate().is_err());
    }
}
