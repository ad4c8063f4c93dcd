//! The default mode and `quick`: the app on auth-runtime against the hand-written baseline on
//! the anonymous route, the protected route with one repeated token, and the protected route
//! with tokens that never repeat, in alternating rounds; then the ratios the project holds
//! itself to, each next to its goal.
//!
//! The default mode measures the app twice, as the quickstart ships it (the Prometheus
//! recorder and `info` logging) and with metrics and logging off, five rounds of
//! `LOADBENCH_SECONDS` (10) each, then floods the app with distinct tokens and reads its
//! cache's size. `quick` measures the shipped app and the baseline only, three rounds of
//! `LOADBENCH_SECONDS` (2) each, in under two minutes: enough to see a regression in the ratios,
//! not to publish figures.

use std::path::Path;

use auth_runtime::Algorithm;
use auth_runtime::testing::TestIssuer;

use crate::{
    AUDIENCE, App, FLOOD_CACHE_BYTES, FLOOD_TOKENS, Run, distinct_tokens, http_get, measured_from,
    median, rss_kib, start_app, token_script, wrk,
};

/// How much to measure.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every app, five rounds, the flood.
    Full,
    /// The shipped app and the baseline, three short rounds, no flood.
    Quick,
}

/// The apps' verified-token cache bound.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// Distinct tokens for the never-repeated scenario: the warm-up's, then those the runs cycle
/// over, which must be well over what the cache holds (about 17,000 of these tokens at its
/// bound) for a token to be gone when it comes back.
const UNIQUE_TOKENS: usize = 60_000;
/// The first tokens, which the warm-up sends over and over for a second to fill the cache.
const WARM_TOKENS: usize = 20_000;
/// wrk's connections, as many requests as may be under way when a run stops.
const CONNECTIONS: u64 = 32;
/// The three scenarios, as named in the tables.
const SCENARIOS: [&str; 3] = [
    "anonymous route",
    "protected, one repeated token",
    "protected, never-repeated tokens",
];

pub(crate) fn compare(mode: Mode) -> Result<(), String> {
    let (seconds, rounds) = match mode {
        Mode::Full => (crate::seconds(), 5),
        Mode::Quick => (seconds_or(2), 3),
    };
    if std::process::Command::new("wrk")
        .arg("-v")
        .output()
        .is_err()
    {
        return Err("wrk is not installed: apt-get install wrk (loadbench/run.sh does it)".into());
    }
    let dir = std::env::temp_dir().join(format!("auth-loadbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = measure(mode, seconds, rounds, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `LOADBENCH_SECONDS`, else `default`.
fn seconds_or(default: u64) -> u64 {
    std::env::var("LOADBENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn measure(mode: Mode, seconds: u64, rounds: usize, dir: &Path) -> Result<(), String> {
    let issuer = TestIssuer::start_with(Algorithm::RS256, AUDIENCE);
    let repeated = issuer.token().sub("repeat").expires_in(3600).sign();
    let unique_count = UNIQUE_TOKENS;
    eprintln!("signing {unique_count} distinct RS256 tokens...");
    let unique = distinct_tokens(&issuer, "unique", unique_count);
    let unique_script = token_script(dir, "unique", &unique)?;
    let warm_script = token_script(dir, "warm", &unique[..WARM_TOKENS.min(unique.len())])?;
    let header = format!("Authorization: Bearer {repeated}");
    let verify = bare_verify_micros(issuer.issuer(), &unique)?;

    let kinds: &[(&str, &str)] = match mode {
        Mode::Full => &[
            ("auth-runtime as shipped", "serve-shipped"),
            ("auth-runtime, metrics and logging off", "serve-ours"),
            ("hand-written", "serve-baseline"),
        ],
        Mode::Quick => &[
            ("auth-runtime as shipped", "serve-shipped"),
            ("hand-written", "serve-baseline"),
        ],
    };
    let mut apps = Vec::new();
    for (name, kind) in kinds {
        apps.push((*name, start_app(kind, issuer.issuer(), CACHE_BYTES)?));
    }
    for (_, app) in &apps {
        // Warm-up: the first token fetches the JWKS.
        let _ = http_get(&app.base, "/api/profile", Some(&repeated));
        let _ = wrk(&format!("{}/health", app.base), 2, None, None)?;
    }
    // Every scenario is measured in alternating rounds, so that every app meets the same
    // moments of a noisy machine; the medians of throughput and of the app's CPU time per
    // request are reported.
    let scenarios: [(&str, Option<&str>, Option<&Path>); 3] = [
        ("/health", None, None),
        ("/api/profile", Some(header.as_str()), None),
        ("/api/profile", None, Some(unique_script.as_path())),
    ];
    // figures[app][scenario]
    let mut figures: Vec<[Run; 3]> = apps.iter().map(|_| Default::default()).collect();
    let mut cache_hits = None;
    for (s, (path, header, script)) in scenarios.iter().enumerate() {
        eprintln!("scenario {} of 3, {rounds} alternating rounds...", s + 1);
        let mut runs: Vec<Vec<Run>> = apps.iter().map(|_| Vec::new()).collect();
        // Never a cache hit with tokens that never repeat. The cache keeps the tokens it
        // holds first for as long as no other token earns their place (S3-FIFO), so a
        // warm-up run fills it with tokens that are not sent again, and the measured runs
        // cycle over the rest, each going on from where its app's last run stopped: a token
        // comes back only after all the others.
        let mut sent = vec![0u64; apps.len()];
        let mut wrap = vec![0u64; apps.len()];
        if script.is_some() {
            for (i, (_, app)) in apps.iter().enumerate() {
                let url = format!("{}{path}", app.base);
                measured_from(app, &url, 1, None, Some(&warm_script), (0, 0))?;
                sent[i] = WARM_TOKENS as u64;
                wrap[i] = WARM_TOKENS as u64;
                let held = cache_entries(app).unwrap_or(0);
                let left = (unique_count as u64).saturating_sub(wrap[i]);
                if left < 2 * held {
                    return Err(format!(
                        "{left} tokens left to cycle over, fewer than twice the {held} the \
                         cache holds"
                    ));
                }
            }
        }
        let hits_before = (s == 2).then(|| cache_counts(&apps[0].1)).flatten();
        for _ in 0..rounds {
            for (i, (_, app)) in apps.iter().enumerate() {
                let url = format!("{}{path}", app.base);
                let run = measured_from(app, &url, seconds, *header, *script, (sent[i], wrap[i]))?;
                sent[i] += run.requests + CONNECTIONS;
                runs[i].push(run);
            }
        }
        if let (Some(before), Some(after)) = (hits_before, cache_counts(&apps[0].1)) {
            cache_hits = Some((after.0 - before.0, after.1 - before.1));
        }
        for (i, runs) in runs.into_iter().enumerate() {
            figures[i][s] = Run {
                requests_per_second: median(runs.iter().map(|r| r.requests_per_second).collect()),
                requests: runs.iter().map(|r| r.requests).sum(),
                failures: runs.iter().map(|r| r.failures).sum(),
                cpu_micros: Some(median(runs.iter().filter_map(|r| r.cpu_micros).collect())),
            };
        }
    }
    drop(apps);

    let flood = match mode {
        Mode::Full => Some(flood(&issuer, &repeated, seconds, dir)?),
        Mode::Quick => None,
    };

    print_machine(seconds);
    println!();
    let names: Vec<&str> = kinds.iter().map(|(name, _)| *name).collect();
    println!(
        "| scenario (median of {rounds} alternating runs) | {} |",
        names.join(" | ")
    );
    println!("|---|{}", "---|".repeat(names.len()));
    for (s, scenario) in SCENARIOS.iter().enumerate() {
        let cells: Vec<String> = figures.iter().map(|row| cell(&row[s])).collect();
        println!("| {scenario} | {} |", cells.join(" | "));
    }
    let same_app = |s: usize| -> Vec<String> {
        figures
            .iter()
            .map(|row| ratio(&row[s], &row[0]).to_string())
            .collect()
    };
    println!(
        "| repeated token / anonymous route, same app | {} |",
        same_app(1).join(" | ")
    );
    println!(
        "| never-repeated / anonymous route, same app | {} |",
        same_app(2).join(" | ")
    );
    let baseline = figures.len() - 1;
    for (i, name) in names.iter().enumerate().take(baseline) {
        for (s, scenario) in SCENARIOS.iter().enumerate() {
            let mut cells = vec![String::new(); names.len()];
            cells[i] = ratio(&figures[i][s], &figures[baseline][s]).to_string();
            println!(
                "| {scenario}: {name} / hand-written | {} |",
                cells.join(" | ")
            );
        }
    }
    println!();
    println!(
        "bare RS256 verification (jsonwebtoken on aws-lc-rs, one thread, in this process): {verify:.2} µs CPU"
    );
    if let Some((hits, misses)) = cache_hits {
        println!(
            "never-repeated tokens, {}: {hits} cache hits, {misses} misses",
            names[0]
        );
    }
    println!();
    print_goals(&figures[0], &figures[baseline], verify);
    if let Some(flood) = flood {
        println!();
        println!("{flood}");
    }
    Ok(())
}

/// Throughput, CPU per request and failures, as a table cell.
fn cell(run: &Run) -> String {
    let failures = if run.failures > 0 {
        format!(" ({} non-2xx)", run.failures)
    } else {
        String::new()
    };
    format!(
        "{:.0} req/s, {:.2} µs CPU{failures}",
        run.requests_per_second,
        run.cpu_micros.unwrap_or(0.0)
    )
}

/// Two runs compared: throughput and CPU per request.
struct Ratio {
    throughput: f64,
    cpu: f64,
}

fn ratio(run: &Run, against: &Run) -> Ratio {
    Ratio {
        throughput: run.requests_per_second / against.requests_per_second,
        cpu: run.cpu_micros.unwrap_or(0.0) / against.cpu_micros.unwrap_or(f64::NAN),
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}x req/s, {:.2}x CPU", self.throughput, self.cpu)
    }
}

/// The goals, each with the figure measured and whether it was met.
fn print_goals(ours: &[Run; 3], baseline: &[Run; 3], verify: f64) {
    let cpu = |run: &Run| run.cpu_micros.unwrap_or(f64::NAN);
    let repeated = ratio(&ours[1], &ours[0]);
    let against_baseline = |s: usize| ratio(&ours[s], &baseline[s]);
    let overhead = cpu(&ours[2]) - cpu(&ours[0]) - verify;
    let goals = [
        (
            "repeated token / anonymous route, CPU",
            format!("{:.3}x", repeated.cpu),
            "≤ 1.05x",
            repeated.cpu <= 1.05,
        ),
        (
            "repeated token / anonymous route, req/s",
            format!("{:.3}x", repeated.throughput),
            "≥ 0.97x",
            repeated.throughput >= 0.97,
        ),
        (
            "repeated token / hand-written, req/s",
            format!("{:.2}x", against_baseline(1).throughput),
            "≥ 3x",
            against_baseline(1).throughput >= 3.0,
        ),
        (
            "never-repeated CPU - anonymous CPU - bare verify",
            format!("{overhead:.2} µs"),
            "≤ 2 µs",
            overhead <= 2.0,
        ),
        (
            "never-repeated / hand-written, req/s",
            format!("{:.3}x", against_baseline(2).throughput),
            "≥ 1.0x",
            against_baseline(2).throughput >= 1.0,
        ),
        (
            "anonymous route / hand-written, CPU",
            format!("{:.3}x", against_baseline(0).cpu),
            "≤ 1.02x",
            against_baseline(0).cpu <= 1.02,
        ),
    ];
    println!("| goal (auth-runtime as shipped) | measured | goal | met |");
    println!("|---|---|---|---|");
    for (figure, measured, goal, met) in goals {
        let met = if met { "yes" } else { "**no**" };
        println!("| {figure} | {measured} | {goal} | {met} |");
    }
}

/// How many tokens the app's verified-token cache holds (0 for an app without one).
fn cache_entries(app: &App) -> Option<u64> {
    let (status, body) = http_get(&app.base, "/stats", None)?;
    if status != 200 {
        return Some(0);
    }
    let stats: serde_json::Value = serde_json::from_str(&body).ok()?;
    stats["entries"].as_u64()
}

/// The app's verified-token cache counters: hits and misses so far.
fn cache_counts(app: &App) -> Option<(u64, u64)> {
    let (_, body) = http_get(&app.base, "/stats", None)?;
    let stats: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some((stats["hits"].as_u64()?, stats["misses"].as_u64()?))
}

/// What one RS256 check costs with nothing around it: jsonwebtoken's `decode` of distinct
/// tokens against the issuer's key, on one thread, the median over batches of the thread's
/// CPU time per token, in µs.
fn bare_verify_micros(issuer: &str, tokens: &[String]) -> Result<f64, String> {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{DecodingKey, Validation, decode};

    #[derive(serde::Deserialize)]
    struct Claims {
        #[allow(dead_code)]
        sub: String,
    }
    let (_, body) = http_get(issuer, "/api/v1/auth/jwks", None)
        .ok_or_else(|| format!("cannot read the keys of {issuer}"))?;
    let keys: JwkSet = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let jwk = keys.keys.first().ok_or("the issuer serves no key")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[AUDIENCE]);
    const BATCH: usize = 500;
    let mut batches = Vec::new();
    for batch in tokens.chunks(BATCH).take(7) {
        let started = thread_cpu_nanos()?;
        for token in batch {
            decode::<Claims>(token, &key, &validation).map_err(|e| e.to_string())?;
        }
        let spent = thread_cpu_nanos()? - started;
        batches.push(spent as f64 / 1e3 / batch.len() as f64);
    }
    Ok(median(batches))
}

/// CPU time this thread has run so far, in nanoseconds (the scheduler's count, so that other
/// processes on the machine do not add to it).
pub(crate) fn thread_cpu_nanos() -> Result<u64, String> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .map_err(|e| format!("cannot read /proc/thread-self/schedstat: {e}"))?;
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .ok_or_else(|| format!("unexpected /proc/thread-self/schedstat: {stat}"))
}

/// Floods the shipped app with distinct valid tokens and reads its cache's size and the
/// process's growth: one line.
fn flood(issuer: &TestIssuer, repeated: &str, seconds: u64, dir: &Path) -> Result<String, String> {
    issuer.add_key(Algorithm::EdDSA);
    eprintln!("signing {FLOOD_TOKENS} distinct EdDSA tokens for the flood...");
    let tokens = distinct_tokens(issuer, "flood", FLOOD_TOKENS);
    let script = token_script(dir, "flood", &tokens)?;
    eprintln!("flooding auth-runtime with {FLOOD_TOKENS} distinct tokens...");
    let app = start_app("serve-shipped", issuer.issuer(), FLOOD_CACHE_BYTES)?;
    let _ = http_get(&app.base, "/api/profile", Some(repeated));
    let rss_before = rss_kib(app.child.id());
    let flood_seconds = seconds.max(10);
    let run = wrk(
        &format!("{}/api/profile", app.base),
        flood_seconds,
        None,
        Some(&script),
    )?;
    let rss_after = rss_kib(app.child.id());
    let stats = http_get(&app.base, "/stats", None)
        .map(|(_, body)| body)
        .unwrap_or_default();
    Ok(format!(
        "flood: {FLOOD_TOKENS} distinct valid tokens for {flood_seconds} s at {:.0} req/s ({} non-2xx); cache bound {} bytes; cache after: {stats}; process RSS {} KiB before, {} KiB after",
        run.requests_per_second,
        run.failures,
        FLOOD_CACHE_BYTES,
        rss_before.map_or("?".into(), |v| v.to_string()),
        rss_after.map_or("?".into(), |v| v.to_string()),
    ))
}

/// The machine and the load generator's settings, one line.
fn print_machine(seconds: u64) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    println!();
    println!(
        "{cores} cores ({cpu}); wrk 1 thread, 32 connections, {seconds} s per run, loopback; load generator and app share the cores"
    );
}
