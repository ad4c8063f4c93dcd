//! The verified-token cache: hits skip the signature, never the clock or the key set.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use auth_runtime::testing::TestIssuer;
use auth_runtime::{Algorithm, JwtAuth, RawClaims, RoleResolver, TokenClaims};

use crate::support::{config_with, declare, get, serve};

#[actix_web::test]
async fn a_repeated_token_is_answered_from_the_cache() {
    let issuer = TestIssuer::start();
    let auth = declare(JwtAuth::new(issuer.config()).unwrap());
    let server = serve(auth.clone());
    let token = issuer.token().sub("repeat").sign();
    for _ in 0..5 {
        let reply = get(&server, "/api/profile", Some(&token)).await;
        assert_eq!(
            (reply.status, reply.body["subject"].as_str()),
            (200, Some("repeat"))
        );
    }
    let stats = auth.token_cache_stats().expect("on by default");
    assert_eq!((stats.entries, stats.misses, stats.hits), (1, 1, 4));
}

#[actix_web::test]
async fn a_cached_token_still_expires() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.leeway_seconds = 0);
    let auth = declare(JwtAuth::new(config).unwrap());
    let server = serve(auth.clone());
    let token = issuer.token().expires_in(2).sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    actix_web::rt::time::sleep(Duration::from_millis(3100)).await;
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_eq!((reply.status, reply.detail()), (401, "Token has expired"));
    assert_eq!(
        auth.token_cache_stats().unwrap().entries,
        0,
        "the expired entry is dropped"
    );
}

#[actix_web::test]
async fn a_cached_token_dies_with_its_key() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.jwks_min_refresh_interval_seconds = 0);
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let old = issuer.token().sign();
    assert_eq!(get(&server, "/api/profile", Some(&old)).await.status, 200);
    issuer.rotate();
    // A token with the new kid makes the middleware fetch the rotated set.
    assert_eq!(
        get(&server, "/api/profile", Some(&issuer.token().sign()))
            .await
            .status,
        200
    );
    let reply = get(&server, "/api/profile", Some(&old)).await;
    assert_eq!(
        (reply.status, reply.detail()),
        (401, "Invalid token: unknown signing key")
    );
}

#[actix_web::test]
async fn only_the_exact_bytes_hit() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    let token = issuer.token().sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    let mut altered = token.clone().into_bytes();
    let last = altered.len() - 2;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let reply = get(&server, "/api/profile", Some(&altered)).await;
    assert_eq!(
        (reply.status, reply.detail()),
        (401, "Invalid token: signature verification failed")
    );
}

#[actix_web::test]
async fn the_cache_can_be_turned_off() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.token_cache_max_bytes = 0);
    let auth = declare(JwtAuth::new(config).unwrap());
    let server = serve(auth.clone());
    let token = issuer.token().sign();
    for _ in 0..2 {
        assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    }
    assert!(auth.token_cache_stats().is_none());
}

/// Reads roles "from a database": must run for every request.
struct CountingDirectory(Arc<AtomicUsize>);

impl RoleResolver for CountingDirectory {
    async fn resolve(&self, claims: &TokenClaims, _raw: &RawClaims) -> Vec<String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        vec![claims.role.clone()]
    }
}

#[actix_web::test]
async fn roles_are_cached_only_when_the_resolver_allows_it() {
    let issuer = TestIssuer::start();
    let token = issuer.token().role("admin").sign();

    let lookups = Arc::new(AtomicUsize::new(0));
    let auth = JwtAuth::builder(issuer.config())
        .role_resolver(CountingDirectory(Arc::clone(&lookups)))
        .build()
        .unwrap();
    let server = serve(declare(auth));
    for _ in 0..3 {
        assert_eq!(get(&server, "/api/admin", Some(&token)).await.status, 200);
    }
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        3,
        "not cacheable: asked every time"
    );

    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let auth = JwtAuth::builder(issuer.config())
        .role_resolver(move |claims: &TokenClaims, _: &RawClaims| {
            counted.fetch_add(1, Ordering::SeqCst);
            vec![claims.role.clone()]
        })
        .build()
        .unwrap();
    let server = serve(declare(auth));
    for _ in 0..3 {
        assert_eq!(get(&server, "/api/admin", Some(&token)).await.status, 200);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a closure depends on the token alone"
    );
}

#[actix_web::test]
async fn a_flood_of_distinct_tokens_stays_within_the_bound() {
    let issuer = TestIssuer::start_with(Algorithm::EdDSA, "test-api");
    let bound = 256 * 1024;
    let config = config_with(&issuer, |raw| raw.token_cache_max_bytes = bound);
    let auth = declare(JwtAuth::new(config).unwrap());
    let server = serve(auth.clone());
    let honest = issuer.token().sub("honest").sign();
    for round in 0..30 {
        let flood: Vec<String> = (0..100)
            .map(|i| issuer.token().sub(&format!("flood-{round}-{i}")).sign())
            .collect();
        let replies = futures_util::future::join_all(
            flood.iter().map(|t| get(&server, "/api/profile", Some(t))),
        )
        .await;
        assert!(replies.iter().all(|r| r.status == 200));
        assert_eq!(
            get(&server, "/api/profile", Some(&honest)).await.status,
            200
        );
        let stats = auth.token_cache_stats().unwrap();
        assert!(stats.weight_bytes <= bound, "{stats:?}");
    }
    let stats = auth.token_cache_stats().unwrap();
    assert!(stats.entries < 3000, "evicted: {stats:?}");
    assert!(stats.hits >= 20, "the honest token kept hitting: {stats:?}");
}

#[actix_web::test]
async fn a_token_heavier_than_the_whole_cache_is_verified_every_time_instead() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.token_cache_max_bytes = 64 * 1024);
    let auth = declare(JwtAuth::new(config).unwrap());
    let server = serve(auth.clone());
    // About 9 KB as text, far more than 64 KiB once parsed.
    let heavy = issuer
        .token()
        .claim(
            "x",
            serde_json::json!(vec![serde_json::json!({"a": 0}); 1100]),
        )
        .sign();
    let light = issuer.token().sub("light").sign();
    for _ in 0..3 {
        assert_eq!(get(&server, "/api/profile", Some(&heavy)).await.status, 200);
        assert_eq!(get(&server, "/api/profile", Some(&light)).await.status, 200);
    }
    let stats = auth.token_cache_stats().unwrap();
    assert_eq!(
        (stats.entries, stats.hits, stats.misses),
        (1, 2, 4),
        "{stats:?}"
    );
    assert!(stats.weight_bytes <= 64 * 1024);
}
