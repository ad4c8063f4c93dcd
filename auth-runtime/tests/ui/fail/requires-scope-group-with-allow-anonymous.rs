use actix_web::{HttpResponse, get};
use auth_runtime::{allow_anonymous, requires_group, requires_scope};

#[allow_anonymous]
#[requires_scope("articles:read")]
#[get("/a")]
async fn a() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_group("eng")]
#[allow_anonymous]
#[get("/b")]
async fn b() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {}
