//! `#[requires_role]`, `#[requires_scope]` and `#[requires_group]` together, in every order,
//! above and below the route attribute, path-qualified, and on a handler registered by hand.

use actix_web::{App, HttpResponse, web};
use auth_runtime::{requires_group, requires_role, requires_scope};

#[requires_scope("articles:write", "articles:*")]
#[actix_web::post("/scope-only")]
async fn scope_only(body: web::Json<serde_json::Value>) -> HttpResponse {
    HttpResponse::Ok().json(body.into_inner())
}

#[requires_group("engineering")]
#[actix_web::get("/group-only")]
async fn group_only() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_role("admin")]
#[requires_scope("articles:write")]
#[requires_group("engineering")]
#[actix_web::get("/all-above")]
async fn all_above() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[actix_web::get("/all-below")]
#[requires_group("engineering")]
#[auth_runtime::requires_scope("articles:write")]
#[requires_role("admin")]
async fn all_below() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_scope("articles:write")]
#[actix_web::get("/split")]
#[requires_role("admin")]
async fn split() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_group("engineering")]
#[actix_web::routes]
#[get("/routes/a")]
#[post("/routes/b")]
#[requires_scope("articles:write")]
async fn routes() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_scope("articles:read")]
#[requires_group("engineering", "operations")]
async fn by_hand(body: web::Json<serde_json::Value>) -> HttpResponse {
    HttpResponse::Ok().json(body.into_inner())
}

fn main() {
    let _ = App::new()
        .service(scope_only)
        .service(group_only)
        .service(all_above)
        .service(all_below)
        .service(split)
        .service(routes)
        .route("/by-hand", web::post().to(by_hand));
}
