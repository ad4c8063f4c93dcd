//! Two issuer instances as separate processes on one PostgreSQL database: each is this test
//! binary started again to run `issuer_instance` alone, configured through SERVER_AUTH__*
//! variables as a deployment would be.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use auth_server::WalletAlgorithm;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::pg::{Cluster, fresh_database};
use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Server, Wallet, challenge_for, client, field, get, post, refresh,
    sign_in, temp_dir,
};

const STORE_URL: &str = "AUTH_TEST_INSTANCE_STORE_URL";
const KEY_PATH: &str = "AUTH_TEST_INSTANCE_KEY_PATH";

/// The body of a child process: one issuer with its validator, until the parent goes away.
#[actix_web::test]
#[ignore = "started as a child process by the two-instance tests"]
async fn issuer_instance() {
    let (Ok(url), Ok(key)) = (std::env::var(STORE_URL), std::env::var(KEY_PATH)) else {
        return;
    };
    // SAFETY: the child runs this one test alone, before any other thread reads the
    // environment.
    unsafe {
        std::env::set_var("SERVER_AUTH__STORE_URL", url);
        std::env::set_var("SERVER_AUTH__SIGNING_KEY_PATH", key);
        std::env::set_var("SERVER_AUTH__ISSUER", "http://127.0.0.1:8100");
        std::env::set_var("SERVER_AUTH__AUDIENCE", "test-app");
        std::env::set_var("SERVER_AUTH__AUTO_CREATE_ADMIN", "true");
        std::env::set_var("SERVER_AUTH__ADMIN_EMAIL", ADMIN_EMAIL);
        std::env::set_var("SERVER_AUTH__ADMIN_PASSWORD", ADMIN_PASSWORD);
        // The races sign in many times from one address.
        std::env::set_var("SERVER_AUTH__SIGN_INS_PER_CLIENT", "1000000");
    }
    let figment = auth_server::figment_from_optional("/nonexistent/config.yaml");
    let (issuer, auth) = auth_server::embed(&figment).await.expect("issuer");
    let server = crate::support::serve(&issuer, auth);
    println!("listening {}", server.base);
    // The parent holds our stdin: when it closes, the test is over.
    std::thread::spawn(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
        std::process::exit(0);
    });
    std::future::pending::<()>().await;
}

struct Instance {
    child: Child,
    server: Server,
}

impl Instance {
    /// An instance with `refresh_reuse_grace_seconds` set to `grace_seconds`, through its
    /// environment variable.
    fn start(store_url: &str, key: &Path, grace_seconds: u64) -> Instance {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "instances::issuer_instance",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(STORE_URL, store_url)
            .env(KEY_PATH, key)
            .env(
                "SERVER_AUTH__REFRESH_REUSE_GRACE_SECONDS",
                grace_seconds.to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start an instance");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("the instance printed its address")
                .expect("stdout");
            // libtest prints `test instances::issuer_instance ... ` first, on the same line.
            if let Some((_, base)) = line.split_once("listening ") {
                break base.trim().to_owned();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Instance {
            child,
            server: Server::external(base),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn two_instances(store_url: &str) -> (Instance, Instance) {
    two_instances_with_grace(store_url, 0)
}

/// Two instances with `refresh_reuse_grace_seconds: grace_seconds`.
fn two_instances_with_grace(store_url: &str, grace_seconds: u64) -> (Instance, Instance) {
    let key = temp_dir().join("signing-key.pem");
    // The first creates the signing key, the second finds it.
    let a = Instance::start(store_url, &key, grace_seconds);
    let b = Instance::start(store_url, &key, grace_seconds);
    (a, b)
}

#[actix_web::test]
async fn two_instances_share_challenges_sessions_and_reuse_detection() {
    let (a, b) = two_instances(&fresh_database());
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);

    // A challenge issued by A completes on B; B's token is accepted by A's validator.
    let challenge = challenge_for(&a.server, &wallet.address()).await;
    let (status, signed) = post(
        &b.server,
        "/api/v1/auth/sign-in",
        wallet.sign_in_body(&challenge),
    )
    .await;
    assert_eq!(status, 200, "{signed}");
    let (status, _) = post(
        &a.server,
        "/api/v1/auth/sign-in",
        wallet.sign_in_body(&challenge),
    )
    .await;
    assert_eq!(status, 401, "the challenge is spent for both");
    let access = field(&signed, "access_token");
    assert_eq!(get(&a.server, "/api/profile", Some(&access)).await.0, 200);

    // Refresh on A, reuse on B: detected, and nothing of the session works on either.
    let r1 = field(&signed, "refresh_token");
    let (status, second) = refresh(&a.server, &r1).await;
    assert_eq!(status, 200, "{second}");
    let r2 = field(&second, "refresh_token");
    let (status, answer) = refresh(&b.server, &r1).await;
    assert_eq!(status, 401);
    assert!(
        field(&answer, "detail").contains("already used"),
        "{answer}"
    );
    assert_eq!(refresh(&a.server, &r2).await.0, 401);
    assert_eq!(refresh(&b.server, &r2).await.0, 401);

    // Sign-in on A, refresh on B, reuse on A: detected, and B's token dies with the session.
    let (status, on_a) = sign_in(&a.server, &wallet).await;
    assert_eq!(status, 200, "{on_a}");
    let first = field(&on_a, "refresh_token");
    let (status, on_b) = refresh(&b.server, &first).await;
    assert_eq!(status, 200, "{on_b}");
    let (status, answer) = refresh(&a.server, &first).await;
    assert_eq!(status, 401);
    assert!(
        field(&answer, "detail").contains("already used"),
        "{answer}"
    );
    assert_eq!(
        refresh(&b.server, &field(&on_b, "refresh_token")).await.0,
        401
    );

    // The admin logs in on B and refreshes on A.
    let (status, login) = post(
        &b.server,
        "/api/v1/auth/login",
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let (status, renewed) = refresh(&a.server, &field(&login, "refresh_token")).await;
    assert_eq!(status, 200, "{renewed}");
    let (status, _) = get(
        &b.server,
        "/api/admin/dashboard",
        Some(&field(&renewed, "access_token")),
    )
    .await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn concurrent_refreshes_across_two_instances_leave_nothing_working() {
    let (a, b) = two_instances(&fresh_database());
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    for trial in 0..30 {
        let (_, signed) = sign_in(&a.server, &wallet).await;
        let r1 = field(&signed, "refresh_token");
        let racers = if trial % 2 == 0 { 2 } else { 4 };
        let answers = join_all((0..racers).map(|n| {
            let server = if n % 2 == 0 { &a.server } else { &b.server };
            refresh(server, &r1)
        }))
        .await;
        assert!(
            answers.iter().all(|(s, _)| *s == 200 || *s == 401),
            "{answers:?}"
        );
        let winners: Vec<&Value> = answers
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, answer)| answer)
            .collect();
        assert!(winners.len() <= 1, "trial {trial}: {answers:?}");
        for winner in winners {
            let next = field(winner, "refresh_token");
            assert_eq!(refresh(&a.server, &next).await.0, 401, "trial {trial}");
            assert_eq!(refresh(&b.server, &next).await.0, 401, "trial {trial}");
        }
    }
}

#[actix_web::test]
async fn a_database_restart_gives_503s_then_service_resumes_with_sessions_intact() {
    let mut cluster = Cluster::start();
    let (a, b) = two_instances(&cluster.create_database());
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (status, signed) = sign_in(&a.server, &wallet).await;
    assert_eq!(status, 200, "{signed}");
    let (status, second) = refresh(&b.server, &field(&signed, "refresh_token")).await;
    assert_eq!(status, 200, "{second}");
    let r2 = field(&second, "refresh_token");

    cluster.stop();
    for server in [&a.server, &b.server] {
        let res = client()
            .post(format!("{}/api/v1/auth/refresh", server.base))
            .json(&json!({ "refresh_token": r2 }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 503);
        assert!(res.headers().contains_key("retry-after"));
        let (status, answer) = sign_in(server, &wallet).await;
        assert_eq!(status, 503, "{answer}");
        let (status, answer) = post(
            server,
            "/api/v1/auth/login",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
        assert_eq!(status, 503, "{answer}");
        assert_eq!(get(server, "/api/v1/auth/jwks", None).await.0, 200);
    }

    cluster.resume();
    // The refresh refused during the outage was no spend: retried, it works (a connection
    // broken by the restart may cost one more 503 before the pool replaces it).
    let mut attempts = Vec::new();
    let third = loop {
        let (status, answer) = refresh(&b.server, &r2).await;
        attempts.push(status);
        assert!(status == 200 || status == 503, "{attempts:?}: {answer}");
        if status == 200 {
            break answer;
        }
        assert!(attempts.len() < 40, "{attempts:?}");
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    };
    let r3 = field(&third, "refresh_token");
    // The session survived the restart: its earlier token is a detected reuse.
    let (status, answer) = refresh(&a.server, &r2).await;
    assert_eq!(status, 401, "{answer}");
    assert!(
        field(&answer, "detail").contains("already used"),
        "{answer}"
    );
    assert_eq!(refresh(&a.server, &r3).await.0, 401);
    let (status, answer) = sign_in(&a.server, &wallet).await;
    assert_eq!(status, 200, "{answer}");
}

#[actix_web::test]
async fn within_the_grace_a_retry_on_the_other_instance_gets_the_same_successor() {
    let (a, b) = two_instances_with_grace(&fresh_database(), 300);
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (status, signed) = sign_in(&a.server, &wallet).await;
    assert_eq!(status, 200, "{signed}");
    let first = field(&signed, "refresh_token");
    let (status, on_a) = refresh(&a.server, &first).await;
    assert_eq!(status, 200, "{on_a}");
    let (status, on_b) = refresh(&b.server, &first).await;
    assert_eq!(status, 200, "{on_b}");
    let successor = field(&on_a, "refresh_token");
    assert_eq!(field(&on_b, "refresh_token"), successor);
    let (status, _) = get(
        &a.server,
        "/api/profile",
        Some(&field(&on_b, "access_token")),
    )
    .await;
    assert_eq!(status, 200, "B's access token works on A");

    // The successor rotates on B; the first token is then a reuse on A.
    let (status, next) = refresh(&b.server, &successor).await;
    assert_eq!(status, 200, "{next}");
    let (status, answer) = refresh(&a.server, &first).await;
    assert_eq!(status, 401);
    assert!(
        field(&answer, "detail").contains("already used"),
        "{answer}"
    );
    assert_eq!(
        refresh(&b.server, &field(&next, "refresh_token")).await.0,
        401
    );

    // Racing refreshes of one token, half on each instance, all get the one successor.
    for trial in 0..10 {
        let (_, signed) = sign_in(&a.server, &wallet).await;
        let token = field(&signed, "refresh_token");
        let answers = join_all((0..4).map(|n| {
            let server = if n % 2 == 0 { &a.server } else { &b.server };
            refresh(server, &token)
        }))
        .await;
        assert!(
            answers.iter().all(|(s, _)| *s == 200),
            "trial {trial}: {answers:?}"
        );
        let successors: Vec<String> = answers
            .iter()
            .map(|(_, answer)| field(answer, "refresh_token"))
            .collect();
        assert!(
            successors.iter().all(|s| *s == successors[0]),
            "trial {trial}: {successors:?}"
        );
        assert_eq!(
            refresh(&b.server, &successors[0]).await.0,
            200,
            "trial {trial}"
        );
    }
}

#[actix_web::test]
async fn a_bound_session_refreshed_at_the_other_instance_still_demands_the_key() {
    use auth_runtime::Algorithm;
    use auth_runtime::testing::DpopKey;

    use crate::dpop::{assert_bound_to, assert_proof_refused, refresh_with, sign_in_with};

    // The instances' issuer, as their SERVER_AUTH__ISSUER names it.
    let issuer = "http://127.0.0.1:8100";
    let (a, b) = two_instances(&fresh_database());
    let key = DpopKey::generate(Algorithm::ES256);
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (status, signed) = sign_in_with(&a.server, issuer, &wallet, Some(&key)).await;
    assert_eq!(status, 200, "{signed}");
    assert_bound_to(&signed, &key);
    let stolen = field(&signed, "refresh_token");

    // At B: refused without the key's proof, and nothing changed.
    let (status, answer) = refresh(&b.server, &stolen).await;
    assert_proof_refused(status, &answer, "no proof at the other instance");
    let thief = DpopKey::generate(Algorithm::ES256);
    let (status, answer) = refresh_with(&b.server, issuer, &stolen, Some(&thief)).await;
    assert_proof_refused(status, &answer, "another key at the other instance");
    let (status, answer) = refresh_with(&b.server, issuer, &stolen, Some(&key)).await;
    assert_eq!(status, 200, "{answer}");
    assert_bound_to(&answer, &key);

    // Back at A, the successor is bound as well.
    let next = field(&answer, "refresh_token");
    let (status, answer) = refresh(&a.server, &next).await;
    assert_proof_refused(status, &answer, "the successor without a proof at A");
    let (status, answer) = refresh_with(&a.server, issuer, &next, Some(&key)).await;
    assert_eq!(status, 200, "{answer}");
    assert_bound_to(&answer, &key);
}

#[actix_web::test]
async fn a_captured_refresh_request_replayed_at_the_other_instance_changes_nothing() {
    use auth_runtime::Algorithm;
    use auth_runtime::testing::DpopKey;

    use crate::dpop::{
        assert_proof_refused, post_with_proofs, proof_for, refresh_with, sign_in_with,
    };

    let issuer = "http://127.0.0.1:8100";
    let (a, b) = two_instances(&fresh_database());
    let key = DpopKey::generate(Algorithm::ES256);
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (status, signed) = sign_in_with(&a.server, issuer, &wallet, Some(&key)).await;
    assert_eq!(status, 200, "{signed}");
    let body = json!({ "refresh_token": field(&signed, "refresh_token") });
    let captured = proof_for(&key, issuer, "refresh");
    let (status, answer) = post_with_proofs(
        &a.server,
        "refresh",
        body.clone(),
        std::slice::from_ref(&captured),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let next = field(&answer, "refresh_token");
    // At B, which never saw the proof: refused as replayed, not taken for a reuse.
    let (status, answer) =
        post_with_proofs(&b.server, "refresh", body, std::slice::from_ref(&captured)).await;
    assert_proof_refused(
        status,
        &answer,
        "the captured request at the other instance",
    );
    assert!(
        field(&answer, "detail").contains("already used"),
        "{answer}"
    );
    let (status, answer) = refresh_with(&b.server, issuer, &next, Some(&key)).await;
    assert_eq!(status, 200, "the session goes on: {answer}");
}
