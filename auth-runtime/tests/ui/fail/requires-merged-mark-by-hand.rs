use actix_web::{HttpResponse, get};
use auth_runtime::requires_role;

#[requires_role(__auth_merged)]
#[get("/x")]
async fn handler() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {}
