//! A whole request through the middleware and a routed handler, in process: a protected route
//! with a cached token, and an anonymous route without one.
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
    let call = |uri: &str, bearer: Option<&str>| {
        let mut req = test::TestRequest::get().uri(uri);
        if let Some(bearer) = bearer {
            req = req.insert_header(("authorization", bearer.to_owned()));
        }
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
