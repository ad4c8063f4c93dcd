//! Token validation: size, header, algorithm, key, signature, then the claims.
//!
//! The order is chosen so that an attacker-controlled token costs as little as possible before
//! it is refused: the size cap comes before any decoding, the algorithm is checked against the
//! configured list before any key is looked up (so `none` and HS* never reach a verifier), and
//! no claim is read before the signature holds.

use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::config::{Algorithm, AuthConfig, media_type};
use crate::error::{AuthError, InvalidReason};
use crate::jwks::{KeyLookup, KeySet, KeySource, KeysUnavailable, VerifyingKey};
use crate::strict_json::{self, StrictError};

/// All claims of a validated token, as JSON.
pub type RawClaims = serde_json::Map<String, Value>;

/// The claims every application reads, pulled out of a validated token. A claim that is
/// missing (or not a string) is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenClaims {
    /// `sub`: who the token is about.
    pub sub: String,
    /// `email`.
    pub email: String,
    /// `role`: the primary role, which the default role resolver turns into the role list.
    pub role: String,
    /// `org_id`.
    pub org_id: String,
    /// `jti`: the token's id.
    pub jti: String,
    /// `groups`: an array of strings (a single string counts as one group).
    pub groups: Vec<String>,
}

impl TokenClaims {
    /// Reads the well-known claims out of the raw claims.
    pub fn from_raw(raw: &RawClaims) -> TokenClaims {
        let text = |name: &str| match raw.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let groups = match raw.get("groups") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        TokenClaims {
            sub: text("sub"),
            email: text("email"),
            role: text("role"),
            org_id: text("org_id"),
            jti: text("jti"),
            groups,
        }
    }
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidToken {
    /// The well-known claims.
    pub claims: TokenClaims,
    /// Every claim, for role resolvers and application code.
    pub raw: RawClaims,
}

/// What [`Validator::verify`] learnt about a valid token.
pub(crate) struct Verified {
    pub(crate) token: Arc<ValidToken>,
    /// The key that verified it, held weakly: a cached token must not keep the parsed key
    /// material of an old key set alive. The allocation stays, so its address cannot be
    /// taken by another key and mistaken for this one.
    pub(crate) key: Weak<VerifyingKey>,
    pub(crate) kid: Option<Box<str>>,
    pub(crate) exp: u64,
    pub(crate) nbf: Option<u64>,
}

/// Checks tokens against one configuration and one key source.
#[derive(Clone)]
pub struct Validator {
    issuer: Arc<str>,
    audience: Arc<str>,
    accepted: Arc<[Algorithm]>,
    leeway: u64,
    max_token_bytes: usize,
    max_lifetime: Option<u64>,
    required_type: Option<Arc<str>>,
    keys: Arc<dyn KeySource>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("accepted", &self.accepted)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// A validator for `config` that takes keys from `keys`.
    pub fn new(config: &AuthConfig, keys: Arc<dyn KeySource>) -> Validator {
        Validator {
            issuer: Arc::from(config.issuer.as_str()),
            audience: Arc::from(config.audience.as_str()),
            accepted: Arc::from(config.accepted_algorithms.as_slice()),
            leeway: config.leeway_seconds,
            max_token_bytes: config.max_token_bytes,
            max_lifetime: config.max_token_lifetime_seconds,
            required_type: config.required_token_type.as_deref().map(Arc::from),
            keys,
        }
    }

    /// The key source in use.
    pub fn key_source(&self) -> &Arc<dyn KeySource> {
        &self.keys
    }

    /// Validates a compact JWS (the part after `Bearer `).
    pub async fn validate(&self, token: &str) -> Result<ValidToken, AuthError> {
        let verified = self.verify(token).await?;
        Ok(Arc::unwrap_or_clone(verified.token))
    }

    /// Validates a token and keeps what is needed to accept the same bytes again without
    /// verifying the signature: the key that verified it and its time bounds.
    pub(crate) async fn verify(&self, token: &str) -> Result<Verified, AuthError> {
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
        let alg = Algorithm::from_name(alg_name)
            .filter(|alg| self.accepted.contains(alg))
            .ok_or_else(|| AuthError::AlgorithmNotAccepted(alg_name.to_owned()))?;
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(invalid(InvalidReason::Malformed)),
        };
        if let Some(required) = &self.required_type {
            let typ_ok = matches!(
                header.get("typ"),
                Some(Value::String(typ)) if media_type(typ) == **required
            );
            if !typ_ok {
                return Err(invalid(InvalidReason::WrongType));
            }
        }
        if signature.is_empty() {
            return Err(invalid(InvalidReason::BadSignature));
        }

        let set = self.key_set_for(kid).await?;
        let key = match set.find(kid) {
            KeyLookup::Found(key) => key,
            KeyLookup::Unknown => return Err(invalid(InvalidReason::UnknownKey)),
            KeyLookup::Ambiguous => return Err(invalid(InvalidReason::AmbiguousKey)),
        };
        if !key.accepts(alg) {
            return Err(invalid(InvalidReason::KeyAlgorithmMismatch));
        }
        let signed_len = header_b64.len() + 1 + payload_b64.len();
        if !key.verify(&token.as_bytes()[..signed_len], signature, alg) {
            return Err(invalid(InvalidReason::BadSignature));
        }

        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| invalid(InvalidReason::Malformed))?;
        let raw: RawClaims = strict_json::object(&payload).map_err(refusal)?;
        let (exp, nbf) = self.check_claims(&raw, now())?;
        Ok(Verified {
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

    /// Whether `key` is still the one the key source holds for `kid`. A refetched set holds
    /// freshly parsed keys, so this also says no after every refresh: cached tokens are then
    /// verified once more.
    pub(crate) fn still_trusts(&self, kid: Option<&str>, key: &Weak<VerifyingKey>) -> bool {
        self.keys.cached().is_some_and(|set| {
            matches!(set.find(kid), KeyLookup::Found(current) if std::ptr::eq(Arc::as_ptr(current), key.as_ptr()))
        })
    }

    /// The time checks alone: `exp` and `nbf` (when present) with the leeway, at `now`.
    pub(crate) fn check_times(
        &self,
        exp: u64,
        nbf: Option<u64>,
        now: u64,
    ) -> Result<(), AuthError> {
        if now >= exp.saturating_add(self.leeway) {
            return Err(AuthError::Expired);
        }
        if nbf.is_some_and(|nbf| nbf > now.saturating_add(self.leeway)) {
            return Err(AuthError::InvalidToken(InvalidReason::NotYetValid));
        }
        Ok(())
    }

    /// The cached set when it knows `kid`; otherwise one refresh through the key source.
    async fn key_set_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        if let Some(set) = self.keys.cached()
            && !matches!(set.find(kid), KeyLookup::Unknown)
        {
            return Ok(set);
        }
        self.keys
            .refresh()
            .await
            .map_err(|KeysUnavailable| AuthError::KeysUnavailable)
    }

    /// Every claim check, `now` in seconds since the epoch; returns `exp` and `nbf`.
    pub(crate) fn check_claims(
        &self,
        raw: &RawClaims,
        now: u64,
    ) -> Result<(u64, Option<u64>), AuthError> {
        let invalid = AuthError::InvalidToken;
        let exp = raw
            .get("exp")
            .and_then(numeric_date)
            .ok_or(invalid(InvalidReason::MissingExpiry))?;
        let nbf = match raw.get("nbf") {
            Some(nbf) => Some(numeric_date(nbf).ok_or(invalid(InvalidReason::NotYetValid))?),
            None => None,
        };
        self.check_times(exp, nbf, now)?;
        let iat = match raw.get("iat") {
            Some(iat) => Some(numeric_date(iat).ok_or(invalid(InvalidReason::BadIssuedAt))?),
            None => None,
        };
        if iat.is_some_and(|iat| iat > now.saturating_add(self.leeway)) {
            return Err(invalid(InvalidReason::IssuedInFuture));
        }
        if let Some(max) = self.max_lifetime
            && exp.saturating_sub(iat.unwrap_or(now)) > max
        {
            return Err(invalid(InvalidReason::LifetimeTooLong));
        }
        match raw.get("iss") {
            Some(Value::String(iss)) if **iss == *self.issuer => {}
            _ => return Err(invalid(InvalidReason::WrongIssuer)),
        }
        let audience_ok = match raw.get("aud") {
            Some(Value::String(aud)) => **aud == *self.audience,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(&self.audience)),
            _ => false,
        };
        if !audience_ok {
            return Err(invalid(InvalidReason::WrongAudience));
        }
        Ok((exp, nbf))
    }
}

fn refusal(err: StrictError) -> AuthError {
    AuthError::InvalidToken(match err {
        StrictError::Malformed => InvalidReason::Malformed,
        StrictError::Duplicate => InvalidReason::DuplicateMember,
    })
}

/// A JWT NumericDate: seconds since the epoch, possibly fractional (rounded down). Negative
/// values are treated as the epoch.
fn numeric_date(value: &Value) -> Option<u64> {
    let Value::Number(number) = value else {
        return None;
    };
    if let Some(secs) = number.as_u64() {
        return Some(secs);
    }
    if number.as_i64().is_some() {
        return Some(0);
    }
    number
        .as_f64()
        .filter(|secs| secs.is_finite())
        .map(|secs| secs.max(0.0) as u64)
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;
    use serde_json::json;

    fn validator(leeway: u64) -> Validator {
        let config = RawConfig {
            issuer: "https://id.example".into(),
            audience: "api".into(),
            leeway_seconds: leeway,
            ..RawConfig::default()
        }
        .validate()
        .unwrap();
        Validator::new(&config, Arc::new(Arc::new(KeySet::default())))
    }

    fn claims(value: Value) -> RawClaims {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn leeway_edges_on_exp() {
        let v = validator(30);
        let now = 1_000_000;
        let base = json!({"iss": "https://id.example", "aud": "api"});
        let with_exp = |exp: u64| {
            let mut c = claims(base.clone());
            c.insert("exp".into(), json!(exp));
            c
        };
        assert!(v.check_claims(&with_exp(now - 29), now).is_ok());
        assert_eq!(
            v.check_claims(&with_exp(now - 30), now),
            Err(AuthError::Expired)
        );
        assert_eq!(
            v.check_claims(&with_exp(now - 31), now),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn leeway_edges_on_nbf() {
        let v = validator(30);
        let now = 1_000_000;
        let at = |nbf: u64| {
            claims(json!({"iss": "https://id.example", "aud": "api", "exp": now + 60, "nbf": nbf}))
        };
        assert!(v.check_claims(&at(now + 30), now).is_ok());
        assert_eq!(
            v.check_claims(&at(now + 31), now),
            Err(AuthError::InvalidToken(InvalidReason::NotYetValid))
        );
    }

    #[test]
    fn exp_is_required_and_numeric() {
        let v = validator(0);
        let missing = claims(json!({"iss": "https://id.example", "aud": "api"}));
        let text = claims(json!({"iss": "https://id.example", "aud": "api", "exp": "never"}));
        for c in [missing, text] {
            assert_eq!(
                v.check_claims(&c, 10),
                Err(AuthError::InvalidToken(InvalidReason::MissingExpiry))
            );
        }
    }

    #[test]
    fn audience_may_be_an_array_containing_ours() {
        let v = validator(0);
        let ok = claims(json!({"iss": "https://id.example", "aud": ["other", "api"], "exp": 99}));
        let bad = claims(json!({"iss": "https://id.example", "aud": ["other"], "exp": 99}));
        assert!(v.check_claims(&ok, 10).is_ok());
        assert_eq!(
            v.check_claims(&bad, 10),
            Err(AuthError::InvalidToken(InvalidReason::WrongAudience))
        );
    }

    fn strict_validator(max_lifetime: Option<u64>) -> Validator {
        let config = RawConfig {
            issuer: "https://id.example".into(),
            audience: "api".into(),
            leeway_seconds: 30,
            max_token_lifetime_seconds: max_lifetime,
            ..RawConfig::default()
        }
        .validate()
        .unwrap();
        Validator::new(&config, Arc::new(Arc::new(KeySet::default())))
    }

    fn timed(iat: Option<Value>, exp: u64) -> RawClaims {
        let mut c = claims(json!({"iss": "https://id.example", "aud": "api", "exp": exp}));
        if let Some(iat) = iat {
            c.insert("iat".into(), iat);
        }
        c
    }

    #[test]
    fn iat_must_be_a_number_and_not_in_the_future_beyond_the_leeway() {
        let v = strict_validator(None);
        let now = 1_000_000;
        assert!(
            v.check_claims(&timed(Some(json!(now + 30)), now + 60), now)
                .is_ok()
        );
        assert!(v.check_claims(&timed(None, now + 60), now).is_ok());
        assert_eq!(
            v.check_claims(&timed(Some(json!(now + 31)), now + 60), now),
            Err(AuthError::InvalidToken(InvalidReason::IssuedInFuture))
        );
        for bad in [json!("yesterday"), json!(null), json!([now])] {
            assert_eq!(
                v.check_claims(&timed(Some(bad.clone()), now + 60), now),
                Err(AuthError::InvalidToken(InvalidReason::BadIssuedAt)),
                "{bad}"
            );
        }
    }

    #[test]
    fn lifetime_is_measured_from_iat_or_from_now_without_it() {
        let v = strict_validator(Some(3600));
        let now = 1_000_000;
        let too_long = Err(AuthError::InvalidToken(InvalidReason::LifetimeTooLong));
        assert!(
            v.check_claims(&timed(Some(json!(now - 100)), now - 100 + 3600), now)
                .is_ok()
        );
        assert_eq!(
            v.check_claims(&timed(Some(json!(now - 100)), now - 100 + 3601), now),
            too_long
        );
        assert!(v.check_claims(&timed(None, now + 3600), now).is_ok());
        assert_eq!(v.check_claims(&timed(None, now + 3601), now), too_long);
        let unlimited = strict_validator(None);
        assert!(
            unlimited
                .check_claims(&timed(Some(json!(now)), now + 10 * 365 * 86_400), now)
                .is_ok()
        );
    }

    #[test]
    fn missing_claims_become_empty_strings() {
        let c = TokenClaims::from_raw(&claims(json!({"sub": "u1", "groups": "ops"})));
        assert_eq!(c.sub, "u1");
        assert_eq!(c.email, "");
        assert_eq!(c.groups, vec!["ops".to_owned()]);
    }
}
