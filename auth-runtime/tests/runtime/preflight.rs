//! CORS preflights: an `OPTIONS` request with `Origin` and `Access-Control-Request-Method`,
//! which browsers send without credentials before a cross-origin request. A CORS middleware
//! wrapped around `JwtAuth` answers them. `JwtAuth` never hands one to the app on trust, since
//! it cannot tell a CORS middleware's answer from a service's: without a token a preflight is
//! any request without a token, answered by a declared anonymous route or refused with 401,
//! and no protected handler or service runs for it.

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

/// actix-cors inside `JwtAuth` (`.wrap(cors).wrap(auth)`) never sees a preflight without a
/// token: the 401 comes first, and no handler runs.
#[actix_web::test]
async fn cors_inside_jwt_auth_does_not_see_the_preflight() {
    let issuer = TestIssuer::start();
    let auth = auth(&issuer);
    let server = serve_app(1, move || {
        App::new().wrap(cors()).wrap(auth.clone()).configure(routes)
    });
    let runs = ANY_METHOD_RUNS.load(Ordering::SeqCst);
    for path in ["/pf/read", "/pf/any", "/pf/missing"] {
        let reply = preflight(&server.base, path).await;
        assert_eq!(reply.status, 401, "{path}");
    }
    assert_eq!(ANY_METHOD_RUNS.load(Ordering::SeqCst), runs);
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

/// The first preflight refused says, at `warn`, where to put the CORS middleware.
#[actix_web::test]
async fn a_refused_preflight_says_to_wrap_cors_around_jwt_auth() {
    let (lines, _logs) = crate::support::Lines::capture();
    let issuer = TestIssuer::start();
    let app = actix_web::test::init_service(
        App::new()
            .wrap(cors())
            .wrap(auth(&issuer))
            .configure(routes),
    )
    .await;
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

/// A middleware inside `JwtAuth` that awaits before calling further in: the preflight still
/// gets the 401 without any handler running.
#[actix_web::test]
async fn a_preflight_held_by_an_awaiting_middleware_runs_no_handler() {
    use actix_web::middleware::from_fn;
    let issuer = TestIssuer::start();
    let auth = auth(&issuer);
    let server = serve_app(1, move || {
        App::new()
            .wrap(from_fn(crate::support::awaiting))
            .wrap(auth.clone())
            .configure(routes)
    });
    let runs = ANY_METHOD_RUNS.load(Ordering::SeqCst);
    let reply = preflight(&server.base, "/pf/any").await;
    assert_eq!(reply.status, 401);
    assert_eq!(ANY_METHOD_RUNS.load(Ordering::SeqCst), runs);
}

/// How often the raw service below ran.
static RAW_RUNS: AtomicUsize = AtomicUsize::new(0);

/// A service of the shape of actix-files' `NamedFileService`: it takes the request apart
/// within `call`, and answers, for any method, in its future.
struct RawService;

impl actix_web::dev::Service<actix_web::dev::ServiceRequest> for RawService {
    type Response = actix_web::dev::ServiceResponse;
    type Error = actix_web::Error;
    type Future =
        futures_util::future::LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    actix_web::dev::always_ready!();

    fn call(&self, req: actix_web::dev::ServiceRequest) -> Self::Future {
        let (req, _) = req.into_parts();
        Box::pin(async move {
            RAW_RUNS.fetch_add(1, Ordering::SeqCst);
            Ok(actix_web::dev::ServiceResponse::new(
                req,
                HttpResponse::Ok().body("private file"),
            ))
        })
    }
}

/// What would answer a preflight within `call`, without a handler future: a raw service (a
/// file), a redirect, a default service, a middleware that drops the body. Each gets the 401,
/// and none runs.
#[actix_web::test]
async fn no_protected_service_answers_a_preflight() {
    use actix_web::dev::{Payload, Service as _, fn_factory};
    let issuer = TestIssuer::start();
    let auth = auth(&issuer);
    let server = serve_app(1, move || {
        App::new()
            .wrap_fn(|mut req, srv| {
                if req.path() == "/pf/dropped" {
                    req.set_payload(Payload::None);
                }
                srv.call(req)
            })
            .wrap(auth.clone())
            .route(
                "/pf/file",
                web::route().service(fn_factory(|| async { Ok::<_, ()>(RawService) })),
            )
            .route("/pf/dropped", web::route().to(any_method))
            .service(web::redirect("/pf/old", "/internal/new-place"))
            .default_service(fn_factory(|| async { Ok::<_, ()>(RawService) }))
    });
    let (raw, any) = (
        RAW_RUNS.load(Ordering::SeqCst),
        ANY_METHOD_RUNS.load(Ordering::SeqCst),
    );
    for path in ["/pf/file", "/pf/dropped", "/pf/old", "/pf/nowhere"] {
        let reply = preflight(&server.base, path).await;
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(reply.header("location"), "", "{path}");
    }
    assert_eq!(RAW_RUNS.load(Ordering::SeqCst), raw);
    assert_eq!(ANY_METHOD_RUNS.load(Ordering::SeqCst), any);
}
