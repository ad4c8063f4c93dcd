//! Token validation: size, header, algorithm, key, signature, then the claims.
//!
//! The order is chosen so that an attacker-controlled token costs as little as possible before
//! it is refused: the size cap comes before any decoding; the `iss` claim picks the trusted
//! issuer before any key is looked up (a token naming an issuer not configured costs no fetch
//! and no signature check, and one issuer's keys never see another's tokens); the algorithm
//! is checked against that issuer's list before any key is looked up (so `none` and HS*
//! never reach a verifier); and no other claim is trusted before the signature holds.

use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::config::{Algorithm, AuthConfig, ConfigError, IssuerConfig, media_type};
use crate::error::{AuthError, InvalidReason};
use crate::jwks::{KeyLookup, KeySet, KeySource, KeysUnavailable, VerifyingKey};
use crate::metrics;
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
    /// The position of the issuer that vouched for it in the configuration.
    pub(crate) issuer: usize,
    /// The key that verified it, held weakly: a cached token must not keep the parsed key
    /// material of an old key set alive. The allocation stays, so its address cannot be
    /// taken by another key and mistaken for this one.
    pub(crate) key: Weak<VerifyingKey>,
    pub(crate) kid: Option<Box<str>>,
    pub(crate) exp: u64,
    pub(crate) nbf: Option<u64>,
}

/// Checks tokens against the configured issuers, each with its own key source.
#[derive(Clone)]
pub struct Validator {
    issuers: Arc<[IssuerCheck]>,
    max_token_bytes: usize,
}

/// What is checked for the tokens of one issuer.
struct IssuerCheck {
    issuer: Box<str>,
    audiences: Box<[Box<str>]>,
    accepted: Box<[Algorithm]>,
    leeway: u64,
    max_lifetime: Option<u64>,
    required_type: Option<Box<str>>,
    keys: Arc<dyn KeySource>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for check in self.issuers.iter() {
            list.entry(&format_args!(
                "{} (audiences {:?}, algorithms {:?})",
                check.issuer, check.audiences, check.accepted
            ));
        }
        list.finish()
    }
}

impl Validator {
    /// A validator for `config` that takes each issuer's keys from the source at the same
    /// position in `keys`. Fails unless there is exactly one source per configured issuer.
    pub fn new(
        config: &AuthConfig,
        keys: impl IntoIterator<Item = Arc<dyn KeySource>>,
    ) -> Result<Validator, ConfigError> {
        let keys: Vec<Arc<dyn KeySource>> = keys.into_iter().collect();
        if keys.len() != config.issuers.len() {
            return Err(ConfigError::new(format!(
                "{} key sources for {} configured issuers: give one per issuer",
                keys.len(),
                config.issuers.len()
            )));
        }
        let issuers = config
            .issuers
            .iter()
            .zip(keys)
            .map(|(issuer, keys)| IssuerCheck::new(issuer, keys))
            .collect();
        Ok(Validator {
            issuers,
            max_token_bytes: config.max_token_bytes,
        })
    }

    /// The key source of the issuer whose `iss` is `issuer`.
    pub fn key_source(&self, issuer: &str) -> Option<&Arc<dyn KeySource>> {
        self.issuers
            .iter()
            .find(|check| *check.issuer == *issuer)
            .map(|check| &check.keys)
    }

    /// Validates a compact JWS (the part after `Bearer `).
    pub async fn validate(&self, token: &str) -> Result<ValidToken, AuthError> {
        let verified = self.verify(token).await?;
        Ok(Arc::unwrap_or_clone(verified.token))
    }

    /// Validates a token and keeps what is needed to accept the same bytes again without
    /// verifying the signature: the issuer and key that verified it and its time bounds.
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
        let (index, check) = match raw.get("iss") {
            Some(Value::String(iss)) => self.issuer_of(iss),
            _ => None,
        }
        .ok_or(invalid(InvalidReason::WrongIssuer))?;

        let alg = Algorithm::from_name(alg_name)
            .filter(|alg| check.accepted.contains(alg))
            .ok_or_else(|| AuthError::AlgorithmNotAccepted(alg_name.to_owned()))?;
        if let Some(required) = &check.required_type {
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

        let set = check.key_set_for(kid).await?;
        let key = match set.find(kid) {
            KeyLookup::Found(key) => key,
            KeyLookup::Unknown => return Err(invalid(InvalidReason::UnknownKey)),
            KeyLookup::Ambiguous => return Err(invalid(InvalidReason::AmbiguousKey)),
        };
        if !key.accepts(alg) {
            return Err(invalid(InvalidReason::KeyAlgorithmMismatch));
        }
        let signed_len = header_b64.len() + 1 + payload_b64.len();
        let started = metrics::start();
        let verified = key.verify(&token.as_bytes()[..signed_len], signature, alg);
        metrics::verified(alg, started);
        if !verified {
            return Err(invalid(InvalidReason::BadSignature));
        }

        let (exp, nbf) = check.check_claims(&raw, now())?;
        Ok(Verified {
            issuer: index,
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
    fn issuer_of(&self, iss: &str) -> Option<(usize, &IssuerCheck)> {
        self.issuers
            .iter()
            .enumerate()
            .find(|(_, check)| *check.issuer == *iss)
    }

    /// Whether `key` is still the one issuer `issuer`'s key source holds for `kid`. A
    /// refetched set holds freshly parsed keys, so this also says no after every refresh:
    /// cached tokens are then verified once more.
    pub(crate) fn still_trusts(
        &self,
        issuer: usize,
        kid: Option<&str>,
        key: &Weak<VerifyingKey>,
    ) -> bool {
        self.issuers.get(issuer).is_some_and(|check| {
            check.keys.cached().is_some_and(|set| {
                matches!(set.find(kid), KeyLookup::Found(current) if std::ptr::eq(Arc::as_ptr(current), key.as_ptr()))
            })
        })
    }

    /// The time checks alone, with issuer `issuer`'s leeway: `exp` and `nbf` (when present)
    /// at `now`.
    pub(crate) fn check_times(
        &self,
        issuer: usize,
        exp: u64,
        nbf: Option<u64>,
        now: u64,
    ) -> Result<(), AuthError> {
        match self.issuers.get(issuer) {
            Some(check) => check.check_times(exp, nbf, now),
            None => Err(AuthError::InvalidToken(InvalidReason::WrongIssuer)),
        }
    }
}

impl IssuerCheck {
    fn new(config: &IssuerConfig, keys: Arc<dyn KeySource>) -> IssuerCheck {
        IssuerCheck {
            issuer: Box::from(config.issuer.as_str()),
            audiences: config
                .audiences
                .iter()
                .map(|aud| Box::from(aud.as_str()))
                .collect(),
            accepted: Box::from(config.accepted_algorithms.as_slice()),
            leeway: config.leeway_seconds,
            max_lifetime: config.max_token_lifetime_seconds,
            required_type: config.required_token_type.as_deref().map(Box::from),
            keys,
        }
    }

    fn check_times(&self, exp: u64, nbf: Option<u64>, now: u64) -> Result<(), AuthError> {
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
    fn check_claims(&self, raw: &RawClaims, now: u64) -> Result<(u64, Option<u64>), AuthError> {
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
        let ours = |aud: &str| self.audiences.iter().any(|ours| **ours == *aud);
        let audience_ok = match raw.get("aud") {
            Some(Value::String(aud)) => ours(aud),
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str().is_some_and(ours)),
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

    fn validator(leeway: u64) -> IssuerCheck {
        let config = RawConfig {
            issuer: "https://id.example".into(),
            audience: "api".into(),
            leeway_seconds: leeway,
            ..RawConfig::default()
        }
        .validate()
        .unwrap();
        IssuerCheck::new(&config.issuers[0], Arc::new(Arc::new(KeySet::default())))
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

    fn strict_validator(max_lifetime: Option<u64>) -> IssuerCheck {
        let config = RawConfig {
            issuer: "https://id.example".into(),
            audience: "api".into(),
            leeway_seconds: 30,
            max_token_lifetime_seconds: max_lifetime,
            ..RawConfig::default()
        }
        .validate()
        .unwrap();
        IssuerCheck::new(&config.issuers[0], Arc::new(Arc::new(KeySet::default())))
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
