//! `#[allow_anonymous]` above every route attribute, with path-qualified spellings and a guard
//! of the handler's own.

use actix_web::guard::GuardContext;
use actix_web::{App, HttpResponse, get};
use auth_runtime::allow_anonymous;

#[allow_anonymous]
#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[auth_runtime::allow_anonymous]
#[actix_web::post("/qualified", name = "qualified",)]
async fn qualified() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[allow_anonymous]
#[actix_web::route("/route", method = "GET", method = "HEAD")]
async fn route() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[allow_anonymous]
#[actix_web::routes]
#[get("/a")]
#[delete("/b")]
async fn routes() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn has_key(ctx: &GuardContext<'_>) -> bool {
    ctx.head().headers().contains_key("x-key")
}

#[allow_anonymous]
#[get("/guarded", guard = "has_key")]
async fn guarded() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {
    let _ = App::new()
        .service(health)
        .service(qualified)
        .service(route)
        .service(routes)
        .service(guarded);
}
