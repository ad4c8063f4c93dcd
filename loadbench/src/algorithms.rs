//! `algorithms`: the protected route of auth-runtime's app with tokens signed by RS256,
//! ES256, EdDSA and ML-DSA-65 issuers, with the verified-token cache off (every request
//! verifies a signature) and on (every request after the warm-up is a cache hit). Each run
//! reports throughput and the app's CPU time per request.

use auth_runtime::Algorithm;
use auth_runtime::testing::TestIssuer;

use crate::{AUDIENCE, Run, cpu_ticks, http_get, start_app, ticks_per_second, token_script, wrk};

/// Distinct tokens per algorithm, sent in turn.
const TOKENS: usize = 1_000;
const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::MlDsa65,
];

pub(crate) fn run(seconds: u64) -> Result<(), String> {
    let dir =
        std::env::temp_dir().join(format!("auth-loadbench-algorithms-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    for alg in ALGORITHMS {
        let issuer = TestIssuer::start_with(alg, AUDIENCE);
        let tokens: Vec<String> = (0..TOKENS)
            .map(|i| {
                issuer
                    .token()
                    .sub(&format!("user-{i}"))
                    .expires_in(3600)
                    .sign()
            })
            .collect();
        let token_bytes = tokens[0].len();
        let script = token_script(&dir, alg.as_str(), &tokens)?;
        let mut cells = Vec::new();
        for cache in [0u64, 32 * 1024 * 1024] {
            let app = start_app("serve-ours", issuer.issuer(), cache)?;
            // Warm-up: fetches the key set, fills the cache when it is on.
            let _ = http_get(&app.base, "/health", None);
            wrk(&format!("{}/api/profile", app.base), 2, None, Some(&script))?;
            eprintln!("{alg}, cache {}...", if cache == 0 { "off" } else { "on" });
            let before = cpu_ticks(app.child.id());
            let run: Run = wrk(
                &format!("{}/api/profile", app.base),
                seconds,
                None,
                Some(&script),
            )?;
            let after = cpu_ticks(app.child.id());
            let cpu = match (before, after) {
                (Some(before), Some(after)) if run.requests > 0 => format!(
                    "{:.1} µs",
                    (after - before) as f64 / ticks_per_second() * 1e6 / run.requests as f64
                ),
                _ => "?".to_owned(),
            };
            cells.push(format!(
                "{:.0} req/s, {cpu} CPU, {} non-2xx",
                run.requests_per_second, run.failures
            ));
        }
        lines.push(format!(
            "| {alg} | {token_bytes} | {} | {} |",
            cells[0], cells[1]
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "{cores} cores; wrk 1 thread, 32 connections, {seconds} s per run; {TOKENS} distinct tokens per algorithm, sent in turn"
    );
    println!();
    println!(
        "| algorithm | token bytes | cache off (every request verifies) | cache on (every request a hit) |"
    );
    println!("|---|---|---|---|");
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
