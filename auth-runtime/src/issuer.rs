//! One trusted issuer as the validator and the middleware hold it: the checks its tokens must
//! pass, where its keys come from, how its roles are read, and its revocation list.
//!
//! Everything that belongs to one issuer travels as one [`Issuer`] value; a verified token
//! (and a cache entry) holds an `Arc<Issuer>` to the issuer that vouched for it.

use std::sync::{Arc, Weak};

use serde_json::Value;

use crate::algorithm::Algorithm;
use crate::claims::{RawClaims, ValidToken};
use crate::config::IssuerConfig;
use crate::dpop::DpopRules;
use crate::error::{AuthError, InvalidReason, shown_claim};
use crate::jwks::{KeyLookup, KeySet, KeySource, KeysUnavailable, VerifyingKey};
use crate::principal::Principal;
use crate::revocation::RevocationList;
use crate::roles::Resolver;

/// Whether a check may wait for the network (a key fetch, a read of the revocation list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// It may: what every request that needs a token does.
    ForFetch,
    /// It may not: a check that needs a fetch fails at once with
    /// [`AuthError::KeysUnavailable`] or [`AuthError::RevocationUnavailable`], and waits
    /// for none (a list past its poll interval is refreshed in the background, as for any
    /// request). For a token on a route that may turn out to be anonymous.
    Never,
}

/// A trusted issuer: its token checks, key source, role resolver and revocation list.
pub(crate) struct Issuer {
    /// The expected `iss`, compared exactly.
    name: Box<str>,
    audiences: Box<[Box<str>]>,
    accepted: Box<[Algorithm]>,
    leeway: u64,
    max_lifetime: Option<u64>,
    required_type: Option<Box<str>>,
    keys: Arc<dyn KeySource>,
    roles: Resolver,
    revocation: Option<RevocationList>,
    dpop: DpopRules,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (audiences {:?}, algorithms {:?})",
            self.name, self.audiences, self.accepted
        )
    }
}

impl Issuer {
    /// The issuer `config` describes, with its keys from `keys`, its roles read by `roles`,
    /// and revoked tokens from `revocation` (if it has a list).
    pub(crate) fn new(
        config: &IssuerConfig,
        keys: Arc<dyn KeySource>,
        roles: Resolver,
        revocation: Option<RevocationList>,
    ) -> Issuer {
        Issuer {
            name: Box::from(config.issuer()),
            audiences: config
                .audiences()
                .iter()
                .map(|aud| Box::from(aud.as_str()))
                .collect(),
            accepted: Box::from(config.accepted_algorithms()),
            leeway: config.leeway_seconds(),
            max_lifetime: config.max_token_lifetime_seconds(),
            required_type: config.required_token_type().map(Box::from),
            keys,
            roles,
            revocation,
            dpop: DpopRules::new(config),
        }
    }

    /// This issuer's DPoP rules.
    pub(crate) fn dpop(&self) -> &DpopRules {
        &self.dpop
    }

    /// The expected `iss`.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether tokens of this issuer may be signed with `alg`.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        self.accepted.contains(&alg)
    }

    /// The `typ` every token must carry, if any.
    pub(crate) fn required_type(&self) -> Option<&str> {
        self.required_type.as_deref()
    }

    /// Where this issuer's keys come from.
    pub(crate) fn keys(&self) -> &Arc<dyn KeySource> {
        &self.keys
    }

    /// This issuer's revocation list, if it has one.
    pub(crate) fn revocation(&self) -> Option<&RevocationList> {
        self.revocation.as_ref()
    }

    /// Whether the roles this issuer's resolver finds may be cached with the token.
    pub(crate) fn roles_cacheable(&self) -> bool {
        self.roles.cacheable()
    }

    /// The cached set when it knows `kid`; otherwise one refresh through the key source, or,
    /// with [`Wait::Never`], [`AuthError::KeysUnavailable`] at once.
    pub(crate) async fn key_set_for(
        &self,
        kid: Option<&str>,
        wait: Wait,
    ) -> Result<Arc<KeySet>, AuthError> {
        if let Some(set) = self.keys.cached()
            && !matches!(set.find(kid), KeyLookup::Unknown)
        {
            return Ok(set);
        }
        if wait == Wait::Never {
            return Err(AuthError::KeysUnavailable);
        }
        self.keys
            .refresh()
            .await
            .map_err(|KeysUnavailable| AuthError::KeysUnavailable)
    }

    /// Whether `key` is still the one the key source holds for `kid`. A refetched set holds
    /// freshly parsed keys, so this also says no after every refresh: cached tokens are then
    /// verified once more.
    pub(crate) fn still_trusts(&self, kid: Option<&str>, key: &Weak<VerifyingKey>) -> bool {
        let same = |current: &Arc<VerifyingKey>| std::ptr::eq(Arc::as_ptr(current), key.as_ptr());
        self.keys.cached().is_some_and(|set| match set.find(kid) {
            KeyLookup::Found(current) => same(current),
            // Keys without a `kid` (PEM keys, a shared secret): still one of them.
            KeyLookup::Each(keys) => keys.iter().any(same),
            KeyLookup::Unknown | KeyLookup::Ambiguous => false,
        })
    }

    /// Refuses a token this issuer revoked (401: its `jti`, its session or its subject), or any token when the list is too old and
    /// cannot be refreshed (503, unless failing open). With [`Wait::Never`], a list too old
    /// to answer is [`AuthError::RevocationUnavailable`] at once.
    pub(crate) async fn check_revoked(
        &self,
        token: &ValidToken,
        wait: Wait,
    ) -> Result<(), AuthError> {
        match &self.revocation {
            Some(list) => list.check(token, wait).await,
            None => Ok(()),
        }
    }

    /// Whether this issuer's revocation list, if it has one, lets `token` through without a
    /// read or a refresh of the list being due.
    pub(crate) fn not_revoked_now(&self, token: &ValidToken) -> bool {
        match &self.revocation {
            Some(list) => matches!(list.check_now(token), Some(Ok(()))),
            None => true,
        }
    }

    /// The caller behind a token this issuer vouched for, with the roles its resolver finds.
    pub(crate) async fn principal(&self, token: Arc<ValidToken>) -> Principal {
        let roles = self.roles.resolve(&token.claims, &token.raw).await;
        Principal::from_token(token, roles, self.roles.source())
    }

    /// The time checks alone, with this issuer's leeway: `exp` and `nbf` (when present) at
    /// `now`.
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
            Some(Value::String(iss)) if **iss == *self.name => {}
            _ => return Err(invalid(InvalidReason::WrongIssuer)),
        }
        let ours = |aud: &str| self.audiences.iter().any(|ours| **ours == *aud);
        let audience_ok = match raw.get("aud") {
            Some(Value::String(aud)) => ours(aud),
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str().is_some_and(ours)),
            _ => false,
        };
        if !audience_ok {
            tracing::debug!(
                issuer = %self.name,
                expected = ?self.audiences,
                token_aud = %shown_claim(raw.get("aud")),
                "token refused: its audience is none of the expected ones"
            );
            return Err(invalid(InvalidReason::WrongAudience));
        }
        Ok((exp, nbf))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;
    use serde_json::json;

    fn issuer(leeway: u64, max_lifetime: Option<u64>) -> Issuer {
        let config = RawConfig {
            issuer: "https://id.example".into(),
            audience: "api".into(),
            leeway_seconds: leeway,
            max_token_lifetime_seconds: max_lifetime,
            ..RawConfig::default()
        }
        .validate()
        .unwrap();
        Issuer::new(
            &config.issuers()[0],
            Arc::new(Arc::new(KeySet::default())),
            Resolver::claim("role"),
            None,
        )
    }

    fn validator(leeway: u64) -> Issuer {
        issuer(leeway, None)
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

    fn strict_validator(max_lifetime: Option<u64>) -> Issuer {
        issuer(30, max_lifetime)
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
}
