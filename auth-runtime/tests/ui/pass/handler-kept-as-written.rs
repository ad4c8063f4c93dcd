//! Everything about the handler stays as written, and generated names never meet the user's:
//! a handler called `f`, user types called `Roles` and `RoleSet`, a parameter called `req`.

use actix_web::{App, HttpRequest, HttpResponse, Responder, get, web};
use auth_runtime::{allow_anonymous, requires_role};

#[allow(dead_code)]
struct Roles;
#[allow(dead_code)]
trait RoleSet {}

/// Documented, instrumented, generic over its responder.
#[requires_role("admin")]
#[tracing::instrument(skip_all)]
#[get("/f")]
pub async fn f(req: HttpRequest) -> impl Responder {
    let _roles = Roles;
    HttpResponse::Ok().body(req.path().to_owned())
}

#[get("/generic/{id}")]
#[requires_role("admin")]
pub(crate) async fn generic<'a>(id: web::Path<u32>) -> Result<String, actix_web::Error>
where
    'a: 'a,
{
    Ok(id.into_inner().to_string())
}

/// Instrumented without `skip_all`: the hidden parameter is not recorded.
#[requires_role("admin")]
#[tracing::instrument(level = "debug")]
async fn traced(id: web::Path<u32>) -> String {
    id.into_inner().to_string()
}

#[requires_role("admin")]
async fn r#type() -> &'static str {
    "raw identifiers work"
}

mod nested {
    use super::*;

    /// Same name as the handler in the parent module.
    #[allow_anonymous]
    #[get("/nested/f")]
    pub async fn f() -> HttpResponse {
        HttpResponse::Ok().finish()
    }
}

#[deny(missing_docs)]
mod documented {
    //! Generated items do not trip `missing_docs`.
    use super::*;

    /// A documented handler.
    #[requires_role("admin")]
    pub async fn handler() -> HttpResponse {
        HttpResponse::Ok().finish()
    }
}

fn main() {
    let _ = App::new()
        .service(f)
        .service(generic)
        .service(nested::f)
        .route("/type", web::get().to(r#type))
        .route("/traced/{id}", web::get().to(traced))
        .route("/doc", web::get().to(documented::handler));
}
