//! A key endpoint that hangs, fails or recovers: one fetch at a time, whose outcome every
//! request waiting for it shares; a failure remembered for the retry interval; no request
//! waiting longer than one fetch.

use std::time::{Duration, Instant};

use auth_runtime::JwtAuth;
use auth_runtime::testing::TestIssuer;
use futures_util::future::join_all;

use crate::support::{Server, config_with, declare, get, serve};

/// Timeout 1 s, retry interval 1 s.
fn server(issuer: &TestIssuer) -> Server {
    let config = config_with(issuer, |raw| {
        raw.jwks_timeout_seconds = 1;
        raw.jwks_min_refresh_interval_seconds = 1;
    });
    serve(declare(JwtAuth::new(config).unwrap()))
}

/// Sends `tokens` at once; answers their statuses and how long the slowest took.
async fn all_at_once(server: &Server, tokens: &[String]) -> (Vec<u16>, Duration) {
    let started = Instant::now();
    let replies = join_all(tokens.iter().map(|t| get(server, "/api/profile", Some(t)))).await;
    (
        replies.iter().map(|reply| reply.status).collect(),
        started.elapsed(),
    )
}

#[actix_web::test]
async fn a_hanging_endpoint_at_first_use_costs_one_fetch_shared_by_every_waiter() {
    let issuer = TestIssuer::start();
    issuer.set_delay(Duration::from_secs(30));
    let server = server(&issuer);
    let tokens: Vec<String> = (0..4).map(|_| issuer.token().sign()).collect();
    let (statuses, slowest) = all_at_once(&server, &tokens).await;
    assert_eq!(statuses, [503; 4]);
    assert_eq!(
        issuer.fetch_count(),
        1,
        "one fetch for four waiting requests"
    );
    // One fetch timeout (1 s), not one per waiter (4 s).
    assert!(slowest < Duration::from_millis(2500), "{slowest:?}");

    // Within the retry interval, the failure is remembered: no fetch, no wait.
    let (statuses, _) = all_at_once(&server, &tokens).await;
    assert_eq!(statuses, [503; 4]);
    assert_eq!(issuer.fetch_count(), 1);
}

#[actix_web::test]
async fn made_up_kids_while_the_endpoint_hangs_cost_one_fetch() {
    let issuer = TestIssuer::start();
    let server = server(&issuer);
    let valid = issuer.token().sign();
    assert_eq!(get(&server, "/api/profile", Some(&valid)).await.status, 200);
    let before = issuer.fetch_count();

    issuer.set_delay(Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let made_up: Vec<String> = (0..4)
        .map(|i| issuer.token().kid(&format!("made-up-{i}")).sign())
        .collect();
    let (statuses, slowest) = all_at_once(&server, &made_up).await;
    assert_eq!(statuses, [401; 4]);
    assert_eq!(issuer.fetch_count() - before, 1);
    assert!(slowest < Duration::from_millis(2500), "{slowest:?}");
    // The keys held still serve a known kid at once.
    let started = Instant::now();
    assert_eq!(get(&server, "/api/profile", Some(&valid)).await.status, 200);
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[actix_web::test]
async fn a_failing_endpoint_is_asked_once_per_retry_interval_then_recovers() {
    let issuer = TestIssuer::start();
    issuer.set_available(false);
    let server = server(&issuer);
    let tokens: Vec<String> = (0..10).map(|_| issuer.token().sign()).collect();
    let (statuses, _) = all_at_once(&server, &tokens).await;
    assert_eq!(statuses, [503; 10]);
    let (statuses, _) = all_at_once(&server, &tokens).await;
    assert_eq!(statuses, [503; 10]);
    assert_eq!(issuer.fetch_count(), 1, "a failure is remembered");

    // Recovered: the next fetch, after the retry interval, is a success.
    issuer.set_available(true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (statuses, _) = all_at_once(&server, &tokens).await;
    assert_eq!(statuses, [200; 10]);
    assert_eq!(issuer.fetch_count(), 2);
}
