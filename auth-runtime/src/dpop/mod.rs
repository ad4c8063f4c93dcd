//! Sender-constrained tokens (DPoP, RFC 9449): a token bound to a key (`cnf.jkt`) is accepted
//! only with a fresh proof, signed by that key, for the very request it comes with.
//!
//! - `proof`: one proof checked in full; `key`: its public key and thumbprint; `htu`: URLs
//!   in the one form they are compared in; `replay`: each proof accepted once, in bounded
//!   memory; `nonce`: server nonces.

mod htu;
mod key;
mod nonce;
mod proof;
mod reason;
mod replay;

use actix_web::dev::ServiceRequest;
use actix_web::{HttpMessage as _, HttpRequest};
use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, Uri};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use htu::normalise;
pub(crate) use nonce::Nonces;
pub use reason::DpopReason;

use crate::algorithm::Algorithm;
use crate::claims::RawClaims;
use crate::clock::now;
use crate::config::{AuthConfig, IssuerConfig};
use crate::context::SecurityContext;
use crate::error::{AuthError, InvalidReason};
use crate::issuer::Issuer;
use proof::Expected;
use replay::ReplayRecord;

/// Whether an issuer's tokens may, must, or must not be DPoP-bound (`dpop` in the
/// configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpopMode {
    /// Unbound tokens as `Bearer`, bound tokens as `DPoP` with a proof. The default.
    #[default]
    Allowed,
    /// Only bound tokens, as `DPoP` with a proof.
    Required,
    /// Only unbound tokens, as `Bearer`: a bound token is refused, since its binding could
    /// not be checked.
    Off,
}

/// The proof algorithms an issuer accepts unless its `dpop_algorithms` says otherwise.
pub const DEFAULT_DPOP_ALGORITHMS: [Algorithm; 7] = [
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::MlDsa44,
    Algorithm::MlDsa65,
    Algorithm::MlDsa87,
];

/// The scheme of the `Authorization` header a token came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

/// One issuer's DPoP rules.
#[derive(Debug)]
pub(crate) struct DpopRules {
    mode: DpopMode,
    algorithms: Box<[Algorithm]>,
    max_age: u64,
    leeway: u64,
}

impl DpopRules {
    pub(crate) fn new(config: &IssuerConfig) -> DpopRules {
        DpopRules {
            mode: config.dpop(),
            algorithms: Box::from(config.dpop_algorithms()),
            max_age: config.dpop_max_age_seconds(),
            leeway: config.leeway_seconds(),
        }
    }

    /// Whether a token of this issuer, sent as `Bearer`, may pass without looking further:
    /// not bound, and unbound tokens are allowed.
    pub(crate) fn passes_as_bearer(&self, raw: &RawClaims) -> bool {
        self.mode != DpopMode::Required && !raw.contains_key("cnf")
    }
}

/// What all issuers share: where the app is reached from, the proofs seen, the nonces.
pub(crate) struct Dpop {
    /// The configured `public_url`s, normalised, without a trailing `/`.
    public_urls: Box<[String]>,
    /// The proofs seen, per issuer (by name): each issuer has its own proof lifetime, and
    /// one issuer's clients never crowd another's out.
    replay: Box<[(Box<str>, ReplayRecord)]>,
    /// Server nonces, when `dpop_nonce` is on.
    nonces: Option<Arc<Nonces>>,
}

impl Dpop {
    pub(crate) fn new(config: &AuthConfig) -> Dpop {
        let nonces = config.dpop_nonce().then(|| {
            let secret = config
                .dpop_nonce_secret()
                .map(|secret| secret.expose().as_bytes());
            Arc::new(Nonces::new(
                secret,
                config.dpop_nonce_window().as_secs(),
                now(),
            ))
        });
        Dpop {
            nonces,
            public_urls: config
                .public_urls()
                .iter()
                .filter_map(|url| normalise(url))
                .map(|url| url.trim_end_matches('/').to_owned())
                .collect(),
            replay: config
                .issuers()
                .iter()
                .filter(|issuer| issuer.dpop() != DpopMode::Off)
                .map(|issuer| {
                    let record = ReplayRecord::new(config.dpop_replay_max_entries());
                    (Box::from(issuer.issuer()), record)
                })
                .collect(),
        }
    }

    /// Checks how `token`, whose claims are `raw`, was presented against the rules of
    /// `issuer`: the scheme, the binding, and for `DPoP` the proof, which is then spent.
    pub(crate) fn check(
        &self,
        issuer: &Issuer,
        raw: &RawClaims,
        token: &str,
        presented: &Presented<'_>,
    ) -> Result<(), AuthError> {
        let rules = issuer.dpop();
        let refused = AuthError::InvalidToken;
        let jkt = bound_key(raw)?;
        let scheme = presented.scheme;
        if rules.mode == DpopMode::Off && (jkt.is_some() || scheme == Scheme::Dpop) {
            return Err(refused(InvalidReason::DpopNotAccepted));
        }
        if scheme == Scheme::Bearer {
            return match (jkt, rules.mode) {
                (Some(_), _) => Err(refused(InvalidReason::DpopBound)),
                (None, DpopMode::Required) => Err(refused(InvalidReason::NotDpopBound)),
                (None, _) => Ok(()),
            };
        }
        let jkt = jkt.ok_or(refused(InvalidReason::NotDpopBound))?;
        let Some(request) = &presented.request else {
            return Err(AuthError::InvalidDpopProof(DpopReason::Missing));
        };
        let mut proofs = request.headers.get_all(DPOP);
        let proof = match (proofs.next(), proofs.next()) {
            (None, _) => return Err(AuthError::InvalidDpopProof(DpopReason::Missing)),
            (Some(_), Some(_)) => return Err(AuthError::InvalidDpopProof(DpopReason::Multiple)),
            (Some(proof), None) => proof
                .to_str()
                .map_err(|_| AuthError::InvalidDpopProof(DpopReason::Malformed))?,
        };
        let urls = self.urls_of(request);
        let now = now();
        let expected = Expected {
            method: request.method,
            urls: &urls,
            token: Some(token),
            jkt: Some(jkt),
            algorithms: &rules.algorithms,
            max_age: rules.max_age,
            leeway: rules.leeway,
            future: PROOF_FUTURE_SECONDS,
            now,
        };
        let checked = proof::check(proof, &expected).map_err(AuthError::InvalidDpopProof)?;
        if let Some(nonces) = &self.nonces
            && !checked
                .nonce
                .as_deref()
                .is_some_and(|nonce| nonces.accepts(nonce, now))
        {
            return Err(AuthError::UseDpopNonce);
        }
        if request.spent_here(&checked) {
            // An outer `JwtAuth` of this very request checked and spent this proof.
            return Ok(());
        }
        let Some((_, record)) = self
            .replay
            .iter()
            .find(|(name, _)| **name == *issuer.name())
        else {
            // Every issuer with DPoP on has a record; one without refused the scheme above.
            return Err(refused(InvalidReason::DpopNotAccepted));
        };
        record
            .record(checked.key, checked.id, checked.expires, now)
            .map_err(AuthError::InvalidDpopProof)?;
        request.mark_spent(&checked);
        Ok(())
    }

    /// The nonce to send with an answer, when nonces are on.
    pub(crate) fn nonce_header(&self) -> Option<HeaderValue> {
        self.nonces.as_ref().map(|nonces| nonces.current(now()))
    }

    /// The nonces, for the challenge of 401 answers.
    pub(crate) fn nonces(&self) -> Option<Arc<Nonces>> {
        self.nonces.clone()
    }

    /// The URLs the request may have been sent to: under each `public_url`, or else as its
    /// scheme and `Host` say.
    fn urls_of(&self, request: &RequestParts<'_>) -> Vec<String> {
        if !self.public_urls.is_empty() {
            return self
                .public_urls
                .iter()
                .filter_map(|base| htu::under(base, request.path))
                .collect();
        }
        let scheme = if request.secure { "https" } else { "http" };
        request
            .host
            .and_then(|host| htu::request_url(scheme, host, request.path))
            .into_iter()
            .collect()
    }
}

/// [`proof::check`] with the default rules, for `__private::check_dpop_proof`.
pub(crate) fn check_proof_for_fuzzing(
    proof: &str,
    url: &str,
    token: &str,
    jkt: &str,
    now: u64,
) -> Result<(), DpopReason> {
    let urls: Vec<String> = normalise(url).into_iter().collect();
    let expected = Expected {
        method: "GET",
        urls: &urls,
        token: Some(token),
        jkt: Some(jkt),
        algorithms: &DEFAULT_DPOP_ALGORITHMS,
        max_age: 60,
        leeway: 30,
        future: 30,
        now,
    };
    proof::check(proof, &expected).map(|_| ())
}

/// A proof sent to a token endpoint, checked: its key's thumbprint, to bind what is issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEndpointProof {
    /// The RFC 7638 thumbprint of the proof's key.
    pub thumbprint: String,
    key: u64,
    id: u64,
    expires: u64,
}

impl TokenEndpointProof {
    /// The proof's identity (its key and `jti`, hashed): what a store keeps to know it again.
    pub fn id(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.key.to_le_bytes());
        id[8..].copy_from_slice(&self.id.to_le_bytes());
        id
    }
}

/// Proofs seen by a token endpoint, each accepted once (per process).
pub struct ProofReplay(ReplayRecord);

impl ProofReplay {
    /// A record of at most `max_entries` proofs.
    pub fn new(max_entries: usize) -> ProofReplay {
        ProofReplay(ReplayRecord::new(max_entries))
    }

    /// Spends `proof`: `Err(Replayed)` when it was seen before.
    pub fn spend(&self, proof: &TokenEndpointProof, now: u64) -> Result<(), DpopReason> {
        self.0.record(proof.key, proof.id, proof.expires, now)
    }
}

/// How far ahead of the clock a proof's `iat` may be (less when the leeway is less). A proof
/// dated ahead stays in the replay record longer than a fresh one, so a short allowance keeps
/// a flood of such proofs, from clients with many keys, from outlasting everyone else's; a
/// client whose clock runs further ahead is what server nonces are for (RFC 9449 section 11.1).
const PROOF_FUTURE_SECONDS: u64 = 5;

/// Checks a proof sent to a token endpoint (no access token with it, any key): `method` and
/// `url` are the endpoint's (the URL as clients reach it), `algorithms` those taken; `iat`
/// may be `leeway` seconds old past `max_age`, and at most 5 seconds ahead.
pub fn check_token_endpoint_proof(
    proof: &str,
    method: &str,
    url: &str,
    algorithms: &[Algorithm],
    max_age: u64,
    leeway: u64,
    now: u64,
) -> Result<TokenEndpointProof, DpopReason> {
    let urls: Vec<String> = normalise(url).into_iter().collect();
    let expected = Expected {
        method,
        urls: &urls,
        token: None,
        jkt: None,
        algorithms,
        max_age,
        leeway,
        future: PROOF_FUTURE_SECONDS,
        now,
    };
    let checked = proof::check(proof, &expected)?;
    Ok(TokenEndpointProof {
        thumbprint: checked.thumbprint,
        key: checked.key,
        id: checked.id,
        expires: checked.expires,
    })
}

/// The `DPoP` request header.
const DPOP: &str = "dpop";

/// The header a server nonce is sent in.
pub(crate) const DPOP_NONCE: &str = "dpop-nonce";

/// The thumbprint a token is bound to: `cnf.jkt`. A `cnf` that binds the token some other
/// way (a certificate, say) is refused, since that binding cannot be checked here.
pub(crate) fn bound_key(raw: &RawClaims) -> Result<Option<&str>, AuthError> {
    match raw.get("cnf") {
        None => Ok(None),
        // Only `jkt`, alone: a second binding (a certificate's, say) cannot be checked here,
        // and the token must not pass on the first alone.
        Some(Value::Object(cnf)) if cnf.len() == 1 => match cnf.get("jkt") {
            Some(Value::String(jkt)) => Ok(Some(jkt)),
            _ => Err(AuthError::InvalidToken(
                InvalidReason::UnsupportedConfirmation,
            )),
        },
        Some(_) => Err(AuthError::InvalidToken(
            InvalidReason::UnsupportedConfirmation,
        )),
    }
}

/// How a request presented its token: the scheme, and the parts of the request a proof
/// speaks of.
pub(crate) struct Presented<'a> {
    pub(crate) scheme: Scheme,
    request: Option<RequestParts<'a>>,
}

struct RequestParts<'a> {
    /// The request itself, where the middleware can see it (not after routing took it):
    /// for the mark of a proof spent by an outer `JwtAuth`.
    request: Option<&'a HttpRequest>,
    method: &'a str,
    /// The path as sent (percent-encoded), without the query.
    path: &'a str,
    host: Option<&'a str>,
    secure: bool,
    headers: &'a HeaderMap,
}

impl<'a> Presented<'a> {
    /// A token given outside any request ([`JwtAuth::authenticate`](crate::JwtAuth::authenticate)):
    /// as `Bearer`, with no proof.
    pub(crate) fn bearer() -> Presented<'static> {
        Presented {
            scheme: Scheme::Bearer,
            request: None,
        }
    }

    /// The token of `req`, sent with `scheme`.
    pub(crate) fn of(req: &'a ServiceRequest, scheme: Scheme) -> Presented<'a> {
        let secure = req.app_config().secure();
        let mut presented =
            Presented::from_parts(req.method(), req.uri(), req.headers(), scheme, secure);
        if let Some(parts) = &mut presented.request {
            parts.request = Some(req.request());
        }
        presented
    }

    /// The token of a request made of these parts; `secure`: it came over TLS.
    pub(crate) fn from_parts(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        scheme: Scheme,
        secure: bool,
    ) -> Presented<'a> {
        let host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .or_else(|| uri.authority().map(|authority| authority.as_str()));
        Presented {
            scheme,
            request: Some(RequestParts {
                request: None,
                method: method.as_str(),
                path: uri.path(),
                host,
                secure: secure || uri.scheme_str() == Some("https"),
                headers,
            }),
        }
    }
}

/// The proof a `JwtAuth` checked and spent for a request, in its extensions: a `JwtAuth`
/// nested inside it (a clone wrapped around a scope, say) checks the proof again and does not
/// spend it twice.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SpentProof {
    key: u64,
    id: u64,
}

impl RequestParts<'_> {
    /// Whether an outer `JwtAuth` of this very request checked and spent its proof: it marked
    /// the request's extensions, or, where it checked only after routing (too late for the
    /// extensions), it runs this request in the identity of a caller that proved the same key
    /// (a request carries one proof).
    fn spent_here(&self, checked: &proof::Checked) -> bool {
        let marked = self.request.is_some_and(|req| {
            req.extensions().get::<SpentProof>()
                == Some(&SpentProof {
                    key: checked.key,
                    id: checked.id,
                })
        });
        marked
            || SecurityContext::get()
                .is_some_and(|caller| caller.dpop_thumbprint() == Some(checked.thumbprint.as_str()))
    }

    fn mark_spent(&self, checked: &proof::Checked) {
        if let Some(req) = self.request {
            req.extensions_mut().insert(SpentProof {
                key: checked.key,
                id: checked.id,
            });
        }
    }
}
