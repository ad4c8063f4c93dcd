//! Protected resource metadata (RFC 9728), served by the middleware when
//! `resource_metadata: true`: which authorization servers issue tokens for this app, how
//! tokens are sent, the scopes the app's attributes ask for, and its DPoP rules.

use actix_web::HttpResponse;
use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use serde_json::{Map, Value, json};

use crate::config::AuthConfig;
use crate::dpop::DpopMode;

/// The well-known path of the metadata (RFC 9728 section 3).
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The metadata document, made once, and where it is served.
#[derive(Debug, Clone)]
pub(crate) struct ResourceMetadata {
    /// The app paths it is served at: the well-known path, and the same with the resource's
    /// path appended when the resource has one.
    paths: Vec<String>,
    /// Where clients fetch it: named by `resource_metadata` in 401 challenges.
    url: String,
    body: String,
}

impl ResourceMetadata {
    /// The metadata of `config`, when it asks for it (`resource_metadata: true`, which the
    /// configuration check allows only with a `public_url`).
    pub(crate) fn new(config: &AuthConfig) -> Option<ResourceMetadata> {
        if !config.resource_metadata() {
            return None;
        }
        let resource = config.public_urls().first()?.trim_end_matches('/');
        // `public_url` was checked to be an absolute http(s) URL: the origin ends at the
        // first `/` after the scheme.
        let after_scheme = resource.find("://").map_or(0, |at| at + 3);
        let (origin, path) = match resource[after_scheme..].find('/') {
            Some(slash) => resource.split_at(after_scheme + slash),
            None => (resource, ""),
        };
        let mut paths = vec![WELL_KNOWN.to_owned()];
        if !path.is_empty() {
            paths.push(format!("{WELL_KNOWN}{path}"));
        }
        let issuers = config.issuers();
        let mut algs: Vec<&str> = Vec::new();
        for issuer in issuers
            .iter()
            .filter(|issuer| issuer.dpop() != DpopMode::Off)
        {
            for alg in issuer.dpop_algorithms() {
                if !algs.contains(&alg.as_str()) {
                    algs.push(alg.as_str());
                }
            }
        }
        let mut document = Map::new();
        document.insert("resource".into(), json!(resource));
        document.insert(
            "authorization_servers".into(),
            json!(
                issuers
                    .iter()
                    .map(|issuer| issuer.issuer())
                    .collect::<Vec<_>>()
            ),
        );
        document.insert("bearer_methods_supported".into(), json!(["header"]));
        let scopes = crate::__private::declared_scopes();
        if !scopes.is_empty() {
            document.insert("scopes_supported".into(), json!(scopes));
        }
        if !algs.is_empty() {
            document.insert("dpop_signing_alg_values_supported".into(), json!(algs));
        }
        document.insert(
            "dpop_bound_access_tokens_required".into(),
            json!(
                issuers
                    .iter()
                    .all(|issuer| issuer.dpop() == DpopMode::Required)
            ),
        );
        Some(ResourceMetadata {
            url: format!("{origin}{WELL_KNOWN}{path}"),
            paths,
            body: Value::Object(document).to_string(),
        })
    }

    /// Where clients fetch the document.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Whether `req` asks for the document: `GET` or `HEAD` of one of its paths.
    pub(crate) fn serves(&self, req: &ServiceRequest) -> bool {
        (req.method() == Method::GET || req.method() == Method::HEAD)
            && self.paths.iter().any(|path| path == req.path())
    }

    /// The answer: the document as JSON, cacheable for five minutes.
    pub(crate) fn response(&self) -> HttpResponse {
        HttpResponse::Ok()
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ))
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .body(self.body.clone())
    }
}
