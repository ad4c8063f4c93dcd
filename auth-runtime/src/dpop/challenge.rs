//! The `DPoP` challenge of 401 answers (RFC 9449 section 7.1), next to the `Bearer` one
//! where both schemes are accepted.

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};

use super::nonce::Nonces;
use super::{DPOP_NONCE, DpopMode};
use crate::clock::now;
use crate::config::AuthConfig;

/// How 401 answers name the `DPoP` scheme, for a configuration where some issuer takes it.
#[derive(Debug)]
pub(crate) struct DpopChallenge {
    /// `algs="ES256 EdDSA ..."`: every algorithm some issuer takes for proofs.
    algs: String,
    /// Whether some issuer still takes tokens as `Bearer`.
    bearer: bool,
    /// Server nonces, when `dpop_nonce` is on: every 401 carries the current one.
    nonces: Option<Arc<Nonces>>,
}

impl DpopChallenge {
    /// The challenge of `config`; `None` when no issuer takes DPoP, and 401 answers stay as
    /// they are.
    pub(crate) fn new(config: &AuthConfig, nonces: Option<Arc<Nonces>>) -> Option<DpopChallenge> {
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
        (!algs.is_empty()).then(|| DpopChallenge {
            algs: format!("algs=\"{}\"", algs.join(" ")),
            bearer,
            nonces,
        })
    }

    /// Adds the `DPoP` challenge to a 401 answer: in place of the `Bearer` one
    /// when only DPoP is taken, next to it otherwise; a refused proof's challenge is the
    /// `DPoP` one, with the `Bearer` one after it where bearer tokens are taken.
    pub(crate) fn decorate(&self, response: &mut HttpResponse) {
        if response.status() != StatusCode::UNAUTHORIZED {
            return;
        }
        let headers = response.headers_mut();
        if let Some(nonces) = &self.nonces {
            headers.insert(
                header::HeaderName::from_static(DPOP_NONCE),
                nonces.current(now()),
            );
        }
        let ours = headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| "Bearer realm=\"api\"".to_owned());
        let mut values = Vec::with_capacity(2);
        if let Some(params) = ours.strip_prefix("DPoP ") {
            values.push(format!("DPoP {}, {params}", self.algs));
            if self.bearer {
                values.push("Bearer realm=\"api\"".to_owned());
            }
        } else if self.bearer {
            values.push(ours);
            values.push(format!("DPoP {}", self.algs));
        } else {
            let params = ours.strip_prefix("Bearer ").unwrap_or("realm=\"api\"");
            values.push(format!("DPoP {}, {params}", self.algs));
        }
        headers.remove(header::WWW_AUTHENTICATE);
        for value in values {
            // Made of the error's challenge (printable ASCII, see `AuthError::challenge`) and
            // algorithm names: always a valid header value.
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(header::WWW_AUTHENTICATE, value);
            }
        }
    }
}
