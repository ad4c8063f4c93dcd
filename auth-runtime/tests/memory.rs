//! The verified-token cache keeps the process within its memory bound whatever shape the
//! claims of the cached tokens take.
//!
//! Tokens whose claims are small as text and large in memory (thousands of empty strings, of
//! one-member objects, of numbers, of claim names) are sent to a real server; the process's
//! resident memory, not the cache's own estimate, must grow by at most twice
//! `token_cache_max_bytes`. This binary holds a single test so that nothing else runs in the
//! process while it measures.

use actix_web::{App, HttpResponse, HttpServer, get};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{Algorithm, JwtAuth, Principal};
use serde_json::{Value, json};

const BOUND: u64 = 4 * 1024 * 1024;
const TOKENS_PER_SHAPE: usize = 1200;

#[get("/api/profile")]
async fn profile(me: Principal) -> HttpResponse {
    HttpResponse::Ok().body(me.claims().sub.clone())
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("procfs");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Claims about 10 KB long as JSON, each built to cost as much memory as possible once parsed.
fn hostile_shapes() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("empty group names", "groups", json!(vec![""; 3400])),
        (
            "one-member objects",
            "x",
            json!(vec![json!({"a": 0}); 1200]),
        ),
        ("zeros", "x", json!(vec![0; 5000])),
        ("empty lists in a list", "x", json!(vec![json!([0]); 2400])),
        (
            "many claim names",
            "x",
            Value::Object((0..1100).map(|i| (format!("{i:x}"), json!(0))).collect()),
        ),
    ]
}

#[actix_web::test]
async fn hostile_claim_shapes_keep_the_process_within_twice_the_cache_bound() {
    let issuer = TestIssuer::start_with(Algorithm::EdDSA, "memory-test");
    let mut raw = issuer.raw_config();
    raw.token_cache_max_bytes = BOUND;
    let auth = JwtAuth::new(raw.validate().unwrap()).unwrap();
    let stats = auth.clone();
    let server = HttpServer::new(move || App::new().wrap(auth.clone()).service(profile))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind("127.0.0.1:0")
        .unwrap();
    let base = format!("http://{}/api/profile", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let shapes: Vec<(&str, Vec<String>)> = hostile_shapes()
        .into_iter()
        .map(|(name, claim, value)| {
            let tokens = (0..TOKENS_PER_SHAPE)
                .map(|i| {
                    issuer
                        .token()
                        .sub(&format!("user-{i}"))
                        .claim(claim, value.clone())
                        .sign()
                })
                .collect();
            (name, tokens)
        })
        .collect();

    // Warm up the server, the client and the key set with honest tokens.
    for i in 0..200 {
        let token = issuer.token().sub(&format!("warm-{i}")).sign();
        let res = client.get(&base).bearer_auth(token).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let before = rss();
    let mut worst = 0u64;
    for (name, tokens) in &shapes {
        for token in tokens {
            let res = client.get(&base).bearer_auth(token).send().await.unwrap();
            assert_eq!(res.status(), 200, "{name}");
        }
        // The shape is cached (and so weighed), not turned away: its last token hits.
        let hits = stats.token_cache_stats().unwrap().hits;
        let res = client
            .get(&base)
            .bearer_auth(tokens.last().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{name}");
        let cached = stats.token_cache_stats().unwrap().hits == hits + 1;
        assert!(cached, "{name}: the last token is answered from the cache");
        let grown = rss().saturating_sub(before);
        let cache = stats.token_cache_stats().unwrap();
        eprintln!(
            "{name}: process grew by {} KiB; cache holds {} tokens weighing {} KiB",
            grown / 1024,
            cache.entries,
            cache.weight_bytes / 1024
        );
        assert!(cache.weight_bytes <= BOUND);
        assert!(cache.entries > 0, "{name}: the cache still caches");
        worst = worst.max(grown);
    }
    assert!(
        worst <= 2 * BOUND,
        "the process grew by {worst} bytes under a {BOUND}-byte bound"
    );
    drop(handle.stop(false));
}
