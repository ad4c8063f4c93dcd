//! Password login for the bootstrap admin, and refresh tokens.

use auth_server::{RawServerConfig, WalletAlgorithm};
use serde_json::json;

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Wallet, claims, client_from, embedded, get, issuer, post,
    post_with, raw_config, serve_on_one_worker, sign_in, temp_dir, validator_for,
};

#[actix_web::test]
async fn admin_logs_in_and_reaches_the_admin_route() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
        let (status, answer) = post(&server, "/api/v1/auth/login", body).await;
        assert_eq!(status, 200, "{answer}");
        let access = answer["access_token"].as_str().unwrap();
        assert_eq!(claims(access)["role"], "admin");
        assert!(answer["refresh_token"].is_string());
        let (status, page) = get(&server, "/api/admin/dashboard", Some(access)).await;
        assert_eq!(
            (status, page),
            (200, json!({"message": format!("Welcome, {ADMIN_EMAIL}")}))
        );
    }
}

#[actix_web::test]
async fn wrong_credentials_are_401_and_missing_ones_400() {
    let (_issuer, server) = embedded(raw_config(&temp_dir()));
    for body in [
        json!({"email": ADMIN_EMAIL, "password": "wrong"}),
        json!({"email": "other@example.com", "password": ADMIN_PASSWORD}),
    ] {
        let (status, answer) = post(&server, "/api/v1/auth/login", body).await;
        assert_eq!(
            (status, answer["detail"].as_str()),
            (401, Some("invalid credentials"))
        );
    }
    let (status, _) = post(&server, "/api/v1/auth/login", json!({"email": ADMIN_EMAIL})).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn password_login_disabled_is_403() {
    let mut raw = raw_config(&temp_dir());
    raw.auto_create_admin = false;
    let (_issuer, server) = embedded(raw);
    let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let (status, answer) = post(&server, "/api/v1/auth/login", body).await;
    assert_eq!(
        (status, answer["detail"].as_str()),
        (403, Some("password login disabled"))
    );
}

#[actix_web::test]
async fn argon2id_phc_password_is_accepted_as_given() {
    use argon2::PasswordHasher as _;
    let phc = argon2::Argon2::default()
        .hash_password_with_salt(b"from a vault", b"0123456789abcdef")
        .unwrap()
        .to_string();
    let mut raw = raw_config(&temp_dir());
    raw.admin_password = phc;
    let (_issuer, server) = embedded(raw);
    let body = json!({"email": ADMIN_EMAIL, "password": "from a vault"});
    assert_eq!(post(&server, "/api/v1/auth/login", body).await.0, 200);
}

#[test]
fn start_up_refuses_weak_or_missing_admin_passwords_and_other_hashes() {
    for password in ["", "admin", "$2b$12$abcdefghijklmnopqrstuv"] {
        let raw = RawServerConfig {
            admin_password: password.into(),
            ..raw_config(&temp_dir())
        };
        let outcome = raw.validate().and_then(auth_server::AuthServer::new);
        let err = outcome
            .err()
            .unwrap_or_else(|| panic!("{password:?} accepted"));
        assert!(err.message().contains("admin_password"), "{err}");
    }
    let raw = RawServerConfig {
        audience: String::new(),
        ..raw_config(&temp_dir())
    };
    assert!(
        raw.validate()
            .unwrap_err()
            .message()
            .contains("server_auth.audience")
    );
}

#[actix_web::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let (_, first) = sign_in(&server, &wallet).await;
        let r1 = first["refresh_token"].as_str().unwrap().to_owned();

        let (status, second) = post(
            &server,
            "/api/v1/auth/refresh",
            json!({"refresh_token": r1}),
        )
        .await;
        assert_eq!(status, 200, "{second}");
        let r2 = second["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(r1, r2, "rotated on use");
        let access = second["access_token"].as_str().unwrap();
        assert_eq!(claims(access)["wallet_address"], wallet.address());
        assert_eq!(get(&server, "/api/profile", Some(access)).await.0, 200);

        // r1 again: a replay. The whole family goes, r2 included.
        let (status, answer) = post(
            &server,
            "/api/v1/auth/refresh",
            json!({"refresh_token": r1}),
        )
        .await;
        assert_eq!(status, 401);
        assert!(
            answer["detail"].as_str().unwrap().contains("already used"),
            "{answer}"
        );
        let (status, _) = post(
            &server,
            "/api/v1/auth/refresh",
            json!({"refresh_token": r2}),
        )
        .await;
        assert_eq!(status, 401);

        // Another sign-in's family is untouched.
        let (_, other) = sign_in(&server, &wallet).await;
        let r3 = other["refresh_token"].as_str().unwrap();
        assert_eq!(
            post(
                &server,
                "/api/v1/auth/refresh",
                json!({"refresh_token": r3})
            )
            .await
            .0,
            200
        );
        let (status, _) = post(
            &server,
            "/api/v1/auth/refresh",
            json!({"refresh_token": "made-up"}),
        )
        .await;
        assert_eq!(status, 401);
        let (status, _) = post(&server, "/api/v1/auth/refresh", json!({})).await;
        assert_eq!(status, 400);
    }
}

#[test]
fn the_admin_password_is_held_only_as_an_argon2id_hash() {
    let raw = raw_config(&temp_dir());
    assert!(!format!("{raw:?}").contains(ADMIN_PASSWORD), "{raw:?}");
    let config = raw.validate().unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains(ADMIN_PASSWORD), "{shown}");
    let admin = config.admin().expect("password login on");
    assert_eq!(admin.email(), ADMIN_EMAIL);
    assert!(admin.password_hash().starts_with("$argon2id$"));
    assert!(!admin.password_hash().contains(ADMIN_PASSWORD));
    assert!(admin.verifies(ADMIN_PASSWORD));
    assert!(!admin.verifies("wrong"));
    let server = auth_server::AuthServer::new(config).unwrap();
    assert!(!format!("{:?} {:?}", server, server.config()).contains(ADMIN_PASSWORD));
}

fn login_body(password: &str) -> serde_json::Value {
    json!({"email": ADMIN_EMAIL, "password": password})
}

/// Posts a login from `client`; the status and `Retry-After`.
async fn login_from(
    client: &reqwest::Client,
    server: &crate::support::Server,
    email: &str,
    password: &str,
) -> (u16, Option<u64>) {
    let res = client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("request");
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().parse().unwrap());
    (res.status().as_u16(), retry_after)
}

#[actix_web::test]
async fn a_guessing_client_is_locked_out_and_the_lockout_decays() {
    let mut raw = raw_config(&temp_dir());
    raw.login_failures_per_client = 5;
    raw.login_failure_decay_seconds = 1;
    let (_issuer, server) = embedded(raw);
    let guesser = client_from("127.0.0.11");
    for n in 0..5 {
        let (status, _) = login_from(&guesser, &server, ADMIN_EMAIL, &format!("guess {n}")).await;
        assert_eq!(status, 401);
    }
    // Locked: even the right password is not checked, and the answer says when to retry.
    let (status, retry_after) = login_from(&guesser, &server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!((status, retry_after), (429, Some(1)));
    let (status, _) = login_from(&guesser, &server, "other@example.com", "x").await;
    assert_eq!(status, 429, "the client is locked whatever the account");
    // Another client address is not locked out.
    let admin = client_from("127.0.0.12");
    assert_eq!(
        login_from(&admin, &server, ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .0,
        200
    );
    // The lockout decays: one failure is forgotten per second.
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        login_from(&guesser, &server, ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .0,
        200
    );
}

#[actix_web::test]
async fn guesses_from_many_addresses_lock_the_account_not_other_logins() {
    let mut raw = raw_config(&temp_dir());
    raw.login_failures_per_client = 100;
    raw.login_failures_per_account = 4;
    raw.login_failure_decay_seconds = 3600;
    let (_issuer, server) = embedded(raw);
    for n in 0..4 {
        let client = client_from(&format!("127.0.1.{}", n + 1));
        let (status, _) = login_from(&client, &server, ADMIN_EMAIL, "guess").await;
        assert_eq!(status, 401);
    }
    let fresh = client_from("127.0.1.50");
    let (status, retry_after) = login_from(&fresh, &server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some_and(|secs| (1..=3600).contains(&secs)));
    // Logins naming another account are not held by the admin's lockout (and fail).
    let (status, _) = login_from(&fresh, &server, "other@example.com", ADMIN_PASSWORD).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn password_hashing_runs_off_the_request_worker_a_bounded_number_at_a_time() {
    let mut raw = raw_config(&temp_dir());
    raw.login_failures_per_client = 1_000;
    raw.login_failures_per_account = 1_000;
    raw.max_concurrent_password_hashes = 1;
    let issuer = issuer(raw);
    let server = serve_on_one_worker(&issuer, validator_for(&issuer));
    let client = crate::support::client();
    let started = Instant::now();
    // Thirty logins at once: one hash at a time, four waiting, the rest told to retry.
    let logins = join_all((0..30).map(|n| {
        let client = client.clone();
        let server = &server;
        async move {
            let answer = post_with(
                &client,
                server,
                "/api/v1/auth/login",
                login_body(&format!("guess {n}")),
            )
            .await;
            (answer.0, started.elapsed())
        }
    }));
    // Meanwhile, on the same single worker, the JWKS.
    let jwks = async {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        let status = get(&server, "/api/v1/auth/jwks", None).await.0;
        (status, started.elapsed())
    };
    let (logins, (jwks_status, jwks_done)) = tokio::join!(logins, jwks);
    assert_eq!(jwks_status, 200);
    let statuses: Vec<u16> = logins.iter().map(|(status, _)| *status).collect();
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "the queue is bounded: {statuses:?}"
    );
    let checked = logins.iter().filter(|(status, _)| *status == 401).count();
    assert!(checked >= 2, "{statuses:?}");
    // The JWKS answered while password hashes were still being checked.
    let last_login = logins.iter().map(|(_, done)| *done).max().unwrap();
    assert!(
        jwks_done < last_login,
        "jwks {jwks_done:?}, last login {last_login:?}"
    );
}

#[actix_web::test]
async fn logins_abandoned_while_queued_do_not_clog_the_queue() {
    let mut raw = raw_config(&temp_dir());
    raw.login_failures_per_client = 1_000;
    raw.login_failures_per_account = 1_000;
    raw.max_concurrent_password_hashes = 1;
    let (_issuer, server) = embedded(raw);
    // Clients that reset their connection while their login hashes or waits in the queue,
    // round after round: actix cancels those requests.
    let addr = server.base.trim_start_matches("http://").to_owned();
    for round in 0..4 {
        let resets = (0..8).map(|n| {
            let addr = addr.clone();
            async move {
                use tokio::io::AsyncWriteExt as _;
                let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
                let body = login_body(&format!("guess {round} {n}")).to_string();
                let request = format!(
                    "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(request.as_bytes()).await.unwrap();
                actix_web::rt::time::sleep(Duration::from_millis(5)).await;
                // A zero linger makes the close a reset, and a reset never blocks.
                #[allow(deprecated)]
                stream.set_linger(Some(Duration::ZERO)).unwrap();
                drop(stream);
            }
        });
        join_all(resets).await;
    }
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let (status, answer) = post(&server, "/api/v1/auth/login", login_body(ADMIN_PASSWORD)).await;
    assert_eq!(status, 200, "{answer}");
}
