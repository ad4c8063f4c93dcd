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
//! time per request (process user and system time over requests). The app on auth-runtime
//! runs twice: as the quickstart ships it (the Prometheus recorder and `info` logging) and
//! with metrics and logging off. Then it floods auth-runtime's app with 100,000 distinct
//! valid tokens and reads its cache's bounded size. `LOADBENCH_SECONDS` sets the length of
//! each run (default 10). The ratios the project holds itself to are printed last, each next
//! to its goal.
//!
//! `loadbench/run.sh quick` prints the same ratios in under two minutes (the shipped app and
//! the hand-written one, three rounds of 2 s): a check for regressions, not figures to publish.
//!
//! `cargo run --release -p auth-loadbench -- login-flood` instead measures auth-server's `GET /jwks` while six clients
//! guess the admin password (no wrk needed). `loadbench/run.sh issuers` compares the app
//! trusting one issuer with the same app trusting two, tokens alternating between them.
//! `loadbench/run.sh algorithms` compares RS256, ES256, EdDSA and ML-DSA-65 tokens, with the
//! verified-token cache off and on.
//! `loadbench/run.sh issuer-load`: auth-server's sign-ins and refreshes per second, 1k and 1M live sessions.
//! `loadbench/run.sh flat`: request costs with 1k-1M cached tokens, 1-100 issuers, 0-1M revoked.
//! `loadbench/run.sh dpop`: a DPoP-bound token with a fresh ES256 or EdDSA proof per request,
//! against the same token unbound as `Bearer`, the verified-token cache on and off.

mod algorithms;
mod baseline;
mod compare;
mod dpop;
mod flat;
mod issuer_load;
mod issuers;
mod login_flood;
mod ours;

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use auth_runtime::testing::TestIssuer;
use compare::{Mode, compare};

const AUDIENCE: &str = "bench";
const FLOOD_TOKENS: usize = 100_000;
const FLOOD_CACHE_BYTES: u64 = 16 * 1024 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let served = match args.get(1).map(String::as_str) {
        Some("serve-ours") | Some("serve-shipped") | Some("serve-baseline") => serve(&args),
        Some("quick") => return report(compare(Mode::Quick)),
        Some("issuers") => return report(issuers::run(seconds())),
        Some("algorithms") => return report(algorithms::run(seconds())),
        Some("dpop") => return report(dpop::run(seconds())),
        Some("flat") => return report(flat::run(&args, seconds())),
        Some("login-flood") => return report(login_flood::run(seconds())),
        Some("issuer-load") => return report(issuer_load::run(&args, seconds())),
        _ => return report(compare(Mode::Full)),
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

/// `serve-ours PORT ISSUER CACHE_BYTES` (metrics and logging off), `serve-shipped PORT
/// ISSUER CACHE_BYTES` (as the quickstart ships) or `serve-baseline PORT ISSUER`.
fn serve(args: &[String]) -> std::io::Result<()> {
    let bad = || {
        std::io::Error::other(
            "usage: serve-ours|serve-shipped|serve-baseline PORT ISSUER [CACHE_BYTES]",
        )
    };
    let port: u16 = args.get(2).and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let issuer = args.get(3).cloned().ok_or_else(bad)?;
    let system = actix_web::rt::System::new();
    if args[1] != "serve-baseline" {
        let cache: u64 = args.get(4).and_then(|c| c.parse().ok()).ok_or_else(bad)?;
        let extras = if args[1] == "serve-shipped" {
            ours::Extras::Shipped
        } else {
            ours::Extras::Off
        };
        system.block_on(ours::serve(
            port,
            issuer,
            AUDIENCE.to_owned(),
            cache,
            extras,
        ))
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
    run_wrk(wrk_command(seconds, header, script), url)
}

/// wrk with 1 thread and 32 connections for `seconds`, with `header` or `script`.
fn wrk_command(seconds: u64, header: Option<&str>, script: Option<&Path>) -> Command {
    let mut command = Command::new("wrk");
    command.args(["-t1", "-c32", &format!("-d{seconds}s"), "--latency"]);
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    command
}

/// Runs `command` (wrk with its options) against `url` and reads its figures.
fn run_wrk(mut command: Command, url: &str) -> Result<Run, String> {
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

/// A wrk run against `app` that also measures the app's CPU time per request; a token
/// script starts from its token numbered `start` and starts over from `wrap`.
fn measured_from(
    app: &App,
    url: &str,
    seconds: u64,
    header: Option<&str>,
    script: Option<&Path>,
    (start, wrap): (u64, u64),
) -> Result<Run, String> {
    let mut command = wrk_command(seconds, header, script);
    command.env("LOADBENCH_START", start.to_string());
    command.env("LOADBENCH_WRAP", wrap.to_string());
    let before = cpu_ticks(app.child.id());
    let mut run = run_wrk(command, url)?;
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

/// A wrk script sending each token of `tokens` once, in order, from the one numbered
/// `LOADBENCH_START` in its environment (0 when unset), then starting over from the one
/// numbered `LOADBENCH_WRAP` (0 when unset). Numbers past the end count on from the wrap.
fn token_script(dir: &Path, name: &str, tokens: &[String]) -> Result<PathBuf, String> {
    let list = dir.join(format!("{name}.txt"));
    std::fs::write(&list, tokens.join("\n")).map_err(|e| e.to_string())?;
    let script = dir.join(format!("{name}.lua"));
    let lua = format!(
        r#"local tokens = {{}}
for line in io.lines("{}") do tokens[#tokens + 1] = line end
local n = #tokens
local wrap = tonumber(os.getenv("LOADBENCH_WRAP") or "0") % n
local i = tonumber(os.getenv("LOADBENCH_START") or "0")
if i >= n then i = wrap + (i - wrap) % (n - wrap) end
request = function()
  i = i + 1
  if i > n then i = wrap + 1 end
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
    in_parallel(count, |i| {
        issuer
            .token()
            .sub(&format!("{prefix}-{i}"))
            .expires_in(3600)
            .sign()
    })
}

/// `make(i)` for every `i` below `count`, on every core, in order.
fn in_parallel(count: usize, make: impl Fn(usize) -> String + Sync) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread = count.div_ceil(threads);
    let make = &make;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t * per_thread..((t + 1) * per_thread).min(count))
                        .map(make)
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
