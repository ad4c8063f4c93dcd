//! The route-policy contract: who gets 401, 403 or 200, and that a rejected handler never runs.

use std::sync::atomic::Ordering;

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{AnonymousGuard, JwtAuth};

use crate::support::{COUNTER_RUNS, client, config_with, declare, get, send, serve, serve_routes};

fn assert_missing(reply: &crate::support::Reply) {
    assert_eq!(reply.status, 401, "{:?}", reply.body);
    assert_eq!(reply.detail(), "Missing or invalid Authorization header");
    assert_eq!(reply.header("www-authenticate"), "Bearer realm=\"api\"");
}

#[actix_web::test]
async fn no_token_is_401_with_bearer_challenge() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    assert_missing(&get(&server, "/api/profile", None).await);
    assert_eq!(
        issuer.fetch_count(),
        0,
        "refusing a missing token needs no key"
    );
}

#[actix_web::test]
async fn malformed_authorization_headers_are_401() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    let token = issuer.token().sign();
    for value in [format!("Basic {token}"), "Bearer".to_owned(), token.clone()] {
        let req = client()
            .get(format!("{}/api/profile", server.base))
            .header("Authorization", value);
        assert_missing(&send(req).await);
    }
}

#[actix_web::test]
async fn two_authorization_headers_are_refused() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    let good = issuer.token().sign();
    let req = client()
        .get(format!("{}/api/profile", server.base))
        .header("Authorization", format!("Bearer {good}"))
        .header("Authorization", format!("Bearer {good}"));
    assert_missing(&send(req).await);
}

#[actix_web::test]
async fn role_checks_answer_403_with_insufficient_scope() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    let viewer = issuer.token().role("viewer").sign();
    let reply = get(&server, "/api/admin", Some(&viewer)).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.detail(), "Requires one of roles: ['admin']");
    let challenge = reply.header("www-authenticate");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );

    let admin = issuer.token().sub("root").role("admin").sign();
    let reply = get(&server, "/api/admin", Some(&admin)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["message"], "Welcome, root");
}

#[actix_web::test]
async fn any_of_several_roles_is_enough() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    for (role, status) in [("editor", 200), ("admin", 200), ("viewer", 403)] {
        let token = issuer.token().role(role).sign();
        assert_eq!(
            get(&server, "/api/editors", Some(&token)).await.status,
            status,
            "{role}"
        );
    }
}

#[actix_web::test]
async fn custom_role_resolver_reads_a_roles_array() {
    let issuer = TestIssuer::start();
    let auth = JwtAuth::builder(issuer.config())
        .role_resolver(
            |_: &auth_runtime::TokenClaims, raw: &auth_runtime::RawClaims| {
                raw.get("roles")
                    .and_then(|r| r.as_array())
                    .map(|r| {
                        r.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            },
        )
        .build()
        .unwrap();
    let server = serve(declare(auth));
    let token = issuer
        .token()
        .claim("roles", serde_json::json!(["reader", "admin"]))
        .sign();
    assert_eq!(get(&server, "/api/admin", Some(&token)).await.status, 200);
    let token = issuer.token().role("admin").sign();
    assert_eq!(get(&server, "/api/admin", Some(&token)).await.status, 403);
}

#[actix_web::test]
async fn anonymous_route_answers_with_and_without_token_and_ignores_it() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    let valid = issuer.token().sign();
    let expired = issuer.token().expires_in(-3600).sign();
    let unknown_key = issuer.token().kid("no-such-key").sign();
    for available in [true, false] {
        // With the issuer down too: the outcome of the token never matters there.
        issuer.set_available(available);
        let tokens = [
            None,
            Some("garbage"),
            Some(&*valid),
            Some(&*expired),
            Some(&*unknown_key),
        ];
        for token in tokens {
            let reply = get(&server, "/health", token).await;
            assert_eq!(reply.status, 200, "{token:?}");
            assert_eq!(
                reply.body["identity"], false,
                "token is ignored on anonymous routes"
            );
        }
    }
}

#[actix_web::test]
async fn anonymous_get_next_to_protected_post_on_one_path() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    assert_eq!(get(&server, "/items", None).await.status, 200);
    let post = client().post(format!("{}/items", server.base));
    assert_missing(&send(post).await);
    let token = issuer.token().sub("poster").sign();
    let post = client()
        .post(format!("{}/items", server.base))
        .bearer_auth(&token);
    let reply = send(post).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["subject"], "poster");
}

#[actix_web::test]
async fn undeclared_guard_still_fails_closed() {
    // The guard without its declaration: the middleware refuses before routing. Safe, and
    // the reason the declaration exists.
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    assert_missing(&get(&server, "/health", None).await);
}

#[actix_web::test]
async fn unmatched_path_without_token_is_401_not_404() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    assert_missing(&get(&server, "/no/such/path", None).await);
    let token = issuer.token().sign();
    assert_eq!(
        get(&server, "/no/such/path", Some(&token)).await.status,
        404
    );
}

#[actix_web::test]
async fn public_paths_are_never_checked() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.public_paths = vec!["/docs".into()]);
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let reply = get(&server, "/docs/index.html", Some("garbage")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["identity"], false);
    // A prefix matches whole segments only.
    assert_missing(&get(&server, "/docsecret", None).await);
}

#[actix_web::test]
async fn disabled_auth_lets_everything_through() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.enabled = false);
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let reply = get(&server, "/docs/index.html", None).await;
    assert_eq!(reply.status, 200);
    // Nothing is validated, so handlers that need an identity say so themselves.
    let reply = get(&server, "/api/profile", Some("garbage")).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.detail(), "No authenticated user in SecurityContext");
    assert_eq!(issuer.fetch_count(), 0);
}

#[actix_web::test]
async fn rejected_requests_never_run_the_handler() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    let before = COUNTER_RUNS.load(Ordering::SeqCst);
    let expired = issuer.token().expires_in(-600).sign();
    for token in [None, Some("garbage"), Some(expired.as_str())] {
        assert_eq!(get(&server, "/api/counter", token).await.status, 401);
    }
    assert_eq!(COUNTER_RUNS.load(Ordering::SeqCst), before);
    let valid = issuer.token().sign();
    assert_eq!(get(&server, "/api/counter", Some(&valid)).await.status, 200);
    assert_eq!(COUNTER_RUNS.load(Ordering::SeqCst), before + 1);
}

fn guarded_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/items")
            .route(web::get().guard(AnonymousGuard).to(HttpResponse::Ok))
            .route(web::post().to(HttpResponse::Created)),
    );
}

#[actix_web::test]
async fn rejections_carry_cors_headers_before_and_after_routing() {
    let issuer = TestIssuer::start();
    // Before routing: POST /items cannot be anonymous by its declaration.
    let precise = JwtAuth::new(issuer.config())
        .unwrap()
        .anonymous_route(&[Method::GET], "/items");
    // After routing: a declaration for any method makes the middleware route first, and
    // refuse only once the guard did not mark the request.
    let broad = JwtAuth::new(issuer.config())
        .unwrap()
        .anonymous_route(&[], "/items");
    for auth in [precise, broad] {
        let server = serve_routes(auth, guarded_routes);
        let req = client()
            .post(format!("{}/items", server.base))
            .header("Origin", "https://app.example");
        let reply = send(req).await;
        assert_missing(&reply);
        assert_eq!(
            reply.header("access-control-allow-origin"),
            "https://app.example"
        );
        let req = client()
            .get(format!("{}/items", server.base))
            .header("Origin", "https://app.example");
        let reply = send(req).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("access-control-allow-origin"),
            "https://app.example"
        );
    }
}

#[actix_web::test]
async fn roles_claim_reads_the_roles_where_keycloak_auth0_and_entra_put_them() {
    use serde_json::json;
    let issuer = TestIssuer::start();
    for (roles_claim, claim, granting, not_granting) in [
        // Keycloak realm roles, then client roles of this API only.
        (
            "realm_access.roles",
            "realm_access",
            json!({ "roles": ["viewer", "admin"] }),
            json!({ "roles": ["viewer"] }),
        ),
        (
            "resource_access.my-api.roles",
            "resource_access",
            json!({ "my-api": { "roles": ["admin"] } }),
            json!({ "other-api": { "roles": ["admin"] }, "my-api": { "roles": [] } }),
        ),
        // Auth0: a namespaced claim, dots and all.
        (
            "https://example.com/roles",
            "https://example.com/roles",
            json!(["admin"]),
            json!("viewer"),
        ),
        // Entra ID: app roles in `roles`.
        ("roles", "roles", json!(["Reader", "admin"]), json!([])),
    ] {
        let auth = JwtAuth::new(config_with(&issuer, |raw| {
            raw.roles_claim = roles_claim.into()
        }))
        .unwrap();
        let server = serve(declare(auth));
        let admin = issuer.token().claim(claim, granting).sign();
        assert_eq!(
            get(&server, "/api/admin", Some(&admin)).await.status,
            200,
            "{roles_claim}"
        );
        let other = issuer.token().claim(claim, not_granting).sign();
        assert_eq!(
            get(&server, "/api/admin", Some(&other)).await.status,
            403,
            "{roles_claim}"
        );
        // The `role` claim grants nothing once roles are read elsewhere.
        let plain = issuer.token().role("admin").sign();
        assert_eq!(get(&server, "/api/admin", Some(&plain)).await.status, 403);
        assert_eq!(get(&server, "/api/profile", Some(&plain)).await.status, 200);
    }
}

#[actix_web::test]
async fn a_custom_role_resolver_wins_over_roles_claim() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.roles_claim = "roles".into());
    let auth = JwtAuth::builder(config)
        .role_resolver(|_: &auth_runtime::TokenClaims, _: &auth_runtime::RawClaims| Vec::new())
        .build()
        .unwrap();
    let server = serve(declare(auth));
    let token = issuer
        .token()
        .claim("roles", serde_json::json!(["admin"]))
        .sign();
    assert_eq!(get(&server, "/api/admin", Some(&token)).await.status, 403);
}
