//! Every request that routing hands to an anonymous handler is anonymous, whatever was
//! registered before it and however its path is spelled; every other request needs a token.
//!
//! One app registers anonymous handlers behind wider patterns, other methods, scopes and
//! hand-registered resources, inside `NormalizePath`; a table of requests (path spellings
//! included) says which handler answers and with which status.

use actix_web::http::Method;
use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{App, HttpResponse, get, post, route, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{Anonymous, AnonymousGuard, JwtAuth, SecurityContext, allow_anonymous};
use serde_json::json;

use crate::support::{Server, client, config_with, send, serve_app};

fn answer(handler: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "handler": handler,
        "identity": SecurityContext::get().map(|me| me.claims().sub.clone()),
    }))
}

#[allow_anonymous]
#[get("/ping")]
async fn ping() -> HttpResponse {
    answer("ping")
}

#[post("/stock/{id}")]
async fn stock_update() -> HttpResponse {
    answer("stock_update")
}

#[allow_anonymous]
#[get("/stock/public")]
async fn stock_public() -> HttpResponse {
    answer("stock_public")
}

/// Wider, same method, registered first: routing picks it, so `/files/readme` is protected.
#[get("/files/{name}")]
async fn file() -> HttpResponse {
    answer("file")
}

#[allow_anonymous]
#[get("/files/readme")]
async fn readme() -> HttpResponse {
    answer("readme")
}

#[allow_anonymous]
#[get("/orders/{id:\\d+}")]
async fn order() -> HttpResponse {
    answer("order")
}

#[allow_anonymous]
#[get("/assets/{path:.*}")]
async fn asset() -> HttpResponse {
    answer("asset")
}

#[allow_anonymous]
#[route("/multi", method = "GET", method = "PUT")]
async fn multi() -> HttpResponse {
    answer("multi")
}

mod catalogue {
    use super::*;

    /// In the `/api` scope registered first: any method on anything below it.
    #[route("/{tail:.*}", method = "POST", method = "DELETE")]
    pub async fn api_writes() -> HttpResponse {
        answer("api_writes")
    }

    #[allow_anonymous]
    #[get("/catalogue")]
    pub async fn catalogue() -> HttpResponse {
        answer("catalogue")
    }
}

mod nested {
    use super::*;

    #[allow_anonymous]
    #[get("/open")]
    pub async fn open() -> HttpResponse {
        answer("nested_open")
    }

    #[get("/closed")]
    pub async fn closed() -> HttpResponse {
        answer("nested_closed")
    }
}

fn app_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(ping)
        .service(stock_update)
        .service(stock_public)
        .service(file)
        .service(readme)
        .service(order)
        .service(asset)
        .service(multi)
        .service(
            web::scope("/api")
                .service(catalogue::api_writes)
                .service(catalogue::catalogue),
        )
        // By hand: a catch-all resource for POST registered before an anonymous resource.
        .service(
            web::resource("/hand/{any}")
                .guard(actix_web::guard::Post())
                .to(|| async { answer("hand_post") }),
        )
        .service(
            web::resource("/hand/status")
                .guard(AnonymousGuard)
                .route(web::get().to(|| async { answer("hand_status") })),
        )
        // By hand with the middleware: the method guard comes after it, which is fine.
        .service(
            web::resource("/wrapped")
                .route(
                    web::route()
                        .to(|| async { answer("wrapped") })
                        .wrap(Anonymous)
                        .method(Method::GET),
                )
                .route(web::post().to(|| async { answer("wrapped_post") })),
        )
        .service(
            web::scope("/v{version}").service(
                web::resource("/hand/status")
                    .guard(AnonymousGuard)
                    .route(web::get().to(|| async { answer("versioned_status") })),
            ),
        );
}

fn serve(auth: JwtAuth) -> Server {
    let auth = auth
        .anonymous_route(&[Method::GET], "/hand/status")
        .anonymous_route(&[], "/wrapped");
    serve_app(1, move || {
        App::new()
            .wrap(auth.clone())
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .configure(app_routes)
    })
}

/// (method, path as sent, handler that must answer without a token; `None`: 401)
const TABLE: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/ping", Some("ping")),
    ("GET", "/%70ing", Some("ping")),
    ("GET", "/%70%69%6E%67", Some("ping")),
    ("GET", "/%70%69%6e%67", Some("ping")),
    ("GET", "//ping", Some("ping")),
    ("GET", "/ping/", Some("ping")),
    ("GET", "///ping//", Some("ping")),
    ("POST", "/ping", None),
    ("GET", "/pingx", None),
    ("GET", "/stock/public", Some("stock_public")),
    ("GET", "/stock/%70ublic", Some("stock_public")),
    ("GET", "/stock//public/", Some("stock_public")),
    ("POST", "/stock/public", None),
    ("GET", "/stock/42", None),
    ("GET", "/files/readme", None),
    ("GET", "/files/other", None),
    ("GET", "/orders/12", Some("order")),
    ("GET", "/orders/%31%32", Some("order")),
    ("GET", "/orders/abc", None),
    ("GET", "/assets/css/site.css", Some("asset")),
    ("GET", "/assets/%63ss/site.css", Some("asset")),
    ("GET", "/multi", Some("multi")),
    ("PUT", "/multi", Some("multi")),
    ("POST", "/multi", None),
    ("GET", "/api/catalogue", Some("catalogue")),
    ("GET", "/%61pi/%63atalogue", Some("catalogue")),
    ("POST", "/api/catalogue", None),
    ("GET", "/hand/status", Some("hand_status")),
    ("GET", "/hand/%73tatus", Some("hand_status")),
    ("POST", "/hand/status", None),
    ("GET", "/v2/hand/status", Some("versioned_status")),
    ("GET", "/wrapped", Some("wrapped")),
    ("POST", "/wrapped", None),
    ("GET", "/v2/hand/other", None),
    ("GET", "/nowhere", None),
];

#[actix_web::test]
async fn anonymous_handlers_answer_every_spelling_routing_accepts_in_any_registration_order() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let mut failures = Vec::new();
    for &(method, path, expected) in TABLE {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let reply = send(client().request(method.clone(), format!("{}{path}", server.base))).await;
        let ok = match expected {
            Some(handler) => {
                reply.status == 200
                    && reply.body["handler"] == handler
                    && reply.body["identity"].is_null()
            }
            None => reply.status == 401,
        };
        if !ok {
            failures.push(format!(
                "{method} {path}: expected {expected:?}, got {} {}",
                reply.status, reply.body
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[actix_web::test]
async fn a_scope_wrapped_by_its_own_jwt_auth_inside_a_wrapped_app_keeps_anonymous_handlers_open() {
    let issuer = TestIssuer::start();
    let outer = JwtAuth::new(issuer.config()).unwrap();
    let inner = JwtAuth::new(issuer.config()).unwrap();
    let server = serve_app(1, move || {
        App::new().wrap(outer.clone()).service(
            web::scope("/nested")
                .wrap(inner.clone())
                .service(nested::open)
                .service(nested::closed),
        )
    });
    let url = |path: &str| format!("{}/nested/{path}", server.base);
    let open = send(client().get(url("open"))).await;
    assert_eq!(
        (open.status, &open.body["handler"]),
        (200, &json!("nested_open"))
    );
    assert!(open.body["identity"].is_null());
    assert_eq!(send(client().get(url("closed"))).await.status, 401);
    let token = issuer.token().sub("alice").sign();
    let closed = send(client().get(url("closed")).bearer_auth(&token)).await;
    assert_eq!(
        (closed.status, &closed.body["identity"]),
        (200, &json!("alice"))
    );
}

#[actix_web::test]
async fn a_token_on_a_request_routed_to_a_protected_handler_is_still_checked() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let token = issuer.token().sub("alice").sign();
    for (method, path, handler) in [
        (reqwest::Method::GET, "/files/readme", "file"),
        (reqwest::Method::POST, "/stock/public", "stock_update"),
        (reqwest::Method::POST, "/api/catalogue", "api_writes"),
    ] {
        let url = format!("{}{path}", server.base);
        let reply = send(client().request(method.clone(), &url).bearer_auth(&token)).await;
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.body);
        assert_eq!(reply.body["handler"], handler);
        assert_eq!(reply.body["identity"], "alice");
        let forged = format!("{token}x");
        let reply = send(client().request(method.clone(), &url).bearer_auth(forged)).await;
        assert_eq!(reply.status, 401, "{method} {path}");
    }
}

/// A scope whose own `JwtAuth` does not look at requests (disabled, or a `public_paths`
/// prefix) routes them later than the outer `JwtAuth` does: an anonymous handler there marks
/// nothing for the outer one, so the outer one still decides by the token.
#[actix_web::test]
async fn an_inner_jwt_auth_that_does_not_look_leaves_the_outer_one_deciding_by_the_token() {
    let issuer = TestIssuer::start();
    let disabled = config_with(&issuer, |raw| raw.enabled = false);
    let public = config_with(&issuer, |raw| raw.public_paths = vec!["/nested".to_owned()]);
    for inner in [disabled, public] {
        let outer = JwtAuth::new(issuer.config()).unwrap();
        let inner = JwtAuth::new(inner).unwrap();
        let server = serve_app(1, move || {
            App::new().wrap(outer.clone()).service(
                web::scope("/nested")
                    .wrap(inner.clone())
                    .service(nested::open)
                    .service(nested::closed),
            )
        });
        let url = |path: &str| format!("{}/nested/{path}", server.base);
        assert_eq!(send(client().get(url("open"))).await.status, 401);
        assert_eq!(send(client().get(url("closed"))).await.status, 401);
        let token = issuer.token().sub("alice").sign();
        for path in ["open", "closed"] {
            let reply = send(client().get(url(path)).bearer_auth(&token)).await;
            assert_eq!(
                (reply.status, &reply.body["identity"]),
                (200, &json!("alice")),
                "{path}"
            );
        }
    }
}
