//! [`Claims<T>`]: the verified claims in the application's own type, as an extractor.

use std::future::{Ready, ready};
use std::ops::Deref;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::context::SecurityContext;
use crate::error::AuthError;

/// The caller's verified claims, deserialised into `T`: 401 without a caller, and 401
/// `unexpected_claims` for a token whose claims do not fit `T`. Deserialised once per token
/// (kept with the verified token; see [`Principal::claims_as`](crate::Principal::claims_as)).
///
/// ```
/// use actix_web::{HttpResponse, get};
/// use auth_runtime::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct ShopClaims {
///     sub: String,
///     tenant: String,
///     #[serde(default)]
///     plan: Option<String>,
/// }
///
/// #[get("/shop/me")]
/// async fn me(claims: Claims<ShopClaims>) -> HttpResponse {
///     HttpResponse::Ok().body(format!("{} of {}", claims.sub, claims.tenant))
/// }
/// ```
#[derive(Debug)]
pub struct Claims<T>(Arc<T>);

impl<T> Claims<T> {
    /// The claims, shared with the identity they came from.
    pub fn into_inner(self) -> Arc<T> {
        self.0
    }
}

impl<T> Deref for Claims<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> FromRequest for Claims<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    type Error = AuthError;
    type Future = Ready<Result<Claims<T>, AuthError>>;

    fn from_request(_req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            SecurityContext::require()
                .and_then(|caller| caller.claims_as::<T>())
                .map(Claims),
        )
    }
}
