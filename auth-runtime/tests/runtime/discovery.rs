//! `discovery: true`: the key set URL comes from the issuer's OpenID Provider metadata, which
//! is believed only when it names the configured issuer exactly.

use auth_runtime::testing::TestIssuer;
use auth_runtime::{JwtAuth, RawConfig};
use serde_json::json;

use crate::support::{declare, get, serve};

#[actix_web::test]
async fn the_key_set_named_by_the_discovery_document_verifies_tokens() {
    let issuer = TestIssuer::start();
    let config = issuer.discovery_config();
    assert!(config.issuers()[0].discovery());
    assert_eq!(config.issuers()[0].jwks_url(), "", "nothing configured");
    assert_eq!(
        config.issuers()[0].discovery_url(),
        format!("{}/.well-known/openid-configuration", issuer.issuer())
    );
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let admin = issuer.token().role("admin").sign();
    let reply = get(&server, "/api/admin", Some(&admin)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let viewer = issuer.token().role("viewer").sign();
    assert_eq!(get(&server, "/api/admin", Some(&viewer)).await.status, 403);
    assert_eq!(issuer.discovery_fetch_count(), 1);
    assert_eq!(issuer.fetch_count(), 1, "the document and the key set once");
}

#[actix_web::test]
async fn a_document_naming_another_issuer_is_refused_and_its_keys_never_fetched() {
    let issuer = TestIssuer::start();
    let mut document = issuer.discovery_document();
    for other in [
        format!("{}/", issuer.issuer()),
        "https://evil.example".to_owned(),
        issuer.issuer().to_uppercase(),
    ] {
        document["issuer"] = json!(other);
        issuer.set_discovery_document(Some(document.clone()));
        let server = serve(declare(JwtAuth::new(issuer.discovery_config()).unwrap()));
        let token = issuer.token().sign();
        let reply = get(&server, "/api/profile", Some(&token)).await;
        assert_eq!(reply.status, 503, "{other}: {:?}", reply.body);
        assert_eq!(reply.header("retry-after"), "5");
    }
    assert_eq!(
        issuer.fetch_count(),
        0,
        "no key set fetched from a wrong document"
    );

    document["issuer"] = json!(issuer.issuer());
    issuer.set_discovery_document(Some(document));
    let server = serve(declare(JwtAuth::new(issuer.discovery_config()).unwrap()));
    let token = issuer.token().sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
}

#[actix_web::test]
async fn a_discovered_key_set_url_must_be_https_or_loopback() {
    let issuer = TestIssuer::start();
    let token = issuer.token().sign();
    for (jwks_uri, fetched) in [
        // Plain http to a host that is not loopback: never fetched (10.255.255.1 would hang).
        ("http://10.255.255.1/jwks".to_owned(), false),
        ("ftp://127.0.0.1/jwks".to_owned(), false),
        ("not a url".to_owned(), false),
        // Loopback http: fetched, like a configured loopback URL.
        (issuer.jwks_url(), true),
    ] {
        let mut document = issuer.discovery_document();
        document["jwks_uri"] = json!(jwks_uri);
        issuer.set_discovery_document(Some(document));
        let before = issuer.fetch_count();
        let server = serve(declare(JwtAuth::new(issuer.discovery_config()).unwrap()));
        let reply = get(&server, "/api/profile", Some(&token)).await;
        let status = if fetched { 200 } else { 503 };
        assert_eq!(reply.status, status, "{jwks_uri}: {:?}", reply.body);
        assert_eq!(
            issuer.fetch_count() - before,
            u64::from(fetched),
            "{jwks_uri}"
        );
    }
}

#[actix_web::test]
async fn documents_without_a_key_set_url_or_too_large_are_refused() {
    let issuer = TestIssuer::start();
    let token = issuer.token().sign();
    let mut padded = issuer.discovery_document();
    padded["padding"] = json!("x".repeat(4096));
    for document in [
        json!({ "issuer": issuer.issuer() }),
        json!({ "issuer": issuer.issuer(), "jwks_uri": 7 }),
        json!(["not", "an", "object"]),
        padded,
    ] {
        issuer.set_discovery_document(Some(document.clone()));
        let config = RawConfig {
            discovery: true,
            jwks_max_bytes: 2048,
            ..issuer.raw_config()
        }
        .validate()
        .unwrap();
        let server = serve(declare(JwtAuth::new(config).unwrap()));
        let reply = get(&server, "/api/profile", Some(&token)).await;
        assert_eq!(reply.status, 503, "{document}");
    }
    assert_eq!(issuer.fetch_count(), 0);
}

/// An app trusting `issuer` through discovery, refetching at once for an unknown kid, that has
/// accepted one token (returned).
async fn serve_and_use_once(issuer: &TestIssuer) -> (crate::support::Server, String) {
    let raw = RawConfig {
        discovery: true,
        jwks_min_refresh_interval_seconds: 0,
        ..issuer.raw_config()
    };
    let server = serve(declare(JwtAuth::new(raw.validate().unwrap()).unwrap()));
    let first = issuer.token().sign();
    assert_eq!(get(&server, "/api/profile", Some(&first)).await.status, 200);
    (server, first)
}

#[actix_web::test]
async fn a_rotated_key_is_found_through_a_fresh_document() {
    let issuer = TestIssuer::start();
    let (server, first) = serve_and_use_once(&issuer).await;
    assert_eq!(get(&server, "/api/profile", Some(&first)).await.status, 200);
    // The provider rotates its key and names a new key set URL: the unknown kid refetches
    // the document, then the key set where it now says.
    let mut document = issuer.discovery_document();
    document["jwks_uri"] = json!(format!("{}?generation=2", issuer.jwks_url()));
    issuer.rotate();
    issuer.set_discovery_document(Some(document));
    let second = issuer.token().sign();
    let reply = get(&server, "/api/profile", Some(&second)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(issuer.discovery_fetch_count(), 2);
    assert_eq!(issuer.fetch_count(), 2);
}

#[actix_web::test]
async fn the_last_good_key_set_url_serves_while_the_document_is_broken() {
    let issuer = TestIssuer::start();
    let (server, first) = serve_and_use_once(&issuer).await;
    assert_eq!(get(&server, "/api/profile", Some(&first)).await.status, 200);

    // The document breaks (another issuer, then junk); the key set is still where it was.
    for broken in [
        json!({"issuer": "https://else.example", "jwks_uri": "https://else.example/k"}),
        json!("junk"),
    ] {
        issuer.set_discovery_document(Some(broken.clone()));
        issuer.rotate();
        let rotated = issuer.token().sign();
        let reply = get(&server, "/api/profile", Some(&rotated)).await;
        assert_eq!(reply.status, 200, "{broken}: {:?}", reply.body);
    }
    assert_eq!(issuer.discovery_fetch_count(), 3);
    assert_eq!(issuer.fetch_count(), 3);
}

#[actix_web::test]
async fn discovery_is_configured_with_the_issuer_alone() {
    let issuer = TestIssuer::start();
    let err = RawConfig {
        discovery: true,
        jwks_endpoint: issuer.jwks_url(),
        ..issuer.raw_config()
    }
    .validate()
    .unwrap_err();
    assert!(
        err.message()
            .starts_with("auth_client.jwks_endpoint and auth_client.discovery: true"),
        "{err}"
    );
    let err = RawConfig {
        discovery: true,
        issuer: "http://id.example/realms/acme".into(),
        ..issuer.raw_config()
    }
    .validate()
    .unwrap_err();
    assert!(err.message().starts_with("auth_client.issuer:"), "{err}");
    assert!(err.message().contains("plain http"), "{err}");
    let trailing = RawConfig {
        discovery: true,
        issuer: "https://tenant.example/".into(),
        ..issuer.raw_config()
    }
    .validate()
    .unwrap();
    assert_eq!(
        trailing.issuers()[0].discovery_url(),
        "https://tenant.example/.well-known/openid-configuration"
    );
    assert_eq!(
        trailing.issuers()[0].issuer(),
        "https://tenant.example/",
        "compared as written"
    );
}

#[actix_web::test]
async fn redirects_are_not_followed_for_the_document_or_the_key_set() {
    let issuer = TestIssuer::start();
    let target = issuer.jwks_url();
    let redirector = crate::support::serve_app(1, move || {
        let target = target.clone();
        actix_web::App::new().default_service(actix_web::web::to(move || {
            let target = target.clone();
            async move {
                actix_web::HttpResponse::Found()
                    .insert_header(("Location", target))
                    .finish()
            }
        }))
    });
    let token = issuer.token().sign();
    // A configured key set URL that redirects to the real key set.
    let config = RawConfig {
        jwks_endpoint: format!("{}/jwks", redirector.base),
        ..issuer.raw_config()
    };
    let server = serve(declare(JwtAuth::new(config.validate().unwrap()).unwrap()));
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 503);
    // A discovered key set URL that redirects to the real key set.
    let mut document = issuer.discovery_document();
    document["jwks_uri"] = json!(format!("{}/jwks", redirector.base));
    issuer.set_discovery_document(Some(document));
    let server = serve(declare(JwtAuth::new(issuer.discovery_config()).unwrap()));
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 503);
    assert_eq!(issuer.fetch_count(), 0, "the redirect was never followed");
}
