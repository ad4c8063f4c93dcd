//! `login-flood`: an embedded auth-server (actix's default workers) while six clients guess
//! the admin password as fast as they can; a seventh client times `GET /api/v1/auth/jwks`,
//! one request after another. Three phases: no flood, a flood with throttling out of the way
//! (every guess costs an argon2id check), and a flood under the default throttling.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer};
use auth_server::{AuthServer, RawServerConfig};

const GUESSERS: usize = 6;

/// Sends one request on a new connection; the status.
fn request(addr: &str, method: &str, path: &str, body: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Phase {
    jwks: Vec<Duration>,
    guesses: [u64; 4],
}

/// Starts an issuer with `raw` on a loopback port; its address.
fn start(raw: RawServerConfig) -> Result<(String, actix_web::dev::ServerHandle), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let started = (|| {
                let issuer = AuthServer::new(raw.validate().map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
                let server = HttpServer::new(move || App::new().service(issuer.service()))
                    .disable_signals()
                    .bind("127.0.0.1:0")
                    .map_err(|e| e.to_string())?;
                let addr = server.addrs()[0].to_string();
                Ok::<_, String>((addr, server.run()))
            })();
            match started {
                Ok((addr, server)) => {
                    let _ = tx.send(Ok((addr, server.handle())));
                    let _ = server.await;
                }
                Err(err) => {
                    let _ = tx.send(Err(err));
                }
            }
        });
    });
    rx.recv().map_err(|e| e.to_string())?
}

fn phase(addr: &str, flood: bool, seconds: u64) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let guessers: Vec<_> = (0..if flood { GUESSERS } else { 0 })
        .map(|n| {
            let (addr, stop, counts) = (addr.to_owned(), Arc::clone(&stop), Arc::clone(&counts));
            std::thread::spawn(move || {
                let mut guess = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    guess += 1;
                    let body = format!(
                        r#"{{"email": "admin@example.com", "password": "guess {n} {guess}"}}"#
                    );
                    let slot = match request(&addr, "POST", "/api/v1/auth/login", &body) {
                        Some(401) => 0,
                        Some(429) => 1,
                        Some(503) => 2,
                        _ => 3,
                    };
                    counts[slot].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut jwks = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        if request(addr, "GET", "/api/v1/auth/jwks", "") == Some(200) {
            jwks.push(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for guesser in guessers {
        let _ = guesser.join();
    }
    jwks.sort();
    Phase {
        jwks,
        guesses: std::array::from_fn(|i| counts[i].load(Ordering::Relaxed)),
    }
}

pub(crate) fn run(seconds: u64) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("loadbench-login-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let raw = |throttled: bool| {
        let mut raw = RawServerConfig {
            audience: "bench".into(),
            signing_key_path: dir.join("signing-key.pem"),
            auto_create_admin: true,
            admin_email: "admin@example.com".into(),
            admin_password: "a long and strong bench password".into(),
            ..RawServerConfig::default()
        };
        if !throttled {
            raw.login_failures_per_client = u32::MAX;
            raw.login_failures_per_account = u32::MAX;
        }
        raw
    };
    println!(
        "\n## Password-login flood ({GUESSERS} guessing clients, {} cores, {seconds} s per phase)\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| phase | JWKS median | JWKS p99 | JWKS samples | guesses checked (401) | 429 | 503 | other |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, throttled, flood) in [
        ("no flood", true, false),
        ("flood, throttling off", false, true),
        ("flood, default throttling", true, true),
    ] {
        let (addr, handle) = start(raw(throttled))?;
        let result = phase(&addr, flood, seconds);
        drop(handle.stop(false));
        let [checked, throttled_count, busy, other] = result.guesses;
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {} | {checked} | {throttled_count} | {busy} | {other} |",
            percentile(&result.jwks, 0.5).as_secs_f64() * 1e3,
            percentile(&result.jwks, 0.99).as_secs_f64() * 1e3,
            result.jwks.len(),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
