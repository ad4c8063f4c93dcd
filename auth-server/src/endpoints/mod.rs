//! The HTTP endpoints under [`BASE_PATH`], one module each. A handler only translates: it
//! parses the request, calls the flow (a method of [`AuthServer`], see `crate::flows`) and
//! renders its answer.

mod challenge;
mod client;
mod jwks;
mod login;
mod refresh;
mod revocation;
mod sign_in;

use actix_web::{Scope, web};
use serde_json::{Map, Value, json};

use crate::error::ServerError;
use crate::flows::TokenPair;
use crate::server::{AuthServer, BASE_PATH};

impl AuthServer {
    /// The endpoints, under [`BASE_PATH`].
    pub fn service(&self) -> Scope {
        web::scope(BASE_PATH)
            .app_data(web::Data::new(self.clone()))
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
}

/// The JSON answer carrying a token pair.
fn token_body(tokens: TokenPair) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("access_token".into(), json!(tokens.access_token));
    body.insert("refresh_token".into(), json!(tokens.refresh_token));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("expires_in".into(), json!(tokens.expires_in.as_secs()));
    body
}
