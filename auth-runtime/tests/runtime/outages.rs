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

/// The revocation list of `issuer`, with a one-second timeout.
fn revocation_server(issuer: &TestIssuer, fail_open: bool) -> Server {
    let config = config_with(issuer, |raw| {
        raw.revocation_endpoint = issuer.revocation_url();
        raw.jwks_timeout_seconds = 1;
        raw.revocation_fail_open = fail_open;
    });
    serve(declare(JwtAuth::new(config).unwrap()))
}

fn in_an_hour() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600
}

/// A list that hangs: every waiting request shares one read, and none waits past the timeout.
#[actix_web::test]
async fn a_hanging_revocation_list_costs_one_read_shared_by_every_waiter() {
    let issuer = TestIssuer::start();
    issuer.set_revocation_delay(Duration::from_secs(30));
    let server = revocation_server(&issuer, false);
    let tokens: Vec<String> = (0..4)
        .map(|i| issuer.token().jti(&format!("jti-{i}")).sign())
        .collect();
    let (statuses, slowest) = all_at_once(&server, &tokens).await;
    assert_eq!(statuses, [503; 4]);
    assert_eq!(issuer.revocation_queries().len(), 1);
    assert!(slowest < Duration::from_millis(2500), "{slowest:?}");
}

/// A list served as slow pages that never end within the deadline: the refresh stops at the
/// deadline (one timeout for all its pages), and the request is answered by the staleness
/// rule, 503, never with a half-read list, even when the token is revoked further down.
#[actix_web::test]
async fn a_revocation_refresh_has_one_deadline_for_all_its_pages() {
    let issuer = TestIssuer::start();
    issuer.set_revocation_page_size(1);
    issuer.set_revocation_delay(Duration::from_millis(150));
    for i in 0..40 {
        issuer.revoke(&format!("other-{i}"), in_an_hour());
    }
    issuer.revoke("stolen", in_an_hour());
    let server = revocation_server(&issuer, false);
    let stolen = issuer.token().jti("stolen").sign();
    let started = Instant::now();
    let reply = get(&server, "/api/profile", Some(&stolen)).await;
    let waited = started.elapsed();
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert!(waited < Duration::from_millis(2500), "{waited:?}");

    // Failing open answers from what is held (nothing yet), still within the deadline: the
    // half-read list is not taken for a whole one.
    let open = revocation_server(&issuer, true);
    let started = Instant::now();
    let reply = get(
        &open,
        "/api/profile",
        Some(&issuer.token().jti("fine").sign()),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() < Duration::from_millis(2500));
}

/// More pages than one refresh reads: the list is not taken as read until its end, and what
/// was read is kept, so the following refreshes go on from there and the revoked token at
/// the end is refused.
#[actix_web::test]
async fn a_list_longer_than_one_refresh_is_read_to_its_end_over_several() {
    let issuer = TestIssuer::start();
    issuer.set_revocation_page_size(1);
    for i in 0..100 {
        issuer.revoke(&format!("other-{i}"), in_an_hour());
    }
    issuer.revoke("stolen", in_an_hour());
    let server = revocation_server(&issuer, false);
    let stolen = issuer.token().jti("stolen").sign();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&server, "/api/profile", Some(&stolen)).await.status);
        if statuses.last() == Some(&401) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(statuses.first(), Some(&503), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&401), "{statuses:?}");
    assert!(!statuses.contains(&200), "{statuses:?}");
    // Each page was asked for once: the second refresh went on from the first one's cursor.
    assert_eq!(issuer.revocation_queries().len(), 101);
}

/// A list that grows past its bound (entries, or estimated bytes) is treated as unavailable:
/// 503 by the staleness rule, or the last list held when failing open; said at `error`.
#[actix_web::test]
async fn a_list_over_its_bound_is_treated_as_unavailable() {
    let issuer = TestIssuer::start();
    issuer.set_revocation_page_size(10);
    for i in 0..40 {
        issuer.revoke(&format!("{i:0>60}"), in_an_hour());
    }
    let bounded = |max_entries: usize, max_bytes: usize, fail_open: bool| {
        let config = config_with(&issuer, |raw| {
            raw.revocation_endpoint = issuer.revocation_url();
            raw.revocation_max_entries = max_entries;
            raw.revocation_max_bytes = max_bytes;
            raw.revocation_fail_open = fail_open;
        });
        JwtAuth::new(config).unwrap()
    };
    let token = issuer.token().jti("fine").sign();
    for (max_entries, max_bytes) in [(30, 1 << 20), (1000, 2_000)] {
        let (lines, _logs) = crate::support::Lines::capture();
        let app = actix_web::test::init_service(
            actix_web::App::new()
                .wrap(bounded(max_entries, max_bytes, false))
                .configure(crate::support::routes),
        )
        .await;
        let req = actix_web::test::TestRequest::get()
            .uri("/api/profile")
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request();
        let res = actix_web::test::call_service(&app, req).await;
        assert_eq!(
            res.status(),
            503,
            "{max_entries} entries, {max_bytes} bytes"
        );
        assert!(
            lines.text().contains("revocation list is over its bound"),
            "{}",
            lines.text()
        );
    }
    let server = serve(declare(bounded(30, 1 << 20, true)));
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    // Within its bound, the same list is read whole.
    let server = serve(declare(bounded(40, 1 << 20, false)));
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    let revoked = issuer.token().jti(&format!("{:0>60}", 39)).sign();
    assert_eq!(
        get(&server, "/api/profile", Some(&revoked)).await.status,
        401
    );
}

/// A middleware between `JwtAuth` and the routes that awaits before calling further in (as a
/// session middleware that loads the session first does) routes the request after `JwtAuth` handed it on, so an anonymous route
/// cannot be told from a protected one in time: without a token it answers 401 (closed); with
/// one, the first such request says at `error` which middleware to move, and the route's
/// handler finds no identity in the request's extensions.
#[actix_web::test]
async fn a_middleware_that_awaits_before_routing_is_reported_with_the_fix() {
    use actix_web::middleware::from_fn;
    use actix_web::{HttpMessage as _, HttpResponse, web};
    async fn open(req: actix_web::HttpRequest) -> HttpResponse {
        let seen = req.extensions().contains::<auth_runtime::Principal>();
        HttpResponse::Ok().json(serde_json::json!({ "principal_in_extensions": seen }))
    }
    let (lines, _logs) = crate::support::Lines::capture();
    let issuer = TestIssuer::start();
    let auth = JwtAuth::new(issuer.config())
        .unwrap()
        .anonymous_route(&[actix_web::http::Method::GET], "/open");
    // The keys are held, so that the token is checked before routing (a token that needs a
    // fetch is checked after it, and only for a protected route).
    let token = issuer.token().sign();
    assert!(auth.authenticate(&token).await.is_ok());
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(from_fn(crate::support::awaiting))
            .wrap(auth)
            .service(
                web::resource("/open")
                    .guard(auth_runtime::AnonymousGuard)
                    .route(web::get().to(open)),
            ),
    )
    .await;
    let without = actix_web::test::TestRequest::get()
        .uri("/open")
        .to_request();
    assert_eq!(
        actix_web::test::call_service(&app, without).await.status(),
        401
    );
    let with = actix_web::test::TestRequest::get()
        .uri("/open")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let body: serde_json::Value = actix_web::test::call_and_read_body_json(&app, with).await;
    assert_eq!(body["principal_in_extensions"], false);
    let text = lines.text();
    assert!(
        text.contains("awaits before calling further in") && text.contains("outside JwtAuth"),
        "{text}"
    );
}
