//! `#[requires_role]` above and below every route attribute, path-qualified spellings, and
//! on a handler registered by hand. (Inside `#[routes]`, actix-web itself only recognises
//! the bare method attributes.)

use actix_web::{App, HttpResponse, web};
use auth_runtime::requires_role;

#[requires_role("admin")]
#[actix_web::get("/above")]
async fn above() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[actix_web::get("/below")]
#[requires_role("admin")]
async fn below() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[auth_runtime::requires_role("editor", "admin")]
#[actix_web::route("/route", method = "GET", method = "POST")]
async fn route() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_role("admin")]
#[actix_web::routes]
#[get("/routes/a")]
#[post("/routes/b")]
async fn routes_above() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[actix_web::routes]
#[get("/routes/c")]
#[put("/routes/d")]
#[requires_role("admin")]
async fn routes_below() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_role("admin")]
async fn by_hand(body: web::Json<serde_json::Value>) -> HttpResponse {
    HttpResponse::Ok().json(body.into_inner())
}

fn main() {
    let _ = App::new()
        .service(above)
        .service(below)
        .service(route)
        .service(routes_above)
        .service(routes_below)
        .route("/by-hand", web::post().to(by_hand));
}
