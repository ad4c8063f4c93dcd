//! Load benchmark of auth-runtime against the hand-written baseline, on loopback.
//!
//! ```text
//! loadbench/run.sh            # installs wrk if needed, then runs everything (a few minutes)
//! ```
//!
//! It starts a token issuer, then each app in its own process (actix's default workers), and
//! drives it with wrk (1 thread, 32 connections): the anonymous route, the protected route
//! with one repeated token, and the protected route with tokens that never repeat, each in
//! five alternating rounds per app, reporting the medians of throughput and of the app's CPU
//! time per request (process user and system time over requests). Then it
//! floods auth-runtime's app with 100,000 distinct valid tokens and reads its cache's
//! bounded size. `LOADBENCH_SECONDS` sets the length of each run (default 10).
//!
//! `cargo run --release -p auth-loadbench -- login-flood` instead measures auth-server's `GET /jwks` while six clients
//! guess the admin password (no wrk needed). `loadbench/run.sh issuers` compares the app
//! trusting one issuer with the same app trusting two, tokens alternating between them.
//! `loadbench/run.sh algorithms` compares RS256, ES256, EdDSA and ML-DSA-65 tokens, with the
//! verified-token cache off and on.
//! `loadbench/run.sh issuer-load`: auth-server's sign-ins and refreshes per second, 1k and 1M live sessions.

mod algorithms;
mod baseline;
mod issuer_load;
mod issuers;
mod login_flood;
mod ours;

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use auth_runtime::Algorithm;
use auth_runtime::testing::TestIssuer;

const AUDIENCE: &str = "bench";
const FLOOD_TOKENS: usize = 100_000;
const FLOOD_CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// Alternating rounds per scenario and app.
const ROUNDS: usize = 5;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let served = match args.get(1).map(String::as_str) {
        Some("serve-ours") | Some("serve-baseline") => serve(&args),
        Some("issuers") => return report(issuers::run(seconds())),
        Some("algorithms") => return report(algorithms::run(seconds())),
        Some("login-flood") => return report(login_flood::run(seconds())),
        Some("issuer-load") => return report(issuer_load::run(&args, seconds())),
        _ => return report(orchestrate()),
    };
    report(served.map_err(|err| err.to_string()))
}

/// `LOADBENCH_SECONDS`: the length of each run (default 10).
fn seconds() -> u64 {
    std::env::var("LOADBENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// The exit code of a mode, its error printed.
fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `serve-ours PORT ISSUER CACHE_BYTES` or `serve-baseline PORT ISSUER`.
fn serve(args: &[String]) -> std::io::Result<()> {
    let bad =
        || std::io::Error::other("usage: serve-ours|serve-baseline PORT ISSUER [CACHE_BYTES]");
    let port: u16 = args.get(2).and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let issuer = args.get(3).cloned().ok_or_else(bad)?;
    let system = actix_web::rt::System::new();
    if args[1] == "serve-ours" {
        let cache: u64 = args.get(4).and_then(|c| c.parse().ok()).ok_or_else(bad)?;
        system.block_on(ours::serve(port, issuer, AUDIENCE.to_owned(), cache))
    } else {
        system.block_on(baseline::serve(port, issuer, AUDIENCE.to_owned()))
    }
}

struct App {
    child: Child,
    base: String,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn start_app(kind: &str, issuer: &str, cache_bytes: u64) -> Result<App, String> {
    let port = free_port()?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .args([kind, &port.to_string(), issuer, &cache_bytes.to_string()])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {kind}: {e}"))?;
    let app = App {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http_get(&app.base, "/health", None).is_some_and(|(status, _)| status == 200) {
            return Ok(app);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{kind} did not answer on {}", app.base))
}

/// A minimal blocking GET, enough for readiness checks and the stats endpoint.
fn http_get(base: &str, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    use std::io::Read as _;
    let addr = base.strip_prefix("http://")?;
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((status, body))
}

#[derive(Default)]
struct Run {
    requests_per_second: f64,
    requests: u64,
    failures: u64,
    /// CPU time the app spent per request (user and system), when it was measured.
    cpu_micros: Option<f64>,
}

fn wrk(
    url: &str,
    seconds: u64,
    header: Option<&str>,
    script: Option<&Path>,
) -> Result<Run, String> {
    let mut command = Command::new("wrk");
    command.args(["-t1", "-c32", &format!("-d{seconds}s"), "--latency"]);
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(url).output().map_err(|e| {
        format!("cannot run wrk ({e}); install it: apt-get install wrk, or use loadbench/run.sh")
    })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let requests_per_second = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let failures = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(count, _)| count.parse().ok())
        .unwrap_or(0);
    Ok(Run {
        requests_per_second,
        requests,
        failures,
        cpu_micros: None,
    })
}

/// CPU time (user plus system) a process has used so far, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Clock ticks per second, as `getconf CLK_TCK` says (100 on Linux).
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A wrk run against `app` that also measures the app's CPU time per request.
fn measured(
    app: &App,
    url: &str,
    seconds: u64,
    header: Option<&str>,
    script: Option<&Path>,
) -> Result<Run, String> {
    let before = cpu_ticks(app.child.id());
    let mut run = wrk(url, seconds, header, script)?;
    let after = cpu_ticks(app.child.id());
    if let (Some(before), Some(after)) = (before, after)
        && run.requests > 0
    {
        let seconds = (after - before) as f64 / ticks_per_second();
        run.cpu_micros = Some(seconds * 1e6 / run.requests as f64);
    }
    Ok(run)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// A wrk script sending each token of `tokens` once, in order (then starting over).
fn token_script(dir: &Path, name: &str, tokens: &[String]) -> Result<PathBuf, String> {
    let list = dir.join(format!("{name}.txt"));
    std::fs::write(&list, tokens.join("\n")).map_err(|e| e.to_string())?;
    let script = dir.join(format!("{name}.lua"));
    let lua = format!(
        r#"local tokens = {{}}
for line in io.lines("{}") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  if i > #tokens then i = 1 end
  return wrk.format("GET", "/api/profile", {{ ["Authorization"] = "Bearer " .. tokens[i] }})
end
"#,
        list.display()
    );
    std::fs::write(&script, lua).map_err(|e| e.to_string())?;
    Ok(script)
}

/// Signs `count` distinct tokens on every core.
fn distinct_tokens(issuer: &TestIssuer, prefix: &str, count: usize) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t * per_thread..((t + 1) * per_thread).min(count))
                        .map(|i| {
                            issuer
                                .token()
                                .sub(&format!("{prefix}-{i}"))
                                .expires_in(3600)
                                .sign()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn orchestrate() -> Result<(), String> {
    let seconds = seconds();
    if Command::new("wrk").arg("-v").output().is_err() {
        return Err("wrk is not installed: apt-get install wrk (loadbench/run.sh does it)".into());
    }
    let dir = std::env::temp_dir().join(format!("auth-loadbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;

    let issuer = TestIssuer::start_with(Algorithm::RS256, AUDIENCE);
    let repeated = issuer.token().sub("repeat").expires_in(3600).sign();
    // Enough never-repeated tokens for the fastest plausible run; signing them takes a while.
    let unique_count = (seconds as usize * 25_000).max(10_000);
    eprintln!("signing {unique_count} distinct RS256 tokens...");
    let unique = distinct_tokens(&issuer, "unique", unique_count);
    let unique_script = token_script(&dir, "unique", &unique)?;
    issuer.add_key(Algorithm::EdDSA);
    eprintln!("signing {FLOOD_TOKENS} distinct EdDSA tokens for the flood...");
    let flood = distinct_tokens(&issuer, "flood", FLOOD_TOKENS);
    let flood_script = token_script(&dir, "flood", &flood)?;
    let header = format!("Authorization: Bearer {repeated}");

    let apps = [
        (
            "auth-runtime",
            start_app("serve-ours", issuer.issuer(), 32 * 1024 * 1024)?,
        ),
        (
            "hand-written",
            start_app("serve-baseline", issuer.issuer(), 0)?,
        ),
    ];
    for (_, app) in &apps {
        // Warm-up: the first token fetches the JWKS.
        let _ = http_get(&app.base, "/api/profile", Some(&repeated));
        let _ = wrk(&format!("{}/health", app.base), 2, None, None)?;
    }
    // Every scenario is measured in alternating rounds, so that both apps meet the same
    // moments of a noisy machine; the medians of throughput and of the app's CPU time per
    // request are reported.
    let scenarios: [(&str, Option<&str>, Option<&Path>); 3] = [
        ("/health", None, None),
        ("/api/profile", Some(header.as_str()), None),
        ("/api/profile", None, Some(unique_script.as_path())),
    ];
    let mut rows: Vec<(&str, [Run; 3])> = apps
        .iter()
        .map(|(name, _)| (*name, [Run::default(), Run::default(), Run::default()]))
        .collect();
    for (s, (path, header, script)) in scenarios.iter().enumerate() {
        eprintln!("scenario {} of 3, {ROUNDS} alternating rounds...", s + 1);
        let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..ROUNDS {
            for (i, (_, app)) in apps.iter().enumerate() {
                let url = format!("{}{path}", app.base);
                runs[i].push(measured(app, &url, seconds, *header, *script)?);
            }
        }
        for (i, runs) in runs.into_iter().enumerate() {
            rows[i].1[s] = Run {
                requests_per_second: median(runs.iter().map(|r| r.requests_per_second).collect()),
                requests: runs.iter().map(|r| r.requests).sum(),
                failures: runs.iter().map(|r| r.failures).sum(),
                cpu_micros: Some(median(runs.iter().filter_map(|r| r.cpu_micros).collect())),
            };
        }
    }
    drop(apps);

    eprintln!("flooding auth-runtime with {FLOOD_TOKENS} distinct tokens...");
    let app = start_app("serve-ours", issuer.issuer(), FLOOD_CACHE_BYTES)?;
    let _ = http_get(&app.base, "/api/profile", Some(&repeated));
    let rss_before = rss_kib(app.child.id());
    let flood_seconds = seconds.max(10);
    let flood_run = wrk(
        &format!("{}/api/profile", app.base),
        flood_seconds,
        None,
        Some(&flood_script),
    )?;
    let rss_after = rss_kib(app.child.id());
    let stats = http_get(&app.base, "/stats", None)
        .map(|(_, body)| body)
        .unwrap_or_default();
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);

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
    println!();
    println!(
        "| scenario (median of {ROUNDS} alternating runs) | {} | {} |",
        rows[0].0, rows[1].0
    );
    println!("|---|---|---|");
    let names = [
        "anonymous route",
        "protected, one repeated token",
        "protected, never-repeated tokens",
    ];
    let cpu = |row: usize, i: usize| rows[row].1[i].cpu_micros.unwrap_or(0.0);
    let rps = |row: usize, i: usize| rows[row].1[i].requests_per_second;
    for (i, scenario) in names.iter().enumerate() {
        let cell = |row: usize| {
            let run = &rows[row].1[i];
            let failures = if run.failures > 0 {
                format!(" ({} non-2xx)", run.failures)
            } else {
                String::new()
            };
            format!(
                "{:.0} req/s, {:.2} µs CPU{failures}",
                rps(row, i),
                cpu(row, i)
            )
        };
        println!("| {scenario} | {} | {} |", cell(0), cell(1));
    }
    let both = |row: usize, i: usize, j: usize| {
        format!(
            "{:.2}x req/s, {:.2}x CPU",
            rps(row, i) / rps(row, j),
            cpu(row, i) / cpu(row, j)
        )
    };
    println!(
        "| repeated token / anonymous (same app) | {} | {} |",
        both(0, 1, 0),
        both(1, 1, 0)
    );
    println!(
        "| never-repeated / anonymous (same app) | {} | {} |",
        both(0, 2, 0),
        both(1, 2, 0)
    );
    for (i, scenario) in names.iter().enumerate() {
        println!(
            "| {scenario}: auth-runtime / hand-written | {:.2}x req/s, {:.2}x CPU | |",
            rps(0, i) / rps(1, i),
            cpu(0, i) / cpu(1, i)
        );
    }
    println!();
    println!(
        "flood: {FLOOD_TOKENS} distinct valid tokens for {flood_seconds} s at {:.0} req/s ({} non-2xx); cache bound {} bytes; cache after: {stats}; process RSS {} KiB before, {} KiB after",
        flood_run.requests_per_second,
        flood_run.failures,
        FLOOD_CACHE_BYTES,
        rss_before.map_or("?".into(), |v| v.to_string()),
        rss_after.map_or("?".into(), |v| v.to_string()),
    );
    Ok(())
}
