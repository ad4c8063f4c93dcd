//! Configuration of the validator: the `auth_client` section, read through figment.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Format, Yaml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::algorithm::Algorithm;
use crate::fetch::redacted_text;

mod check;
mod env;
mod raw;

pub use crate::config_error::{ConfigError, ConfigErrorKind};
use crate::dpop::DpopMode;
pub use env::{EnvSection, explain, is_secret_key};
pub use raw::{Audience, PublicUrls, RawConfig, RawIssuer, SharedSecret};

/// The figment section this crate reads.
pub(crate) const SECTION: &str = "auth_client";

/// The path appended to the issuer when no `jwks_endpoint` is configured.
pub(crate) const DEFAULT_JWKS_PATH: &str = "/api/v1/auth/jwks";

/// The path appended to the issuer to find its OpenID Provider metadata.
pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Builds the standard figment: the YAML file at `yaml_path`, then the `AUTH_CLIENT__*`
/// environment variables on top (see [`EnvSection`]). The file must exist: reading a figment
/// made from a path that does not name a file fails with an error that names it (use
/// [`figment_from_optional`] for a file that may be absent). A relative path is taken from
/// the working directory, never searched for in its parents.
///
/// ```no_run
/// let figment = auth_runtime::figment_from("config.yaml");
/// let config = auth_runtime::AuthConfig::from_figment(&figment)?;
/// # Ok::<(), auth_runtime::ConfigError>(())
/// ```
pub fn figment_from(yaml_path: impl AsRef<Path>) -> Figment {
    let path = yaml_path.as_ref();
    let file = match path.try_exists() {
        // A folder or an unreadable file fails on reading, naming it.
        Ok(true) => Figment::from(Yaml::file_exact(path)),
        Ok(false) => Figment::from(MissingFile(path.to_owned(), None)),
        Err(err) => Figment::from(MissingFile(path.to_owned(), Some(err.to_string()))),
    };
    with_environment(file)
}

/// [`figment_from`], for a YAML file that may be absent: then the environment alone.
pub fn figment_from_optional(yaml_path: impl AsRef<Path>) -> Figment {
    let path = yaml_path.as_ref();
    // Only a file that is known not to exist is skipped: one that cannot be looked at is an
    // error, since its settings may tighten the checks.
    let file = match path.try_exists() {
        Ok(true) => Figment::from(Yaml::file_exact(path)),
        Ok(false) => Figment::new(),
        Err(err) => Figment::from(MissingFile(path.to_owned(), Some(err.to_string()))),
    };
    with_environment(file)
}

/// `file` with the `AUTH_CLIENT__*` variables on top.
fn with_environment(file: Figment) -> Figment {
    file.merge(EnvSection::new(
        "AUTH_CLIENT",
        SECTION,
        &RawConfig::default(),
    ))
}

/// A configuration file that was named and does not exist (or cannot be looked at, with the
/// reason): reading it fails, naming it.
struct MissingFile(std::path::PathBuf, Option<String>);

impl Provider for MissingFile {
    fn metadata(&self) -> Metadata {
        Metadata::named("configuration file")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let cwd = std::env::current_dir()
            .map(|dir| format!(" (relative to {})", dir.display()))
            .unwrap_or_default();
        let relative = if self.0.is_relative() {
            cwd
        } else {
            String::new()
        };
        Err(figment::Error::from(match &self.1 {
            None => format!(
                "the configuration file `{}` does not exist{relative}; create it or fix the \
                 path, or read it with figment_from_optional if it may be absent",
                self.0.display()
            ),
            Some(why) => format!(
                "the configuration file `{}`{relative} cannot be looked at: {why}",
                self.0.display()
            ),
        }))
    }
}

/// The `auth_client` section of `figment` as written, before its values are checked: a
/// misspelled section and keys that cannot be read are errors.
pub(crate) fn read_section(figment: &Figment) -> Result<RawConfig, ConfigError> {
    check_section(figment, SECTION)?;
    figment
        .focus(SECTION)
        .extract()
        .map_err(|err| explain(SECTION, err))
}

/// Refuses a figment without `section` (or with an empty one, as the environment alone makes
/// it) but with a top-level key close to it (`auth_clinet`): without this, the misspelled
/// section would be ignored and its keys would take their defaults. A section that has keys
/// next to a similar name (`oauth_client`) is left alone.
pub(crate) fn check_section(figment: &Figment, section: &str) -> Result<(), ConfigError> {
    if figment
        .find_value(section)
        .ok()
        .and_then(|value| value.into_dict())
        .is_some_and(|dict| !dict.is_empty())
    {
        return Ok(());
    }
    // A figment that cannot be read fails on extraction, with its own error.
    let Ok(data) = Provider::data(figment) else {
        return Ok(());
    };
    for key in data.values().flat_map(|dict| dict.keys()) {
        if close_to(key, section) {
            return Err(ConfigError::at(
                key.as_str(),
                ConfigErrorKind::Misspelled,
                format!(
                    "the configuration has a section `{key}` and no `{section}`: did you mean \
                     `{section}`?"
                ),
            )
            .with_origin(origin_of(figment, key)));
        }
    }
    Ok(())
}

/// Whether `key` is a likely misspelling of `name`: not equal, and at most two edits away
/// (case ignored).
fn close_to(key: &str, name: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (
        key.to_ascii_lowercase().chars().collect(),
        name.to_ascii_lowercase().chars().collect(),
    );
    if key == name || a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    // Edit distance with adjacent transpositions (optimal string alignment).
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()] <= 2
}

/// Configuration of the validator: the `auth_client` section, read through figment.
///
/// ```yaml
/// auth_client:
///   issuer: https://auth.example.com
///   audience: my-api
///   # everything below is optional
///   jwks_endpoint: https://auth.example.com/.well-known/jwks.json
///   accepted_algorithms: [RS256]
///   public_paths: [/health, /docs]
/// ```
///
/// With an OpenID Provider (Keycloak, Auth0, Entra ID, ...), `discovery: true` reads the key
/// set URL from `{issuer}/.well-known/openid-configuration`. Several trusted issuers go in a
/// list whose entries take the keys of the single form; a key an entry leaves out takes the
/// top-level value:
///
/// ```yaml
/// auth_client:
///   issuers:
///     - issuer: https://id.example.com/realms/acme
///       audience: my-api
///       discovery: true
///       roles_claim: realm_access.roles
///     - issuer: http://localhost:8100
///       audience: [my-api, admin-api]
/// ```
///
/// Every key can be overridden from the environment with `AUTH_CLIENT__` and a double
/// underscore for nesting (`AUTH_CLIENT__ISSUER=https://...`); the environment wins over the
/// file. [`figment_from`] builds that layering; [`AuthConfig::from_figment`] reads the section
/// from any figment and checks it.
///
/// A configuration that was read and checked: everything the validator needs. Only
/// [`AuthConfig::from_figment`] and [`RawConfig::validate`] make one, so every value in it
/// passed its check.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    enabled: bool,
    issuers: Vec<IssuerConfig>,
    max_token_bytes: usize,
    public_paths: Vec<String>,
    token_cache_max_bytes: u64,
    error_format: ErrorFormat,
    public_urls: Vec<String>,
    dpop_replay_max_entries: usize,
    dpop_nonce: bool,
    dpop_nonce_seconds: u64,
    dpop_nonce_secret: Option<SharedSecret>,
    resource_metadata: bool,
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
    issuer: String,
    audiences: Vec<String>,
    discovery: bool,
    jwks_endpoint: String,
    keys_file: Option<std::path::PathBuf>,
    shared_secret: Option<SharedSecret>,
    jwks_ttl: Duration,
    jwks_min_refresh_interval: Duration,
    jwks_timeout: Duration,
    jwks_max_bytes: usize,
    use_env_proxy: bool,
    accepted_algorithms: Vec<Algorithm>,
    leeway_seconds: u64,
    max_token_lifetime_seconds: Option<u64>,
    required_token_type: Option<String>,
    roles_claim: String,
    revocation_endpoint: String,
    revocation_poll: Duration,
    revocation_max_staleness: Duration,
    revocation_fail_open: bool,
    revocation_max_entries: usize,
    revocation_max_bytes: usize,
    dpop: DpopMode,
    dpop_algorithms: Vec<Algorithm>,
    dpop_max_age_seconds: u64,
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
            .field("keys_file", &self.keys_file)
            .field("shared_secret", &self.shared_secret)
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
            .field("revocation_max_entries", &self.revocation_max_entries)
            .field("revocation_max_bytes", &self.revocation_max_bytes)
            .field("dpop", &self.dpop)
            .field("dpop_algorithms", &self.dpop_algorithms)
            .field("dpop_max_age_seconds", &self.dpop_max_age_seconds)
            .finish()
    }
}

impl AuthConfig {
    /// Reads the `auth_client` section of `figment` and checks it. A missing section means
    /// all defaults, which fails because `issuer` must be set. An error about a value says
    /// where that value was set ([`ConfigError::origin`]).
    pub fn from_figment(figment: &Figment) -> Result<AuthConfig, ConfigError> {
        read_section(figment)?.validate().map_err(|err| {
            let origin = err.key().and_then(|key| origin_of(figment, key));
            err.with_origin(origin)
        })
    }

    /// `false`: the middleware lets every request through without looking at it.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The trusted issuers, at least one when enabled; each token is checked against the one
    /// its `iss` names.
    pub fn issuers(&self) -> &[IssuerConfig] {
        &self.issuers
    }

    /// The only (or first) trusted issuer; `None` when auth is disabled.
    pub fn issuer(&self) -> Option<&IssuerConfig> {
        self.issuers.first()
    }

    /// The trusted issuer whose `iss` is `issuer`.
    pub fn find_issuer(&self, issuer: &str) -> Option<&IssuerConfig> {
        self.issuers.iter().find(|entry| entry.issuer == issuer)
    }

    /// Largest token accepted, in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    /// Path prefixes that are never checked, without trailing `/`.
    pub fn public_paths(&self) -> &[String] {
        &self.public_paths
    }

    /// Bound on the verified-token cache, in bytes; `0`: no cache.
    pub fn token_cache_max_bytes(&self) -> u64 {
        self.token_cache_max_bytes
    }

    /// The body of rejections.
    pub fn error_format(&self) -> ErrorFormat {
        self.error_format
    }

    /// The URLs clients reach the app at (`public_url`): where DPoP proofs must point.
    /// Empty: taken from each request's scheme and `Host`.
    pub fn public_urls(&self) -> &[String] {
        &self.public_urls
    }

    /// The most DPoP proofs remembered to refuse their replay.
    pub fn dpop_replay_max_entries(&self) -> usize {
        self.dpop_replay_max_entries
    }

    /// Whether DPoP proofs must carry a nonce this app gave out.
    pub fn dpop_nonce(&self) -> bool {
        self.dpop_nonce
    }

    /// How long one nonce window lasts.
    pub fn dpop_nonce_window(&self) -> Duration {
        Duration::from_secs(self.dpop_nonce_seconds)
    }

    /// Whether nonces are made under a configured secret (shared by instances) rather than
    /// one of this process.
    pub fn has_dpop_nonce_secret(&self) -> bool {
        self.dpop_nonce_secret.is_some()
    }

    /// Whether the middleware serves the protected resource metadata (RFC 9728).
    pub fn resource_metadata(&self) -> bool {
        self.resource_metadata
    }

    pub(crate) fn dpop_nonce_secret(&self) -> Option<&SharedSecret> {
        self.dpop_nonce_secret.as_ref()
    }
}

impl IssuerConfig {
    /// Expected `iss`, compared exactly.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Accepted `aud` values, never empty: a token's `aud` must contain one of them.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// Whether the JWKS URL comes from the issuer's discovery document.
    pub fn discovery(&self) -> bool {
        self.discovery
    }

    /// The key set URL in effect (defaulted from the issuer when not configured); empty
    /// with discovery (the discovered URL is fetched).
    pub fn jwks_url(&self) -> &str {
        &self.jwks_endpoint
    }

    /// The JWKS file the keys come from, instead of an endpoint; `None`: an endpoint.
    pub fn keys_file(&self) -> Option<&Path> {
        self.keys_file.as_deref()
    }

    /// Whether the issuer's tokens are HS256/384/512 over a `shared_secret` (and it has no
    /// public keys).
    pub fn has_shared_secret(&self) -> bool {
        self.shared_secret.is_some()
    }

    /// The shared secret, for the key set built from it.
    pub(crate) fn shared_secret(&self) -> Option<&SharedSecret> {
        self.shared_secret.as_ref()
    }

    /// The discovery document's URL: `{issuer without trailing /}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        discovery_url(&self.issuer)
    }

    /// Freshness of a fetched key set (and discovery document).
    pub fn jwks_ttl(&self) -> Duration {
        self.jwks_ttl
    }

    /// Least time between two forced refetches.
    pub fn jwks_min_refresh_interval(&self) -> Duration {
        self.jwks_min_refresh_interval
    }

    /// Timeout of one fetch (key set, discovery document or revocation list page).
    pub fn jwks_timeout(&self) -> Duration {
        self.jwks_timeout
    }

    /// Largest JWKS (or discovery document) read, in bytes.
    pub fn jwks_max_bytes(&self) -> usize {
        self.jwks_max_bytes
    }

    /// Whether https fetches follow the environment's proxy (plain http never does).
    pub fn use_env_proxy(&self) -> bool {
        self.use_env_proxy
    }

    /// Accepted signature algorithms, never empty.
    pub fn accepted_algorithms(&self) -> &[Algorithm] {
        &self.accepted_algorithms
    }

    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub fn leeway_seconds(&self) -> u64 {
        self.leeway_seconds
    }

    /// Longest lifetime a token may claim, in seconds; `None`: no limit.
    pub fn max_token_lifetime_seconds(&self) -> Option<u64> {
        self.max_token_lifetime_seconds
    }

    /// The `typ` every token must carry, without an `application/` prefix; `None`: any.
    pub fn required_token_type(&self) -> Option<&str> {
        self.required_token_type.as_deref()
    }

    /// Where the default role resolution reads roles (a claim name or a dotted path).
    pub fn roles_claim(&self) -> &str {
        &self.roles_claim
    }

    /// Where the list of revoked `jti`s is read; empty: no list.
    pub fn revocation_endpoint(&self) -> &str {
        &self.revocation_endpoint
    }

    /// Age of the revocation list after which a request refreshes it in the background.
    pub fn revocation_poll(&self) -> Duration {
        self.revocation_poll
    }

    /// Age after which requests wait for a refresh, and are refused when it fails.
    pub fn revocation_max_staleness(&self) -> Duration {
        self.revocation_max_staleness
    }

    /// Whether tokens are accepted against an old list when it cannot be refreshed.
    pub fn revocation_fail_open(&self) -> bool {
        self.revocation_fail_open
    }

    /// The most entries the revocation list may hold.
    pub fn revocation_max_entries(&self) -> usize {
        self.revocation_max_entries
    }

    /// The most memory, estimated in bytes, the revocation list may take.
    pub fn revocation_max_bytes(&self) -> usize {
        self.revocation_max_bytes
    }

    /// Whether this issuer's tokens may, must or must not be DPoP-bound.
    pub fn dpop(&self) -> DpopMode {
        self.dpop
    }

    /// The algorithms a DPoP proof may be signed with.
    pub fn dpop_algorithms(&self) -> &[Algorithm] {
        &self.dpop_algorithms
    }

    /// How old a DPoP proof may be, in seconds (the leeway comes on top).
    pub fn dpop_max_age_seconds(&self) -> u64 {
        self.dpop_max_age_seconds
    }

    /// The configuration key of this issuer: `auth_client`, or `auth_client.issuers[N]`.
    pub fn config_key(&self) -> &str {
        &self.key
    }
}

/// Where `issuer`'s OpenID Provider metadata is: without a trailing `/`, then the path.
fn discovery_url(issuer: &str) -> String {
    format!("{}{DISCOVERY_PATH}", issuer.trim().trim_end_matches('/'))
}

/// Where the value at `key` (`auth_client.issuers[1].audience`) was set in `figment`: the
/// file or the variable, as figment names it. A key that was never written (a default) has
/// no origin; for an entry of a list, the list's origin.
fn origin_of(figment: &Figment, key: &str) -> Option<String> {
    let dotted = key.replace('[', ".").replace(']', "");
    let mut path = dotted.as_str();
    loop {
        if figment.find_value(path).is_ok() {
            let metadata = figment.find_metadata(path)?;
            // As figment's own errors name it: the file, or the variable.
            let keys: Vec<&str> = path.split('.').skip(1).collect();
            return Some(match &metadata.source {
                Some(source) => source.to_string(),
                None => metadata.interpolate(&Profile::Default, &keys),
            });
        }
        path = &path[..path.rfind('.')?];
        if !path.contains('.') {
            // The section itself: every key has a place there, so it says nothing.
            return None;
        }
    }
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
    fn credentials_in_a_jwks_url_are_never_shown_by_debug() {
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
    fn sections_two_edits_away_are_misspellings() {
        for near in [
            "auth_clinet",
            "Auth_Client",
            "authclient",
            "auth_clients",
            "auth-client",
        ] {
            assert!(close_to(near, "auth_client"), "{near}");
        }
        for far in [
            "auth_client",
            "auth",
            "server_auth",
            "logging",
            "auth_client_extra",
        ] {
            assert!(!close_to(far, "auth_client"), "{far}");
        }
    }

    #[test]
    fn public_path_root_is_refused() {
        let mut config = raw("https://id.example", "api");
        config.public_paths = vec!["/".into()];
        assert!(config.validate().is_err());
    }
}
