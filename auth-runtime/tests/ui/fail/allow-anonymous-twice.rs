use actix_web::{HttpResponse, get};
use auth_runtime::allow_anonymous;

#[allow_anonymous]
#[allow_anonymous]
#[get("/x")]
async fn handler() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {}
