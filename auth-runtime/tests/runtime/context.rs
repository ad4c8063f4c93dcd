//! The task-scoped identity: isolation between concurrent requests, spawned tasks, extractor.

use actix_web::{HttpResponse, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{JwtAuth, Principal, SecurityContext};
use futures_util::future::join_all;
use serde_json::json;

use crate::support::{declare, get, routes, serve, serve_routes};

#[actix_web::test]
async fn concurrent_requests_each_see_only_their_own_identity() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    let tokens: Vec<(String, String)> = (0..200)
        .map(|i| {
            let sub = format!("user-{i}");
            let token = issuer.token().sub(&sub).sign();
            (sub, token)
        })
        .collect();
    let replies = join_all(
        tokens
            .iter()
            .map(|(_, token)| get(&server, "/api/whoami", Some(token))),
    )
    .await;
    for ((sub, _), reply) in tokens.iter().zip(&replies) {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["subject"], json!(sub));
    }
}

#[actix_web::test]
async fn no_identity_outside_a_request() {
    assert!(SecurityContext::get().is_none());
    assert!(SecurityContext::require().is_err());
    assert!(!SecurityContext::has_role("admin"));
    assert!(SecurityContext::roles().is_empty());
}

fn spawn_routes(cfg: &mut web::ServiceConfig) {
    routes(cfg);
    cfg.route(
        "/api/spawned",
        web::get().to(|| async {
            let bare = actix_web::rt::spawn(async { SecurityContext::get().is_some() });
            let carried = actix_web::rt::spawn(SecurityContext::propagate(async {
                SecurityContext::get().map(|me| me.claims().sub.clone())
            }));
            HttpResponse::Ok().json(json!({
                "bare": bare.await.unwrap(),
                "carried": carried.await.unwrap(),
            }))
        }),
    )
    .route(
        "/api/extracted",
        web::get().to(|me: Principal, maybe: Option<Principal>| async move {
            HttpResponse::Ok().json(json!({
                "subject": me.claims().sub,
                "same": maybe.as_ref() == Some(&me),
                "groups": SecurityContext::groups(),
                "in_ops": SecurityContext::has_group("ops"),
                "needs_dev": SecurityContext::require_group(&["dev"]).is_ok(),
            }))
        }),
    );
}

#[actix_web::test]
async fn spawned_tasks_start_empty_unless_propagated() {
    let issuer = TestIssuer::start();
    let server = serve_routes(
        declare(JwtAuth::new(issuer.config()).unwrap()),
        spawn_routes,
    );
    let token = issuer.token().sub("spawner").sign();
    let reply = get(&server, "/api/spawned", Some(&token)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"bare": false, "carried": "spawner"}));
}

#[actix_web::test]
async fn extractor_gives_the_same_identity_as_the_context() {
    let issuer = TestIssuer::start();
    let server = serve_routes(
        declare(JwtAuth::new(issuer.config()).unwrap()),
        spawn_routes,
    );
    let token = issuer.token().sub("x").groups(&["ops"]).sign();
    let reply = get(&server, "/api/extracted", Some(&token)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"subject": "x", "same": true, "groups": ["ops"], "in_ops": true, "needs_dev": false})
    );
}
