//! The HTTP endpoints under [`BASE_PATH`](crate::BASE_PATH), one module each.

mod challenge;
mod jwks;
mod login;
mod refresh;
mod revocation;
mod sign_in;

use actix_web::{Scope, web};

use crate::error::ServerError;
use crate::server::{AuthServer, BASE_PATH};

/// Longest wallet address accepted: the hex of an ML-DSA-65 public key.
const MAX_ADDRESS_HEX: usize = 2 * 1952;

pub(crate) fn scope(server: AuthServer) -> Scope {
    web::scope(BASE_PATH)
        .app_data(web::Data::new(server))
        .app_data(
            web::JsonConfig::default()
                .limit(64 * 1024)
                .error_handler(|err, _req| ServerError::InvalidJson(err.to_string()).into()),
        )
        .service(jwks::jwks)
        .service(challenge::challenge)
        .service(sign_in::sign_in)
        .service(login::login)
        .service(refresh::refresh)
        .service(revocation::revoke)
        .service(revocation::revoked_jtis)
        .service(revocation::sign_out)
}

/// Wallet addresses are compared as lower-case hex without `0x`.
fn normalise_address(address: &str) -> String {
    address
        .strip_prefix("0x")
        .unwrap_or(address)
        .to_ascii_lowercase()
}

/// A field that is present and not blank.
fn required(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}
