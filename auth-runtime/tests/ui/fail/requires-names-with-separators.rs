use actix_web::{HttpResponse, get};
use auth_runtime::{requires_group, requires_role, requires_scope};

#[requires_role("admin,support")]
#[get("/a")]
async fn comma() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_group("engineering operations")]
#[get("/b")]
async fn space() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_scope("articles:read,articles:write")]
#[get("/c")]
async fn scopes() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_role("editor", " admin")]
#[get("/d")]
async fn padded() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {}
