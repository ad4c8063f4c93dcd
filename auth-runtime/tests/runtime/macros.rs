//! `#[requires_role]` and `#[allow_anonymous]` on a real server: the route-policy matrix.
//!
//! Routes declared with `#[allow_anonymous]` are registered program-wide; the paths here are
//! chosen not to overlap with the hand-registered ones of the other test modules.

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::guard::GuardContext;
use actix_web::{HttpResponse, get, post, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{JwtAuth, SecurityContext, allow_anonymous, requires_role};
use serde_json::{Value, json};

use crate::support::{client, get as fetch, send, serve_routes};

fn identity() -> Value {
    json!(SecurityContext::get().map(|me| me.claims().sub.clone()))
}

#[allow_anonymous]
#[get("/items")]
async fn list_items() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "identity": identity() }))
}

#[post("/items")]
async fn add_item() -> HttpResponse {
    HttpResponse::Created().json(json!({ "identity": identity() }))
}

mod public_area {
    use super::*;

    #[allow_anonymous]
    #[get("/report")]
    pub async fn report() -> HttpResponse {
        HttpResponse::Ok().json(json!({ "area": "public", "identity": identity() }))
    }
}

mod private_area {
    use super::*;

    #[get("/report")]
    pub async fn report() -> HttpResponse {
        HttpResponse::Ok().json(json!({ "area": "private", "identity": identity() }))
    }
}

mod admin_area {
    use super::*;

    #[requires_role("admin")]
    #[get("/report")]
    pub async fn report() -> HttpResponse {
        HttpResponse::Ok().json(json!({ "area": "admin", "identity": identity() }))
    }
}

fn has_key(ctx: &GuardContext<'_>) -> bool {
    ctx.head().headers().contains_key("x-key")
}

#[allow_anonymous]
#[get("/gated", guard = "has_key")]
async fn gated_open() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "door": "open", "identity": identity() }))
}

#[get("/gated")]
async fn gated_closed() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "door": "closed", "identity": identity() }))
}

static COUNTED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[requires_role("admin")]
#[post("/counted")]
async fn counted(body: web::Json<Value>) -> HttpResponse {
    COUNTED_RUNS.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().json(body.into_inner())
}

#[requires_role("admin")]
#[get("/stack/above")]
async fn above() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[get("/stack/below")]
#[requires_role("admin")]
async fn below() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_role("editor", "admin")]
#[actix_web::route("/stack/route", method = "GET", method = "PUT")]
async fn route() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[actix_web::routes]
#[get("/stack/routes/a")]
#[get("/stack/routes/b")]
#[requires_role("admin")]
async fn routes() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[auth_runtime::requires_role("admin")]
async fn by_hand() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[allow_anonymous]
#[actix_web::routes]
#[get("/open/one")]
#[post("/open/two")]
async fn open_routes() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "identity": identity() }))
}

fn app(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/first").service(list_items).service(add_item))
        .service(web::scope("/second").service(add_item).service(list_items))
        .service(web::scope("/public").service(public_area::report))
        .service(web::scope("/private").service(private_area::report))
        .service(web::scope("/admin").service(admin_area::report))
        .service(gated_open)
        .service(gated_closed)
        .service(counted)
        .service(above)
        .service(below)
        .service(route)
        .service(routes)
        .service(open_routes)
        .route("/stack/by-hand", web::get().to(by_hand));
}

struct Fixture {
    issuer: TestIssuer,
    server: crate::support::Server,
    viewer: String,
    editor: String,
    admin: String,
}

fn fixture() -> Fixture {
    let issuer = TestIssuer::start();
    let server = serve_routes(JwtAuth::new(issuer.config()).unwrap(), app);
    let viewer = issuer.token().sub("viewer").role("viewer").sign();
    let editor = issuer.token().sub("editor").role("editor").sign();
    let admin = issuer.token().sub("admin").role("admin").sign();
    Fixture {
        issuer,
        server,
        viewer,
        editor,
        admin,
    }
}

async fn request(
    f: &Fixture,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> crate::support::Reply {
    let mut req = client().request(method, format!("{}{path}", f.server.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    send(req).await
}

#[actix_web::test]
async fn anonymous_get_next_to_protected_post_in_both_registration_orders() {
    let f = fixture();
    for scope in ["/first", "/second"] {
        let path = format!("{scope}/items");
        let reply = fetch(&f.server, &path, None).await;
        assert_eq!(
            (reply.status, &reply.body),
            (200, &json!({"identity": null})),
            "{path}"
        );
        let reply = fetch(&f.server, &path, Some(&f.admin)).await;
        assert_eq!(
            reply.body["identity"],
            Value::Null,
            "{path}: a sent token is ignored"
        );
        let reply = request(&f, reqwest::Method::POST, &path, None).await;
        assert_eq!(reply.status, 401, "{path}");
        let reply = request(&f, reqwest::Method::POST, &path, Some(&f.viewer)).await;
        assert_eq!(
            (reply.status, &reply.body),
            (201, &json!({"identity": "viewer"})),
            "{path}"
        );
    }
    assert_eq!(f.issuer.fetch_count(), 1);
}

#[actix_web::test]
async fn same_relative_path_in_three_scopes_keeps_each_policy() {
    let f = fixture();
    let reply = fetch(&f.server, "/public/report", Some("garbage")).await;
    assert_eq!((reply.status, &reply.body["area"]), (200, &json!("public")));

    let reply = fetch(&f.server, "/private/report", None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.detail(), "Missing or invalid Authorization header");
    let reply = fetch(&f.server, "/private/report", Some("garbage")).await;
    assert_eq!(reply.status, 401);
    let reply = fetch(&f.server, "/private/report", Some(&f.viewer)).await;
    assert_eq!(
        (reply.status, &reply.body),
        (200, &json!({"area": "private", "identity": "viewer"}))
    );

    let reply = fetch(&f.server, "/admin/report", None).await;
    assert_eq!(reply.status, 401);
    let reply = fetch(&f.server, "/admin/report", Some(&f.viewer)).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.detail(), "Requires one of roles: ['admin']");
    assert!(
        reply
            .header("www-authenticate")
            .contains("insufficient_scope")
    );
    let reply = fetch(&f.server, "/admin/report", Some(&f.admin)).await;
    assert_eq!((reply.status, &reply.body["area"]), (200, &json!("admin")));
}

#[actix_web::test]
async fn anonymous_handler_with_its_own_guard() {
    let f = fixture();
    let with_key = |token: Option<&str>| {
        let mut req = client()
            .get(format!("{}/gated", f.server.base))
            .header("x-key", "1");
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        send(req)
    };
    let reply = with_key(None).await;
    assert_eq!(
        (reply.status, &reply.body),
        (200, &json!({"door": "open", "identity": null}))
    );
    // The handler's own guard fails: the protected handler behind it answers, so a token is
    // needed, and the anonymous mark was never set.
    assert_eq!(fetch(&f.server, "/gated", None).await.status, 401);
    let reply = fetch(&f.server, "/gated", Some(&f.viewer)).await;
    assert_eq!(
        (reply.status, &reply.body),
        (200, &json!({"door": "closed", "identity": "viewer"}))
    );
    let reply = with_key(Some(&f.viewer)).await;
    assert_eq!(reply.body, json!({"door": "open", "identity": null}));
}

#[actix_web::test]
async fn unknown_path_without_token_is_401() {
    let f = fixture();
    assert_eq!(
        fetch(&f.server, "/nowhere/report/x", None).await.status,
        401
    );
    assert_eq!(
        fetch(&f.server, "/nowhere", Some(&f.viewer)).await.status,
        404
    );
}

#[actix_web::test]
async fn rejected_role_handler_never_runs_and_never_reads_the_body() {
    let f = fixture();
    let before = COUNTED_RUNS.load(Ordering::SeqCst);
    let post = |token: Option<&str>, body: &'static str| {
        let mut req = client()
            .post(format!("{}/counted", f.server.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        send(req)
    };
    assert_eq!(post(None, r#"{"a": 1}"#).await.status, 401);
    assert_eq!(post(Some("garbage"), r#"{"a": 1}"#).await.status, 401);
    assert_eq!(post(Some(&f.viewer), r#"{"a": 1}"#).await.status, 403);
    // Not JSON at all: a 403 (not a 400) proves the body was never read.
    assert_eq!(post(Some(&f.viewer), "not json").await.status, 403);
    assert_eq!(COUNTED_RUNS.load(Ordering::SeqCst), before);

    let reply = post(Some(&f.admin), r#"{"a": 1}"#).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({"a": 1})));
    assert_eq!(post(Some(&f.admin), "not json").await.status, 400);
    assert_eq!(COUNTED_RUNS.load(Ordering::SeqCst), before + 1);
}

#[actix_web::test]
async fn requires_role_works_in_every_stacking() {
    let f = fixture();
    let cases = [
        (reqwest::Method::GET, "/stack/above"),
        (reqwest::Method::GET, "/stack/below"),
        (reqwest::Method::GET, "/stack/route"),
        (reqwest::Method::PUT, "/stack/route"),
        (reqwest::Method::GET, "/stack/routes/a"),
        (reqwest::Method::GET, "/stack/routes/b"),
        (reqwest::Method::GET, "/stack/by-hand"),
    ];
    for (method, path) in cases {
        let status = |token| {
            let f = &f;
            let method = method.clone();
            async move { request(f, method, path, token).await.status }
        };
        assert_eq!(status(None).await, 401, "{method} {path}");
        assert_eq!(status(Some(&f.viewer)).await, 403, "{method} {path}");
        assert_eq!(status(Some(&f.admin)).await, 200, "{method} {path}");
    }
    // "editor" is one of the roles of /stack/route only.
    assert_eq!(
        request(&f, reqwest::Method::GET, "/stack/route", Some(&f.editor))
            .await
            .status,
        200
    );
    assert_eq!(
        request(&f, reqwest::Method::GET, "/stack/above", Some(&f.editor))
            .await
            .status,
        403
    );
}

#[actix_web::test]
async fn allow_anonymous_above_routes_covers_every_route() {
    let f = fixture();
    let reply = request(&f, reqwest::Method::GET, "/open/one", None).await;
    assert_eq!(
        (reply.status, &reply.body),
        (200, &json!({"identity": null}))
    );
    let reply = request(&f, reqwest::Method::POST, "/open/two", Some(&f.admin)).await;
    assert_eq!(
        (reply.status, &reply.body),
        (200, &json!({"identity": null}))
    );
    // Only the declared method is anonymous.
    assert_eq!(
        request(&f, reqwest::Method::POST, "/open/one", None)
            .await
            .status,
        401
    );
}

#[actix_web::test]
async fn cors_headers_on_rejections_of_attribute_routes() {
    let f = fixture();
    for path in ["/first/items", "/private/report", "/admin/report"] {
        let method = if path.ends_with("items") {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let req = client()
            .request(method, format!("{}{path}", f.server.base))
            .header("Origin", "https://app.example");
        let reply = send(req).await;
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            "https://app.example",
            "{path}"
        );
    }
    let req = client()
        .get(format!("{}/admin/report", f.server.base))
        .header("Origin", "https://app.example")
        .bearer_auth(&f.viewer);
    let reply = send(req).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        "https://app.example"
    );
}
