//! Protected resource metadata (RFC 9728): served without a token when asked for, naming the
//! trusted issuers, the scopes the app's attributes ask for and the DPoP rules; every 401
//! challenge then points at it.

use actix_web::{App, HttpResponse, get};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{DpopMode, JwtAuth, RawConfig, requires_scope};

use crate::support::{Server, challenges, client, config_with, send, serve_app};

#[requires_scope("orders:read")]
#[get("/metadata/orders")]
async fn orders() -> HttpResponse {
    HttpResponse::Ok().body("orders")
}

fn serve(auth: JwtAuth) -> Server {
    serve_app(1, move || App::new().wrap(auth.clone()).service(orders))
}

#[actix_web::test]
async fn the_metadata_is_served_without_a_token_and_every_401_points_at_it() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| {
        raw.public_url = "https://api.example.com".into();
        raw.resource_metadata = true;
    });
    let server = serve(JwtAuth::new(config).unwrap());
    let reply = send(client().get(format!(
        "{}/.well-known/oauth-protected-resource",
        server.base
    )))
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/json");
    let doc = &reply.body;
    assert_eq!(doc["resource"], "https://api.example.com");
    assert_eq!(
        doc["authorization_servers"],
        serde_json::json!([issuer.issuer()])
    );
    assert_eq!(
        doc["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    let scopes = doc["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&"orders:read".into()), "{scopes:?}");
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        serde_json::json!([
            "ES256",
            "EdDSA",
            "RS256",
            "PS256",
            "ML-DSA-44",
            "ML-DSA-65",
            "ML-DSA-87"
        ])
    );
    assert_eq!(doc["dpop_bound_access_tokens_required"], false);

    let metadata =
        "resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource\"";
    let reply = send(client().get(format!("{}/metadata/orders", server.base))).await;
    assert_eq!(reply.status, 401);
    let all = challenges(&reply);
    assert_eq!(all.len(), 2, "{all:?}");
    for challenge in &all {
        assert!(challenge.ends_with(metadata), "{challenge}");
    }
    let token = issuer.token().sub("lena").claim("exp", 1.into()).sign();
    let reply = send(
        client()
            .get(format!("{}/metadata/orders", server.base))
            .bearer_auth(token),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert!(challenges(&reply)[0].starts_with("Bearer realm=\"api\", error=\"invalid_token\""));
    assert!(challenges(&reply)[0].ends_with(metadata));
}

#[actix_web::test]
async fn a_resource_with_a_path_and_required_dpop() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| {
        raw.public_url = "https://api.example.com/v1".into();
        raw.resource_metadata = true;
        raw.dpop = DpopMode::Required;
        raw.dpop_algorithms = vec!["ES256".into()];
    });
    let server = serve(JwtAuth::new(config).unwrap());
    for path in [
        "/.well-known/oauth-protected-resource/v1",
        "/.well-known/oauth-protected-resource",
    ] {
        let reply = send(client().get(format!("{}{path}", server.base))).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.body["resource"], "https://api.example.com/v1");
        assert_eq!(reply.body["dpop_bound_access_tokens_required"], true);
        assert_eq!(
            reply.body["dpop_signing_alg_values_supported"],
            serde_json::json!(["ES256"])
        );
    }
    let reply = send(client().get(format!("{}/metadata/orders", server.base))).await;
    assert_eq!(
        challenges(&reply),
        [
            "DPoP algs=\"ES256\", realm=\"api\", resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/v1\""
        ]
    );
}

#[actix_web::test]
async fn without_the_setting_the_path_is_an_ordinary_protected_one() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let reply = send(client().get(format!(
        "{}/.well-known/oauth-protected-resource",
        server.base
    )))
    .await;
    assert_eq!(reply.status, 401);
    assert!(
        !reply
            .header("www-authenticate")
            .contains("resource_metadata")
    );
}

#[test]
fn the_metadata_needs_a_public_url() {
    let raw = RawConfig {
        issuer: "https://id.example".into(),
        audience: "api".into(),
        resource_metadata: true,
        ..RawConfig::default()
    };
    let err = raw.validate().unwrap_err();
    assert_eq!(err.key(), Some("auth_client.resource_metadata"));
    assert!(err.to_string().contains("public_url"), "{err}");
}
