//! The test kit as an application uses it: its own configuration pointed at a `TestIssuer`,
//! tokens with scopes and roles, and one shared app fixture.

// figment's `Jail` closures return `figment::Error`, which is large; that is its API.
#![allow(clippy::result_large_err)]

use actix_web::test as actix_test;
use actix_web::{App, HttpResponse, get, post};
use auth_runtime::testing::{TestApp, TestIssuer};
use auth_runtime::{JwtAuth, requires_role, requires_scope};
use figment::Jail;

use crate::support::Lines;

#[requires_role("admin")]
#[get("/admin")]
async fn admin() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_scope("articles:write")]
#[post("/articles")]
async fn write() -> HttpResponse {
    HttpResponse::Created().finish()
}

/// One fixture for every test: no dev-dependency beyond auth-runtime and actix-web.
async fn app(auth: JwtAuth) -> impl TestApp {
    actix_test::init_service(App::new().wrap(auth).service(admin).service(write)).await
}

#[test]
fn the_apps_own_configuration_with_the_issuer_audience_and_keys_of_a_test_issuer() {
    Jail::expect_with(|jail| {
        // The application's real file: another issuer and audience, its roles claim and its
        // error format.
        jail.create_file(
            "app.yaml",
            "auth_client:\n  issuer: https://id.example.com\n  audience: shop-api\n  roles_claim: roles\n  error_format: problem\n",
        )?;
        let issuer = TestIssuer::start();
        let config = issuer
            .config_from(&auth_runtime::figment_from("app.yaml"))
            .expect("the app's configuration, pointed at the test issuer");
        assert_eq!(config.issuers()[0].issuer(), issuer.issuer());
        assert_eq!(config.issuers()[0].roles_claim(), "roles");
        assert_eq!(config.error_format(), auth_runtime::ErrorFormat::Problem);

        actix_web::rt::System::new().block_on(async {
            let app = app(JwtAuth::new(config).unwrap()).await;
            let admin_token = issuer.token().roles(&["admin"]).sign();
            let req = actix_test::TestRequest::get()
                .uri("/admin")
                .insert_header(("authorization", format!("Bearer {admin_token}")))
                .to_request();
            assert_eq!(actix_test::call_service(&app, req).await.status(), 200);

            let viewer = issuer.token().roles(&["viewer"]).sign();
            let req = actix_test::TestRequest::get()
                .uri("/admin")
                .insert_header(("authorization", format!("Bearer {viewer}")))
                .to_request();
            let res = actix_test::call_service(&app, req).await;
            assert_eq!(res.status(), 403);
            assert_eq!(
                res.headers().get("content-type").unwrap(),
                "application/problem+json",
                "the app's error format"
            );
        });
        Ok(())
    });
}

#[actix_web::test]
async fn scopes_and_roles_from_the_token_builder() {
    let issuer = TestIssuer::start();
    let app = app(JwtAuth::new(issuer.config()).unwrap()).await;
    let call = |token: String| {
        actix_test::TestRequest::post()
            .uri("/articles")
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request()
    };
    let writer = issuer
        .token()
        .scope(&["articles:read", "articles:write"])
        .sign();
    assert_eq!(
        actix_test::call_service(&app, call(writer)).await.status(),
        201
    );
    let reader = issuer.token().scope(&["articles:read"]).sign();
    assert_eq!(
        actix_test::call_service(&app, call(reader)).await.status(),
        403
    );
    let token = issuer.token().roles(&["admin", "editor"]).scope(&["a:b"]);
    assert_eq!(
        token.claims()["roles"],
        serde_json::json!(["admin", "editor"])
    );
    assert_eq!(token.claims()["scope"], "a:b");
}

#[actix_web::test]
async fn a_refused_audience_or_issuer_and_a_403_say_at_debug_what_was_expected() {
    let (lines, _logs) = Lines::capture();
    let issuer = TestIssuer::start();
    let app = app(JwtAuth::new(issuer.config()).unwrap()).await;
    let call = |token: String| {
        actix_test::TestRequest::get()
            .uri("/admin")
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request()
    };

    let other_api = issuer
        .token()
        .audience(serde_json::json!("billing-api"))
        .sign();
    assert_eq!(
        actix_test::call_service(&app, call(other_api))
            .await
            .status(),
        401
    );
    let logged = lines.text();
    assert!(
        logged.contains("its audience is none of the expected ones"),
        "{logged}"
    );
    assert!(
        logged.contains(issuer.audience()),
        "the expected audience: {logged}"
    );
    assert!(
        logged.contains("billing-api"),
        "the token's audience: {logged}"
    );

    let elsewhere = issuer.token().issuer("https://other.example\u{7}").sign();
    assert_eq!(
        actix_test::call_service(&app, call(elsewhere))
            .await
            .status(),
        401
    );
    let logged = lines.text();
    assert!(
        logged.contains("its issuer is not a trusted one"),
        "{logged}"
    );
    assert!(
        logged.contains(issuer.issuer()),
        "the trusted issuer: {logged}"
    );
    assert!(
        logged.contains("https://other.example?"),
        "escaped: {logged}"
    );

    let viewer = issuer.token().role("viewer").sign();
    assert_eq!(
        actix_test::call_service(&app, call(viewer)).await.status(),
        403
    );
    let logged = lines.text();
    assert!(
        logged.contains("holds none of the roles required"),
        "{logged}"
    );
    assert!(logged.contains("claim `role`"), "{logged}");
}
