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

mod client;
mod cluster;
mod issuer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use auth_server::ServerConfig;
use auth_server::store::PgStore;

use self::client::Client;
use self::cluster::{Cluster, postgres_ticks};
use self::issuer::{config, serve, start_issuer};
use crate::{App, cpu_ticks, median, ticks_per_second};

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
