use actix_web::HttpResponse;
use auth_runtime::requires_role;

#[requires_role("admin")]
fn handler() -> HttpResponse {
    HttpResponse::Ok().finish()
}

fn main() {
    let _ = handler;
}
