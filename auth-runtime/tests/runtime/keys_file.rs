//! Keys from a file instead of an endpoint: a JWKS document on disk, read at start-up and
//! again when it changes; no HTTP fetch at all.

use std::time::Duration;

use auth_runtime::testing::TestIssuer;
use auth_runtime::{ConfigErrorKind, JwtAuth};

use crate::support::{config_with, get, serve};

fn write_jwks(path: &std::path::Path, issuer: &TestIssuer) {
    std::fs::write(path, serde_json::to_vec(&issuer.jwks()).unwrap()).unwrap();
}

#[actix_web::test]
async fn tokens_verify_against_a_jwks_file_reread_when_it_changes() {
    let issuer = TestIssuer::start();
    let dir = std::env::temp_dir().join(format!("keys-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    write_jwks(&path, &issuer);
    let file = path.display().to_string();
    let server = serve(JwtAuth::new(config_with(&issuer, |raw| raw.keys_file = file)).unwrap());

    let token = issuer.token().sub("alice").sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    assert_eq!(issuer.fetch_count(), 0, "no HTTP fetch");

    // A new key: refused until the file names it, then accepted without a restart.
    issuer.rotate();
    let rotated = issuer.token().sub("bob").sign();
    assert_eq!(
        get(&server, "/api/profile", Some(&rotated)).await.status,
        401
    );
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    write_jwks(&path, &issuer);
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(&server, "/api/profile", Some(&rotated)).await.status,
        200
    );
    assert_eq!(issuer.fetch_count(), 0, "still no HTTP fetch");

    // A broken edit keeps the keys held.
    std::fs::write(&path, b"{ not json").unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(&server, "/api/profile", Some(&rotated)).await.status,
        200
    );

    // Emptied, the file trusts no key: the token, though verified and cached, is refused.
    std::fs::write(&path, br#"{"keys": []}"#).unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(&server, "/api/profile", Some(&rotated)).await.status,
        401
    );

    // Back, then removed: removed trusts no key either.
    write_jwks(&path, &issuer);
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(&server, "/api/profile", Some(&rotated)).await.status,
        200
    );
    std::fs::remove_file(&path).unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(&server, "/api/profile", Some(&rotated)).await.status,
        401
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_keys_file_that_cannot_be_read_or_is_set_with_an_endpoint_stops_start_up() {
    let issuer = TestIssuer::start();
    let missing = config_with(&issuer, |raw| {
        raw.keys_file = "/nonexistent/jwks.json".into()
    });
    let err = JwtAuth::new(missing).unwrap_err();
    assert_eq!(err.key(), Some("auth_client.keys_file"));
    assert!(err.message().contains("/nonexistent/jwks.json"), "{err}");

    let mut raw = issuer.raw_config();
    raw.keys_file = "jwks.json".into();
    raw.jwks_endpoint = "https://id.example/jwks".into();
    let err = raw.validate().unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Conflict);
    assert_eq!(err.key(), Some("auth_client.keys_file"));
}
