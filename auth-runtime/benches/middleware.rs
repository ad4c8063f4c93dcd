//! A whole request through the middleware and a routed handler, in process: a protected route
//! with a cached token, and an anonymous route without one (the same handler; the anonymous
//! request carries another header of the token's length).
//!
//! ```text
//! cargo bench -p auth-runtime --features testing --bench middleware
//! ```

use actix_web::{App, HttpResponse, test, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{AnonymousGuard, JwtAuth};
use criterion::{Criterion, criterion_group, criterion_main};

fn middleware(c: &mut Criterion) {
    let issuer = TestIssuer::start();
    let token = issuer.token().sub("bench-user").role("admin").sign();
    let bearer = format!("Bearer {token}");
    let padding = "p".repeat(bearer.len());
    let system = actix_web::rt::System::new();
    let auth = JwtAuth::new(issuer.config())
        .expect("middleware")
        .anonymous_route(&[actix_web::http::Method::GET], "/open");
    let app = system.block_on(test::init_service(
        App::new()
            .wrap(auth)
            .route(
                "/protected",
                web::get().to(|| async { HttpResponse::Ok().finish() }),
            )
            .service(
                web::resource("/open")
                    .guard(AnonymousGuard)
                    .route(web::get().to(|| async { HttpResponse::Ok().finish() })),
            ),
    ));
    // Both requests carry a header of the same length, so that building them costs the same
    // and the difference is authentication's.
    let call = |uri: &str, bearer: Option<&str>| {
        let req = match bearer {
            Some(bearer) => {
                test::TestRequest::get().insert_header(("authorization", bearer.to_owned()))
            }
            None => test::TestRequest::get().insert_header(("x-padding", padding.clone())),
        };
        let req = req.uri(uri);
        let res = system.block_on(test::call_service(&app, req.to_request()));
        assert!(res.status().is_success());
    };
    // Fetches the keys and fills the cache.
    call("/protected", Some(&bearer));

    let mut group = c.benchmark_group("middleware");
    group.bench_function("protected_cached_token", |b| {
        b.iter(|| call("/protected", Some(&bearer)))
    });
    group.bench_function("anonymous_no_token", |b| b.iter(|| call("/open", None)));
    group.finish();
}

criterion_group!(benches, middleware);
criterion_main!(benches);
