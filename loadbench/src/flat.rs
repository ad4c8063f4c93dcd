//! `flat`: whether what one request costs stays the same as the work behind it grows. Three
//! scenarios on auth-runtime's app, each reporting the medians of throughput and of the app's
//! CPU time per request over alternating rounds:
//!
//! - the verified-token cache holding 1,000, 100,000 and 1,000,000 tokens, every request a
//!   hit on a different token (the cache's hit and miss counters are read around every run);
//! - 1, 10 and 100 trusted issuers, tokens spread over them, with the cache off (a signature
//!   per request) and on;
//! - 0, 100,000 and 1,000,000 entries on the revocation list the app polls, with one repeated
//!   valid token and with distinct tokens that each miss the cache.
//!
//! Tokens are EdDSA, the quickest to sign by the million here. `flat cache`, `flat issuers`
//! and `flat revocation` run one scenario. The apps run as child processes (`flat serve PORT
//! ISSUERS CACHE_BYTES [REVOCATION_URL]`).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use auth_runtime::Algorithm;
use auth_runtime::testing::TestIssuer;
use serde::Deserialize;

use crate::ours::{self, Extras, Options, Revocation};
use crate::{
    AUDIENCE, App, Run, distinct_tokens, free_port, http_get, in_parallel, measured_from, median,
    rss_kib,
};

/// Alternating rounds per scenario and app.
const ROUNDS: usize = 3;
/// Tokens held by the verified-token cache, one app each.
const CACHED: [usize; 3] = [1_000, 100_000, 1_000_000];
/// The cache bound of the cache scenario, the same for every app: a million EdDSA tokens
/// weigh about 1.8 GB by the cache's own count, and a bound is not an allocation.
const CACHE_BYTES: u64 = 4 << 30;
/// The default bound (`token_cache_max_bytes`), for the apps of the other scenarios.
const DEFAULT_CACHE_BYTES: u64 = 32 << 20;
/// Trusted issuers, one app each.
const ISSUERS: [usize; 3] = [1, 10, 100];
/// Distinct tokens per app in the issuers scenario, spread evenly over its issuers.
const ISSUER_TOKENS: usize = 1_000;
/// Entries on the revocation list, one app each.
const REVOKED: [usize; 3] = [0, 100_000, 1_000_000];
/// Entries per page of the list: 20 pages for a million, each well under the 4 MiB a page may
/// take, and well within the 64 pages one refresh reads.
const REVOCATION_PAGE: usize = 50_000;
/// `revocation_max_entries` of the revocation scenario's apps: the defaults (1,000,000 entries,
/// 64 MiB) are just about what a million entries take, so they are raised to leave room.
const REVOCATION_MAX_ENTRIES: usize = 2_000_000;
/// `revocation_max_bytes` of the revocation scenario's apps, raised with the entries.
const REVOCATION_MAX_BYTES: usize = 256 << 20;
/// Distinct tokens cycled through in the revocation scenario: many times what the default
/// cache bound holds, so that each misses the cache and is verified.
const DISTINCT: usize = 100_000;
/// Tokens sent once to each app of the revocation scenario before it is measured: more than
/// the default cache bound holds.
const OTHERS: usize = 25_000;
/// `jwks_ttl_seconds` of every app: a refetched key set makes every cached token be verified
/// once more, which no run should meet (the default is 300).
const JWKS_TTL_SECONDS: u64 = 3600;
/// Connections that send each token once, to fill a cache.
const FILL_CONNECTIONS: usize = 16;

/// One scenario: runs it in a temporary directory, with runs of so many seconds.
type Scenario = fn(&Path, u64) -> Result<(), String>;

/// `flat`, `flat SCENARIO` for one of `cache`, `issuers` and `revocation`, or `flat serve ...`
/// for one app.
pub(crate) fn run(args: &[String], seconds: u64) -> Result<(), String> {
    if args.get(2).map(String::as_str) == Some("serve") {
        return serve(&args[3..]);
    }
    if Command::new("wrk").arg("-v").output().is_err() {
        return Err("wrk is not installed: apt-get install wrk (loadbench/run.sh does it)".into());
    }
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("auth-loadbench-flat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    println!();
    println!(
        "{} cores ({}); wrk 1 thread, 32 connections, {seconds} s per run, loopback; load \
         generator and app share the cores; medians of {ROUNDS} alternating rounds; EdDSA tokens",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    let only = args.get(2).map(String::as_str);
    let scenarios: [(&str, Scenario); 3] = [
        ("cache", cache),
        ("issuers", issuers),
        ("revocation", revocation),
    ];
    if let Some(only) = only
        && !scenarios.iter().any(|(name, _)| *name == only)
    {
        return Err(format!(
            "usage: flat [cache|issuers|revocation] (not {only})"
        ));
    }
    let result = scenarios
        .iter()
        .filter(|(name, _)| only.is_none_or(|only| only == *name))
        .try_for_each(|(_, scenario)| scenario(&dir, seconds));
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!();
    println!(
        "flat: {:.0} s in all",
        started.elapsed().as_secs_f64().round()
    );
    Ok(())
}

/// `serve PORT ISSUERS CACHE_BYTES [REVOCATION_URL]`: auth-runtime's app, polling the
/// revocation list at `REVOCATION_URL` when one is given.
fn serve(args: &[String]) -> Result<(), String> {
    let usage = || "usage: flat serve PORT ISSUERS CACHE_BYTES [REVOCATION_URL]".to_owned();
    let port: u16 = args
        .first()
        .and_then(|p| p.parse().ok())
        .ok_or_else(usage)?;
    let issuers = args.get(1).cloned().ok_or_else(usage)?;
    let cache: u64 = args.get(2).and_then(|c| c.parse().ok()).ok_or_else(usage)?;
    let options = Options {
        jwks_ttl_seconds: Some(JWKS_TTL_SECONDS),
        revocation: args.get(3).map(|endpoint| Revocation {
            endpoint: endpoint.clone(),
            max_entries: REVOCATION_MAX_ENTRIES,
            max_bytes: REVOCATION_MAX_BYTES,
        }),
    };
    actix_web::rt::System::new()
        .block_on(ours::serve_with(
            port,
            issuers,
            AUDIENCE.to_owned(),
            cache,
            Extras::Off,
            options,
        ))
        .map_err(|err| err.to_string())
}

/// Starts auth-runtime's app trusting `issuers` (comma-separated), with a cache bound of
/// `cache_bytes` and the revocation list at `revocation`; it answers once the list is read.
fn start(issuers: &str, cache_bytes: u64, revocation: Option<&str>) -> Result<App, String> {
    let port = free_port()?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command.args([
        "flat",
        "serve",
        &port.to_string(),
        issuers,
        &cache_bytes.to_string(),
    ]);
    command.args(revocation);
    let child = command
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the app: {e}"))?;
    let mut app = App {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if http_get(&app.base, "/health", None).is_some_and(|(status, _)| status == 200) {
            return Ok(app);
        }
        if let Ok(Some(status)) = app.child.try_wait() {
            return Err(format!("the app exited ({status}) before it answered"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the app did not answer on {}", app.base))
}

/// What `/stats` says: the verified-token cache (all zero when it is off) and the entries
/// of the revocation list.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct Stats {
    /// Tokens held by the cache.
    entries: u64,
    /// Their weight, by the cache's count.
    weight_bytes: u64,
    /// Requests answered from the cache so far.
    hits: u64,
    /// Requests that verified a signature so far.
    misses: u64,
    /// Entries of the revocation lists, when the app polls one.
    revoked: Option<u64>,
}

/// What the app's `/stats` says now.
fn stats(app: &App) -> Result<Stats, String> {
    let (status, body) =
        http_get(&app.base, "/stats", None).ok_or_else(|| format!("{}/stats", app.base))?;
    if status != 200 {
        return Err(format!("{}/stats answered {status}", app.base));
    }
    serde_json::from_str::<Option<Stats>>(&body)
        .map(Option::unwrap_or_default)
        .map_err(|err| format!("{}/stats: {err}: {body}", app.base))
}

/// One app and what wrk sends it: a header, or a script of tokens.
struct Target<'a> {
    /// The app driven.
    app: &'a App,
    /// A header sent with every request (`Authorization: Bearer ...`).
    header: Option<String>,
    /// A wrk script choosing each request.
    script: Option<PathBuf>,
}

/// The medians of a target's rounds, and what its cache counted during them.
#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    /// Median throughput.
    requests_per_second: f64,
    /// Median of the app's CPU time per request, in microseconds.
    cpu_micros: f64,
    /// Answers other than 2xx, in all the runs.
    failures: u64,
    /// Cache hits during the runs.
    hits: u64,
    /// Cache misses during the runs.
    misses: u64,
}

impl Figures {
    /// Throughput and CPU per request, as a table's cell.
    fn cell(&self) -> String {
        let failures = if self.failures > 0 {
            format!(" ({} non-2xx)", grouped(self.failures))
        } else {
            String::new()
        };
        format!(
            "{} req/s, {:.2} µs{failures}",
            grouped(self.requests_per_second.round() as u64),
            self.cpu_micros
        )
    }

    /// Cache hits and misses, as a table's cell.
    fn counted(&self) -> String {
        format!("{} / {}", grouped(self.hits), grouped(self.misses))
    }

    /// `self` against `smallest`, as a table row's cell: throughput and CPU ratios.
    fn ratio(&self, smallest: &Figures) -> String {
        format!(
            "{:.2}x req/s, {:.2}x CPU",
            self.requests_per_second / smallest.requests_per_second,
            self.cpu_micros / smallest.cpu_micros
        )
    }
}

/// `ROUNDS` rounds of one run per target in turn, so that all meet the same moments of a
/// noisy machine; the medians per target, and the cache's hits and misses during its runs.
fn alternate(targets: &[Target<'_>], seconds: u64) -> Result<Vec<Figures>, String> {
    let mut runs: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
    let mut figures = vec![Figures::default(); targets.len()];
    for round in 1..=ROUNDS {
        eprintln!("  round {round} of {ROUNDS}...");
        for (i, target) in targets.iter().enumerate() {
            let before = stats(target.app)?;
            let run = measured_from(
                target.app,
                &format!("{}/api/profile", target.app.base),
                seconds,
                target.header.as_deref(),
                target.script.as_deref(),
                (0, 0),
            )?;
            let after = stats(target.app)?;
            figures[i].hits += after.hits.saturating_sub(before.hits);
            figures[i].misses += after.misses.saturating_sub(before.misses);
            figures[i].failures += run.failures;
            runs[i].push(run);
        }
    }
    for (figures, runs) in figures.iter_mut().zip(runs) {
        figures.requests_per_second = median(runs.iter().map(|r| r.requests_per_second).collect());
        figures.cpu_micros = median(runs.iter().filter_map(|r| r.cpu_micros).collect());
    }
    Ok(figures)
}

/// The verified-token cache holding 1k, 100k and 1M tokens: each app is filled by sending
/// every token once, then driven over all its tokens in a shuffled order, each request a
/// hit on a different token.
fn cache(dir: &Path, seconds: u64) -> Result<(), String> {
    let issuer = TestIssuer::start_with(Algorithm::EdDSA, AUDIENCE);
    let largest = CACHED[CACHED.len() - 1];
    eprintln!("cache: signing {} EdDSA tokens...", grouped(largest as u64));
    let tokens = distinct_tokens(&issuer, "cached", largest);
    let warm = issuer.token().sub("warm").expires_in(3600).sign();
    let mut apps = Vec::new();
    let mut filled = Vec::new();
    let mut scripts = Vec::new();
    for count in CACHED {
        let app = start(issuer.issuer(), CACHE_BYTES, None)?;
        // The first token fetches the key set; it stays in the cache, outside the count.
        expect_ok(&app, &warm)?;
        let rss_before = rss_kib(app.child.id());
        eprintln!(
            "cache: filling an app with {} tokens...",
            grouped(count as u64)
        );
        let took = Instant::now();
        let refused = send_each_once(&app.base, &tokens[..count])?;
        let rss_after = rss_kib(app.child.id());
        let held = stats(&app)?;
        eprintln!(
            "  {:.1} s; {} entries, {} bytes by the cache's count",
            took.elapsed().as_secs_f64(),
            grouped(held.entries),
            grouped(held.weight_bytes)
        );
        if refused > 0 || held.entries != count as u64 + 1 {
            return Err(format!(
                "filling with {count} tokens: {refused} refused, {} entries held",
                held.entries
            ));
        }
        let mut order = tokens[..count].to_vec();
        shuffle(&mut order);
        scripts.push(request_script(dir, &format!("cached-{count}"), &order)?);
        filled.push((held, rss_before.zip(rss_after)));
        apps.push(app);
    }
    drop(tokens);
    eprintln!("cache: measuring, every request a hit...");
    let targets: Vec<Target<'_>> = apps
        .iter()
        .zip(&scripts)
        .map(|(app, script)| Target {
            app,
            header: None,
            script: Some(script.clone()),
        })
        .collect();
    let figures = alternate(&targets, seconds)?;

    println!();
    println!(
        "Verified-token cache: every request a hit on a different token, in a shuffled order \
         (cache bound {} bytes)",
        grouped(CACHE_BYTES)
    );
    println!();
    println!(
        "| cached tokens | throughput, app CPU per request | cache hits / misses in the runs | resident bytes per cached token | cache weight per entry |"
    );
    println!("|---|---|---|---|---|");
    for ((count, figures), (held, rss)) in CACHED.iter().zip(&figures).zip(&filled) {
        let resident = rss.map_or("?".to_owned(), |(before, after)| {
            grouped(after.saturating_sub(before) * 1024 / *count as u64)
        });
        let hit_cost = if figures.misses > 0 {
            " (not all hits)"
        } else {
            ""
        };
        println!(
            "| {} | {}{hit_cost} | {} | {resident} | {} |",
            grouped(*count as u64),
            figures.cell(),
            figures.counted(),
            grouped(held.weight_bytes / held.entries.max(1)),
        );
    }
    println!(
        "| {} / {} | {} | | | |",
        grouped(largest as u64),
        grouped(CACHED[0] as u64),
        figures[figures.len() - 1].ratio(&figures[0])
    );
    Ok(())
}

/// 1, 10 and 100 trusted issuers, 1,000 tokens spread over them, with the cache off and on.
fn issuers(dir: &Path, seconds: u64) -> Result<(), String> {
    let most = ISSUERS[ISSUERS.len() - 1];
    eprintln!("issuers: starting {most} EdDSA issuers...");
    let all: Vec<TestIssuer> = (0..most)
        .map(|_| TestIssuer::start_with(Algorithm::EdDSA, AUDIENCE))
        .collect();
    let mut sets = Vec::new();
    for count in ISSUERS {
        let tokens: Vec<String> = (0..ISSUER_TOKENS)
            .map(|i| {
                all[i % count]
                    .token()
                    .sub(&format!("user-{i}"))
                    .expires_in(3600)
                    .sign()
            })
            .collect();
        let names: Vec<&str> = all[..count].iter().map(TestIssuer::issuer).collect();
        let script = request_script(dir, &format!("issuers-{count}"), &tokens)?;
        sets.push((names.join(","), tokens, script));
    }
    let mut columns = Vec::new();
    for (setting, cache_bytes) in [("off", 0), ("on", DEFAULT_CACHE_BYTES)] {
        let mut apps = Vec::new();
        for (names, tokens, _) in &sets {
            let app = start(names, cache_bytes, None)?;
            // Fetches every issuer's keys; fills the cache when it is on.
            let refused = send_each_once(&app.base, tokens)?;
            if refused > 0 {
                return Err(format!("issuers warm-up: {refused} tokens refused"));
            }
            apps.push(app);
        }
        eprintln!("issuers, cache {setting}: measuring...");
        let targets: Vec<Target<'_>> = apps
            .iter()
            .zip(&sets)
            .map(|(app, (_, _, script))| Target {
                app,
                header: None,
                script: Some(script.clone()),
            })
            .collect();
        columns.push(alternate(&targets, seconds)?);
    }

    println!();
    println!(
        "Trusted issuers: {} distinct tokens per app, spread evenly over its issuers, sent in turn",
        grouped(ISSUER_TOKENS as u64)
    );
    println!();
    println!(
        "| trusted issuers | cache off (a signature per request) | cache on | cache on: hits / misses in the runs |"
    );
    println!("|---|---|---|---|");
    for (i, count) in ISSUERS.iter().enumerate() {
        println!(
            "| {count} | {} | {} | {} |",
            columns[0][i].cell(),
            columns[1][i].cell(),
            columns[1][i].counted()
        );
    }
    let last = ISSUERS.len() - 1;
    println!(
        "| {most} / {} | {} | {} | |",
        ISSUERS[0],
        columns[0][last].ratio(&columns[0][0]),
        columns[1][last].ratio(&columns[1][0])
    );
    Ok(())
}

/// 0, 100k and 1M entries on the revocation list: one in ten a token (`jti`, 48 hex digits),
/// the others sessions (`sid`, 32 hex digits), as auth-server lists them. Each app polls its
/// own list; the tokens, which carry a `jti` and a `sid` listed nowhere, are the same for all.
fn revocation(dir: &Path, seconds: u64) -> Result<(), String> {
    let issuer = TestIssuer::start_with(Algorithm::EdDSA, AUDIENCE);
    let exp = unix_now() + 7200;
    let token = |i: usize| {
        // Ids of tokens start far from those of the list's entries.
        let seed = (1 << 40) + i as u64;
        issuer
            .token()
            .sub(&format!("user-{i}"))
            .jti(&hex_id(seed, 3))
            .claim("sid", serde_json::json!(hex_id(seed, 2)))
            .expires_in(3600)
            .sign()
    };
    let valid = token(DISTINCT);
    eprintln!(
        "revocation: signing {} EdDSA tokens, listing {} entries...",
        grouped((DISTINCT + OTHERS) as u64),
        grouped(REVOKED.iter().sum::<usize>() as u64)
    );
    let distinct = in_parallel(DISTINCT, token);
    let script = request_script(dir, "distinct", &distinct)?;
    drop(distinct);
    let others = in_parallel(OTHERS, |i| token(DISTINCT + 1 + i));
    let lists: Vec<TestIssuer> = REVOKED
        .iter()
        .map(|&count| {
            let list = TestIssuer::start_with(Algorithm::EdDSA, AUDIENCE);
            list.set_revocation_page_size(REVOCATION_PAGE);
            for i in 0..count as u64 {
                if i % 10 == 0 {
                    list.revoke(&hex_id(i, 3), exp);
                } else {
                    list.revoke_session(&hex_id(i, 2), exp);
                }
            }
            list
        })
        .collect();
    let mut apps = Vec::new();
    let mut resident = Vec::new();
    for (count, list) in REVOKED.iter().zip(&lists) {
        let took = Instant::now();
        let app = start(
            issuer.issuer(),
            DEFAULT_CACHE_BYTES,
            Some(&list.revocation_url()),
        )?;
        expect_ok(&app, &valid)?;
        resident.push(rss_kib(app.child.id()));
        // The cache keeps the first tokens it meets for as long as it has room for them; once
        // these have taken that room, each distinct token is dropped before it comes again.
        let refused = send_each_once(&app.base, &others)?;
        if refused > 0 {
            return Err(format!("revocation warm-up: {refused} tokens refused"));
        }
        let held = stats(&app)?.revoked.unwrap_or(0);
        eprintln!(
            "revocation: an app holding {} entries started in {:.1} s",
            grouped(held),
            took.elapsed().as_secs_f64()
        );
        if held != *count as u64 {
            return Err(format!("the app holds {held} entries, not {count}"));
        }
        apps.push(app);
    }
    let header = format!("Authorization: Bearer {valid}");
    eprintln!("revocation: measuring one repeated valid token...");
    let repeated = alternate(
        &apps
            .iter()
            .map(|app| Target {
                app,
                header: Some(header.clone()),
                script: None,
            })
            .collect::<Vec<_>>(),
        seconds,
    )?;
    eprintln!("revocation: measuring distinct tokens...");
    let verified = alternate(
        &apps
            .iter()
            .map(|app| Target {
                app,
                header: None,
                script: Some(script.clone()),
            })
            .collect::<Vec<_>>(),
        seconds,
    )?;

    println!();
    println!(
        "Revocation list: entries held by the app (1 in 10 a token, the others sessions); a \
         valid token carries a jti and a sid listed nowhere"
    );
    println!();
    println!(
        "| revoked entries | resident bytes per entry | one repeated valid token (cache hit) | hits / misses | {} distinct tokens, each verified | hits / misses |",
        grouped(DISTINCT as u64)
    );
    println!("|---|---|---|---|---|---|");
    for (i, count) in REVOKED.iter().enumerate() {
        let per_entry = match (resident[0], resident[i]) {
            (Some(none), Some(these)) if *count > 0 => {
                grouped(these.saturating_sub(none) * 1024 / *count as u64)
            }
            _ => String::new(),
        };
        println!(
            "| {} | {per_entry} | {} | {} | {} | {} |",
            grouped(*count as u64),
            repeated[i].cell(),
            repeated[i].counted(),
            verified[i].cell(),
            verified[i].counted()
        );
    }
    let last = REVOKED.len() - 1;
    println!(
        "| {} / {} | | {} | | {} | |",
        grouped(REVOKED[last] as u64),
        grouped(REVOKED[0] as u64),
        repeated[last].ratio(&repeated[0]),
        verified[last].ratio(&verified[0])
    );
    Ok(())
}

/// A wrk script sending each token of `tokens` once, in order (then starting over). Unlike
/// [`token_script`](crate::token_script), every request is formatted before the run starts,
/// so that wrk's work per request is one table read whatever the number of tokens.
fn request_script(dir: &Path, name: &str, tokens: &[String]) -> Result<PathBuf, String> {
    let list = dir.join(format!("{name}.txt"));
    std::fs::write(&list, tokens.join("\n")).map_err(|e| e.to_string())?;
    let script = dir.join(format!("{name}.lua"));
    // `init` runs once the Host header is known, before the run's clock starts.
    let lua = format!(
        r#"local requests = {{}}
function init(args)
  for line in io.lines("{}") do
    requests[#requests + 1] =
      wrk.format("GET", "/api/profile", {{ ["Authorization"] = "Bearer " .. line }})
  end
end
local i = 0
request = function()
  i = i + 1
  if i > #requests then i = 1 end
  return requests[i]
end
"#,
        list.display()
    );
    std::fs::write(&script, lua).map_err(|e| e.to_string())?;
    Ok(script)
}

/// Sends `token` once to the protected route; an error unless it is accepted.
fn expect_ok(app: &App, token: &str) -> Result<(), String> {
    match http_get(&app.base, "/api/profile", Some(token)) {
        Some((200, _)) => Ok(()),
        other => Err(format!("{}/api/profile answered {other:?}", app.base)),
    }
}

/// Sends every token of `tokens` once to the protected route, over a few kept-alive
/// connections; how many were not answered 200.
fn send_each_once(base: &str, tokens: &[String]) -> Result<u64, String> {
    let addr = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http URL: {base}"))?;
    let send = |first: usize| -> Result<u64, String> {
        let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
        let mut writer = stream;
        let mut refused = 0;
        for token in tokens.iter().skip(first).step_by(FILL_CONNECTIONS) {
            let request = format!(
                "GET /api/profile HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
            );
            writer
                .write_all(request.as_bytes())
                .map_err(|e| e.to_string())?;
            if read_response(&mut reader)? != 200 {
                refused += 1;
            }
        }
        Ok(refused)
    };
    std::thread::scope(|scope| {
        let senders: Vec<_> = (0..FILL_CONNECTIONS)
            .map(|first| scope.spawn(move || send(first)))
            .collect();
        senders.into_iter().try_fold(0, |refused, sender| {
            let one = sender
                .join()
                .map_err(|_| "a sending thread panicked".to_owned())??;
            Ok(refused + one)
        })
    })
}

/// Reads one response (its body sized by `Content-Length`) off a kept-alive connection; its
/// status.
fn read_response(reader: &mut BufReader<TcpStream>) -> Result<u16, String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: {line:?}"))?;
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().map_err(|_| format!("{header:?}"))?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(status)
}

/// SplitMix64's output function: a bijection of `u64` that looks random.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `words` times 16 hex digits drawn from `seed`; distinct seeds give distinct ids.
fn hex_id(seed: u64, words: u64) -> String {
    (0..words)
        .map(|w| format!("{:016x}", mix(seed.wrapping_mul(4).wrapping_add(w))))
        .collect()
}

/// Shuffles `items` in a fixed pseudo-random order (Fisher-Yates).
fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = (mix(i as u64) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `12345678` as `12,345,678`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The processor's model name, as `/proc/cpuinfo` gives it.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}
