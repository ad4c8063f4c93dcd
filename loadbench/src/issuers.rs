//! `issuers`: the protected route of auth-runtime's app trusting one issuer, against the
//! same app trusting two (`auth_client.issuers`) with tokens alternating between them. Both
//! with the verified-token cache off (every request verifies an RS256 signature) and on (every
//! request after the first round is a cache hit). Three alternating rounds per pair; the
//! medians are reported.

use auth_runtime::Algorithm;
use auth_runtime::testing::TestIssuer;

use crate::{AUDIENCE, App, Run, http_get, median, start_app, token_script, wrk};

const ROUNDS: usize = 3;
/// Distinct tokens per app; with the cache off each request verifies one.
const TOKENS: usize = 1_000;

fn tokens(issuers: &[&TestIssuer]) -> Vec<String> {
    (0..TOKENS)
        .map(|i| {
            issuers[i % issuers.len()]
                .token()
                .sub(&format!("user-{i}"))
                .expires_in(3600)
                .sign()
        })
        .collect()
}

pub(crate) fn run(seconds: u64) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("auth-loadbench-issuers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let a = TestIssuer::start_with(Algorithm::RS256, AUDIENCE);
    let b = TestIssuer::start_with(Algorithm::RS256, AUDIENCE);
    eprintln!("signing {TOKENS} tokens of one issuer and {TOKENS} alternating between two...");
    let single_script = token_script(&dir, "single", &tokens(&[&a]))?;
    let two_script = token_script(&dir, "two", &tokens(&[&a, &b]))?;
    let both = format!("{},{}", a.issuer(), b.issuer());

    let mut lines = Vec::new();
    for (scenario, cache) in [("cache off", 0u64), ("cache on", 32 * 1024 * 1024)] {
        let single = start_app("serve-ours", a.issuer(), cache)?;
        let two = start_app("serve-ours", &both, cache)?;
        let pairs: [(&App, &std::path::Path); 2] = [(&single, &single_script), (&two, &two_script)];
        for (app, script) in pairs {
            // Warm-up: fetches every key set, fills the cache when it is on.
            let _ = http_get(&app.base, "/health", None);
            wrk(&format!("{}/api/profile", app.base), 2, None, Some(script))?;
        }
        eprintln!("{scenario}: {ROUNDS} alternating rounds...");
        let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..ROUNDS {
            for (i, (app, script)) in pairs.iter().enumerate() {
                runs[i].push(wrk(
                    &format!("{}/api/profile", app.base),
                    seconds,
                    None,
                    Some(script),
                )?);
            }
        }
        let failures: u64 = runs.iter().flatten().map(|r| r.failures).sum();
        let [one, two] = runs.map(|r| median(r.iter().map(|r| r.requests_per_second).collect()));
        lines.push(format!(
            "| {scenario} | {one:.0} req/s | {two:.0} req/s | {:.3}x | {failures} |",
            two / one
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "{cores} cores; wrk 1 thread, 32 connections, {seconds} s per run, median of {ROUNDS} alternating rounds; {TOKENS} RS256 tokens per app"
    );
    println!();
    println!(
        "| protected route | one issuer | two issuers, tokens alternating | two / one | non-2xx |"
    );
    println!("|---|---|---|---|---|");
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
