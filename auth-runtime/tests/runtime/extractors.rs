//! Exactly what of a handler runs when `#[requires_role]` refuses a request: actix builds
//! every extractor (the synchronous `from_request`) before polling any, then polls them in
//! order; the attribute's extractor is first and ends the request, so no other extractor's
//! future is polled, the body is never read and the handler never runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, post, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{JwtAuth, requires_role};
use serde_json::Value;

use crate::support::{client, send, serve_routes};

static BUILT: AtomicUsize = AtomicUsize::new(0);
static POLLED: AtomicUsize = AtomicUsize::new(0);
static RAN: AtomicUsize = AtomicUsize::new(0);

/// Counts when actix builds it (synchronously) and when its future is polled.
struct Probe;

struct ProbeFuture;

impl Future for ProbeFuture {
    type Output = Result<Probe, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        POLLED.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Ok(Probe))
    }
}

impl FromRequest for Probe {
    type Error = actix_web::Error;
    type Future = ProbeFuture;

    fn from_request(_: &HttpRequest, _: &mut Payload) -> ProbeFuture {
        BUILT.fetch_add(1, Ordering::SeqCst);
        ProbeFuture
    }
}

#[requires_role("admin")]
#[post("/extractors/probe")]
async fn probed(_probe: Probe, body: web::Json<Value>) -> HttpResponse {
    RAN.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().json(body.into_inner())
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(probed);
}

fn counts() -> [usize; 3] {
    [
        BUILT.load(Ordering::SeqCst),
        POLLED.load(Ordering::SeqCst),
        RAN.load(Ordering::SeqCst),
    ]
}

#[actix_web::test]
async fn a_403_builds_the_other_extractors_but_polls_none_and_reads_no_body() {
    let issuer = TestIssuer::start();
    let server = serve_routes(JwtAuth::new(issuer.config()).unwrap(), routes);
    let url = format!("{}/extractors/probe", server.base);
    let viewer = issuer.token().role("viewer").sign();
    let admin = issuer.token().role("admin").sign();
    let post = |token: Option<&str>, body: &'static str| {
        let mut req = client()
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req
    };

    // No token: the middleware answers before the handler is reached; nothing is built.
    let before = counts();
    assert_eq!(send(post(None, "{}")).await.status, 401);
    assert_eq!(counts(), before);

    // Role missing, body not even JSON: 403, not 400. `Probe` was built (its synchronous
    // part ran), but neither it nor the JSON extractor was polled, and the handler never ran.
    let reply = send(post(Some(&viewer), "not json")).await;
    assert_eq!(reply.status, 403);
    assert_eq!(counts(), [before[0] + 1, before[1], before[2]]);

    // Role held: everything runs.
    let reply = send(post(Some(&admin), "{\"ok\": true}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["ok"], true);
    assert_eq!(counts(), [before[0] + 2, before[1] + 1, before[2] + 1]);
}
