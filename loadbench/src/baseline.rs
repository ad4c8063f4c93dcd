//! The comparison point: JWT auth for actix-web written by hand, the way a competent team
//! would without this project. actix-web-httpauth extracts the bearer token, jsonwebtoken
//! (aws-lc-rs backend) verifies it, and keys are cached in an `RwLock<HashMap>` filled from
//! the JWKS on an unknown `kid`.

use std::collections::HashMap;
use std::sync::RwLock;

use actix_web::dev::ServiceRequest;
use actix_web::{App, Error, HttpMessage, HttpResponse, HttpServer, web};
use actix_web_httpauth::extractors::bearer::BearerAuth;
use actix_web_httpauth::middleware::HttpAuthentication;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

struct Keys {
    jwks_url: String,
    client: reqwest::Client,
    by_kid: RwLock<HashMap<String, DecodingKey>>,
    validation: Validation,
}

#[derive(Clone, Deserialize)]
struct Claims {
    sub: String,
}

impl Keys {
    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(key) = self.by_kid.read().ok()?.get(kid) {
            return Some(key.clone());
        }
        let set: JwkSet = self
            .client
            .get(&self.jwks_url)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let mut by_kid = self.by_kid.write().ok()?;
        for jwk in &set.keys {
            if let (Some(kid), Ok(key)) = (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) {
                by_kid.insert(kid.clone(), key);
            }
        }
        by_kid.get(kid).cloned()
    }
}

async fn validate(
    req: ServiceRequest,
    credentials: BearerAuth,
) -> Result<ServiceRequest, (Error, ServiceRequest)> {
    let unauthorized = || actix_web::error::ErrorUnauthorized("invalid token");
    let Some(keys) = req.app_data::<web::Data<Keys>>().cloned() else {
        return Err((unauthorized(), req));
    };
    let token = credentials.token();
    let Some(kid) = decode_header(token).ok().and_then(|h| h.kid) else {
        return Err((unauthorized(), req));
    };
    let Some(key) = keys.key(&kid).await else {
        return Err((unauthorized(), req));
    };
    match decode::<Claims>(token, &key, &keys.validation) {
        Ok(data) => {
            req.extensions_mut().insert(data.claims);
            Ok(req)
        }
        Err(_) => Err((unauthorized(), req)),
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "message": "ok" }))
}

/// The same work as `/health` once the caller is known.
async fn profile(req: actix_web::HttpRequest) -> HttpResponse {
    if req
        .extensions()
        .get::<Claims>()
        .is_none_or(|claims| claims.sub.is_empty())
    {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().json(serde_json::json!({ "message": "ok" }))
}

pub(crate) async fn serve(port: u16, issuer: String, audience: String) -> std::io::Result<()> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&issuer]);
    validation.set_audience(&[&audience]);
    let keys = web::Data::new(Keys {
        jwks_url: format!("{issuer}/api/v1/auth/jwks"),
        client: reqwest::Client::new(),
        by_kid: RwLock::new(HashMap::new()),
        validation,
    });
    HttpServer::new(move || {
        App::new()
            .app_data(keys.clone())
            .route("/health", web::get().to(health))
            .service(
                web::scope("/api")
                    .wrap(HttpAuthentication::bearer(validate))
                    .route("/profile", web::get().to(profile)),
            )
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
