//! Validating one RS256 token with a warm key cache, next to a plain `jsonwebtoken::decode`
//! of the same token with the same key and the same checks; and the same validation for
//! each signature algorithm, ML-DSA included.
//!
//! ```text
//! cargo bench -p auth-runtime --features testing --bench validate
//! ```

use std::sync::Arc;

use auth_runtime::testing::TestIssuer;
use auth_runtime::{Algorithm, JwksKeySource, KeySource, Validator};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};

mod common;
use common::ready;

fn validate(c: &mut Criterion) {
    let issuer = TestIssuer::start();
    let config = issuer.config();
    let keys = JwksKeySource::new(&config.issuers()[0]).expect("key source");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime
        .block_on(keys.prefetch())
        .expect("JWKS fetched from the loopback issuer");
    let keys: Arc<dyn KeySource> = Arc::new(keys);
    let validator = Validator::new(&config, [keys]).expect("one source for one issuer");
    let token = issuer
        .token()
        .sub("bench-user")
        .email("bench@example.com")
        .role("admin")
        .org_id("acme")
        .sign();
    ready(validator.validate(&token)).expect("the token is valid");

    let jwk: Jwk = serde_json::from_value(issuer.jwks()["keys"][0].clone()).expect("JWK");
    let key = DecodingKey::from_jwk(&jwk).expect("decoding key");
    let mut checks = Validation::new(jsonwebtoken::Algorithm::RS256);
    checks.set_issuer(&[issuer.issuer()]);
    checks.set_audience(&[issuer.audience()]);
    checks.leeway = config.issuers()[0].leeway_seconds();
    jsonwebtoken::decode::<serde_json::Value>(&token, &key, &checks).expect("valid");

    let mut group = c.benchmark_group("rs256_warm_cache");
    group.bench_function("auth_runtime_validate", |b| {
        b.iter(|| ready(validator.validate(&token)))
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| jsonwebtoken::decode::<serde_json::Value>(&token, &key, &checks))
    });
    group.finish();
}

/// `Validator::validate` with a warm key cache, per algorithm: the signature check dominates.
fn per_algorithm(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("validate_by_algorithm");
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::MlDsa44,
        Algorithm::MlDsa65,
        Algorithm::MlDsa87,
    ] {
        let issuer = TestIssuer::start_with(alg, "bench-api");
        let config = issuer.config();
        let keys = JwksKeySource::new(&config.issuers()[0]).expect("key source");
        runtime
            .block_on(keys.prefetch())
            .expect("JWKS fetched from the loopback issuer");
        let keys: Arc<dyn KeySource> = Arc::new(keys);
        let validator = Validator::new(&config, [keys]).expect("one source for one issuer");
        let token = issuer
            .token()
            .sub("bench-user")
            .email("bench@example.com")
            .role("admin")
            .sign();
        ready(validator.validate(&token)).expect("the token is valid");
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| ready(validator.validate(&token)))
        });
    }
    group.finish();
}

criterion_group!(benches, validate, per_algorithm);
criterion_main!(benches);
