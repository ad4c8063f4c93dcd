//! A `JwtAuth` nested in a clone of itself, where the outer one checks the proof only after
//! routing (its keys not held yet, or a revocation list to read first): the proof is spent
//! once, and marked so on the request routing took.

use actix_web::test as web_test;
use actix_web::{App, HttpResponse, get, web};
use auth_runtime::testing::{DpopKey, TestIssuer};
use auth_runtime::{Algorithm, JwtAuth, allow_anonymous};
use serde_json::Value;

#[allow_anonymous]
#[get("/nestreview/{name}")]
async fn open_door() -> HttpResponse {
    HttpResponse::Ok().body("anonymous")
}

const URL: &str = "http://localhost:8080/nestreview/me";

/// The outer `JwtAuth` takes the path where an anonymous route may answer, and the token needs
/// a fetch first: it checks the proof after routing, from a copy of the head, and marks it
/// spent on the routed request, so the inner clone does not refuse it as already used.
#[actix_web::test]
async fn a_nested_clone_takes_a_fresh_proof_when_the_outer_one_had_to_fetch() {
    let issuer = TestIssuer::start();
    let auth = JwtAuth::new(issuer.config()).unwrap();
    let app = web_test::init_service(
        App::new()
            .wrap(auth.clone())
            .service(
                web::scope("/nestreview")
                    .wrap(auth.clone())
                    .route("/me", web::get().to(HttpResponse::Ok)),
            )
            .service(open_door),
    )
    .await;
    let holder = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().sub("alice").bound_to(&holder).sign();
    let req = web_test::TestRequest::get()
        .uri("/nestreview/me")
        .insert_header(("Host", "localhost:8080"))
        .insert_header(("Authorization", format!("DPoP {token}")))
        .insert_header(("DPoP", holder.proof("GET", URL, &token)))
        .to_request();
    let res = web_test::call_service(&app, req).await;
    let status = res.status().as_u16();
    let body: Value =
        serde_json::from_slice(&web_test::read_body(res).await).unwrap_or(Value::Null);

    // A second fresh proof, keys now held: passes.
    let req = web_test::TestRequest::get()
        .uri("/nestreview/me")
        .insert_header(("Host", "localhost:8080"))
        .insert_header(("Authorization", format!("DPoP {token}")))
        .insert_header(("DPoP", holder.proof("GET", URL, &token)))
        .to_request();
    let second = web_test::call_service(&app, req).await.status().as_u16();

    assert_eq!(status, 200, "{body}");
    assert_eq!(second, 200);
}
