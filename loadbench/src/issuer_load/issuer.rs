//! One issuer process (`issuer-load serve`) and how the orchestrator starts it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use auth_server::store::{AuthStore as _, MemoryStore, NewSession, PgStore};
use auth_server::{AuthServer, RawServerConfig, ServerConfig};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use serde_json::{Map, Value, json};

use super::client::hex;
use super::{AUDIENCE, BASE, MAX_SESSIONS};
use crate::{App, free_port, http_get};

/// The issuer's configuration: the defaults, with the bounds and per-address limits out of
/// the way of a throughput measurement.
pub(super) fn config(dir: &Path) -> Result<ServerConfig, String> {
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
pub(super) fn serve(args: &[String]) -> Result<(), String> {
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
                    dpop_jkt: None,
                },
                now,
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Starts an issuer process on `store` (`memory`, pre-filled with `prefill` sessions, or a
/// PostgreSQL URL) and waits until it answers.
pub(super) fn start_issuer(dir: &Path, store: &str, prefill: usize) -> Result<App, String> {
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
