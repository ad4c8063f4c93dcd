//! From [`RawConfig`] to [`AuthConfig`]: each check is a named function that says which key
//! is at fault and how to fix it.

use std::time::Duration;

use super::{
    AuthConfig, ConfigError, ConfigErrorKind, DEFAULT_JWKS_PATH, DISCOVERY_PATH, IssuerConfig,
    RawConfig, RawIssuer, SECTION, SharedSecret, discovery_url,
};
use crate::algorithm::{Algorithm, media_type, public_key_algorithms};
use crate::config::raw::Audience;
use crate::dpop::DpopMode;
use crate::fetch::check_fetch_url;

impl RawConfig {
    /// Checks the values and fills in derived defaults.
    pub fn validate(self) -> Result<AuthConfig, ConfigError> {
        check_max_token_bytes(self.max_token_bytes)?;
        let mut config = AuthConfig {
            enabled: self.enabled,
            issuers: Vec::new(),
            max_token_bytes: self.max_token_bytes,
            public_paths: public_paths(&self.public_paths)?,
            token_cache_max_bytes: self.token_cache_max_bytes,
            error_format: self.error_format,
            public_urls: public_urls(&self.public_url.0)?,
            dpop_replay_max_entries: dpop_replay_max_entries(self.dpop_replay_max_entries)?,
            dpop_nonce: self.dpop_nonce,
            dpop_nonce_seconds: dpop_nonce_seconds(self.dpop_nonce_seconds)?,
            dpop_nonce_secret: dpop_nonce_secret(&self.dpop_nonce_secret)?,
            resource_metadata: self.resource_metadata,
        };
        if config.resource_metadata && config.public_urls.is_empty() {
            return Err(ConfigError::at(
                format!("{SECTION}.resource_metadata"),
                ConfigErrorKind::Missing,
                format!(
                    "{SECTION}.resource_metadata needs {SECTION}.public_url: the URL clients \
                     reach this app at is the resource's identifier (AUTH_CLIENT__PUBLIC_URL)"
                ),
            ));
        }
        if !self.enabled {
            // Nothing is ever validated, so no issuer is needed.
            return Ok(config);
        }
        if self.issuers.is_empty() {
            config.issuers.push(self.draft(SECTION.to_owned()).check()?);
            return Ok(config);
        }
        self.check_single_form_unset()?;
        for (index, entry) in self.issuers.iter().enumerate() {
            let key = format!("{SECTION}.issuers[{index}]");
            let issuer = self.entry_draft(key, entry).check()?;
            check_listed_once(&config, &issuer)?;
            config.issuers.push(issuer);
        }
        Ok(config)
    }

    /// With a list of issuers, the keys that name one issuer must not be set at the top.
    fn check_single_form_unset(&self) -> Result<(), ConfigError> {
        for (key, set) in [
            ("issuer", !self.issuer.trim().is_empty()),
            ("jwks_endpoint", !self.jwks_endpoint.trim().is_empty()),
            ("keys_file", !self.keys_file.trim().is_empty()),
            ("shared_secret", !self.shared_secret.is_empty()),
        ] {
            if set {
                return Err(ConfigError::at(
                    format!("{SECTION}.{key}"),
                    ConfigErrorKind::Conflict,
                    format!(
                        "{SECTION}.{key} and {SECTION}.issuers are both set: with a list of \
                         issuers, give each entry its own `{key}` and remove {SECTION}.{key} \
                         (and AUTH_CLIENT__{})",
                        key.to_ascii_uppercase()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn draft(&self, key: String) -> IssuerDraft {
        IssuerDraft {
            key,
            env: true,
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            discovery: self.discovery,
            jwks_endpoint: self.jwks_endpoint.clone(),
            keys_file: self.keys_file.clone(),
            shared_secret: self.shared_secret.clone(),
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
            revocation_max_entries: self.revocation_max_entries,
            revocation_max_bytes: self.revocation_max_bytes,
            dpop: self.dpop,
            dpop_algorithms: self.dpop_algorithms.clone(),
            dpop_max_age_seconds: self.dpop_max_age_seconds,
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
            keys_file: entry.keys_file.clone().unwrap_or_default(),
            shared_secret: entry.shared_secret.clone().unwrap_or_default(),
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
            revocation_max_entries: entry
                .revocation_max_entries
                .unwrap_or(top.revocation_max_entries),
            revocation_max_bytes: entry
                .revocation_max_bytes
                .unwrap_or(top.revocation_max_bytes),
            dpop: entry.dpop.unwrap_or(top.dpop),
            dpop_algorithms: entry.dpop_algorithms.clone().unwrap_or(top.dpop_algorithms),
            dpop_max_age_seconds: entry
                .dpop_max_age_seconds
                .unwrap_or(top.dpop_max_age_seconds),
        }
    }
}

/// `public_url`: absolute http(s) URLs without query, fragment or user information; blanks
/// dropped.
fn public_urls(urls: &[String]) -> Result<Vec<String>, ConfigError> {
    let mut checked = Vec::new();
    for url in urls
        .iter()
        .map(|url| url.trim())
        .filter(|url| !url.is_empty())
    {
        let unsafe_char = url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"\\<>{}|^`".contains(c));
        if unsafe_char || url.contains(['?', '#']) || crate::dpop::normalise(url).is_none() {
            return Err(ConfigError::at(
                format!("{SECTION}.public_url"),
                ConfigErrorKind::InvalidUrl,
                format!(
                    "{SECTION}.public_url: `{url}` is not an absolute http or https URL without \
                     query, user information or characters a URL cannot hold; give the URL clients \
                     reach this app at, as \
                     https://api.example.com"
                ),
            ));
        }
        checked.push(url.to_owned());
    }
    Ok(checked)
}

fn dpop_replay_max_entries(entries: usize) -> Result<usize, ConfigError> {
    if entries < 1_000 {
        return Err(ConfigError::at(
            format!("{SECTION}.dpop_replay_max_entries"),
            ConfigErrorKind::OutOfRange,
            format!(
                "{SECTION}.dpop_replay_max_entries is {entries}: give at least 1000 (default \
                 250000, about 14 MB when full)"
            ),
        ));
    }
    Ok(entries)
}

fn dpop_nonce_seconds(seconds: u64) -> Result<u64, ConfigError> {
    if !(5..=3600).contains(&seconds) {
        return Err(ConfigError::at(
            format!("{SECTION}.dpop_nonce_seconds"),
            ConfigErrorKind::OutOfRange,
            format!("{SECTION}.dpop_nonce_seconds is {seconds}: give 5 to 3600 (default 60)"),
        ));
    }
    Ok(seconds)
}

fn dpop_nonce_secret(secret: &SharedSecret) -> Result<Option<SharedSecret>, ConfigError> {
    if secret.is_empty() {
        return Ok(None);
    }
    if secret.expose().len() < 32 {
        return Err(ConfigError::at(
            format!("{SECTION}.dpop_nonce_secret"),
            ConfigErrorKind::OutOfRange,
            format!(
                "{SECTION}.dpop_nonce_secret is shorter than 32 bytes: give 32 random bytes or \
                 more, the same on every instance (AUTH_CLIENT__DPOP_NONCE_SECRET)"
            ),
        ));
    }
    Ok(Some(secret.clone()))
}

fn check_max_token_bytes(max_token_bytes: usize) -> Result<(), ConfigError> {
    if max_token_bytes < 256 {
        return Err(ConfigError::at(
            format!("{SECTION}.max_token_bytes"),
            ConfigErrorKind::OutOfRange,
            format!("{SECTION}.max_token_bytes must be at least 256 (default 16384)"),
        ));
    }
    Ok(())
}

/// The `public_paths` prefixes without trailing `/`; `/` itself is refused.
fn public_paths(paths: &[String]) -> Result<Vec<String>, ConfigError> {
    let key = format!("{SECTION}.public_paths");
    let mut public = Vec::with_capacity(paths.len());
    for path in paths {
        if !path.starts_with('/') {
            return Err(ConfigError::at(
                key,
                ConfigErrorKind::Invalid,
                format!("{SECTION}.public_paths: `{path}` must start with `/` (e.g. `/health`)"),
            ));
        }
        let trimmed = path.trim_end_matches('/');
        if trimmed.is_empty() {
            return Err(ConfigError::at(
                key,
                ConfigErrorKind::Invalid,
                format!(
                    "{SECTION}.public_paths: `/` would make every route public; disable auth \
                     with {SECTION}.enabled: false instead"
                ),
            ));
        }
        public.push(trimmed.to_owned());
    }
    Ok(public)
}

/// Each issuer is listed once (several audiences go in one entry).
fn check_listed_once(config: &AuthConfig, issuer: &IssuerConfig) -> Result<(), ConfigError> {
    if let Some(earlier) = config.find_issuer(&issuer.issuer) {
        return Err(ConfigError::at(
            format!("{}.issuer", issuer.key),
            ConfigErrorKind::Conflict,
            format!(
                "{}.issuer `{}` is already trusted by {}; list each issuer once (several \
                 audiences go in one entry's `audience: [..]`)",
                issuer.key, issuer.issuer, earlier.key
            ),
        ));
    }
    Ok(())
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
    keys_file: String,
    shared_secret: SharedSecret,
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
    revocation_max_entries: usize,
    revocation_max_bytes: usize,
    dpop: DpopMode,
    dpop_algorithms: Vec<String>,
    dpop_max_age_seconds: u64,
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

    /// An error about this issuer's key `name`.
    fn error(&self, name: &str, kind: ConfigErrorKind, message: String) -> ConfigError {
        ConfigError::at(format!("{}.{name}", self.key), kind, message)
    }

    fn check(self) -> Result<IssuerConfig, ConfigError> {
        let accepted = self.algorithms()?;
        let roles_claim = self.roles_claim()?;
        self.check_issuer()?;
        let audiences = self.audiences()?;
        if accepted.is_empty() {
            return Err(self.error(
                "accepted_algorithms",
                ConfigErrorKind::Missing,
                format!(
                    "{}.accepted_algorithms is empty: list at least one, e.g. [RS256]",
                    self.key
                ),
            ));
        }
        let shared_secret = self.shared_secret(&accepted)?;
        let keys_file = self.keys_file()?;
        let jwks_endpoint = if keys_file.is_some() || shared_secret.is_some() {
            String::new()
        } else {
            self.jwks_endpoint()?
        };
        self.check_limits()?;
        let revocation_endpoint = self.revocation()?;
        let dpop_algorithms = self.dpop_algorithms()?;
        Ok(IssuerConfig {
            audiences,
            discovery: self.discovery,
            jwks_endpoint,
            keys_file,
            shared_secret,
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
            roles_claim,
            revocation_endpoint,
            revocation_poll: Duration::from_secs(self.revocation_poll_seconds),
            revocation_max_staleness: Duration::from_secs(self.revocation_max_staleness_seconds),
            revocation_fail_open: self.revocation_fail_open,
            revocation_max_entries: self.revocation_max_entries,
            revocation_max_bytes: self.revocation_max_bytes,
            dpop: self.dpop,
            dpop_algorithms,
            dpop_max_age_seconds: self.dpop_max_age_seconds,
            issuer: self.issuer,
            key: self.key,
        })
    }

    /// `accepted_algorithms`, parsed, without repeats; HS* and unknown names refused.
    fn algorithms(&self) -> Result<Vec<Algorithm>, ConfigError> {
        let key = &self.key;
        let mut accepted = Vec::new();
        for name in &self.accepted_algorithms {
            let name = name.trim();
            let shared = name.len() >= 2 && name[..2].eq_ignore_ascii_case("HS");
            if shared && self.shared_secret.is_empty() {
                return Err(self.error(
                    "accepted_algorithms",
                    ConfigErrorKind::Algorithm,
                    format!(
                        "{key}.accepted_algorithms: `{name}` is a shared-secret algorithm: it \
                         needs the secret the tokens are signed with ({}), for an issuer with \
                         no public keys; a public key never doubles as an HMAC secret. With \
                         public keys, use RS256, PS256, ES256 or EdDSA",
                        self.set_hint("shared_secret")
                    ),
                ));
            }
            let Some(alg) = Algorithm::from_name(name) else {
                let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
                return Err(self.error(
                    "accepted_algorithms",
                    ConfigErrorKind::Algorithm,
                    format!(
                        "{key}.accepted_algorithms: `{name}` is not supported; use one of {}",
                        known.join(", ")
                    ),
                ));
            };
            if !accepted.contains(&alg) {
                accepted.push(alg);
            }
        }
        Ok(accepted)
    }

    /// `dpop_algorithms`, parsed, without repeats: public-key algorithms only, at least one
    /// unless `dpop: off`; and `dpop_max_age_seconds` in range.
    fn dpop_algorithms(&self) -> Result<Vec<Algorithm>, ConfigError> {
        let key = &self.key;
        if !(1..=3600).contains(&self.dpop_max_age_seconds) {
            return Err(self.error(
                "dpop_max_age_seconds",
                ConfigErrorKind::OutOfRange,
                format!(
                    "{key}.dpop_max_age_seconds is {}: give 1 to 3600 (default 60); a proof is \
                     made for one request, right before it is sent",
                    self.dpop_max_age_seconds
                ),
            ));
        }
        let algorithms =
            public_key_algorithms(&self.dpop_algorithms).map_err(|(name, known)| {
                self.error(
                    "dpop_algorithms",
                    ConfigErrorKind::Algorithm,
                    format!(
                        "{key}.dpop_algorithms: `{name}` is not a public-key algorithm (a proof is \
                     signed with the client's own key pair); use some of {known}"
                    ),
                )
            })?;
        if algorithms.is_empty() && self.dpop != DpopMode::Off {
            return Err(self.error(
                "dpop_algorithms",
                ConfigErrorKind::Missing,
                format!(
                    "{key}.dpop_algorithms is empty: list at least one (e.g. [ES256, EdDSA]), \
                     or set {key}.dpop: off"
                ),
            ));
        }
        Ok(algorithms)
    }

    fn roles_claim(&self) -> Result<String, ConfigError> {
        let roles_claim = self.roles_claim.trim();
        if roles_claim.is_empty() {
            return Err(self.error(
                "roles_claim",
                ConfigErrorKind::Missing,
                format!(
                    "{}.roles_claim must name the claim that holds the roles (`role`, \
                     `roles`, or a dotted path such as `realm_access.roles`); {}",
                    self.key,
                    self.set_hint("roles_claim")
                ),
            ));
        }
        Ok(roles_claim.to_owned())
    }

    fn check_issuer(&self) -> Result<(), ConfigError> {
        if self.issuer.trim().is_empty() {
            let disable = self.disable_hint();
            return Err(self.error(
                "issuer",
                ConfigErrorKind::Missing,
                format!(
                    "{}.issuer must be set when auth is enabled ({}{disable})",
                    self.key,
                    self.set_hint("issuer")
                ),
            ));
        }
        Ok(())
    }

    fn audiences(&self) -> Result<Vec<String>, ConfigError> {
        let audiences: Vec<String> = self
            .audience
            .0
            .iter()
            .map(|aud| aud.trim().to_owned())
            .collect();
        if audiences.iter().all(String::is_empty) {
            let disable = self.disable_hint();
            return Err(self.error(
                "audience",
                ConfigErrorKind::Missing,
                format!(
                    "{}.audience must be set when auth is enabled (the `aud` tokens of {} \
                     carry, one value or a list; {}{disable})",
                    self.key,
                    self.issuer.trim(),
                    self.set_hint("audience")
                ),
            ));
        }
        if audiences.iter().any(String::is_empty) {
            return Err(self.error(
                "audience",
                ConfigErrorKind::Invalid,
                format!(
                    "{}.audience has an empty entry; list only the audiences to accept",
                    self.key
                ),
            ));
        }
        Ok(audiences)
    }

    /// The shared secret of an HS* issuer: never with public keys or a public-key algorithm,
    /// never shorter than the hash, never a public key. Errors never repeat it.
    fn shared_secret(&self, accepted: &[Algorithm]) -> Result<Option<SharedSecret>, ConfigError> {
        let key = &self.key;
        if self.shared_secret.is_empty() {
            return Ok(None);
        }
        let secret = self.shared_secret.expose();
        let trimmed = secret.trim_start();
        if trimmed.starts_with("-----BEGIN")
            || (trimmed.starts_with('{') && secret.contains("\"kty\""))
        {
            return Err(self.error(
                "shared_secret",
                ConfigErrorKind::Invalid,
                format!(
                    "{key}.shared_secret holds a public key, not a shared secret: anyone can read \
                     a public key, so anyone could sign tokens with it as an HMAC secret; give \
                     public keys in {key}.keys_file (PEM or JWKS) with RS256, ES256 or EdDSA"
                ),
            ));
        }
        let other = if self.discovery {
            Some("discovery: true")
        } else if !self.jwks_endpoint.trim().is_empty() {
            Some("jwks_endpoint")
        } else if !self.keys_file.trim().is_empty() {
            Some("keys_file")
        } else {
            None
        };
        if let Some(other) = other {
            return Err(self.error(
                "shared_secret",
                ConfigErrorKind::Conflict,
                format!(
                    "{key}.shared_secret and {key}.{other} both say how tokens are checked; an \
                     issuer with a shared secret has no public keys (so that none can double as \
                     the secret): keep one"
                ),
            ));
        }
        if let Some(public) = accepted.iter().find(|alg| !alg.is_shared_secret()) {
            return Err(self.error(
                "accepted_algorithms",
                ConfigErrorKind::Conflict,
                format!(
                    "{key}.accepted_algorithms lists {public}, but {key}.shared_secret is set: \
                     an issuer with a shared secret accepts HS256, HS384 or HS512 only"
                ),
            ));
        }
        for alg in accepted {
            let needed = alg.min_secret_len().unwrap_or(0);
            if secret.len() < needed {
                return Err(self.error(
                    "shared_secret",
                    ConfigErrorKind::Invalid,
                    format!(
                        "{key}.shared_secret is shorter than the {needed} bytes {alg} needs \
                         (RFC 7518, 3.2): use the issuer's full secret"
                    ),
                ));
            }
        }
        Ok(Some(self.shared_secret.clone()))
    }

    /// The JWKS file, when the keys come from one; never with an endpoint or discovery.
    fn keys_file(&self) -> Result<Option<std::path::PathBuf>, ConfigError> {
        let key = &self.key;
        let file = self.keys_file.trim();
        if file.is_empty() {
            return Ok(None);
        }
        if self.discovery || !self.jwks_endpoint.trim().is_empty() {
            let other = if self.discovery {
                "discovery: true"
            } else {
                "jwks_endpoint"
            };
            return Err(self.error(
                "keys_file",
                ConfigErrorKind::Conflict,
                format!("{key}.keys_file and {key}.{other} both say where the keys are; keep one"),
            ));
        }
        Ok(Some(std::path::PathBuf::from(file)))
    }

    /// The key set URL in effect: configured, defaulted from the issuer, or empty with
    /// discovery (whose document URL is checked instead).
    fn jwks_endpoint(&self) -> Result<String, ConfigError> {
        let key = &self.key;
        let configured = self.jwks_endpoint.trim();
        if self.discovery {
            if !configured.is_empty() {
                return Err(self.error(
                    "jwks_endpoint",
                    ConfigErrorKind::Conflict,
                    format!(
                        "{key}.jwks_endpoint and {key}.discovery: true both say where the \
                         keys are; keep one (discovery reads `jwks_uri` from the issuer's \
                         {DISCOVERY_PATH})"
                    ),
                ));
            }
            check_fetch_url(
                &discovery_url(&self.issuer),
                &format!("{key}.issuer"),
                "discovery document",
            )?;
            Ok(String::new())
        } else if configured.is_empty() {
            Ok(format!(
                "{}{DEFAULT_JWKS_PATH}",
                self.issuer.trim().trim_end_matches('/')
            ))
        } else {
            Ok(configured.to_owned())
        }
    }

    /// The numbers that bound fetches and token lifetimes.
    fn check_limits(&self) -> Result<(), ConfigError> {
        let key = &self.key;
        let out_of_range = |name: &str, message: String| {
            Err(self.error(name, ConfigErrorKind::OutOfRange, message))
        };
        if self.jwks_ttl_seconds == 0 {
            return out_of_range(
                "jwks_ttl_seconds",
                format!("{key}.jwks_ttl_seconds must be at least 1 (default 300)"),
            );
        }
        if self.jwks_timeout_seconds == 0 {
            return out_of_range(
                "jwks_timeout_seconds",
                format!("{key}.jwks_timeout_seconds must be at least 1 (default 5)"),
            );
        }
        if self.jwks_max_bytes < 1024 {
            return out_of_range(
                "jwks_max_bytes",
                format!("{key}.jwks_max_bytes must be at least 1024 (default 262144)"),
            );
        }
        if self.max_token_lifetime_seconds == Some(0) {
            return out_of_range(
                "max_token_lifetime_seconds",
                format!(
                    "{key}.max_token_lifetime_seconds must be at least 1; leave it out for no \
                     limit"
                ),
            );
        }
        Ok(())
    }

    /// The revocation endpoint (empty: none) and its timing.
    fn revocation(&self) -> Result<String, ConfigError> {
        let key = &self.key;
        let endpoint = self.revocation_endpoint.trim().to_owned();
        if !endpoint.is_empty() {
            check_fetch_url(
                &endpoint,
                &format!("{key}.revocation_endpoint"),
                "revocation list",
            )?;
        }
        if self.revocation_poll_seconds == 0 {
            return Err(self.error(
                "revocation_poll_seconds",
                ConfigErrorKind::OutOfRange,
                format!("{key}.revocation_poll_seconds must be at least 1 (default 15)"),
            ));
        }
        for (name, value) in [
            ("revocation_max_entries", self.revocation_max_entries),
            ("revocation_max_bytes", self.revocation_max_bytes),
        ] {
            if value == 0 {
                return Err(self.error(
                    name,
                    ConfigErrorKind::OutOfRange,
                    format!("{key}.{name} must be at least 1"),
                ));
            }
        }
        if self.revocation_max_staleness_seconds < self.revocation_poll_seconds {
            return Err(self.error(
                "revocation_max_staleness_seconds",
                ConfigErrorKind::OutOfRange,
                format!(
                    "{key}.revocation_max_staleness_seconds ({}) must be at least \
                     revocation_poll_seconds ({}): a list is refreshed after the poll \
                     interval and refused only when it is older than the staleness bound \
                     (default 60)",
                    self.revocation_max_staleness_seconds, self.revocation_poll_seconds
                ),
            ));
        }
        Ok(endpoint)
    }
}
