//! Anonymous routes never wait on the network, whatever token they carry: a token on a path an
//! anonymous route may answer is checked before routing only as far as it can be without a
//! fetch (a cached verdict, a key held, a fresh revocation list); otherwise routing decides
//! first and only a protected route waits.

use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, get, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{JwtAuth, Principal, SecurityContext, allow_anonymous, requires_role};
use serde_json::json;

use crate::support::{Server, config_with, declare, get as fetch, serve, serve_app};

/// Far longer than any answer below may take: a request that waited for a fetch shows.
const TIMEOUT_SECONDS: u64 = 5;
const NO_WAIT: Duration = Duration::from_secs(1);

/// `/health` with `token`: its status, whether the handler saw an identity, and how long it
/// took.
async fn health(server: &Server, token: Option<&str>) -> (u16, bool, Duration) {
    let started = Instant::now();
    let reply = fetch(server, "/health", token).await;
    (
        reply.status,
        reply.body["identity"] == true,
        started.elapsed(),
    )
}

#[actix_web::test]
async fn a_hanging_key_endpoint_never_holds_an_anonymous_route() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| {
        raw.jwks_timeout_seconds = TIMEOUT_SECONDS;
        raw.jwks_min_refresh_interval_seconds = 1;
    });
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    issuer.set_delay(Duration::from_secs(60));

    // At first use, no key is held: the token cannot be checked without a fetch.
    let token = issuer.token().sign();
    health(&server, None).await;
    let (_, _, without) = health(&server, None).await;
    let (status, identity, with) = health(&server, Some(&token)).await;
    assert_eq!((status, identity), (200, false));
    assert!(with < NO_WAIT, "{with:?}");
    assert_eq!(
        issuer.fetch_count(),
        0,
        "an anonymous route starts no fetch"
    );
    eprintln!(
        "key endpoint hanging, first use: /health {without:?} without a token, {with:?} with"
    );

    // A protected route waits for the fetch, and answers by its outcome.
    let started = Instant::now();
    assert_eq!(
        fetch(&server, "/api/profile", Some(&token)).await.status,
        503
    );
    assert!(started.elapsed() >= Duration::from_secs(TIMEOUT_SECONDS - 1));
    assert_eq!(issuer.fetch_count(), 1);

    // Keys held, then a token signed by a key the endpoint has not served yet (a rotation),
    // and one naming a made-up key.
    issuer.set_delay(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        fetch(&server, "/api/profile", Some(&token)).await.status,
        200
    );
    let fetches = issuer.fetch_count();
    issuer.set_delay(Duration::from_secs(60));
    issuer.rotate();
    let rotated = issuer.token().sign();
    let made_up = issuer.token().kid("made-up").sign();
    for token in [&rotated, &made_up] {
        let (status, identity, took) = health(&server, Some(token)).await;
        assert_eq!((status, identity), (200, false));
        assert!(took < NO_WAIT, "{took:?}");
        eprintln!("key endpoint hanging, unknown key: /health {took:?}");
    }
    assert_eq!(issuer.fetch_count(), fetches);
    // A token checked without a fetch is still checked before routing, as before.
    let (status, identity, took) = health(&server, Some(&token)).await;
    assert_eq!((status, identity), (200, false));
    assert!(took < NO_WAIT, "{took:?}");
}

#[actix_web::test]
async fn a_hanging_revocation_list_never_holds_an_anonymous_route() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| {
        raw.revocation_endpoint = issuer.revocation_url();
        raw.jwks_timeout_seconds = TIMEOUT_SECONDS;
    });
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    issuer.set_revocation_delay(Duration::from_secs(60));
    let token = issuer.token().jti("a-token").sign();
    // The keys are fetched (the key endpoint answers); the list was never read.
    health(&server, None).await;
    let (_, _, without) = health(&server, None).await;
    let (status, identity, with) = health(&server, Some(&token)).await;
    assert_eq!((status, identity), (200, false));
    assert!(with < NO_WAIT, "{with:?}");
    assert!(
        issuer.revocation_queries().is_empty(),
        "an anonymous route starts no read of the list"
    );
    eprintln!("revocation list hanging: /health {without:?} without a token, {with:?} with");

    // A protected route waits for the read, and answers by the staleness rule.
    let started = Instant::now();
    assert_eq!(
        fetch(&server, "/api/profile", Some(&token)).await.status,
        503
    );
    assert!(started.elapsed() >= Duration::from_secs(TIMEOUT_SECONDS - 1));
}

#[get("/zone/{name}")]
async fn zone(me: Option<web::ReqData<Principal>>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "context": SecurityContext::get().map(|me| me.claims().sub.clone()),
        "extensions": me.map(|me| me.claims().sub.clone()),
    }))
}

#[allow_anonymous]
#[get("/zone/open")]
async fn zone_open() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "context": SecurityContext::get().is_some() }))
}

#[requires_role("reader")]
#[get("/shelf/{name}")]
async fn shelf(me: web::ReqData<Principal>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "extensions": me.claims().sub }))
}

#[allow_anonymous]
#[get("/shelf/open")]
async fn shelf_open() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// `/zone/open` may be anonymous before routing, and routing picks the protected
/// `/zone/{name}` registered first. A token that needs a fetch is checked after routing: the
/// protected route waits for it, and its handler runs with the caller's identity.
#[actix_web::test]
async fn a_protected_route_an_anonymous_one_overlaps_waits_for_the_fetch() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| {
        raw.jwks_timeout_seconds = TIMEOUT_SECONDS;
        raw.jwks_min_refresh_interval_seconds = 1;
    });
    let auth = JwtAuth::new(config)
        .unwrap()
        .anonymous_route(&[actix_web::http::Method::GET], "/zone/open")
        .anonymous_route(&[actix_web::http::Method::GET], "/shelf/open");
    let server = serve_app(1, move || {
        App::new()
            .wrap(auth.clone())
            .service(zone)
            .service(zone_open)
            .service(shelf)
            .service(shelf_open)
    });
    let token = issuer.token().sub("someone").sign();
    // At first use the fetch is needed; the endpoint answers.
    let reply = fetch(&server, "/zone/open", Some(&token)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["context"], "someone");
    assert_eq!(issuer.fetch_count(), 1);
    // Without a token, and with a forged one, the protected route refuses.
    assert_eq!(fetch(&server, "/zone/open", None).await.status, 401);
    let made_up = issuer.token().kid("made-up").sign();
    assert_eq!(
        fetch(&server, "/zone/open", Some(&made_up)).await.status,
        401
    );
    let mallory = issuer.token().sub("mallory").sign();
    let (payload, signature) = (mallory.split('.').nth(1), token.split('.').nth(2));
    let forged = format!(
        "{}.{}.{}",
        token.split('.').next().unwrap(),
        payload.unwrap(),
        signature.unwrap()
    );
    assert_eq!(
        fetch(&server, "/zone/open", Some(&forged)).await.status,
        401
    );
    // A key the endpoint will not serve in time: the protected route waits for the fetch,
    // then refuses the key it does not know.
    issuer.set_delay(Duration::from_secs(60));
    issuer.rotate();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = issuer.token().sign();
    let started = Instant::now();
    let status = fetch(&server, "/zone/open", Some(&rotated)).await.status;
    assert_eq!(status, 401);
    assert!(started.elapsed() >= Duration::from_secs(TIMEOUT_SECONDS - 1));
    // Checked before routing when no fetch is needed: the identity is in the extensions too.
    let reply = fetch(&server, "/zone/open", Some(&token)).await;
    assert_eq!(reply.body["extensions"], "someone");

    // A handler with an attribute finds the identity in the extensions even when the token
    // was checked after routing: the attribute's check puts it there first.
    issuer.set_delay(Duration::ZERO);
    issuer.rotate();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reader = issuer.token().sub("reader-1").role("reader").sign();
    let reply = fetch(&server, "/shelf/open", Some(&reader)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["extensions"], "reader-1");
    let other = issuer.token().sub("other").sign();
    assert_eq!(
        fetch(&server, "/shelf/open", Some(&other)).await.status,
        403
    );
}

/// A role resolver of the app's own that reads a database (not cached, and slow here) is not
/// run for an anonymous route either: only a protected route waits for it.
#[actix_web::test]
async fn a_slow_role_resolver_never_holds_an_anonymous_route() {
    struct Slow;
    impl auth_runtime::RoleResolver for Slow {
        async fn resolve(
            &self,
            _claims: &auth_runtime::TokenClaims,
            _raw: &auth_runtime::RawClaims,
        ) -> Vec<String> {
            tokio::time::sleep(Duration::from_secs(3)).await;
            vec!["reader".into()]
        }
    }
    let issuer = TestIssuer::start();
    let auth = JwtAuth::builder(issuer.config())
        .role_resolver(Slow)
        .build()
        .unwrap();
    let server = serve(declare(auth));
    let token = issuer.token().sign();
    // A protected route waits for the resolver (and has the keys fetched).
    let started = Instant::now();
    assert_eq!(
        fetch(&server, "/api/profile", Some(&token)).await.status,
        200
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    // The token is verified and cached; its roles are not.
    for token in [&token, &issuer.token().sub("another").sign()] {
        let (status, identity, took) = health(&server, Some(token)).await;
        assert_eq!((status, identity), (200, false));
        assert!(took < NO_WAIT, "{took:?}");
    }
}
