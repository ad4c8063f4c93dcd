//! The `WWW-Authenticate` challenges of 401 answers, past the `Bearer` one each error makes:
//! the `DPoP` challenge (RFC 9449 section 7.1) where some issuer takes DPoP, the server nonce
//! when nonces are on, and `resource_metadata` (RFC 9728 section 5.1) where the app serves
//! its protected resource metadata.

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};

use crate::clock::now;
use crate::config::AuthConfig;
use crate::dpop::{DPOP_NONCE, DpopMode, Nonces};

/// How 401 answers are completed, for a configuration that needs more than the `Bearer`
/// challenge.
#[derive(Debug)]
pub(crate) struct Challenge {
    /// `algs="ES256 EdDSA ..."`: every algorithm some issuer takes for proofs; `None` when
    /// no issuer takes DPoP.
    algs: Option<String>,
    /// Whether some issuer still takes tokens as `Bearer`.
    bearer: bool,
    /// Server nonces, when `dpop_nonce` is on: every 401 carries the current one.
    nonces: Option<Arc<Nonces>>,
    /// `, resource_metadata="..."`, when the metadata is served.
    metadata: Option<String>,
}

impl Challenge {
    /// The challenge of `config`; `None` when 401 answers stay as each error makes them.
    pub(crate) fn new(
        config: &AuthConfig,
        nonces: Option<Arc<Nonces>>,
        metadata_url: Option<&str>,
    ) -> Option<Challenge> {
        let mut algs: Vec<&str> = Vec::new();
        let mut bearer = false;
        for issuer in config.issuers() {
            bearer |= issuer.dpop() != DpopMode::Required;
            if issuer.dpop() == DpopMode::Off {
                continue;
            }
            for alg in issuer.dpop_algorithms() {
                if !algs.contains(&alg.as_str()) {
                    algs.push(alg.as_str());
                }
            }
        }
        let algs = (!algs.is_empty()).then(|| format!("algs=\"{}\"", algs.join(" ")));
        let metadata = metadata_url.map(|url| format!(", resource_metadata=\"{url}\""));
        (algs.is_some() || metadata.is_some()).then_some(Challenge {
            algs,
            bearer,
            nonces,
            metadata,
        })
    }

    /// Completes a 401 answer: the `DPoP` challenge in place of the `Bearer` one when only
    /// DPoP is taken, next to it otherwise (a refused proof's challenge is the `DPoP` one,
    /// with the `Bearer` one after it where bearer tokens are taken); the current nonce; and
    /// `resource_metadata` in each challenge. A 403 to a caller that proved its key
    /// (`dpop_caller`) names the `DPoP` scheme, as RFC 9449 section 7.1 asks.
    pub(crate) fn decorate<B>(&self, response: &mut HttpResponse<B>, dpop_caller: bool) {
        if response.status() == StatusCode::FORBIDDEN && dpop_caller {
            let headers = response.headers_mut();
            let dpop = headers
                .get(header::WWW_AUTHENTICATE)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .and_then(|params| HeaderValue::from_str(&format!("DPoP {params}")).ok());
            if let Some(dpop) = dpop {
                headers.insert(header::WWW_AUTHENTICATE, dpop);
            }
            return;
        }
        if response.status() != StatusCode::UNAUTHORIZED {
            return;
        }
        let headers = response.headers_mut();
        if let Some(nonces) = &self.nonces {
            headers.insert(HeaderName::from_static(DPOP_NONCE), nonces.current(now()));
        }
        let ours = headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| "Bearer realm=\"api\"".to_owned());
        let mut values = Vec::with_capacity(2);
        match &self.algs {
            None => values.push(ours),
            Some(algs) => {
                if let Some(params) = ours.strip_prefix("DPoP ") {
                    values.push(format!("DPoP {algs}, {params}"));
                    if self.bearer {
                        values.push("Bearer realm=\"api\"".to_owned());
                    }
                } else if self.bearer {
                    values.push(ours);
                    values.push(format!("DPoP {algs}"));
                } else {
                    let params = ours.strip_prefix("Bearer ").unwrap_or("realm=\"api\"");
                    values.push(format!("DPoP {algs}, {params}"));
                }
            }
        }
        headers.remove(header::WWW_AUTHENTICATE);
        for mut value in values {
            if let Some(metadata) = &self.metadata {
                value.push_str(metadata);
            }
            // Made of the error's challenge (printable ASCII, see `AuthError::challenge`),
            // algorithm names and a checked URL: always a valid header value.
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(header::WWW_AUTHENTICATE, value);
            }
        }
    }
}
