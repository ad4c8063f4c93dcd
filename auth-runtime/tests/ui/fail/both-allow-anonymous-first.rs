use actix_web::{HttpResponse, get};
use auth_runtime::{allow_anonymous, requires_role};

#[allow_anonymous]
#[requires_role("admin")]
#[get("/x")]
async fn handler() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {}
