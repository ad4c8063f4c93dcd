//! `dpop`: the protected route of auth-runtime's app (metrics and logging off) called with
//! one token bound to a client key, each request with a fresh proof (ES256, then EdDSA), the
//! verified-token cache on and off; next to the same token unbound, sent as `Bearer`. Each
//! run reports throughput and the app's CPU time per request.
//!
//! A proof is single-use and must be recent, so each run's proofs are signed (on every core)
//! right before it, for the app's own URL, more than the run can send.

use std::path::{Path, PathBuf};

use auth_runtime::Algorithm;
use auth_runtime::testing::{DpopKey, TestIssuer};

use crate::compare::thread_cpu_nanos;
use crate::{AUDIENCE, App, http_get, in_parallel, measured_from, median, start_app};

/// Proofs signed per second of a run, more than the app answers on these cores; a run that
/// uses them up ends early.
const PROOFS_PER_SECOND: usize = 25_000;

/// Rounds per cell; the median is reported.
const ROUNDS: usize = 3;

pub(crate) fn run(seconds: u64) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("auth-loadbench-dpop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let issuer = TestIssuer::start_with(Algorithm::RS256, AUDIENCE);
    let mut lines = Vec::new();
    let mut bare = Vec::new();
    for cache in [32 * 1024 * 1024u64, 0] {
        let app = start_app("serve-ours", issuer.issuer(), cache)?;
        let _ = http_get(&app.base, "/health", None);
        let cache_name = if cache == 0 { "off" } else { "on" };

        let bearer = issuer.token().sub("bearer").expires_in(3600).sign();
        let header = format!("Authorization: Bearer {bearer}");
        let mut cpu = Vec::new();
        for _ in 0..ROUNDS {
            eprintln!("bearer, cache {cache_name}...");
            let run = measured_from(
                &app,
                &format!("{}/api/profile", app.base),
                seconds,
                Some(&header),
                None,
                (0, 0),
            )?;
            check_failures(run.failures, run.requests, "bearer")?;
            cpu.push(run.cpu_micros.unwrap_or(f64::NAN));
        }
        lines.push(row("Bearer, unbound", cache_name, &cpu));

        for alg in [Algorithm::ES256, Algorithm::EdDSA] {
            let client = DpopKey::generate(alg);
            let token = issuer
                .token()
                .sub("dpop")
                .bound_to(&client)
                .expires_in(3600)
                .sign();
            let mut cpu = Vec::new();
            for round in 0..ROUNDS {
                // A fresh app each round: its replay record holds this round's proofs only.
                // They are all signed before the run, so that many share an `iat`; a record
                // already full would have to refuse some of them (a client that signs each
                // proof as it sends it never meets that).
                let app = start_app("serve-ours", issuer.issuer(), cache)?;
                let (script, proofs) = proof_script(&dir, &app, &client, &token, seconds, round)?;
                if cache != 0 && round == 0 {
                    bare.push(format!(
                        "{alg}: {:.2} µs",
                        bare_verify_micros(&client, &proofs)?
                    ));
                }
                eprintln!("DPoP {alg}, cache {cache_name}...");
                let run = measured_from(
                    &app,
                    &format!("{}/api/profile", app.base),
                    seconds,
                    None,
                    Some(&script),
                    (0, 0),
                )?;
                check_failures(run.failures, run.requests, "DPoP")?;
                cpu.push(run.cpu_micros.unwrap_or(f64::NAN));
            }
            lines.push(row(&format!("DPoP, {alg} proofs"), cache_name, &cpu));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "{cores} cores; wrk 1 thread, 32 connections, {seconds} s per run, median of {ROUNDS} \
         rounds; RS256 access token; every DPoP request with a proof never sent before"
    );
    println!();
    // Throughput is not shown: a run ends when its proofs run out, so it says how many were
    // signed, not how fast the app went.
    println!("| request | verified-token cache | app CPU per request |");
    println!("|---|---|---|");
    for line in lines {
        println!("{line}");
    }
    println!();
    println!(
        "Bare verification of a proof's signature, same process, key parsed once: {}",
        bare.join(", ")
    );
    Ok(())
}

/// The CPU time of verifying one proof's signature alone (aws-lc, the key parsed once), in
/// microseconds: the median of seven batches of 500.
fn bare_verify_micros(client: &DpopKey, proofs: &[String]) -> Result<f64, String> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let jwk = client.public_jwk();
    let decode = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(jwk[name].as_str().unwrap_or_default())
            .map_err(|e| e.to_string())
    };
    let key = match client.algorithm() {
        Algorithm::ES256 => {
            let mut point = vec![0x04];
            point.extend(decode("x")?);
            point.extend(decode("y")?);
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        }
        _ => ParsedPublicKey::new(&ED25519, &decode("x")?),
    }
    .map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    for batch in proofs.chunks(500).take(7) {
        let started = thread_cpu_nanos()?;
        for proof in batch {
            let (signed, signature) = proof.rsplit_once('.').ok_or("a proof has three parts")?;
            let signature = URL_SAFE_NO_PAD
                .decode(signature)
                .map_err(|e| e.to_string())?;
            key.verify_sig(signed.as_bytes(), &signature)
                .map_err(|_| "a proof does not verify".to_owned())?;
        }
        let spent = thread_cpu_nanos()? - started;
        batches.push(spent as f64 / 1e3 / batch.len() as f64);
    }
    Ok(median(batches))
}

fn row(request: &str, cache: &str, cpu: &[f64]) -> String {
    format!("| {request} | {cache} | {:.2} µs |", median(cpu.to_vec()))
}

/// A run where any request is refused measures refusals, not DPoP.
fn check_failures(failures: u64, requests: u64, what: &str) -> Result<(), String> {
    if failures > 0 {
        return Err(format!(
            "{failures} {what} requests were refused (of {requests}): proofs ran out or went stale"
        ));
    }
    Ok(())
}

/// A wrk script sending `token` with one fresh proof per request, signed now for the app's
/// `/api/profile`.
fn proof_script(
    dir: &Path,
    app: &App,
    client: &DpopKey,
    token: &str,
    seconds: u64,
    round: usize,
) -> Result<(PathBuf, Vec<String>), String> {
    let url = format!("{}/api/profile", app.base);
    let count = PROOFS_PER_SECOND * seconds as usize;
    let proofs = in_parallel(count, |_| client.proof("GET", &url, token));
    let name = format!("{}-{round}", client.algorithm());
    let list = dir.join(format!("{name}.txt"));
    std::fs::write(&list, proofs.join("\n")).map_err(|e| e.to_string())?;
    let script = dir.join(format!("{name}.lua"));
    let lua = format!(
        r#"local proofs = {{}}
for line in io.lines("{}") do proofs[#proofs + 1] = line end
local i = 0
request = function()
  i = i + 1
  if i > #proofs then
    -- Out of proofs: the run ends here, and the few requests still to go are anonymous.
    wrk.thread:stop()
    return wrk.format("GET", "/health")
  end
  return wrk.format("GET", "/api/profile", {{
    ["Authorization"] = "DPoP {token}",
    ["DPoP"] = proofs[i],
  }})
end
"#,
        list.display()
    );
    std::fs::write(&script, lua).map_err(|e| e.to_string())?;
    Ok((script, proofs))
}
