//! The authentication chain, one for the middleware and [`JwtAuth::authenticate`]: the
//! verified-token cache, then the signature and claims, the issuer's revocation list, and the
//! issuer's roles.
//!
//! [`JwtAuth::authenticate`]: crate::JwtAuth::authenticate

use std::sync::Arc;

use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use crate::cache::{Entry, TokenCache, TokenCacheStats};
use crate::clock::now;
use crate::dpop::{Dpop, Presented, Scheme};
use crate::error::AuthError;
use crate::issuer::{Issuer, Wait};
use crate::metrics;
use crate::principal::Principal;
use crate::validate::Validator;

/// Turns a bearer token into the caller behind it.
#[derive(Clone)]
pub(crate) struct Authenticator {
    validator: Validator,
    /// Shared by every worker; `None` when `token_cache_max_bytes` is 0.
    cache: Option<Arc<TokenCache>>,
    /// DPoP proofs: where they must point, and those seen.
    dpop: Arc<Dpop>,
}

impl Authenticator {
    pub(crate) fn new(
        validator: Validator,
        cache: Option<Arc<TokenCache>>,
        dpop: Arc<Dpop>,
    ) -> Authenticator {
        Authenticator {
            validator,
            cache,
            dpop,
        }
    }

    pub(crate) fn validator(&self) -> &Validator {
        &self.validator
    }

    pub(crate) fn cache_stats(&self) -> Option<TokenCacheStats> {
        self.cache.as_ref().map(|cache| cache.stats())
    }

    /// The caller behind `token`: a cached verification when the same bytes were verified
    /// with a key still trusted (the clock and the revocation list are checked every time),
    /// else a full verification, cached when it passes. With [`Wait::Never`], a token that
    /// needs a key fetch or a read of the revocation list fails with
    /// [`AuthError::KeysUnavailable`] or [`AuthError::RevocationUnavailable`] without one,
    /// and so does one whose roles would take the issuer's uncached resolver (which may wait
    /// on anything). Then how the token was `presented` is checked against its issuer's DPoP
    /// rules (a proof is checked, and spent, only once the token passed).
    pub(crate) async fn authenticate(
        &self,
        token: &str,
        presented: &Presented<'_>,
        wait: Wait,
    ) -> Result<Principal, AuthError> {
        self.authenticate_seen(token, self.seen(token), presented, wait)
            .await
    }

    /// The server nonce to send to `principal` with its answer: when nonces are on and it
    /// proved possession of a key.
    pub(crate) fn nonce_for(&self, principal: &Principal) -> Option<HeaderValue> {
        let header = self.dpop.nonce_header()?;
        principal.is_sender_constrained().then_some(header)
    }

    /// What the verified-token cache holds for `token`.
    pub(crate) fn seen(&self, token: &str) -> Option<Arc<Entry>> {
        self.cache.as_ref()?.get(token)
    }

    /// The caller of a cached token when nothing is left to wait for or to report: the key
    /// that verified it still trusted, its times valid, the revocation list young enough to
    /// need no refresh and not naming it, its roles cached with it, and sent as `Bearer`
    /// where its issuer takes that. `None` otherwise, and then
    /// [`authenticate_seen`](Self::authenticate_seen) decides (and counts the hit).
    pub(crate) fn at_once(&self, entry: &Entry, scheme: Scheme) -> Option<Principal> {
        let principal = entry.principal()?;
        let seen = entry.verified();
        let issuer = &seen.issuer;
        let passes = scheme == Scheme::Bearer
            && issuer.dpop().passes_as_bearer(&seen.token.raw)
            && issuer.still_trusts(seen.kid.as_deref(), &seen.key)
            && issuer.check_times(seen.exp, seen.nbf, now()).is_ok()
            && issuer.not_revoked_now(&seen.token);
        if !passes {
            return None;
        }
        metrics::cache_hit();
        Some(principal.clone())
    }

    /// [`authenticate`](Self::authenticate), with what the cache holds for `token` looked up
    /// already.
    pub(crate) async fn authenticate_seen(
        &self,
        token: &str,
        seen: Option<Arc<Entry>>,
        presented: &Presented<'_>,
        wait: Wait,
    ) -> Result<Principal, AuthError> {
        let (principal, issuer) = self.caller(token, seen, wait).await?;
        self.dpop
            .check(&issuer, principal.raw_claims(), token, presented)?;
        Ok(principal)
    }

    /// The caller behind `token` and the issuer that vouched for it, before the DPoP rules.
    async fn caller(
        &self,
        token: &str,
        seen: Option<Arc<Entry>>,
        wait: Wait,
    ) -> Result<(Principal, Arc<Issuer>), AuthError> {
        let Some(cache) = &self.cache else {
            let verified = self.validator.verify(token, wait).await?;
            verified.issuer.check_revoked(&verified.token, wait).await?;
            may_resolve(&verified.issuer, wait)?;
            let principal = verified.issuer.principal(verified.token).await;
            return Ok((principal, verified.issuer));
        };
        if let Some(entry) = seen {
            let seen = entry.verified();
            let issuer = &seen.issuer;
            if issuer.still_trusts(seen.kid.as_deref(), &seen.key) {
                metrics::cache_hit();
                if let Err(err) = issuer.check_times(seen.exp, seen.nbf, now()) {
                    cache.remove(token);
                    record_cache_size(cache);
                    return Err(err);
                }
                issuer.check_revoked(&seen.token, wait).await?;
                let principal = match entry.principal() {
                    Some(principal) => principal.clone(),
                    None => {
                        may_resolve(issuer, wait)?;
                        issuer.principal(Arc::clone(&seen.token)).await
                    }
                };
                return Ok((principal, Arc::clone(issuer)));
            }
            cache.remove(token);
            record_cache_size(cache);
        }
        metrics::cache_miss();
        let verified = self.validator.verify(token, wait).await?;
        let issuer = Arc::clone(&verified.issuer);
        issuer.check_revoked(&verified.token, wait).await?;
        if let Err(later) = may_resolve(&issuer, wait) {
            // Verified: cached without roles, which the resolver finds on every request anyway.
            cache.insert(token, Entry::new(token, verified, None));
            record_cache_size(cache);
            return Err(later);
        }
        let principal = issuer.principal(Arc::clone(&verified.token)).await;
        let cached = issuer.roles_cacheable().then(|| principal.clone());
        cache.insert(token, Entry::new(token, verified, cached));
        record_cache_size(cache);
        Ok((principal, issuer))
    }
}

/// Under [`Wait::Never`], a resolver whose roles are not cached (one that reads a database,
/// say) is not run: the check is left for after routing, as a fetch is. The
/// [`AuthError::KeysUnavailable`] that says so only ever reaches the middleware, which then
/// checks again, waiting, for a protected route.
fn may_resolve(issuer: &Issuer, wait: Wait) -> Result<(), AuthError> {
    if wait == Wait::Never && !issuer.roles_cacheable() {
        return Err(AuthError::KeysUnavailable);
    }
    Ok(())
}

/// Sets the cache's size gauges (with the feature `metrics`; nothing otherwise).
fn record_cache_size(cache: &TokenCache) {
    metrics::cache_size(|| {
        let stats = cache.stats();
        (stats.entries, stats.weight_bytes)
    });
}

/// The bearer token of a request, read as the middleware reads it: exactly one
/// `Authorization` header, scheme `Bearer` (any case), one non-empty token without spaces.
/// Several headers, another scheme, or an empty token all count as missing
/// ([`AuthError::MissingCredentials`]): an ambiguous credential is no credential.
///
/// ```
/// use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
/// use auth_runtime::bearer_token;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc.def.ghi"));
/// assert_eq!(bearer_token(&headers), Ok("abc.def.ghi"));
/// headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer other"));
/// assert!(bearer_token(&headers).is_err());
/// ```
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    match credentials(headers)? {
        (Scheme::Bearer, token) => Ok(token),
        (Scheme::Dpop, _) => Err(AuthError::MissingCredentials),
    }
}

/// The token of a request and the scheme it came with: [`bearer_token`]'s rules, with
/// `DPoP` (any case) taken as well as `Bearer`.
pub(crate) fn credentials(headers: &HeaderMap) -> Result<(Scheme, &str), AuthError> {
    let mut values = headers.get_all(AUTHORIZATION);
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(AuthError::MissingCredentials);
    };
    let bytes = value.as_bytes();
    let space = bytes
        .iter()
        .position(|&b| b == b' ')
        .ok_or(AuthError::MissingCredentials)?;
    let (scheme, token) = (&bytes[..space], bytes[space + 1..].trim_ascii());
    // One pass over the token, without an early exit so that it runs on whole vectors: every
    // byte visible ASCII or a tab, none a space (what `HeaderValue::to_str` and a check for
    // spaces did in three).
    let fits = token.iter().fold(true, |fits, &b| {
        fits & ((b'!'..=b'~').contains(&b) | (b == b'\t'))
    });
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        return Err(AuthError::MissingCredentials);
    };
    if token.is_empty() || !fits {
        return Err(AuthError::MissingCredentials);
    }
    // Only ASCII passed the check above, so the bytes are UTF-8.
    let token = std::str::from_utf8(token).map_err(|_| AuthError::MissingCredentials)?;
    Ok((scheme, token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&headers(&["bearer abc"])), Ok("abc"));
        assert_eq!(bearer_token(&headers(&["Bearer abc"])), Ok("abc"));
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_missing() {
        for bad in ["Basic abc", "Bearer", "Bearer ", "Token abc", "Bearer a b"] {
            assert_eq!(
                bearer_token(&headers(&[bad])),
                Err(AuthError::MissingCredentials),
                "{bad}"
            );
        }
    }

    /// The header read as text, split at the first space, trimmed: what the one pass must
    /// agree with.
    fn by_text(value: &HeaderValue) -> Option<&str> {
        let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
            .then_some(token)
    }

    #[test]
    fn the_one_pass_agrees_with_reading_the_header_as_text() {
        let values: [&[u8]; 14] = [
            b"Bearer abc",
            b"bEaReR  abc  ",
            b"Bearer \tabc\t",
            b"Bearer ab\tc",
            b"Bearer a b",
            b"Bearer ",
            b"Bearer\tabc",
            b"Bearer abc\xc3\xa9",
            b"Bearer \x80abc",
            b"B\xc3\xa9arer abc",
            b"Basic abc",
            b"Bearer ~!",
            b"Bearer a\x7f",
            b"Bearerabc",
        ];
        for bytes in values {
            let Ok(value) = HeaderValue::from_bytes(bytes) else {
                continue;
            };
            let mut map = HeaderMap::new();
            map.insert(AUTHORIZATION, value.clone());
            assert_eq!(bearer_token(&map).ok(), by_text(&value), "{bytes:?}");
        }
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        assert_eq!(
            bearer_token(&headers(&["Bearer a", "Bearer b"])),
            Err(AuthError::MissingCredentials)
        );
    }
}
