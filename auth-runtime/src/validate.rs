//! Token validation: size, header, algorithm, key, signature, then the claims.

use std::sync::{Arc, Weak};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::algorithm::{Algorithm, media_type};
use crate::claims::{RawClaims, TokenClaims, ValidToken};
use crate::clock::now;
use crate::config::{AuthConfig, ConfigError, ConfigErrorKind};
use crate::error::{AuthError, InvalidReason, shown_claim};
use crate::issuer::{Issuer, Wait};
use crate::jwks::{KeyLookup, KeySource, VerifyingKey};
use crate::metrics;
use crate::roles::Resolver;
use crate::strict_json::{self, StrictError};

/// What [`Validator::verify`] learnt about a valid token.
pub(crate) struct Verified {
    pub(crate) token: Arc<ValidToken>,
    /// The issuer that vouched for it.
    pub(crate) issuer: Arc<Issuer>,
    /// The key that verified it, held weakly: a cached token must not keep the parsed key
    /// material of an old key set alive. The allocation stays, so its address cannot be
    /// taken by another key and mistaken for this one.
    pub(crate) key: Weak<VerifyingKey>,
    pub(crate) kid: Option<Box<str>>,
    pub(crate) exp: u64,
    pub(crate) nbf: Option<u64>,
}

/// Token validation: size, header, algorithm, key, signature, then the claims.
///
/// The order is chosen so that an attacker-controlled token costs as little as possible before
/// it is refused: the size cap comes before any decoding; the `iss` claim picks the trusted
/// issuer before any key is looked up (a token naming an issuer not configured costs no fetch
/// and no signature check, and one issuer's keys never see another's tokens); the algorithm
/// is checked against that issuer's list before any key is looked up (so `none` and HS*
/// never reach a verifier); and no other claim is trusted before the signature holds.
///
/// Checks tokens against the configured issuers, each with its own key source.
#[derive(Clone)]
pub struct Validator {
    issuers: Arc<[Arc<Issuer>]>,
    max_token_bytes: usize,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.issuers.iter()).finish()
    }
}

impl Validator {
    /// A validator for `config` that takes each issuer's keys from the source at the same
    /// position in `keys`. Fails unless there is exactly one source per configured issuer.
    ///
    /// Such a validator checks tokens only: revocation lists and role resolution belong to
    /// the middleware ([`JwtAuth::authenticate`](crate::JwtAuth::authenticate)).
    pub fn new(
        config: &AuthConfig,
        keys: impl IntoIterator<Item = Arc<dyn KeySource>>,
    ) -> Result<Validator, ConfigError> {
        let keys: Vec<Arc<dyn KeySource>> = keys.into_iter().collect();
        if keys.len() != config.issuers().len() {
            return Err(ConfigError::new(
                ConfigErrorKind::UnknownIssuer,
                format!(
                    "{} key sources for {} configured issuers: give one per issuer",
                    keys.len(),
                    config.issuers().len()
                ),
            ));
        }
        let issuers = config
            .issuers()
            .iter()
            .zip(keys)
            .map(|(issuer, keys)| {
                let roles = Resolver::claim(issuer.roles_claim());
                Arc::new(Issuer::new(issuer, keys, roles, None))
            })
            .collect();
        Ok(Validator::from_issuers(issuers, config.max_token_bytes()))
    }

    /// A validator for issuers built in full (by the middleware's builder).
    pub(crate) fn from_issuers(issuers: Arc<[Arc<Issuer>]>, max_token_bytes: usize) -> Validator {
        Validator {
            issuers,
            max_token_bytes,
        }
    }

    /// The trusted issuers.
    pub(crate) fn issuers(&self) -> &[Arc<Issuer>] {
        &self.issuers
    }

    /// The key source of the issuer whose `iss` is `issuer`.
    pub fn key_source(&self, issuer: &str) -> Option<&Arc<dyn KeySource>> {
        self.issuer_of(issuer).map(|issuer| issuer.keys())
    }

    /// Validates a compact JWS (the part after `Bearer `).
    pub async fn validate(&self, token: &str) -> Result<ValidToken, AuthError> {
        let verified = self.verify(token, Wait::ForFetch).await?;
        Ok(Arc::unwrap_or_clone(verified.token))
    }

    /// Validates a token and keeps what is needed to accept the same bytes again without
    /// verifying the signature: the issuer and key that verified it and its time bounds.
    /// With [`Wait::Never`], a token signed by a key not held yet fails with
    /// [`AuthError::KeysUnavailable`] without a fetch.
    pub(crate) async fn verify(&self, token: &str, wait: Wait) -> Result<Verified, AuthError> {
        let invalid = AuthError::InvalidToken;
        if token.len() > self.max_token_bytes {
            return Err(invalid(InvalidReason::TooLarge));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid(InvalidReason::Malformed));
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| invalid(InvalidReason::Malformed))?;
        let header = strict_json::object(&header_json).map_err(refusal)?;
        // Critical extensions: none are understood, so any `crit`, even `null`, is a refusal
        // (RFC 7515 4.1.11).
        if header.contains_key("crit") {
            return Err(invalid(InvalidReason::CriticalHeader));
        }
        let alg_name = match header.get("alg") {
            Some(Value::String(alg)) => alg.as_str(),
            _ => return Err(invalid(InvalidReason::MissingAlgorithm)),
        };
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(invalid(InvalidReason::Malformed)),
        };
        // The claims are parsed (strictly, bounded by the size cap) before the signature is
        // checked, but only `iss` is read: it names the issuer whose keys and rules apply.
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| invalid(InvalidReason::Malformed))?;
        let raw: RawClaims = strict_json::object(&payload).map_err(refusal)?;
        let issuer = match raw.get("iss") {
            Some(Value::String(iss)) => self.issuer_of(iss),
            _ => None,
        };
        let Some(issuer) = issuer else {
            // Before the signature: what the token says is shown escaped and cut short.
            tracing::debug!(
                trusted = ?self.issuers.iter().map(|issuer| issuer.name()).collect::<Vec<_>>(),
                token_iss = %shown_claim(raw.get("iss")),
                "token refused: its issuer is not a trusted one"
            );
            return Err(invalid(InvalidReason::WrongIssuer));
        };

        let alg = Algorithm::from_name(alg_name)
            .filter(|alg| issuer.accepts(*alg))
            .ok_or_else(|| AuthError::AlgorithmNotAccepted(alg_name.to_owned()))?;
        if let Some(required) = issuer.required_type() {
            let typ_ok = matches!(
                header.get("typ"),
                Some(Value::String(typ)) if media_type(typ) == required
            );
            if !typ_ok {
                return Err(invalid(InvalidReason::WrongType));
            }
        }
        if signature.is_empty() {
            return Err(invalid(InvalidReason::BadSignature));
        }

        let set = issuer.key_set_for(kid, wait).await?;
        let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        let verify = |key: &VerifyingKey| {
            let started = metrics::start();
            let verified = key.verify(signed, signature, alg);
            metrics::verified(alg, started);
            verified
        };
        let key = match set.find(kid) {
            KeyLookup::Found(key) => {
                if !key.accepts(alg) {
                    return Err(invalid(InvalidReason::KeyAlgorithmMismatch));
                }
                if !verify(key) {
                    return Err(invalid(InvalidReason::BadSignature));
                }
                key
            }
            KeyLookup::Each(keys) => {
                let mut fitting = keys.iter().filter(|key| key.accepts(alg)).peekable();
                if fitting.peek().is_none() {
                    return Err(invalid(InvalidReason::KeyAlgorithmMismatch));
                }
                fitting
                    .find(|key| verify(key))
                    .ok_or_else(|| invalid(InvalidReason::BadSignature))?
            }
            KeyLookup::Unknown => return Err(invalid(InvalidReason::UnknownKey)),
            KeyLookup::Ambiguous => return Err(invalid(InvalidReason::AmbiguousKey)),
        };

        let (exp, nbf) = issuer.check_claims(&raw, now())?;
        Ok(Verified {
            issuer: Arc::clone(issuer),
            key: Arc::downgrade(key),
            kid: kid.map(Box::from),
            exp,
            nbf,
            token: Arc::new(ValidToken {
                claims: TokenClaims::from_raw(&raw),
                raw,
            }),
        })
    }

    /// The configured issuer a token's `iss` names, compared exactly. Issuers are few, so a
    /// scan of their names costs less than hashing the claim.
    fn issuer_of(&self, iss: &str) -> Option<&Arc<Issuer>> {
        self.issuers.iter().find(|issuer| issuer.name() == iss)
    }
}

fn refusal(err: StrictError) -> AuthError {
    AuthError::InvalidToken(match err {
        StrictError::Malformed => InvalidReason::Malformed,
        StrictError::Duplicate => InvalidReason::DuplicateMember,
    })
}
