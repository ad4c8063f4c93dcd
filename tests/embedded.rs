//! Drives the `embedded` example from outside, and runs the `wallet_client` example against
//! it: the two together, as the guide's `docs/issuer.md` shows them.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const PASSWORD: &str = "embedded example password";

fn key_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("embedded-example-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts the embedded example; returns it and its base URL.
fn start(key_dir: &std::path::Path) -> (common::Running, String) {
    start_with(key_dir, &[])
}

/// [`start`], with more `SERVER_AUTH__*` variables.
fn start_with(key_dir: &std::path::Path, env: &[(&str, &str)]) -> (common::Running, String) {
    let child = Command::new(common::example_binary("embedded"))
        .envs(env.iter().copied())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .env_remove("AUTH_CONFIG")
        .env("SERVER_AUTH__ADMIN_PASSWORD", PASSWORD)
        .env("SERVER_AUTH__SIGNING_KEY_PATH", key_dir.join("key.pem"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the embedded example");
    let (running, lines) = common::Running::start(child, "listening on ");
    let base = common::Running::base(&lines);
    (running, base)
}

#[tokio::test]
async fn wallet_client_signs_in_to_the_embedded_example() {
    let dir = key_dir();
    let (_server, base) = start(&dir);
    let output = wallet_client(&base).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in [
        "1. made an Ed25519 wallet",
        "4. signed in",
        "\"role\":\"wallet\"",
        "6. refreshed",
        "8. the spent refresh token again -> 401",
        "done",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
}

/// Runs the `wallet_client` example against the embedded example at `base`.
async fn wallet_client(base: &str) -> std::process::Output {
    tokio::process::Command::new(common::example_binary("wallet_client"))
        .env("BASE_URL", base)
        .output()
        .await
        .expect("run the wallet client")
}

#[tokio::test]
async fn metrics_count_sign_ins_refreshes_reuse_and_throttled_logins() {
    let dir = key_dir().with_extension("metrics");
    let (_server, base) = start(&dir);
    assert!(wallet_client(&base).await.status.success());
    // Wrong passwords from one address until the login throttle answers.
    let client = reqwest::Client::new();
    let mut refused = 0;
    let mut throttled = false;
    for _ in 0..10 {
        let res = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "admin@example.com", "password": "wrong"}))
            .send()
            .await
            .expect("login");
        match res.status().as_u16() {
            401 => refused += 1,
            429 => {
                throttled = true;
                break;
            }
            other => panic!("login answered {other}"),
        }
    }
    assert!(
        throttled && refused > 0,
        "{refused} refused, throttled: {throttled}"
    );

    let exposition = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("exposition");
    let count = |series: &str| {
        common::sample(&exposition, series)
            .unwrap_or_else(|| panic!("no {series} in:\n{exposition}"))
    };
    // The wallet client: one Ed25519 sign-in, one refresh, then the spent refresh token again.
    assert_eq!(
        count("auth_server_sign_ins_total{algorithm=\"Ed25519\",outcome=\"ok\"}"),
        1.0
    );
    assert_eq!(count("auth_server_refreshes_total{outcome=\"ok\"}"), 1.0);
    assert_eq!(
        count("auth_server_refreshes_total{outcome=\"reused\"}"),
        1.0
    );
    assert_eq!(
        count("auth_server_logins_total{outcome=\"refused\"}"),
        f64::from(refused)
    );
    assert_eq!(
        count("auth_server_logins_total{outcome=\"throttled\"}"),
        1.0
    );
    assert_eq!(count("auth_server_throttled_total{limit=\"client\"}"), 1.0);
    // The validator in the same app: the wallet's two profile reads.
    assert_eq!(
        count("auth_requests_total{outcome=\"authenticated\",reason=\"none\"}"),
        2.0
    );
}

#[tokio::test]
async fn a_refresh_retried_within_the_grace_is_counted_as_retried() {
    let dir = key_dir().with_extension("grace");
    let (_server, base) = start_with(&dir, &[("SERVER_AUTH__REFRESH_REUSE_GRACE_SECONDS", "30")]);
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}/api/v1/auth/{path}"))
            .json(&body)
            .send()
    };
    let login: Value = post(
        "login",
        json!({"email": "admin@example.com", "password": PASSWORD}),
    )
    .await
    .expect("login")
    .json()
    .await
    .expect("login answer");
    let spent = login["refresh_token"].as_str().expect("refresh token");
    let mut successors = Vec::new();
    for _ in 0..2 {
        let res = post("refresh", json!({"refresh_token": spent}))
            .await
            .expect("refresh");
        assert_eq!(res.status().as_u16(), 200);
        let answer: Value = res.json().await.expect("refresh answer");
        successors.push(answer["refresh_token"].clone());
    }
    assert_eq!(successors[0], successors[1]);

    let exposition = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("exposition");
    for (series, expected) in [
        ("auth_server_refreshes_total{outcome=\"ok\"}", 1.0),
        ("auth_server_refreshes_total{outcome=\"retried\"}", 1.0),
    ] {
        assert_eq!(
            common::sample(&exposition, series),
            Some(expected),
            "{series} in:\n{exposition}"
        );
    }
}

#[tokio::test]
async fn admin_logs_in_and_tokens_survive_a_restart() {
    let dir = key_dir().with_extension("restart");
    let client = reqwest::Client::new();
    let token = {
        let (_server, base) = start(&dir);
        let login: Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "admin@example.com", "password": PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("JSON");
        login["access_token"].as_str().expect("token").to_owned()
    };
    let (_server, base) = start(&dir);
    let res = client
        .get(format!("{base}/api/admin/dashboard"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("dashboard");
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body, json!({"message": "Welcome, admin@example.com"}));
    let profile: Value = client
        .get(format!("{base}/api/profile"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("profile")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        profile,
        json!({"subject": "admin@example.com", "role": "admin"})
    );
}

/// The admin's access token from `POST /login`.
async fn admin_login(client: &reqwest::Client, base: &str) -> String {
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "admin@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("JSON");
    login["access_token"].as_str().expect("token").to_owned()
}

/// The status of `GET /api/profile` with `token`.
async fn profile_status(client: &reqwest::Client, base: &str, token: &str) -> u16 {
    client
        .get(format!("{base}/api/profile"))
        .bearer_auth(token)
        .send()
        .await
        .expect("profile")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_revoked_token_stays_revoked_after_a_restart() {
    use base64::Engine as _;

    let dir = key_dir().with_extension("revoked");
    let client = reqwest::Client::new();
    let (revoked, claims, kept) = {
        let (_server, base) = start(&dir);
        let revoked = admin_login(&client, &base).await;
        let kept = admin_login(&client, &base).await;
        let payload = revoked.split('.').nth(1).expect("a JWT");
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("base64url"),
        )
        .expect("JSON claims");
        let res = client
            .post(format!("{base}/api/v1/auth/revoke"))
            .bearer_auth(&kept)
            .json(&json!({"jti": claims["jti"]}))
            .send()
            .await
            .expect("revoke");
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(profile_status(&client, &base, &revoked).await, 401);
        (revoked, claims, kept)
    };
    let (_server, base) = start(&dir);
    assert_eq!(profile_status(&client, &base, &revoked).await, 401);
    assert_eq!(profile_status(&client, &base, &kept).await, 200);
    let list: Value = client
        .get(format!("{base}/api/v1/auth/revoked-jtis"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        list["revoked"],
        json!([{"jti": claims["jti"], "exp": claims["exp"]}])
    );
}

#[test]
fn missing_admin_password_fails_at_start_naming_the_variable() {
    let output = Command::new(common::example_binary("embedded"))
        .env("BIND_ADDR", "127.0.0.1:0")
        .env_remove("SERVER_AUTH__ADMIN_PASSWORD")
        .env(
            "SERVER_AUTH__SIGNING_KEY_PATH",
            key_dir().with_extension("nopw").join("key.pem"),
        )
        .output()
        .expect("run the embedded example");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SERVER_AUTH__ADMIN_PASSWORD"), "{stderr}");
}
