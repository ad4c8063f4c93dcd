//! The HTTP endpoints under [`BASE_PATH`], one module each. A handler only translates: it
//! parses the request, calls the flow (a method of [`AuthServer`], see `crate::flows`) and
//! renders its answer.

mod challenge;
mod client;
mod jwks;
mod login;
mod metadata;
mod refresh;
mod revocation;
mod sign_in;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::{HttpRequest, Scope, web};
use auth_runtime::DpopReason;
use serde_json::{Map, Value, json};

use crate::error::ServerError;
use crate::flows::{ProofHeader, TokenPair};
use crate::server::{AuthServer, BASE_PATH};

/// The issuer's endpoints, as [`AuthServer::service`] hands them to an `App`: those under
/// [`BASE_PATH`], and the metadata document at the root
/// (`/.well-known/oauth-authorization-server`).
pub struct IssuerService {
    scope: Scope,
    metadata: actix_web::Resource,
}

impl std::fmt::Debug for IssuerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerService").finish_non_exhaustive()
    }
}

impl HttpServiceFactory for IssuerService {
    fn register(self, config: &mut AppService) {
        self.scope.register(config);
        self.metadata.register(config);
    }
}

impl AuthServer {
    /// The endpoints: those under [`BASE_PATH`], and the RFC 8414 metadata document at
    /// `/.well-known/oauth-authorization-server` (followed by the path of `issuer`, if it
    /// has one), so mount it at the root of the app.
    pub fn service(&self) -> IssuerService {
        IssuerService {
            scope: self.endpoints(),
            metadata: metadata::resource(self),
        }
    }

    /// The endpoints under [`BASE_PATH`].
    fn endpoints(&self) -> Scope {
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
    let token_type = if tokens.dpop_jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    };
    body.insert("token_type".into(), json!(token_type));
    body.insert("expires_in".into(), json!(tokens.expires_in.as_secs()));
    body
}

/// The `DPoP` header of `req`: none, one proof, or why it cannot be one.
fn dpop_header(req: &HttpRequest) -> ProofHeader {
    let mut proofs = req.headers().get_all("dpop");
    match (proofs.next(), proofs.next()) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(DpopReason::Multiple),
        (Some(proof), None) => proof
            .to_str()
            .map(|proof| Some(proof.to_owned()))
            .map_err(|_| DpopReason::Malformed),
    }
}
