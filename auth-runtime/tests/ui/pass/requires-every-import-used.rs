//! An attribute below another of its kind is still used: no warning under
//! `#![deny(warnings)]` for an import that only ever stands below `#[requires_role]` (the
//! outermost attribute checks them all), and an import left out would be a "cannot find
//! attribute" error.

#![deny(warnings)]

use actix_web::{HttpResponse, get};
use auth_runtime::{requires_group, requires_role, requires_scope};

#[requires_role("admin")]
#[requires_scope("articles:write")]
#[requires_group("engineering")]
#[get("/all")]
async fn all() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_role("admin")]
#[get("/role-route-group")]
#[requires_group("engineering")]
async fn role_route_group() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[get("/route-role-scope")]
#[requires_role("admin")]
#[requires_scope("articles:write")]
async fn route_role_scope() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {
    let _ = (all, role_route_group, route_role_scope);
}
