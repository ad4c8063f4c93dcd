use actix_web::HttpResponse;
use auth_runtime::{requires_group, requires_scope};

#[requires_scope("articles:write")]
fn a() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_group("eng")]
fn b() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {}
