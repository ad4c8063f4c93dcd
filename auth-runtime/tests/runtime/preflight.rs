//! CORS preflights: an `OPTIONS` request with `Origin` and `Access-Control-Request-Method`,
//! which browsers send without credentials before a cross-origin request. `JwtAuth` lets one
//! through without a token, so that a CORS middleware inside it can answer; one that no CORS
//! middleware answers reaches routing like any request without a token, and no handler that
//! needs a token runs for it.

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{App, HttpResponse, get, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{AnonymousGuard, JwtAuth, SecurityContext};
use reqwest::Method;

use crate::support::{Reply, client, cors, send, serve_app};

/// How often the handler without a method guard ran.
static ANY_METHOD_RUNS: AtomicUsize = AtomicUsize::new(0);

#[get("/pf/read")]
async fn read() -> HttpResponse {
    HttpResponse::Ok().body("read")
}

/// Registered without a method: routing gives it an `OPTIONS` request too.
async fn any_method() -> HttpResponse {
    ANY_METHOD_RUNS.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().body("ran")
}

async fn open() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "identity": SecurityContext::get().is_some() }))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(read)
        .service(web::resource("/pf/any").to(any_method))
        .service(web::resource("/pf/open").guard(AnonymousGuard).to(open));
}

fn auth(issuer: &TestIssuer) -> JwtAuth {
    JwtAuth::new(issuer.config())
        .unwrap()
        .anonymous_route(&[], "/pf/open")
}

async fn preflight(base: &str, path: &str) -> Reply {
    send(
        client()
            .request(Method::OPTIONS, format!("{base}{path}"))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST"),
    )
    .await
}

/// actix-cors inside `JwtAuth` (`.wrap(cors).wrap(auth)`): it answers the preflight, and the
/// request itself still needs its token.
#[actix_web::test]
async fn cors_inside_jwt_auth_answers_the_preflight() {
    let issuer = TestIssuer::start();
    let auth = auth(&issuer);
    let server = serve_app(1, move || {
        App::new().wrap(cors()).wrap(auth.clone()).configure(routes)
    });
    let runs = ANY_METHOD_RUNS.load(Ordering::SeqCst);
    for path in ["/pf/read", "/pf/any", "/pf/missing"] {
        let reply = preflight(&server.base, path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            "https://app.example",
            "{path}"
        );
        assert!(
            reply
                .header("access-control-allow-methods")
                .contains("POST"),
            "{path}: {:?}",
            reply.headers
        );
    }
    assert_eq!(ANY_METHOD_RUNS.load(Ordering::SeqCst), runs);

    // The request the preflight announced needs its token, from the same origin.
    let reply = send(
        client()
            .post(format!("{}/pf/any", server.base))
            .header("origin", "https://app.example"),
    )
    .await;
    assert_eq!(reply.status, 401);
    let token = issuer.token().sub("alice").sign();
    let reply = send(
        client()
            .post(format!("{}/pf/any", server.base))
            .header("origin", "https://app.example")
            .bearer_auth(token),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(ANY_METHOD_RUNS.load(Ordering::SeqCst), runs + 1);
}

/// actix-cors outside `JwtAuth` (`.wrap(auth).wrap(cors)`) answers the preflight before
/// `JwtAuth` sees it.
#[actix_web::test]
async fn cors_outside_jwt_auth_answers_the_preflight() {
    let issuer = TestIssuer::start();
    let auth = auth(&issuer);
    let server = serve_app(1, move || {
        App::new().wrap(auth.clone()).wrap(cors()).configure(routes)
    });
    let reply = preflight(&server.base, "/pf/read").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        "https://app.example"
    );
}

/// With no CORS middleware, the preflight reaches routing like any request without a token:
/// an anonymous route answers it; a handler that needs a token, even one registered without a
/// method, never runs, and the answer is the 401 a request without a token gets.
#[actix_web::test]
async fn without_cors_a_preflight_is_routed_like_a_request_without_a_token() {
    let issuer = TestIssuer::start();
    let auth = auth(&issuer);
    let server = serve_app(1, move || App::new().wrap(auth.clone()).configure(routes));
    let runs = ANY_METHOD_RUNS.load(Ordering::SeqCst);

    for path in ["/pf/read", "/pf/any", "/pf/missing"] {
        let reply = preflight(&server.base, path).await;
        assert_eq!(reply.status, 401, "{path}");
        assert!(
            reply.header("www-authenticate").starts_with("Bearer"),
            "{path}: {:?}",
            reply.headers
        );
        // What an `OPTIONS` request without a token and without the CORS headers gets.
        let plain = send(client().request(Method::OPTIONS, format!("{}{path}", server.base))).await;
        assert_eq!(plain.status, reply.status, "{path}");
    }
    // A body does not help it in.
    let reply = send(
        client()
            .request(Method::OPTIONS, format!("{}/pf/any", server.base))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .body("{\"amount\": 100}"),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(ANY_METHOD_RUNS.load(Ordering::SeqCst), runs);

    let reply = preflight(&server.base, "/pf/open").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["identity"], false);
}

/// A request with `Authorization` is no browser preflight: its token is checked.
#[actix_web::test]
async fn an_options_request_with_credentials_is_authenticated() {
    let issuer = TestIssuer::start();
    let auth = auth(&issuer);
    let server = serve_app(1, move || {
        App::new().wrap(cors()).wrap(auth.clone()).configure(routes)
    });
    let reply = send(
        client()
            .request(Method::OPTIONS, format!("{}/pf/read", server.base))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .bearer_auth("not-a-token"),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert!(
        reply.detail().contains("Invalid token"),
        "{}",
        reply.detail()
    );
}

/// `pass_cors_preflights(false)`: a preflight needs a token like any request, and the first
/// one refused says, at `warn`, where to put the CORS middleware.
#[actix_web::test]
async fn preflights_can_be_made_to_need_a_token() {
    let (lines, _logs) = crate::support::Lines::capture();
    let issuer = TestIssuer::start();
    let auth = JwtAuth::builder(issuer.config())
        .pass_cors_preflights(false)
        .build()
        .unwrap();
    let app =
        actix_web::test::init_service(App::new().wrap(cors()).wrap(auth).configure(routes)).await;
    let req = actix_web::test::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/pf/read")
        .insert_header(("origin", "https://app.example"))
        .insert_header(("access-control-request-method", "GET"))
        .to_request();
    let res = actix_web::test::call_service(&app, req).await;
    assert_eq!(res.status(), 401);
    assert!(
        lines
            .text()
            .contains("wrap the CORS middleware around JwtAuth"),
        "{}",
        lines.text()
    );
}

/// With passing on (the default) and no CORS middleware to answer, the first preflight
/// refused says so at `warn`.
#[actix_web::test]
async fn a_preflight_no_cors_middleware_answers_is_reported() {
    let (lines, _logs) = crate::support::Lines::capture();
    let issuer = TestIssuer::start();
    let app = actix_web::test::init_service(App::new().wrap(auth(&issuer)).configure(routes)).await;
    let req = actix_web::test::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/pf/read")
        .insert_header(("origin", "https://app.example"))
        .insert_header(("access-control-request-method", "GET"))
        .to_request();
    let res = actix_web::test::call_service(&app, req).await;
    assert_eq!(res.status(), 401);
    assert!(
        lines.text().contains("no CORS middleware answered it"),
        "{}",
        lines.text()
    );
}

/// A middleware inside `JwtAuth` that awaits before calling further in keeps the request past
/// `call`: the preflight then counts as routed to a handler, and gets the 401 without any
/// handler running.
#[actix_web::test]
async fn a_preflight_held_by_an_awaiting_middleware_runs_no_handler() {
    use actix_web::body::BoxBody;
    use actix_web::dev::{ServiceRequest, ServiceResponse};
    use actix_web::middleware::{Next, from_fn};
    async fn awaiting(
        req: ServiceRequest,
        next: Next<BoxBody>,
    ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        actix_web::rt::task::yield_now().await;
        next.call(req).await
    }
    let issuer = TestIssuer::start();
    let auth = auth(&issuer);
    let server = serve_app(1, move || {
        App::new()
            .wrap(from_fn(awaiting))
            .wrap(auth.clone())
            .configure(routes)
    });
    let runs = ANY_METHOD_RUNS.load(Ordering::SeqCst);
    let reply = preflight(&server.base, "/pf/any").await;
    assert_eq!(reply.status, 401);
    assert_eq!(ANY_METHOD_RUNS.load(Ordering::SeqCst), runs);
}
