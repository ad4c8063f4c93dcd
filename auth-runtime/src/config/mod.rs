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
}

impl Algorithm {
    /// Every algorithm the validator supports, in the order the docs list them.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
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
        }
    }

    /// Parses a JOSE name; `None` for anything not supported (including `none` and HS*).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    #[cfg(feature = "testing")]
    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
        }
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    /// `false` turns the middleware into a pass-through. Default `true`.
    pub enabled: bool,
    /// Expected `iss`, compared exactly. Required when enabled.
    pub issuer: String,
    /// Expected `aud` (the token's `aud` may be a string or an array containing it).
    /// Required when enabled.
    pub audience: String,
    /// Where the JWKS lives. Empty: `{issuer without trailing /}/api/v1/auth/jwks`.
    #[serde(alias = "jwks_url")]
    pub jwks_endpoint: String,
    /// How long a fetched key set is fresh. Default 300.
    pub jwks_ttl_seconds: u64,
    /// Least time between two refetches forced by an unknown `kid`. Default 2.
    pub jwks_min_refresh_interval_seconds: u64,
    /// Connect-and-read timeout of one JWKS fetch. Default 5.
    pub jwks_timeout_seconds: u64,
    /// Largest JWKS response read, in bytes. Default 262144 (256 KiB).
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
    /// Where the caller's roles are: a claim name, or a dotted path into nested objects
    /// (`realm_access.roles`), holding a string or an array of strings. A claim whose whole
    /// name matches is taken first, so namespaced claims such as
    /// `https://example.com/roles` work as written. Default `role`. A custom
    /// [`RoleResolver`](crate::RoleResolver) replaces it.
    pub roles_claim: String,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            enabled: true,
            issuer: String::new(),
            audience: String::new(),
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
            roles_claim: "role".to_owned(),
        }
    }
}

/// A configuration that was read and checked: everything the validator needs.
///
/// Its `Debug` output shows the JWKS URL without any user name or password in it.
#[derive(Clone, PartialEq)]
pub struct AuthConfig {
    /// `false`: the middleware lets every request through without looking at it.
    pub enabled: bool,
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// The JWKS URL (defaulted from the issuer when not configured).
    pub jwks_endpoint: String,
    /// Freshness of a fetched key set.
    pub jwks_ttl: Duration,
    /// Least time between two forced refetches.
    pub jwks_min_refresh_interval: Duration,
    /// Timeout of one JWKS fetch.
    pub jwks_timeout: Duration,
    /// Largest JWKS response read.
    pub jwks_max_bytes: usize,
    /// Whether https key fetches follow the environment's proxy (plain http never does).
    pub use_env_proxy: bool,
    /// Accepted signature algorithms, never empty.
    pub accepted_algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// Largest token accepted, in bytes.
    pub max_token_bytes: usize,
    /// Longest lifetime a token may claim, in seconds; `None`: no limit.
    pub max_token_lifetime_seconds: Option<u64>,
    /// The `typ` every token must carry, without an `application/` prefix; `None`: any.
    pub required_token_type: Option<String>,
    /// Path prefixes that are never checked.
    pub public_paths: Vec<String>,
    /// Bound on the verified-token cache, in bytes; `0`: no cache.
    pub token_cache_max_bytes: u64,
    /// Where the default role resolution reads roles (a claim name or a dotted path).
    pub roles_claim: String,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("enabled", &self.enabled)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks_endpoint", &redacted_text(&self.jwks_endpoint))
            .field("jwks_ttl", &self.jwks_ttl)
            .field("jwks_min_refresh_interval", &self.jwks_min_refresh_interval)
            .field("jwks_timeout", &self.jwks_timeout)
            .field("jwks_max_bytes", &self.jwks_max_bytes)
            .field("use_env_proxy", &self.use_env_proxy)
            .field("accepted_algorithms", &self.accepted_algorithms)
            .field("leeway_seconds", &self.leeway_seconds)
            .field("max_token_bytes", &self.max_token_bytes)
            .field(
                "max_token_lifetime_seconds",
                &self.max_token_lifetime_seconds,
            )
            .field("required_token_type", &self.required_token_type)
            .field("public_paths", &self.public_paths)
            .field("token_cache_max_bytes", &self.token_cache_max_bytes)
            .field("roles_claim", &self.roles_claim)
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

    /// The key set URL in effect.
    pub fn jwks_url(&self) -> &str {
        &self.jwks_endpoint
    }
}

impl RawConfig {
    /// Checks the values and fills in derived defaults.
    pub fn validate(self) -> Result<AuthConfig, ConfigError> {
        let mut accepted = Vec::new();
        for name in &self.accepted_algorithms {
            let name = name.trim();
            if name.len() >= 2 && name[..2].eq_ignore_ascii_case("HS") {
                return Err(ConfigError::new(format!(
                    "{SECTION}.accepted_algorithms: `{name}` is a shared-secret algorithm and \
                     is refused (a public JWKS key must never double as an HMAC secret); use \
                     RS256, PS256, ES256 or EdDSA"
                )));
            }
            let Some(alg) = Algorithm::from_name(name) else {
                let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
                return Err(ConfigError::new(format!(
                    "{SECTION}.accepted_algorithms: `{name}` is not supported; use one of {}",
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
                "{SECTION}.roles_claim must name the claim that holds the roles (`role`, \
                 `roles`, or a dotted path such as `realm_access.roles`); set it or \
                 AUTH_CLIENT__ROLES_CLAIM"
            )));
        }

        if !self.enabled {
            let jwks_endpoint = self.jwks_endpoint.clone();
            let public_paths = self.public_paths.clone();
            return Ok(self.assemble(false, accepted, jwks_endpoint, public_paths));
        }

        if self.issuer.trim().is_empty() {
            return Err(ConfigError::new(format!(
                "{SECTION}.issuer must be set when auth is enabled (set {SECTION}.issuer or \
                 AUTH_CLIENT__ISSUER, or disable auth with {SECTION}.enabled: false)"
            )));
        }
        if self.audience.trim().is_empty() {
            return Err(ConfigError::new(format!(
                "{SECTION}.audience must be set when auth is enabled (set {SECTION}.audience \
                 or AUTH_CLIENT__AUDIENCE, or disable auth with {SECTION}.enabled: false)"
            )));
        }
        if accepted.is_empty() {
            return Err(ConfigError::new(format!(
                "{SECTION}.accepted_algorithms is empty: list at least one, e.g. [RS256]"
            )));
        }
        let jwks_endpoint = if self.jwks_endpoint.trim().is_empty() {
            format!(
                "{}{DEFAULT_JWKS_PATH}",
                self.issuer.trim().trim_end_matches('/')
            )
        } else {
            self.jwks_endpoint.trim().to_owned()
        };
        if self.jwks_ttl_seconds == 0 {
            return Err(ConfigError::new(format!(
                "{SECTION}.jwks_ttl_seconds must be at least 1 (default 300)"
            )));
        }
        if self.jwks_timeout_seconds == 0 {
            return Err(ConfigError::new(format!(
                "{SECTION}.jwks_timeout_seconds must be at least 1 (default 5)"
            )));
        }
        if self.jwks_max_bytes < 1024 {
            return Err(ConfigError::new(format!(
                "{SECTION}.jwks_max_bytes must be at least 1024 (default 262144)"
            )));
        }
        if self.max_token_bytes < 256 {
            return Err(ConfigError::new(format!(
                "{SECTION}.max_token_bytes must be at least 256 (default 16384)"
            )));
        }
        if self.max_token_lifetime_seconds == Some(0) {
            return Err(ConfigError::new(format!(
                "{SECTION}.max_token_lifetime_seconds must be at least 1; leave it out for no \
                 limit"
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

        Ok(self.assemble(true, accepted, jwks_endpoint, public_paths))
    }

    fn assemble(
        self,
        enabled: bool,
        accepted_algorithms: Vec<Algorithm>,
        jwks_endpoint: String,
        public_paths: Vec<String>,
    ) -> AuthConfig {
        AuthConfig {
            enabled,
            issuer: self.issuer,
            audience: self.audience,
            jwks_endpoint,
            jwks_ttl: Duration::from_secs(self.jwks_ttl_seconds),
            jwks_min_refresh_interval: Duration::from_secs(self.jwks_min_refresh_interval_seconds),
            jwks_timeout: Duration::from_secs(self.jwks_timeout_seconds),
            jwks_max_bytes: self.jwks_max_bytes,
            use_env_proxy: self.use_env_proxy,
            accepted_algorithms,
            leeway_seconds: self.leeway_seconds,
            max_token_bytes: self.max_token_bytes,
            max_token_lifetime_seconds: self.max_token_lifetime_seconds,
            required_token_type: Some(media_type(&self.required_token_type))
                .filter(|typ| !typ.is_empty()),
            public_paths,
            token_cache_max_bytes: self.token_cache_max_bytes,
            roles_claim: self.roles_claim.trim().to_owned(),
        }
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

/// The JWKS URL, parsed once: the same parsed form decides on a proxy and is fetched. Plain
/// http is refused unless the host is loopback: a key set fetched in clear text can be
/// swapped by anyone on the path, and with it every identity.
pub(crate) fn check_jwks_url(url: &str) -> Result<reqwest::Url, ConfigError> {
    let shown = redacted_text(url);
    let parsed = reqwest::Url::parse(url).map_err(|err| {
        ConfigError::new(format!(
            "{SECTION}.jwks_endpoint `{shown}` is not a valid URL ({err}); give an absolute \
             https:// URL, or fix {SECTION}.issuer it is derived from"
        ))
    })?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(ConfigError::new(format!(
            "{SECTION}.jwks_endpoint `{shown}` uses plain http to a non-loopback host; use \
             https (plain http is allowed only for localhost, 127.0.0.1 and ::1)"
        ))),
        other => Err(ConfigError::new(format!(
            "{SECTION}.jwks_endpoint `{shown}` has scheme `{other}`; use https://"
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
        assert_eq!(with.jwks_endpoint, "https://id.example/api/v1/auth/jwks");
        assert_eq!(without.jwks_endpoint, with.jwks_endpoint);
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
        let err = check_jwks_url("http://id.example/jwks").unwrap_err();
        assert!(err.message().contains("plain http"), "{err}");
        for ok in [
            "http://localhost:8100",
            "http://127.0.0.1:1",
            "http://[::1]:9",
        ] {
            check_jwks_url(ok).unwrap();
        }
        assert!(check_jwks_url("ftp://id.example").is_err());
    }

    #[test]
    fn credentials_in_a_jwks_url_are_never_shown() {
        let err = check_jwks_url("http://client:hunter2@id.example/jwks").unwrap_err();
        assert!(!err.message().contains("hunter2"), "{err}");
        assert!(!err.message().contains("client:"), "{err}");
        let err = check_jwks_url("https://client:hunter2@id example/jwks").unwrap_err();
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
        assert_eq!(config.issuer, "https://env.example");
        assert_eq!(config.jwks_endpoint, "https://keys.example/jwks");
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
