use actix_web::{HttpResponse, get};
use auth_runtime::allow_anonymous;

#[get("/x")]
#[allow_anonymous]
async fn handler() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {}
