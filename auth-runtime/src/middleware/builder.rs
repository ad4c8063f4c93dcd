//! [`JwtAuthBuilder`]: from a checked configuration to a [`JwtAuth`], with the key sources,
//! revocation sources, role resolver, anonymous routes and error handler plugged in.

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use figment::Figment;

use super::{Authenticator, JwtAuth, Policy};
use crate::anonymous::AnonymousRoute;
use crate::cache::TokenCache;
use crate::challenge::Challenge;
use crate::config::{AuthConfig, ConfigError, ConfigErrorKind, IssuerConfig};
use crate::dpop::{Dpop, DpopMode};
use crate::error::AuthError;
use crate::issuer::Issuer;
use crate::jwks::{FileKeySource, JwksKeySource, KeySet, KeySource};
use crate::resource_metadata::ResourceMetadata;
use crate::responder::{ErrorHandler, Responder};
use crate::revocation::{HttpRevocationSource, RevocationList, RevocationSource};
use crate::roles::{Resolver, RoleResolver};
use crate::validate::Validator;

/// Builds a [`JwtAuth`] step by step; see [`JwtAuth::builder`].
pub struct JwtAuthBuilder {
    config: AuthConfig,
    /// Key sources given for issuers, by `iss`; `None` stands for "the only issuer".
    keys: Vec<(Option<String>, Arc<dyn KeySource>)>,
    /// Revocation sources given for issuers, the same way.
    revocations: Vec<(Option<String>, Arc<dyn RevocationSource>)>,
    resolver: Option<Resolver>,
    anonymous: Vec<AnonymousRoute>,
    error_handler: Option<ErrorHandler>,
}

impl JwtAuth {
    /// Reads and checks the `auth_client` section, and fetches keys from each issuer's JWKS
    /// endpoint (or discovered `jwks_uri`). Fails with the key at fault and the fix.
    pub fn from_figment(figment: &Figment) -> Result<JwtAuth, ConfigError> {
        JwtAuth::builder(AuthConfig::from_figment(figment)?).build()
    }

    /// A middleware for a checked configuration, with the default key source and resolver.
    pub fn new(config: AuthConfig) -> Result<JwtAuth, ConfigError> {
        JwtAuth::builder(config).build()
    }

    /// Starts a builder to plug in a key source or a role resolver.
    ///
    /// ```
    /// # fn demo(config: auth_runtime::AuthConfig) -> Result<(), auth_runtime::ConfigError> {
    /// use auth_runtime::{JwtAuth, RawClaims, TokenClaims};
    ///
    /// let auth = JwtAuth::builder(config)
    ///     .role_resolver(|_: &TokenClaims, raw: &RawClaims| {
    ///         raw.get("roles")
    ///             .and_then(|r| r.as_array())
    ///             .map(|r| r.iter().filter_map(|v| v.as_str().map(String::from)).collect())
    ///             .unwrap_or_default()
    ///     })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(config: AuthConfig) -> JwtAuthBuilder {
        JwtAuthBuilder {
            resolver: None,
            config,
            keys: Vec::new(),
            revocations: Vec::new(),
            anonymous: Vec::new(),
            error_handler: None,
        }
    }

    /// Declares an anonymous route for a hand-registered resource (see
    /// [`AnonymousGuard`](crate::AnonymousGuard)); `methods` empty means any method.
    pub fn anonymous_route(self, methods: &[Method], pattern: &str) -> JwtAuth {
        let mut policy = Arc::unwrap_or_clone(self.policy);
        policy.anonymous.push(AnonymousRoute::new(methods, pattern));
        JwtAuth {
            policy: Arc::new(policy),
        }
    }
}

impl JwtAuthBuilder {
    /// Takes keys from `source` instead of the configured JWKS endpoint, for a configuration
    /// with one issuer ([`build`](JwtAuthBuilder::build) fails with several; use
    /// [`issuer_key_source`](JwtAuthBuilder::issuer_key_source) then).
    pub fn key_source(mut self, source: impl KeySource) -> JwtAuthBuilder {
        self.keys.push((None, Arc::new(source)));
        self
    }

    /// Takes the keys of the configured issuer whose `iss` is `issuer` from `source` (an
    /// issuer embedded in the same process, say); the others keep their JWKS endpoints.
    pub fn issuer_key_source(mut self, issuer: &str, source: impl KeySource) -> JwtAuthBuilder {
        self.keys.push((Some(issuer.to_owned()), Arc::new(source)));
        self
    }

    /// Reads the revoked tokens of a configuration's only issuer from `source` instead of its
    /// `revocation_endpoint` (see [`key_source`](JwtAuthBuilder::key_source) for several
    /// issuers).
    pub fn revocation_source(mut self, source: impl RevocationSource) -> JwtAuthBuilder {
        self.revocations.push((None, Arc::new(source)));
        self
    }

    /// Reads the revoked tokens of the configured issuer `issuer` from `source` (an issuer
    /// embedded in the same process, say), with that issuer's `revocation_*` settings.
    pub fn issuer_revocation_source(
        mut self,
        issuer: &str,
        source: impl RevocationSource,
    ) -> JwtAuthBuilder {
        self.revocations
            .push((Some(issuer.to_owned()), Arc::new(source)));
        self
    }

    /// Resolves roles with `resolver` instead of the claim each issuer's `roles_claim` names.
    pub fn role_resolver(mut self, resolver: impl RoleResolver) -> JwtAuthBuilder {
        self.resolver = Some(Resolver::custom(resolver));
        self
    }

    /// Declares an anonymous route (see [`JwtAuth::anonymous_route`]).
    pub fn anonymous_route(mut self, methods: &[Method], pattern: &str) -> JwtAuthBuilder {
        self.anonymous.push(AnonymousRoute::new(methods, pattern));
        self
    }

    /// Answers every rejection (401, 403, 503) with what `handler` makes of it, instead of the
    /// configured `error_format`: those the middleware decides before or after routing, those
    /// of the attributes, and any [`AuthError`] a handler or an extractor such as
    /// [`Principal`](crate::Principal) returns inside the wrapped app.
    ///
    /// The handler's response gives the body and adds or replaces headers. The rejection's
    /// status and its headers (`WWW-Authenticate` with the RFC 6750 challenge, `Retry-After`
    /// on a 503, `Cache-Control: no-store`) stay unless the handler sets its own: a response
    /// built with a success status (`HttpResponse::Ok()`, any 1xx or 2xx) goes out with the
    /// rejection's status, since a rejection never goes out as a success; a redirection or an
    /// error status (3xx to 5xx) replaces it (a 302 to a sign-in page, a 404 that hides a
    /// resource). [`AuthError::code`] names the error.
    ///
    /// ```
    /// # fn demo(config: auth_runtime::AuthConfig) -> Result<(), auth_runtime::ConfigError> {
    /// use actix_web::{HttpRequest, HttpResponse};
    /// use auth_runtime::{AuthError, JwtAuth};
    /// use serde_json::json;
    ///
    /// let auth = JwtAuth::builder(config)
    ///     .error_handler(|err: &AuthError, req: &HttpRequest| {
    ///         HttpResponse::Ok().json(json!({
    ///             "error": { "code": err.code(), "message": err.detail(), "path": req.path() }
    ///         }))
    ///     })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn error_handler<F>(mut self, handler: F) -> JwtAuthBuilder
    where
        F: Fn(&AuthError, &HttpRequest) -> HttpResponse + Send + Sync + 'static,
    {
        self.error_handler = Some(Arc::new(handler));
        self
    }

    /// The middleware. Fails when a key source names an issuer that is not configured, or
    /// when an issuer's JWKS (or discovery) URL cannot be used.
    pub fn build(mut self) -> Result<JwtAuth, ConfigError> {
        self.anonymous.extend(crate::__private::declared_routes());
        let keys = given_per_issuer(&self.config, self.keys, "key_source")?;
        let revocations = given_per_issuer(&self.config, self.revocations, "revocation_source")?;
        let mut issuers = Vec::with_capacity(self.config.issuers().len());
        for ((config, keys), revocation) in self.config.issuers().iter().zip(keys).zip(revocations)
        {
            let revocation = revocation_list(config, revocation)?;
            let keys = match keys {
                Some(keys) => keys,
                None if config.shared_secret().is_some() => {
                    let secret = config
                        .shared_secret()
                        .map(|secret| secret.expose().as_bytes());
                    Arc::new(Arc::new(KeySet::shared_secret(
                        secret.unwrap_or_default(),
                        config.accepted_algorithms(),
                    ))) as Arc<dyn KeySource>
                }
                None if config.keys_file().is_some() => {
                    Arc::new(FileKeySource::new(config)?) as Arc<dyn KeySource>
                }
                None => Arc::new(JwksKeySource::new(config)?) as Arc<dyn KeySource>,
            };
            let roles = match &self.resolver {
                Some(custom) => custom.clone(),
                None => Resolver::claim(config.roles_claim()),
            };
            issuers.push(Arc::new(Issuer::new(config, keys, roles, revocation)));
        }
        let validator = Validator::from_issuers(issuers.into(), self.config.max_token_bytes());
        let cache = (self.config.enabled() && self.config.token_cache_max_bytes() > 0)
            .then(|| Arc::new(TokenCache::new(self.config.token_cache_max_bytes())));
        let dpop = Arc::new(Dpop::new(&self.config));
        let metadata = ResourceMetadata::new(&self.config);
        let challenge = Challenge::new(
            &self.config,
            dpop.nonces(),
            metadata.as_ref().map(ResourceMetadata::url),
        )
        .map(Arc::new);
        let takes_dpop =
            (self.config.issuers().iter()).any(|issuer| issuer.dpop() != DpopMode::Off);
        if takes_dpop && self.config.public_urls().is_empty() {
            tracing::warn!(
                target: "auth_runtime::middleware",
                "DPoP is accepted and auth_client.public_url is not set: a proof's URL is \
                 compared with the request's scheme and Host header, so a proof made for \
                 another host that is served here would pass, and behind a proxy that ends TLS \
                 every proof fails. Set auth_client.public_url (AUTH_CLIENT__PUBLIC_URL) to the \
                 URL clients reach this app at, or set dpop: off"
            );
        }
        let responder = Responder::new(self.config.error_format(), self.error_handler, challenge);
        Ok(JwtAuth {
            policy: Arc::new(Policy {
                authenticator: Authenticator::new(validator, cache, dpop),
                config: self.config,
                anonymous: self.anonymous,
                responder,
                metadata,
                preflight_warned: Arc::default(),
            }),
        })
    }
}

/// The list of revoked tokens of the issuer `config`: from the source given for it, else
/// from its `revocation_endpoint`; `None` when it has neither.
fn revocation_list(
    config: &IssuerConfig,
    given: Option<Arc<dyn RevocationSource>>,
) -> Result<Option<RevocationList>, ConfigError> {
    let source = match given {
        Some(source) => source,
        None if config.revocation_endpoint().is_empty() => return Ok(None),
        None => Arc::new(HttpRevocationSource::new(config)?),
    };
    Ok(Some(RevocationList::new(source, config)))
}

/// The sources given to the builder, one slot per configured issuer in the configuration's
/// order (`None` where none was given). `method` names the builder method, for errors.
fn given_per_issuer<T: ?Sized>(
    config: &AuthConfig,
    given: Vec<(Option<String>, Arc<T>)>,
    method: &str,
) -> Result<Vec<Option<Arc<T>>>, ConfigError> {
    let mut slots: Vec<Option<Arc<T>>> = vec![None; config.issuers().len()];
    for (issuer, source) in given {
        let index = match issuer {
            Some(issuer) => config
                .issuers()
                .iter()
                .position(|entry| entry.issuer() == issuer)
                .ok_or_else(|| {
                    ConfigError::new(
                        ConfigErrorKind::UnknownIssuer,
                        format!(
                            "a {} was given for the issuer `{issuer}`, which is not among the \
                             configured ones (auth_client.issuer / issuers)",
                            method.replace('_', " ")
                        ),
                    )
                })?,
            None if config.issuers().len() == 1 => 0,
            // Disabled: nothing is ever validated, so the source is not needed.
            None if !config.enabled() => continue,
            None => {
                return Err(ConfigError::new(
                    ConfigErrorKind::UnknownIssuer,
                    format!(
                        "JwtAuthBuilder::{method} serves a single issuer, and several are \
                         configured; use issuer_{method}(issuer, source) for each one it serves"
                    ),
                ));
            }
        };
        slots[index] = Some(source);
    }
    Ok(slots)
}
