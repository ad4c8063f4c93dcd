//! The issuer's metadata document (RFC 8414): where its endpoints are, and the DPoP proof
//! algorithms it takes (RFC 9449 section 5.1).

use auth_runtime::DpopMode;
use serde_json::{Map, Value, json};

use crate::config::ServerConfig;
use crate::dpop::{endpoint_base, issuer_path};

/// The document, and the path it is served at.
pub(crate) struct Metadata {
    /// The issuer's path (empty, or `/tenant`), which follows
    /// `/.well-known/oauth-authorization-server` in the document's path.
    pub(crate) issuer_path: String,
    pub(crate) document: Value,
}

impl Metadata {
    /// The document of the issuer `config` describes, its endpoints under `base_path`; `None`
    /// when the issuer is no `http(s)` URL, under which no endpoint could be named.
    pub(crate) fn new(config: &ServerConfig, base_path: &str) -> Option<Metadata> {
        let base = format!("{}{base_path}", endpoint_base(&config.issuer)?);
        let issuer_path = issuer_path(&config.issuer)?;
        let url = |endpoint: &str| json!(format!("{base}/{endpoint}"));
        let mut document = Map::new();
        document.insert("issuer".into(), json!(config.issuer));
        document.insert("jwks_uri".into(), url("jwks"));
        // No authorization endpoint: tokens come from a wallet's signature or a password,
        // through the endpoints below, not from the OAuth flows.
        document.insert("response_types_supported".into(), json!([]));
        document.insert("challenge_endpoint".into(), url("challenge"));
        document.insert("sign_in_endpoint".into(), url("sign-in"));
        if config.admin.is_some() {
            document.insert("login_endpoint".into(), url("login"));
        }
        document.insert("refresh_endpoint".into(), url("refresh"));
        document.insert("sign_out_endpoint".into(), url("sign-out"));
        document.insert("revocation_list_endpoint".into(), url("revoked-jtis"));
        if config.dpop.mode != DpopMode::Off {
            let algorithms: Vec<&str> = config.dpop.algorithms.iter().map(|a| a.as_str()).collect();
            document.insert(
                "dpop_signing_alg_values_supported".into(),
                json!(algorithms),
            );
        }
        Some(Metadata {
            issuer_path,
            document: Value::Object(document),
        })
    }
}
