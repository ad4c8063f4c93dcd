//! The pieces of a request's authentication, each on its own, so that a regression shows
//! where it is:
//!
//! ```text
//! cargo bench -p auth-runtime --features testing --bench pieces
//! ```

use auth_runtime::testing::TestIssuer;
use auth_runtime::{JwtAuth, RawClaims, SecurityContext, TokenClaims};
use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::ready;

fn pieces(c: &mut Criterion) {
    let issuer = TestIssuer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let token = issuer
        .token()
        .sub("bench-user")
        .email("bench@example.com")
        .role("admin")
        .org_id("acme")
        .groups(&["ops", "dev"])
        .sign();

    let cached = JwtAuth::new(issuer.config()).expect("middleware");
    runtime
        .block_on(cached.authenticate(&token))
        .expect("fetches the keys, fills the cache");
    let mut uncached_config = issuer.raw_config();
    uncached_config.token_cache_max_bytes = 0;
    let uncached = JwtAuth::new(uncached_config.validate().expect("config")).expect("middleware");
    runtime
        .block_on(uncached.authenticate(&token))
        .expect("fetches the keys");

    let mut group = c.benchmark_group("authenticate");
    group.bench_function("cache_hit", |b| {
        b.iter(|| ready(cached.authenticate(&token)))
    });
    group.bench_function("cache_miss_verify_rs256", |b| {
        b.iter(|| ready(uncached.authenticate(&token)))
    });
    group.finish();

    let mut headers = actix_web::http::header::HeaderMap::new();
    headers.insert(
        actix_web::http::header::AUTHORIZATION,
        actix_web::http::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .expect("a header value"),
    );
    c.bench_function("bearer_token", |b| {
        b.iter(|| auth_runtime::bearer_token(std::hint::black_box(&headers)).map(str::len))
    });

    let raw: RawClaims = issuer.token().groups(&["ops", "dev"]).claims().clone();
    c.bench_function("claims_extraction", |b| {
        b.iter(|| TokenClaims::from_raw(&raw))
    });

    let principal = ready(cached.authenticate(&token)).expect("valid");
    c.bench_function("context_scope_and_read", |b| {
        b.iter(|| {
            ready(SecurityContext::scope(Some(principal.clone()), async {
                SecurityContext::get().map(|me| me.claims().sub.len())
            }))
        })
    });
}

criterion_group!(benches, pieces);
criterion_main!(benches);
