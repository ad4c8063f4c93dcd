//! `POST /login`: the bootstrap admin's password login.

use actix_web::{HttpRequest, HttpResponse, post, web};
use auth_runtime::allow_anonymous;
use serde::Deserialize;
use serde_json::{Map, json};

use super::required;
use crate::error::ServerError;
use crate::metrics;
use crate::server::AuthServer;

#[derive(Deserialize)]
pub(super) struct LoginRequest {
    email: Option<String>,
    password: Option<String>,
}

#[allow_anonymous]
#[post("/login")]
pub(super) async fn login(
    server: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ServerError> {
    let result = attempt(&server, &req, body.into_inner()).await;
    metrics::login(metrics::outcome(&result));
    result
}

async fn attempt(
    server: &AuthServer,
    req: &HttpRequest,
    body: LoginRequest,
) -> Result<HttpResponse, ServerError> {
    let Some(admin) = &server.inner.config.admin else {
        return Err(ServerError::LoginDisabled);
    };
    let (Some(email), Some(password)) = (required(body.email), body.password) else {
        return Err(ServerError::MissingFields("email and password"));
    };
    let guard = &server.inner.login;
    let client = crate::login::client_address(req, &server.inner.config.trusted_proxies);
    let for_admin = email.trim().eq_ignore_ascii_case(admin.email());
    let attempt = guard.begin(client, for_admin, server.now())?;
    match guard.verify(admin, &email, password).await {
        Ok(true) => guard.refund(attempt, server.now()),
        Ok(false) => {
            tracing::info!("admin login refused");
            return Err(ServerError::InvalidCredentials);
        }
        Err(busy) => {
            guard.refund(attempt, server.now());
            return Err(busy);
        }
    }
    let mut identity = Map::new();
    identity.insert("sub".into(), json!(admin.email()));
    identity.insert("email".into(), json!(admin.email()));
    identity.insert("role".into(), json!("admin"));
    // The admin's sessions never meet `max_sessions`: a flood of wallet sign-ins cannot lock
    // the admin out (login itself is throttled).
    Ok(HttpResponse::Ok().json(server.start_session(identity, false).await?))
}
