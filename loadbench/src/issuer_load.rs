//! `issuer-load`: auth-server's wallet sign-in and refresh-token rotation under load, with
//! 1,000 and with 1,000,000 live sessions already in the store, for the memory store (one
//! instance: two would not share sessions) and for PostgreSQL (one instance, and two sharing
//! one database, the load spread over both).
//!
//! Each issuer runs in a process of its own (this binary, `issuer-load serve`, actix's default
//! workers), started afresh for every run, so that the CPU time it uses can be read from
//! `/proc`; PostgreSQL's is the sum over the server's processes. The pre-filled sessions are
//! live sessions as a sign-in makes them (identity claims, a refresh-token hash, the
//! configured lifetimes): in memory through the store's own `start_session`, before the store
//! is handed to the issuer; in PostgreSQL with one `INSERT ... SELECT generate_series` into
//! the store's table, on a throwaway cluster of this process's own. Nobody holds their refresh
//! tokens (each hash is of random bytes), as for the sessions of other users.
//!
//! [`CLIENTS`] threads drive the load over keep-alive connections, each request to the next
//! instance in turn: a sign-in is `POST /challenge`, the Ed25519 signature of the challenge,
//! then `POST /sign-in`; a refresh presents the client's current refresh token and keeps the
//! one it gets back. The per-address limits of sign-ins and refreshes
//! (`sign_ins_per_client`) are raised out of reach: every client is 127.0.0.1.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime};

use auth_server::store::{AuthStore as _, MemoryStore, NewSession, PgStore};
use auth_server::{AuthServer, RawServerConfig, ServerConfig};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use serde_json::{Map, Value, json};

use crate::{App, cpu_ticks, free_port, http_get, median, ticks_per_second};

/// Concurrent clients, each with one keep-alive connection per instance.
const CLIENTS: usize = 16;
/// Alternating rounds over every configuration; the medians are reported.
const ROUNDS: usize = 3;
/// Live sessions in the store before the load starts.
const LEVELS: [usize; 2] = [1_000, 1_000_000];
/// Wallets each client signs in with, in turn (a new key per sign-in would measure key
/// generation on the client).
const WALLETS_PER_CLIENT: usize = 32;
/// The bound on live sessions: above every level plus every sign-in of a run.
const MAX_SESSIONS: usize = 10_000_000;
/// Load before the measured window: connections open, caches warm.
const WARM_UP: Duration = Duration::from_secs(1);
const AUDIENCE: &str = "bench";
const BASE: &str = "/api/v1/auth";

/// `issuer-load`, or `issuer-load serve PORT DIR STORE PREFILL` for one issuer process.
pub(crate) fn run(args: &[String], seconds: u64) -> Result<(), String> {
    match args.get(2).map(String::as_str) {
        Some("serve") => serve(&args[3..]),
        _ => orchestrate(seconds),
    }
}

/// The issuer's configuration: the defaults, with the bounds and per-address limits out of
/// the way of a throughput measurement.
fn config(dir: &Path) -> Result<ServerConfig, String> {
    RawServerConfig {
        audience: AUDIENCE.into(),
        signing_key_path: dir.join("signing-key.pem"),
        max_sessions: MAX_SESSIONS,
        max_spent_challenges: MAX_SESSIONS,
        sign_ins_per_client: u32::MAX,
        ..RawServerConfig::default()
    }
    .validate()
    .map_err(|e| e.to_string())
}

/// One issuer process: `PORT DIR STORE PREFILL`, STORE being `memory` or a PostgreSQL URL.
/// It exits when its standard input closes (the orchestrator is gone).
fn serve(args: &[String]) -> Result<(), String> {
    let usage = || "usage: issuer-load serve PORT DIR memory|URL PREFILL".to_owned();
    let port: u16 = args
        .first()
        .and_then(|p| p.parse().ok())
        .ok_or_else(usage)?;
    let dir = PathBuf::from(args.get(1).ok_or_else(usage)?);
    let store = args.get(2).cloned().ok_or_else(usage)?;
    let prefill: usize = args.get(3).and_then(|n| n.parse().ok()).ok_or_else(usage)?;
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let config = config(&dir)?;
    actix_web::rt::System::new().block_on(async move {
        let issuer = if store == "memory" {
            let memory = MemoryStore::with_revocation_file(
                MAX_SESSIONS,
                MAX_SESSIONS,
                dir.join(format!("revoked-{port}.jsonl")),
                SystemTime::now(),
            )
            .map_err(|e| e.to_string())?;
            prefill_memory(&memory, &config, prefill).await?;
            AuthServer::with_store(config, memory)
        } else {
            let pg = PgStore::connect(&store, config.store_pool_size(), MAX_SESSIONS)
                .await
                .map_err(|e| e.to_string())?;
            AuthServer::with_store(config, pg)
        }
        .map_err(|e| e.to_string())?;
        actix_web::HttpServer::new(move || actix_web::App::new().service(issuer.service()))
            .disable_signals()
            .bind(("127.0.0.1", port))
            .map_err(|e| e.to_string())?
            .run()
            .await
            .map_err(|e| e.to_string())
    })
}

/// The identity claims a wallet sign-in stores for `address`.
fn wallet_claims(address: &str) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(address));
    claims.insert("role".into(), json!("wallet"));
    claims.insert("algorithm".into(), json!("Ed25519"));
    claims.insert("wallet_address".into(), json!(address));
    claims
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts `count` live sessions in `store`, each as a wallet sign-in would: its own address,
/// a random id and refresh-token hash, the configured lifetimes.
async fn prefill_memory(
    store: &MemoryStore,
    config: &ServerConfig,
    count: usize,
) -> Result<(), String> {
    let random = SystemRandom::new();
    let now = SystemTime::now();
    for _ in 0..count {
        let mut bytes = [0u8; 80];
        random
            .fill(&mut bytes)
            .map_err(|_| "the system random generator failed")?;
        let (id, rest) = bytes.split_at(16);
        let (token_hash, address) = rest.split_at(32);
        store
            .start_session(
                NewSession {
                    id: id.try_into().map_err(|_| "a 16-byte id")?,
                    claims: wallet_claims(&hex(address)),
                    token_hash: token_hash.try_into().map_err(|_| "a 32-byte hash")?,
                    token_expires_at: now + config.refresh_token_ttl(),
                    ends_at: now + config.session_max(),
                    bounded: true,
                },
                now,
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Where the sessions live in one configuration.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    Memory,
    Postgres,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Postgres => "PostgreSQL",
        }
    }
}

/// `1k`, `1M`.
fn sessions_label(sessions: usize) -> String {
    if sessions >= 1_000_000 {
        format!("{}M", sessions / 1_000_000)
    } else {
        format!("{}k", sessions / 1_000)
    }
}

/// What the load measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    SignIn,
    Refresh,
}

/// One measured run.
struct Sample {
    per_second: f64,
    failures: u64,
    /// Issuer processes' CPU time per operation, in microseconds.
    server_micros: f64,
    /// PostgreSQL's CPU time per operation, in microseconds (memory store: none).
    database_micros: Option<f64>,
}

/// One configuration (a store, live sessions, instances) and its runs.
struct Setup {
    store: StoreKind,
    sessions: usize,
    instances: usize,
    sign_ins: Vec<Sample>,
    refreshes: Vec<Sample>,
}

/// A database of the throwaway cluster, pre-filled with `sessions` live sessions.
struct Database {
    sessions: usize,
    name: String,
    url: String,
}

fn orchestrate(seconds: u64) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("auth-loadbench-issuer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = measure_all(&dir, seconds);
    let _ = std::fs::remove_dir_all(&dir);
    print_table(&result?, seconds);
    Ok(())
}

fn measure_all(dir: &Path, seconds: u64) -> Result<Vec<Setup>, String> {
    let config = config(dir)?;
    eprintln!("starting a throwaway PostgreSQL cluster...");
    let cluster = Cluster::start(&dir.join("pg"))?;
    let mut databases = Vec::new();
    for sessions in LEVELS {
        let name = format!("sessions_{sessions}");
        let url = cluster.create_database(&name)?;
        // The store creates its tables as an issuer would.
        actix_web::rt::System::new()
            .block_on(PgStore::connect(&url, 1, MAX_SESSIONS))
            .map_err(|e| format!("cannot open the PostgreSQL store: {e}"))?;
        eprintln!("pre-filling {name} with {sessions} live sessions...");
        let started = Instant::now();
        cluster.sql_in(&name, &prefill_sql(sessions, &config))?;
        cluster.sql_in(&name, "VACUUM ANALYZE")?;
        // Live as the store counts them when a sign-in meets the bound.
        let live = cluster.sql_in(
            &name,
            "SELECT count(*) FROM auth_sessions
             WHERE revoked_at IS NULL AND ends_at > now() AND token_expires_at > now()",
        )?;
        let size = cluster.sql_in(
            &name,
            "SELECT pg_size_pretty(pg_total_relation_size('auth_sessions'))",
        )?;
        eprintln!(
            "  {:.1} s; {live} live sessions; table and indexes {size}",
            started.elapsed().as_secs_f64()
        );
        databases.push(Database {
            sessions,
            name,
            url,
        });
    }
    // Two memory stores would be two sets of sessions: one instance only.
    let mut setups: Vec<Setup> = [
        (StoreKind::Memory, 1),
        (StoreKind::Postgres, 1),
        (StoreKind::Postgres, 2),
    ]
    .into_iter()
    .flat_map(|(store, instances)| {
        LEVELS.map(|sessions| Setup {
            store,
            sessions,
            instances,
            sign_ins: Vec::new(),
            refreshes: Vec::new(),
        })
    })
    .collect();
    let postmaster = cluster.postmaster()?;
    for round in 1..=ROUNDS {
        for setup in &mut setups {
            let database = databases
                .iter()
                .find(|database| database.sessions == setup.sessions)
                .ok_or("no database for a level")?;
            let servers = (0..setup.instances)
                .map(|_| match setup.store {
                    StoreKind::Memory => start_issuer(dir, "memory", setup.sessions),
                    StoreKind::Postgres => start_issuer(dir, &database.url, 0),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let database_pid = (setup.store == StoreKind::Postgres).then_some(postmaster);
            for flow in [Flow::Refresh, Flow::SignIn] {
                let sample = measure(&servers, database_pid, flow, seconds)?;
                eprintln!(
                    "round {round}/{ROUNDS}, {}, {} sessions, {} instance(s): {} {:.0}/s, {:.0} µs \
                     issuer CPU{}{}",
                    setup.store.name(),
                    sessions_label(setup.sessions),
                    setup.instances,
                    match flow {
                        Flow::SignIn => "sign-in",
                        Flow::Refresh => "refresh",
                    },
                    sample.per_second,
                    sample.server_micros,
                    sample
                        .database_micros
                        .map_or(String::new(), |us| format!(", {us:.0} µs PostgreSQL CPU")),
                    if sample.failures > 0 {
                        format!(", {} failed", sample.failures)
                    } else {
                        String::new()
                    },
                );
                match flow {
                    Flow::SignIn => setup.sign_ins.push(sample),
                    Flow::Refresh => setup.refreshes.push(sample),
                }
            }
            drop(servers);
            if setup.store == StoreKind::Postgres {
                // Back to the pre-filled sessions only: those started by the load go.
                cluster.sql_in(
                    &database.name,
                    "DELETE FROM auth_sessions WHERE started_at > now() - interval '1 hour'",
                )?;
                cluster.sql_in(&database.name, "DELETE FROM auth_spent_challenges")?;
                cluster.sql_in(
                    &database.name,
                    "VACUUM auth_sessions, auth_spent_challenges",
                )?;
            }
        }
    }
    Ok(setups)
}

/// `count` live wallet sessions in one statement, shaped as the store writes them: a random
/// id and address, the hash of a refresh token nobody holds, the configured lifetimes.
fn prefill_sql(count: usize, config: &ServerConfig) -> String {
    format!(
        "INSERT INTO auth_sessions (id, claims, token_hash, token_expires_at, ends_at, started_at)
         SELECT uuid_send(gen_random_uuid()),
                jsonb_build_object('sub', address, 'role', 'wallet', 'algorithm', 'Ed25519',
                                   'wallet_address', address),
                sha256(uuid_send(gen_random_uuid())),
                now() + make_interval(secs => {}),
                now() + make_interval(secs => {}),
                now() - interval '1 day'
         FROM (SELECT encode(sha256(uuid_send(gen_random_uuid())), 'hex') AS address
               FROM generate_series(1, {count})) AS wallets",
        config.refresh_token_ttl().as_secs(),
        config.session_max().as_secs(),
    )
}

/// Starts an issuer process on `store` (`memory`, pre-filled with `prefill` sessions, or a
/// PostgreSQL URL) and waits until it answers.
fn start_issuer(dir: &Path, store: &str, prefill: usize) -> Result<App, String> {
    let port = free_port()?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .arg("issuer-load")
        .arg("serve")
        .arg(port.to_string())
        .arg(dir)
        .arg(store)
        .arg(prefill.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start an issuer: {e}"))?;
    let mut app = App {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if http_get(&app.base, &format!("{BASE}/jwks"), None)
            .is_some_and(|(status, _)| status == 200)
        {
            return Ok(app);
        }
        if let Ok(Some(status)) = app.child.try_wait() {
            return Err(format!("the issuer process exited ({status})"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the issuer did not answer on {}", app.base))
}

/// A keep-alive HTTP/1.1 connection, enough for JSON POSTs to actix.
struct Connection {
    addr: String,
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(addr: &str) -> Result<Connection, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        Ok(Connection {
            addr: addr.to_owned(),
            reader: BufReader::new(stream),
        })
    }

    /// POSTs `body` to `path`; the status and the body of the answer. A connection that
    /// failed is opened again for the next request.
    fn post(&mut self, path: &str, body: &str) -> Result<(u16, Vec<u8>), String> {
        let result = self.exchange(path, body);
        if result.is_err() {
            *self = Connection::open(&self.addr)?;
        }
        result
    }

    fn exchange(&mut self, path: &str, body: &str) -> Result<(u16, Vec<u8>), String> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let io = |e: std::io::Error| e.to_string();
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .map_err(io)?;
        let mut line = String::new();
        self.reader.read_line(&mut line).map_err(io)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {line:?}"))?;
        let mut length = None;
        loop {
            line.clear();
            self.reader.read_line(&mut line).map_err(io)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut answer = vec![0; length.ok_or("an answer without Content-Length")?];
        self.reader.read_exact(&mut answer).map_err(io)?;
        Ok((status, answer))
    }
}

/// A string field of a JSON answer.
fn field(body: &[u8], name: &str) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get(name)?
        .as_str()
        .map(str::to_owned)
}

/// One client: a connection per instance, used in turn, and its wallets.
struct Client {
    connections: Vec<Connection>,
    next: usize,
    wallets: Vec<(Ed25519KeyPair, String)>,
    next_wallet: usize,
}

impl Client {
    fn new(addrs: &[String]) -> Result<Client, String> {
        let wallets = (0..WALLETS_PER_CLIENT)
            .map(|_| {
                let key = Ed25519KeyPair::generate().map_err(|_| "cannot make an Ed25519 key")?;
                let address = hex(key.public_key().as_ref());
                Ok::<_, String>((key, address))
            })
            .collect::<Result<_, _>>()?;
        Ok(Client {
            connections: addrs
                .iter()
                .map(|a| Connection::open(a))
                .collect::<Result<_, _>>()?,
            next: 0,
            wallets,
            next_wallet: 0,
        })
    }

    /// POSTs to the next instance; the body of a 200, or what went wrong.
    fn post(&mut self, path: &str, body: &str) -> Result<Vec<u8>, String> {
        self.next = (self.next + 1) % self.connections.len();
        let (status, answer) = self.connections[self.next].post(&format!("{BASE}{path}"), body)?;
        if status == 200 {
            Ok(answer)
        } else {
            Err(format!(
                "{path}: {status} {}",
                String::from_utf8_lossy(&answer)
            ))
        }
    }

    /// A whole wallet sign-in with the next wallet; its refresh token.
    fn sign_in(&mut self) -> Result<String, String> {
        self.next_wallet = (self.next_wallet + 1) % self.wallets.len();
        let address = self.wallets[self.next_wallet].1.clone();
        let answer = self.post("/challenge", &format!(r#"{{"address":"{address}"}}"#))?;
        let challenge = field(&answer, "challenge").ok_or("no challenge in the answer")?;
        let signature = hex(self.wallets[self.next_wallet]
            .0
            .sign(challenge.as_bytes())
            .as_ref());
        let answer = self.post(
            "/sign-in",
            &format!(
                r#"{{"address":"{address}","public_key":"{address}","signature":"{signature}","challenge":"{challenge}","algorithm":"Ed25519"}}"#
            ),
        )?;
        field(&answer, "refresh_token").ok_or_else(|| "no refresh_token in the answer".to_owned())
    }

    /// Rotates `token`; the new refresh token.
    fn refresh(&mut self, token: &str) -> Result<String, String> {
        let answer = self.post("/refresh", &format!(r#"{{"refresh_token":"{token}"}}"#))?;
        field(&answer, "refresh_token").ok_or_else(|| "no refresh_token in the answer".to_owned())
    }
}

/// CPU time used so far by a PostgreSQL server: the postmaster (with its children that
/// exited) and the processes it started.
fn postgres_ticks(postmaster: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{postmaster}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime, stime, cutime, cstime: fields 14 to 17 of stat, counted from the state (3).
    let own: u64 = (11..15)
        .map(|i| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    let parent = postmaster.to_string();
    let children: u64 = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            (fields.get(1) == Some(&parent.as_str())).then_some(())?;
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    Some(own + children)
}

/// CPU ticks of the issuers and of the database, now.
fn ticks(servers: &[App], database: Option<u32>) -> (u64, Option<u64>) {
    let server = servers
        .iter()
        .map(|app| cpu_ticks(app.child.id()).unwrap_or(0))
        .sum();
    (server, database.and_then(postgres_ticks))
}

/// Runs `flow` with [`CLIENTS`] clients spread over `servers`: a warm-up, then `seconds`
/// measured.
fn measure(
    servers: &[App],
    database: Option<u32>,
    flow: Flow,
    seconds: u64,
) -> Result<Sample, String> {
    let addrs: Vec<String> = servers
        .iter()
        .map(|app| app.base.trim_start_matches("http://").to_owned())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_failure: Arc<Mutex<Option<String>>> = Arc::default();
    // Every client has its connections, wallets and session before the warm-up starts.
    let ready = Arc::new(Barrier::new(CLIENTS + 1));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (addrs, stop, done, failed, first_failure, ready) = (
                addrs.clone(),
                Arc::clone(&stop),
                Arc::clone(&done),
                Arc::clone(&failed),
                Arc::clone(&first_failure),
                Arc::clone(&ready),
            );
            std::thread::spawn(move || -> Result<(), String> {
                let prepared = Client::new(&addrs).and_then(|mut client| {
                    let token = match flow {
                        Flow::Refresh => client.sign_in()?,
                        Flow::SignIn => String::new(),
                    };
                    Ok((client, token))
                });
                ready.wait();
                let (mut client, mut token) = prepared?;
                while !stop.load(Ordering::Relaxed) {
                    let result = match flow {
                        Flow::SignIn => client.sign_in().map(drop),
                        Flow::Refresh => client.refresh(&token).map(|next| token = next),
                    };
                    match result {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(err) => {
                            first_failure
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(err);
                            // A refresh refused for good leaves the client without a session.
                            if flow == Flow::Refresh {
                                token = client.sign_in()?;
                            }
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
                Ok(())
            })
        })
        .collect();
    ready.wait();
    std::thread::sleep(WARM_UP);
    let (done_before, failed_before) =
        (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let (server_before, database_before) = ticks(servers, database);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let (server_after, database_after) = ticks(servers, database);
    let elapsed = started.elapsed().as_secs_f64();
    let operations = done.load(Ordering::Relaxed) - done_before;
    let failures = failed.load(Ordering::Relaxed) - failed_before;
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread
            .join()
            .map_err(|_| "a client thread panicked".to_owned())??;
    }
    if let Some(failure) = first_failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        eprintln!("  first failure: {failure}");
    }
    if operations == 0 {
        return Err("no operation completed in the measured window".into());
    }
    let micros = |ticks: u64| ticks as f64 / ticks_per_second() * 1e6 / operations as f64;
    Ok(Sample {
        per_second: operations as f64 / elapsed,
        failures,
        server_micros: micros(server_after.saturating_sub(server_before)),
        database_micros: database_before
            .zip(database_after)
            .map(|(before, after)| micros(after.saturating_sub(before))),
    })
}

fn print_table(setups: &[Setup], seconds: u64) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "{cores} cores; {CLIENTS} client threads on the same cores, keep-alive, loopback; \
         {seconds} s per run after {} s of warm-up; median of {ROUNDS} alternating rounds; \
         CPU per operation from /proc (issuer processes; PostgreSQL's processes)",
        WARM_UP.as_secs()
    );
    println!();
    println!(
        "| store | live sessions | instances | sign-ins/s | CPU per sign-in (issuer + PostgreSQL) | refreshes/s | CPU per refresh (issuer + PostgreSQL) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let cell = |samples: &[Sample]| {
        let rate = median(samples.iter().map(|s| s.per_second).collect());
        let server = median(samples.iter().map(|s| s.server_micros).collect());
        let database = samples
            .iter()
            .map(|s| s.database_micros)
            .collect::<Option<Vec<f64>>>()
            .map(median);
        let failures: u64 = samples.iter().map(|s| s.failures).sum();
        let cpu = match database {
            Some(database) => format!("{server:.0} µs + {database:.0} µs"),
            None => format!("{server:.0} µs"),
        };
        let failed = if failures > 0 {
            format!(" ({failures} failed)")
        } else {
            String::new()
        };
        (format!("{rate:.0}{failed}"), cpu)
    };
    for setup in setups {
        let (sign_ins, sign_in_cpu) = cell(&setup.sign_ins);
        let (refreshes, refresh_cpu) = cell(&setup.refreshes);
        println!(
            "| {} | {} | {} | {sign_ins} | {sign_in_cpu} | {refreshes} | {refresh_cpu} |",
            setup.store.name(),
            sessions_label(setup.sessions),
            setup.instances,
        );
    }
    println!();
    println!(
        "A sign-in is two requests (challenge, sign-in). Per-address limits \
         (sign_ins_per_client, which also bounds refreshes) raised out of reach: every client is \
         127.0.0.1. Two memory-store instances would not share sessions, so the memory store \
         runs one."
    );
}

/// A throwaway PostgreSQL cluster on loopback: `initdb` in a temporary folder, the server as a
/// child of a watchdog shell that stops it, and removes the folder, when this process's end
/// of its standard input closes (even if this process is killed).
struct Cluster {
    bin: PathBuf,
    root: PathBuf,
    data: PathBuf,
    port: u16,
    watchdog: std::process::Child,
}

const PG_USER: &str = "auth";
const PG_PASSWORD: &str = "loadbench-only-password";

impl Cluster {
    fn start(root: &Path) -> Result<Cluster, String> {
        let bin = pg_bin_dir()?;
        let owner = pg_owner()?;
        std::fs::create_dir_all(root).map_err(|e| e.to_string())?;
        let pwfile = root.join("pw");
        std::fs::write(&pwfile, PG_PASSWORD).map_err(|e| e.to_string())?;
        if let Some((uid, gid)) = owner {
            for path in [root, pwfile.as_path()] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
            }
        }
        let data = root.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                PG_USER,
                "--auth=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_owner(&mut initdb, owner, root);
        let out = initdb
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = free_port()?;
        // Durability off, as in the store's tests: the figures are CPU, not this disk.
        let script = r#"
            "$1/postgres" -D "$2" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 \
                -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                >"$4/server.log" 2>&1 &
            pid=$!
            read -r _
            kill -INT "$pid"
            wait "$pid"
            rm -rf "$4"
        "#;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&bin)
            .arg(&data)
            .arg(port.to_string())
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_owner(&mut command, owner, root);
        let watchdog = command
            .spawn()
            .map_err(|e| format!("cannot start postgres: {e}"))?;
        let cluster = Cluster {
            bin,
            root: root.to_owned(),
            data,
            port,
            watchdog,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Command::new(cluster.bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
            .status()
            .is_ok_and(|s| s.success())
        {
            if Instant::now() > deadline {
                return Err(format!(
                    "postgres did not start; see {}",
                    cluster.root.join("server.log").display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(cluster)
    }

    /// Creates database `name`; its URL.
    fn create_database(&self, name: &str) -> Result<String, String> {
        self.sql_in("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(format!(
            "postgres://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{}/{name}",
            self.port
        ))
    }

    /// The answer of `psql` to `query` on `database`, over the server's Unix socket.
    fn sql_in(&self, database: &str, query: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-U", PG_USER, "-d", database])
            .args(["-v", "ON_ERROR_STOP=1", "-Atc", query])
            .env("PGPASSWORD", PG_PASSWORD)
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The server's main process.
    fn postmaster(&self) -> Result<u32, String> {
        std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|pid| pid.lines().next()?.trim().parse().ok())
            .ok_or_else(|| "cannot read postmaster.pid".to_owned())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The watchdog stops the server when its standard input closes.
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// The folder of `initdb`, `postgres` and `psql`: `PG_BIN`, else the newest install under
/// `/usr/lib/postgresql` (Debian), else `pg_config --bindir`.
fn pg_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some(bin) = versions.pop() {
        return Ok(bin);
    }
    Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .filter(|dir| dir.join("initdb").exists())
        .ok_or_else(|| {
            "PostgreSQL's server binaries (initdb, postgres, psql) were not found under \
             /usr/lib/postgresql/*/bin nor by pg_config: install PostgreSQL (apt-get install \
             postgresql; loadbench/run.sh issuer-load does it on Debian) or set PG_BIN to \
             their folder"
                .to_owned()
        })
}

/// PostgreSQL refuses to run as root: then the cluster belongs to `postgres` (or `nobody`).
fn pg_owner() -> Result<Option<(u32, u32)>, String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for name in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3
                && fields[0] == name
                && let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse())
            {
                return Ok(Some((uid, gid)));
            }
        }
    }
    Err("running as root and neither a `postgres` nor a `nobody` user exists".into())
}

/// Runs `command` in `dir` as `owner`, when one is needed.
fn as_owner(command: &mut Command, owner: Option<(u32, u32)>, dir: &Path) {
    use std::os::unix::process::CommandExt as _;
    command.current_dir(dir);
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid).env("HOME", dir);
    }
}
