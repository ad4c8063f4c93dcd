use actix_web::{HttpResponse, get};
use auth_runtime::requires_role;

#[requires_role("admin")]
#[requires_role("editor")]
#[get("/x")]
async fn handler() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {}
