//! Password login for the bootstrap admin, and refresh tokens.

use auth_server::{RawServerConfig, WalletAlgorithm};
use serde_json::json;

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Wallet, claims, embedded, get, post, raw_config, sign_in, temp_dir,
};

#[actix_web::test]
async fn admin_logs_in_and_reaches_the_admin_route() {
    let (_issuer, server) = embedded(raw_config(&temp_dir()));
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
    let (_issuer, server) = embedded(raw_config(&temp_dir()));
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

#[test]
fn the_admin_password_is_held_only_as_an_argon2id_hash() {
    let raw = raw_config(&temp_dir());
    assert!(!format!("{raw:?}").contains(ADMIN_PASSWORD), "{raw:?}");
    let config = raw.validate().unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains(ADMIN_PASSWORD), "{shown}");
    let admin = config.admin.as_ref().expect("password login on");
    assert_eq!(admin.email(), ADMIN_EMAIL);
    assert!(admin.password_hash().starts_with("$argon2id$"));
    assert!(!admin.password_hash().contains(ADMIN_PASSWORD));
    assert!(admin.verifies(ADMIN_PASSWORD));
    assert!(!admin.verifies("wrong"));
    let server = auth_server::AuthServer::new(config).unwrap();
    assert!(!format!("{:?} {:?}", server, server.config()).contains(ADMIN_PASSWORD));
}
