//! `GET /jwks`: the public keys.

use actix_web::{HttpResponse, get, http::header, web};
use auth_runtime::allow_anonymous;

use crate::server::AuthServer;

#[allow_anonymous]
#[get("/jwks")]
pub(super) async fn jwks(server: web::Data<AuthServer>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(server.jwks())
}
