//! `#[requires_scope]`, `#[requires_group]` and their combination with `#[requires_role]` on a
//! real server: 200/401/403, the RFC 6750 challenge, the body never read.

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{HttpResponse, get, post, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{
    AuthError, JwtAuth, SecurityContext, requires_group, requires_role, requires_scope,
};
use serde_json::{Value, json};

use crate::support::{Reply, client, get as fetch, send, serve_routes};

static WRITES: AtomicUsize = AtomicUsize::new(0);
static PURGES: AtomicUsize = AtomicUsize::new(0);

#[requires_scope("articles:write")]
#[post("/scoped/articles")]
async fn write_article(body: web::Json<Value>) -> HttpResponse {
    WRITES.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Created().json(body.into_inner())
}

#[requires_scope("articles:*")]
#[get("/scoped/any-article")]
async fn any_article() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_scope("reports:read", "reports:*")]
#[get("/scoped/reports")]
async fn reports() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_group("engineering", "operations")]
#[get("/scoped/deployments")]
async fn deployments() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[requires_role("admin")]
#[requires_scope("articles:write")]
#[requires_group("engineering")]
#[post("/scoped/purge")]
async fn purge(body: web::Json<Value>) -> HttpResponse {
    PURGES.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().json(body.into_inner())
}

#[get("/scoped/purge-below")]
#[requires_group("engineering")]
#[requires_role("admin")]
#[requires_scope("articles:write")]
async fn purge_below() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[get("/scoped/context")]
async fn context() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "scopes": SecurityContext::scopes(),
        "write": SecurityContext::has_scope("articles:write"),
        "articles": SecurityContext::has_scope("articles"),
    }))
}

#[get("/scoped/in-code")]
async fn in_code() -> Result<HttpResponse, AuthError> {
    let me = SecurityContext::require_scope(&["articles:publish"])?;
    Ok(HttpResponse::Ok().json(json!({ "sub": me.claims().sub })))
}

fn app(cfg: &mut web::ServiceConfig) {
    cfg.service(write_article)
        .service(any_article)
        .service(reports)
        .service(deployments)
        .service(purge)
        .service(purge_below)
        .service(context)
        .service(in_code);
}

struct Fixture {
    issuer: TestIssuer,
    server: crate::support::Server,
}

fn fixture() -> Fixture {
    let issuer = TestIssuer::start();
    let server = serve_routes(JwtAuth::new(issuer.config()).unwrap(), app);
    Fixture { issuer, server }
}

impl Fixture {
    /// A token with `claim` set to `value` (nothing else beyond the defaults).
    fn with(&self, claim: &str, value: Value) -> String {
        self.issuer.token().claim(claim, value).sign()
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &'static str) -> Reply {
        let mut req = client()
            .post(format!("{}{path}", self.server.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        send(req).await
    }
}

#[actix_web::test]
async fn scopes_are_read_from_scope_or_scp_in_every_shape_providers_use() {
    let f = fixture();
    let tokens = [
        (
            "scope string (RFC 9068)",
            f.with("scope", json!("openid articles:write")),
        ),
        (
            "scp array (Okta)",
            f.with("scp", json!(["articles:read", "articles:write"])),
        ),
        (
            "scp string (Entra ID)",
            f.with("scp", json!("User.Read articles:write")),
        ),
        ("scope array", f.with("scope", json!(["articles:write"]))),
    ];
    for (shape, token) in &tokens {
        let reply = f.post("/scoped/articles", Some(token), r#"{"t": 1}"#).await;
        assert_eq!(
            (reply.status, &reply.body),
            (201, &json!({"t": 1})),
            "{shape}"
        );
    }
    let refused = [
        ("no scope claim", f.issuer.token().sign()),
        ("another scope", f.with("scope", json!("articles:read"))),
        ("case differs", f.with("scope", json!("Articles:Write"))),
        (
            "one string with a space in an array",
            f.with("scp", json!(["x articles:write"])),
        ),
        ("a number", f.with("scope", json!(7))),
    ];
    for (shape, token) in &refused {
        let reply = f.post("/scoped/articles", Some(token), r#"{"t": 1}"#).await;
        assert_eq!(reply.status, 403, "{shape}");
    }
}

#[actix_web::test]
async fn a_missing_scope_is_403_with_the_rfc_6750_challenge_naming_it() {
    let f = fixture();
    let token = f.with("scope", json!("articles:read"));
    let reply = f.post("/scoped/articles", Some(&token), "{}").await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.body,
        json!({"detail": "Requires one of scopes: ['articles:write']"})
    );
    assert_eq!(
        reply.header("www-authenticate"),
        "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"Requires one \
         of scopes: ['articles:write']\", scope=\"articles:write\""
    );
    let reply = fetch(&f.server, "/scoped/reports", Some(&token)).await;
    assert!(
        reply
            .header("www-authenticate")
            .ends_with(", scope=\"reports:read reports:*\""),
        "{}",
        reply.header("www-authenticate")
    );
    // No token is the middleware's 401, before any scope is looked at.
    let reply = f.post("/scoped/articles", None, "{}").await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), "Bearer realm=\"api\"");
}

#[actix_web::test]
async fn wildcards_follow_the_documented_rules_over_http() {
    let f = fixture();
    // (path, granted scope claim, expected status)
    let cases = [
        ("/scoped/articles", "articles:*", 201),
        ("/scoped/articles", "articles", 403),
        ("/scoped/articles", "articles:write:*", 403),
        ("/scoped/articles", "*", 403),
        ("/scoped/any-article", "articles:read", 200),
        ("/scoped/any-article", "articles:write:draft", 200),
        ("/scoped/any-article", "articles:*", 200),
        ("/scoped/any-article", "articles", 403),
        ("/scoped/any-article", "articlesx:read", 403),
        ("/scoped/any-article", "comments:read", 403),
    ];
    for (path, granted, expected) in cases {
        let token = f.with("scope", json!(granted));
        let status = if path == "/scoped/articles" {
            f.post(path, Some(&token), "{}").await.status
        } else {
            fetch(&f.server, path, Some(&token)).await.status
        };
        assert_eq!(status, expected, "{path} with scope {granted:?}");
    }
}

#[actix_web::test]
async fn groups_are_any_of_and_exact() {
    let f = fixture();
    let cases = [
        (json!(["sales", "engineering"]), 200),
        (json!(["operations"]), 200),
        (json!("operations"), 200),
        (json!(["Engineering"]), 403),
        (json!(["sales"]), 403),
        (json!([]), 403),
    ];
    for (groups, expected) in cases {
        let token = f.with("groups", groups.clone());
        let reply = fetch(&f.server, "/scoped/deployments", Some(&token)).await;
        assert_eq!(reply.status, expected, "groups {groups}");
        if expected == 403 {
            assert_eq!(
                reply.detail(),
                "Requires one of groups: ['engineering', 'operations']"
            );
            assert!(
                reply
                    .header("www-authenticate")
                    .contains("error=\"insufficient_scope\"")
            );
        }
    }
    let token = f.issuer.token().sign();
    assert_eq!(
        fetch(&f.server, "/scoped/deployments", Some(&token))
            .await
            .status,
        403,
        "no groups claim"
    );
}

#[actix_web::test]
async fn combined_attributes_all_must_hold_and_a_refusal_never_reads_the_body() {
    let f = fixture();
    let token = |role: &str, scope: &str, group: &str| {
        f.issuer
            .token()
            .role(role)
            .claim("scope", json!(scope))
            .groups(&[group])
            .sign()
    };
    let all = token("admin", "articles:write", "engineering");
    let cases = [
        (
            token("viewer", "articles:write", "engineering"),
            "Requires one of roles: ['admin']",
        ),
        (
            token("admin", "articles:read", "engineering"),
            "Requires one of scopes: ['articles:write']",
        ),
        (
            token("admin", "articles:write", "sales"),
            "Requires one of groups: ['engineering']",
        ),
    ];
    let before = PURGES.load(Ordering::SeqCst);
    for (refused, detail) in &cases {
        let reply = f.post("/scoped/purge", Some(refused), r#"{"p": 1}"#).await;
        assert_eq!((reply.status, reply.detail()), (403, *detail));
        // Not JSON: still 403, never 400, so the body was never read.
        let reply = f.post("/scoped/purge", Some(refused), "not json").await;
        assert_eq!((reply.status, reply.detail()), (403, *detail));
        let reply = fetch(&f.server, "/scoped/purge-below", Some(refused)).await;
        assert_eq!((reply.status, reply.detail()), (403, *detail), "below");
    }
    assert_eq!(PURGES.load(Ordering::SeqCst), before, "no refused call ran");
    assert_eq!(f.post("/scoped/purge", None, "not json").await.status, 401);

    let reply = f.post("/scoped/purge", Some(&all), r#"{"p": 1}"#).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({"p": 1})));
    assert_eq!(
        f.post("/scoped/purge", Some(&all), "not json").await.status,
        400
    );
    assert_eq!(
        fetch(&f.server, "/scoped/purge-below", Some(&all))
            .await
            .status,
        200
    );
    assert_eq!(PURGES.load(Ordering::SeqCst), before + 1);
}

#[actix_web::test]
async fn a_rejected_scope_handler_never_runs() {
    let f = fixture();
    let before = WRITES.load(Ordering::SeqCst);
    let reader = f.with("scope", json!("articles:read"));
    assert_eq!(
        f.post("/scoped/articles", Some(&reader), "not json")
            .await
            .status,
        403
    );
    assert_eq!(WRITES.load(Ordering::SeqCst), before);
}

#[actix_web::test]
async fn security_context_reads_and_requires_scopes() {
    let f = fixture();
    let token = f.with("scope", json!("openid articles:*"));
    let reply = fetch(&f.server, "/scoped/context", Some(&token)).await;
    assert_eq!(
        reply.body,
        json!({"scopes": ["openid", "articles:*"], "write": true, "articles": false})
    );

    let reply = fetch(&f.server, "/scoped/in-code", Some(&token)).await;
    assert_eq!(reply.status, 200, "articles:* grants articles:publish");
    let token = f.with("scp", json!(["articles:read"]));
    let reply = fetch(&f.server, "/scoped/in-code", Some(&token)).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.detail(),
        "Requires one of scopes: ['articles:publish']"
    );
    assert!(
        reply
            .header("www-authenticate")
            .ends_with("scope=\"articles:publish\"")
    );
}
