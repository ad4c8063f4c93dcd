//! Key fetching, caching, rotation and failure of the JWKS endpoint.

use std::time::Duration;

use auth_runtime::testing::TestIssuer;
use auth_runtime::{Algorithm, JwtAuth};
use serde_json::json;

use futures_util::future::join_all;

use crate::support::{Reply, config_with, declare, get, serve};

fn sleep(ms: u64) -> actix_web::rt::time::Sleep {
    actix_web::rt::time::sleep(Duration::from_millis(ms))
}

#[actix_web::test]
async fn keys_are_fetched_on_first_use_and_then_served_from_cache() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    assert_eq!(
        issuer.fetch_count(),
        0,
        "nothing fetched before the first token"
    );
    let token = issuer.token().sign();
    for _ in 0..5 {
        assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    }
    assert_eq!(
        issuer.fetch_count(),
        1,
        "one fetch serves every later request"
    );
}

#[actix_web::test]
async fn unknown_kid_forces_one_refetch_then_401() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.jwks_min_refresh_interval_seconds = 0);
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    assert_eq!(
        get(&server, "/api/profile", Some(&issuer.token().sign()))
            .await
            .status,
        200
    );
    assert_eq!(issuer.fetch_count(), 1);
    let stranger = issuer.token().kid("no-such-key").sign();
    let reply = get(&server, "/api/profile", Some(&stranger)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.detail(), "Invalid token: unknown signing key");
    assert_eq!(issuer.fetch_count(), 2, "exactly one forced refetch");
}

#[actix_web::test]
async fn key_rotated_at_the_issuer_is_accepted_within_seconds_on_default_settings() {
    let issuer = TestIssuer::start();
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    let old = issuer.token().sign();
    assert_eq!(get(&server, "/api/profile", Some(&old)).await.status, 200);

    issuer.rotate();
    let new = issuer.token().sub("after-rotation").sign();
    // A rotation right after a fetch waits out the refetch interval (2 s by default); retry
    // for a bounded while as a client would.
    let mut reply = get(&server, "/api/profile", Some(&new)).await;
    for _ in 0..40 {
        if reply.status == 200 {
            break;
        }
        sleep(250).await;
        reply = get(&server, "/api/profile", Some(&new)).await;
    }
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["subject"], "after-rotation");
    assert!(
        issuer.fetch_count() <= 3,
        "fetches: {}",
        issuer.fetch_count()
    );

    // The old key left the set at the issuer and in the cache.
    let reply = get(&server, "/api/profile", Some(&old)).await;
    assert_eq!(reply.status, 401);
}

#[actix_web::test]
async fn flood_of_unknown_kids_costs_the_issuer_at_most_one_fetch_per_interval() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.jwks_min_refresh_interval_seconds = 60);
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    assert_eq!(
        get(&server, "/api/profile", Some(&issuer.token().sign()))
            .await
            .status,
        200
    );
    let before = issuer.fetch_count();

    let tokens: Vec<String> = (0..300)
        .map(|i| issuer.token().kid(&format!("random-{i}")).sign())
        .collect();
    let replies = join_all(tokens.iter().map(|t| get(&server, "/api/profile", Some(t)))).await;
    assert!(replies.iter().all(|r| r.status == 401));
    let forced = issuer.fetch_count() - before;
    assert!(forced <= 1, "{forced} fetches for 300 unknown kids");
}

#[actix_web::test]
async fn concurrent_first_requests_share_one_fetch_across_workers() {
    let issuer = TestIssuer::start();
    issuer.set_delay(Duration::from_millis(300));
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    let token = issuer.token().sign();
    let replies = join_all((0..50).map(|_| get(&server, "/api/profile", Some(&token)))).await;
    assert!(replies.iter().all(|r| r.status == 200));
    assert_eq!(
        issuer.fetch_count(),
        1,
        "50 concurrent cold requests, one fetch"
    );
}

#[actix_web::test]
async fn issuer_down_before_first_fetch_is_503_with_retry_after_then_recovers() {
    let issuer = TestIssuer::start();
    issuer.set_available(false);
    let config = config_with(&issuer, |raw| raw.jwks_min_refresh_interval_seconds = 0);
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let token = issuer.token().sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert!(!reply.header("retry-after").is_empty());
    assert!(
        reply.detail().contains("temporarily unavailable"),
        "{}",
        reply.detail()
    );
    // Requests without a token are still plain 401s: no key is needed to refuse them.
    assert_eq!(get(&server, "/api/profile", None).await.status, 401);

    // The failure is remembered for the retry interval (one second at least), then the
    // recovered issuer is asked again.
    issuer.set_available(true);
    sleep(1100).await;
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
}

#[actix_web::test]
async fn issuer_down_after_first_fetch_keeps_serving_cached_keys() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| {
        raw.jwks_ttl_seconds = 1;
        raw.jwks_min_refresh_interval_seconds = 0;
    });
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let token = issuer.token().sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    issuer.set_available(false);
    sleep(1200).await;
    for _ in 0..3 {
        assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
        sleep(100).await;
    }
    assert!(
        issuer.fetch_count() >= 2,
        "the stale set was refetched (and that failed)"
    );
    // An unknown kid while the issuer is down is a 401, not a 503: keys are at hand.
    let stranger = issuer.token().kid("unknown").sign();
    assert_eq!(
        get(&server, "/api/profile", Some(&stranger)).await.status,
        401
    );
}

#[actix_web::test]
async fn ttl_expiry_refetches_in_the_background() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.jwks_ttl_seconds = 1);
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let token = issuer.token().sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    assert_eq!(issuer.fetch_count(), 1);
    sleep(1200).await;
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    let mut fetched = issuer.fetch_count();
    for _ in 0..50 {
        if fetched >= 2 {
            break;
        }
        sleep(100).await;
        fetched = issuer.fetch_count();
    }
    assert_eq!(fetched, 2, "a stale set is fetched again");
}

#[actix_web::test]
async fn slow_issuer_times_out_into_503() {
    let issuer = TestIssuer::start();
    issuer.set_delay(Duration::from_secs(5));
    let config = config_with(&issuer, |raw| raw.jwks_timeout_seconds = 1);
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let reply = get(&server, "/api/profile", Some(&issuer.token().sign())).await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
}

#[actix_web::test]
async fn oversized_key_set_is_refused() {
    let issuer = TestIssuer::start();
    issuer.publish_extra(vec![json!({"kty": "RSA", "junk": "x".repeat(300_000)})]);
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    let reply = get(&server, "/api/profile", Some(&issuer.token().sign())).await;
    assert_eq!(
        reply.status, 503,
        "a key set over jwks_max_bytes is not read"
    );
}

#[actix_web::test]
async fn unusable_keys_are_skipped_not_fatal() {
    let issuer = TestIssuer::start();
    let mut enc = issuer.jwks()["keys"][0].clone();
    enc["use"] = json!("enc");
    enc["kid"] = json!("encryption-key");
    issuer.publish_extra(vec![
        enc,
        json!({"kty": "oct", "kid": "shared", "k": "c2VjcmV0"}),
        json!({"kty": "XYZ", "kid": "alien"}),
        json!({"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}),
        json!("not even an object"),
    ]);
    let server = serve(declare(JwtAuth::new(issuer.config()).unwrap()));
    assert_eq!(
        get(&server, "/api/profile", Some(&issuer.token().sign()))
            .await
            .status,
        200
    );
    // A token naming the encryption key does not verify against it.
    let reply = get(
        &server,
        "/api/profile",
        Some(&issuer.token().kid("encryption-key").sign()),
    )
    .await;
    assert_eq!(reply.status, 401);
}

#[actix_web::test]
async fn token_without_kid_uses_the_only_key_and_is_refused_when_there_are_several() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.jwks_min_refresh_interval_seconds = 0);
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let token = issuer.token().without_kid().sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    issuer.add_key(Algorithm::ES256);
    let token = issuer.token().sign();
    // The new kid forces a refetch; now two keys are known.
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    let token = issuer.token().without_kid().sign();
    let reply: Reply = get(&server, "/api/profile", Some(&token)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.detail(),
        "Invalid token: token has no kid and the key set has several keys"
    );
}
