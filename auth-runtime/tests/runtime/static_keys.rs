//! Keys known ahead: PEM public keys in `keys_file`, reread on change or on SIGHUP, and HS256/
//! 384/512 with a shared secret, for an issuer with no public keys. The algorithm-confusion
//! attack (a public key used as an HMAC secret) stays refused whatever is configured.

use std::time::Duration;

use auth_runtime::testing::TestIssuer;
use auth_runtime::{Algorithm, ConfigErrorKind, JwtAuth, RawConfig};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use crate::support::{config_with, get, serve};

/// A directory of this test's own.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("static-keys-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A token for `issuer` signed HS256-style with `secret`.
fn hs_token(issuer: &TestIssuer, alg: jsonwebtoken::Algorithm, secret: &[u8]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": issuer.issuer(), "aud": issuer.audience(), "sub": "hs-user",
        "iat": now, "exp": now + 300,
    });
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

const SECRET: &str = "a-shared-secret-of-more-than-thirty-two-bytes-0123456789";

fn secret_config(issuer: &TestIssuer, algs: &[&str], secret: &str) -> RawConfig {
    let mut raw = issuer.raw_config();
    raw.accepted_algorithms = algs.iter().map(|alg| alg.to_string()).collect();
    raw.shared_secret = secret.into();
    raw
}

#[actix_web::test]
async fn pem_public_keys_in_a_keys_file_verify_tokens_whatever_their_kid() {
    let dir = scratch("pem");
    for alg in [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::MlDsa65,
    ] {
        let issuer = TestIssuer::start_with(alg, "test-api");
        let path = dir.join(format!("{alg}.pem"));
        std::fs::write(&path, issuer.public_key_pem()).unwrap();
        let file = path.display().to_string();
        let server = serve(JwtAuth::new(config_with(&issuer, |raw| raw.keys_file = file)).unwrap());
        let token = issuer.token().sub("alice").sign();
        assert_eq!(
            get(&server, "/api/profile", Some(&token)).await.status,
            200,
            "{alg}"
        );
        let no_kid = issuer.token().sub("alice").without_kid().sign();
        assert_eq!(
            get(&server, "/api/profile", Some(&no_kid)).await.status,
            200,
            "{alg}"
        );
        // Another issuer's key, same algorithm: refused.
        let stranger = TestIssuer::start_with(alg, "test-api");
        let forged = stranger.token().issuer(issuer.issuer()).sign();
        assert_eq!(
            get(&server, "/api/profile", Some(&forged)).await.status,
            401,
            "{alg}"
        );
        assert_eq!(issuer.fetch_count(), 0, "no HTTP fetch");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An RSA key as `RSA PUBLIC KEY` (PKCS #1) rather than `PUBLIC KEY`.
#[actix_web::test]
async fn an_rsa_public_key_in_pkcs1_form() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let dir = scratch("pkcs1");
    let issuer = TestIssuer::start();
    let spki_pem = issuer.public_key_pem();
    let body: String = spki_pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let spki = STANDARD.decode(body).unwrap();
    // A 2048-bit RSA SubjectPublicKeyInfo: 24 bytes of header, then the RSAPublicKey.
    let pkcs1 = &spki[24..];
    assert_eq!(pkcs1[0], 0x30);
    let pem = format!(
        "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
        STANDARD.encode(pkcs1)
    );
    let path = dir.join("rsa.pem");
    std::fs::write(&path, pem).unwrap();
    let file = path.display().to_string();
    let server = serve(JwtAuth::new(config_with(&issuer, |raw| raw.keys_file = file)).unwrap());
    let token = issuer.token().sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Nothing the middleware logs, from start-up to a refused and an accepted token, holds the
/// secret.
#[actix_web::test]
async fn the_shared_secret_is_never_logged() {
    let (lines, _logs) = crate::support::Lines::capture();
    let issuer = TestIssuer::start();
    let config = secret_config(&issuer, &["HS256"], SECRET)
        .validate()
        .unwrap();
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(JwtAuth::new(config).unwrap())
            .configure(crate::support::routes),
    )
    .await;
    for (token, status) in [
        (
            hs_token(&issuer, jsonwebtoken::Algorithm::HS256, SECRET.as_bytes()),
            200,
        ),
        (
            hs_token(&issuer, jsonwebtoken::Algorithm::HS256, &[7; 40]),
            401,
        ),
    ] {
        let req = actix_web::test::TestRequest::get()
            .uri("/api/profile")
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request();
        let res = actix_web::test::call_service(&app, req).await;
        assert_eq!(res.status(), status);
    }
    let text = lines.text();
    assert!(text.contains("authenticate"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[actix_web::test]
async fn a_pem_file_with_two_keys_accepts_both_while_a_key_rotates() {
    let dir = scratch("pem-two");
    let issuer = TestIssuer::start();
    let old_pem = issuer.public_key_pem();
    let old = issuer.token().sub("old").sign();
    issuer.rotate();
    let new = issuer.token().sub("new").sign();
    let path = dir.join("keys.pem");
    std::fs::write(&path, format!("{old_pem}\n{}", issuer.public_key_pem())).unwrap();
    let file = path.display().to_string();
    let server = serve(JwtAuth::new(config_with(&issuer, |raw| raw.keys_file = file)).unwrap());
    assert_eq!(get(&server, "/api/profile", Some(&old)).await.status, 200);
    assert_eq!(get(&server, "/api/profile", Some(&new)).await.status, 200);

    // The old key taken out: its tokens are refused, cached or not.
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&path, issuer.public_key_pem()).unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&server, "/api/profile", Some(&old)).await.status, 401);
    assert_eq!(get(&server, "/api/profile", Some(&new)).await.status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pem_file_with_a_private_key_or_no_key_stops_start_up() {
    let dir = scratch("pem-bad");
    let issuer = TestIssuer::start();
    for (name, text, expected) in [
        (
            "private.pem",
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
            "private key",
        ),
        (
            "garbage.pem",
            "-----BEGIN PUBLIC KEY-----\nnot base64 at all!\n-----END PUBLIC KEY-----\n",
            "base64",
        ),
        (
            "cert.pem",
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
            "CERTIFICATE",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let file = path.display().to_string();
        let err = JwtAuth::new(config_with(&issuer, |raw| raw.keys_file = file)).unwrap_err();
        assert_eq!(err.key(), Some("auth_client.keys_file"), "{name}");
        assert!(err.message().contains(expected), "{name}: {err}");
        assert!(!err.message().contains("MC4CAQAw"), "{name}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A change the file's time, size and inode do not show (the same size, the time put back) is
/// read at once on SIGHUP.
#[cfg(unix)]
#[actix_web::test]
async fn sighup_rereads_a_keys_file() {
    let dir = scratch("hup");
    let issuer = TestIssuer::start();
    let path = dir.join("keys.pem");
    std::fs::write(&path, issuer.public_key_pem()).unwrap();
    let file = path.display().to_string();
    let server = serve(JwtAuth::new(config_with(&issuer, |raw| raw.keys_file = file)).unwrap());
    let first = issuer.token().sub("first").sign();
    assert_eq!(get(&server, "/api/profile", Some(&first)).await.status, 200);

    // Another RSA key of the same size, written in place with the old time.
    issuer.rotate();
    let second = issuer.token().sub("second").sign();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let pem = issuer.public_key_pem();
    assert_eq!(pem.len() as u64, std::fs::metadata(&path).unwrap().len());
    {
        use std::io::{Seek as _, Write as _};
        let mut handle = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        handle.seek(std::io::SeekFrom::Start(0)).unwrap();
        handle.write_all(pem.as_bytes()).unwrap();
        handle.set_modified(modified).unwrap();
    }
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(&server, "/api/profile", Some(&second)).await.status,
        401,
        "the change is not seen without the signal"
    );

    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        get(&server, "/api/profile", Some(&second)).await.status,
        200
    );
    assert_eq!(get(&server, "/api/profile", Some(&first)).await.status, 401);
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn hs256_with_a_shared_secret_verifies_only_tokens_signed_with_it() {
    let issuer = TestIssuer::start();
    for (name, alg) in [
        ("HS256", jsonwebtoken::Algorithm::HS256),
        ("HS384", jsonwebtoken::Algorithm::HS384),
        ("HS512", jsonwebtoken::Algorithm::HS512),
    ] {
        let secret = format!("{SECRET}{SECRET}");
        let config = secret_config(&issuer, &[name], &secret).validate().unwrap();
        let server = serve(JwtAuth::new(config).unwrap());
        let token = hs_token(&issuer, alg, secret.as_bytes());
        let reply = get(&server, "/api/profile", Some(&token)).await;
        assert_eq!(reply.status, 200, "{name}");
        assert_eq!(reply.body["subject"], "hs-user");

        let wrong = hs_token(
            &issuer,
            alg,
            b"another-secret-of-more-than-thirty-two-bytes!!!!!!!!!!!!!!!!!!!!!!!!",
        );
        assert_eq!(
            get(&server, "/api/profile", Some(&wrong)).await.status,
            401,
            "{name}"
        );
        // The issuer's own RS256 tokens are not accepted by an HMAC issuer.
        let rs = issuer.token().sign();
        assert_eq!(
            get(&server, "/api/profile", Some(&rs)).await.status,
            401,
            "{name}"
        );
    }
    assert_eq!(issuer.fetch_count(), 0, "an HMAC issuer fetches no key set");
}

#[test]
fn a_shared_secret_is_checked_and_never_shown() {
    let issuer = TestIssuer::start();

    // HS256 needs the secret, and says where to set it.
    let mut raw = issuer.raw_config();
    raw.accepted_algorithms = vec!["HS256".into()];
    let err = raw.validate().unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Algorithm);
    assert!(err.message().contains("shared_secret"), "{err}");

    // Not with public keys, nor with an asymmetric algorithm.
    let mut raw = secret_config(&issuer, &["HS256"], SECRET);
    raw.jwks_endpoint = "https://id.example/jwks".into();
    let err = raw.validate().unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Conflict, "{err}");
    let mut raw = secret_config(&issuer, &["HS256"], SECRET);
    raw.keys_file = "keys.pem".into();
    assert_eq!(
        raw.validate().unwrap_err().kind(),
        ConfigErrorKind::Conflict
    );
    let mut raw = secret_config(&issuer, &["HS256"], SECRET);
    raw.discovery = true;
    assert_eq!(
        raw.validate().unwrap_err().kind(),
        ConfigErrorKind::Conflict
    );
    let err = secret_config(&issuer, &["HS256", "RS256"], SECRET)
        .validate()
        .unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Conflict, "{err}");
    assert!(err.message().contains("RS256"), "{err}");

    // Shorter than the hash (RFC 7518, 3.2): refused, per algorithm.
    let short = "short-secret";
    let err = secret_config(&issuer, &["HS256"], short)
        .validate()
        .unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Invalid);
    assert!(err.message().contains("32 bytes"), "{err}");
    let err = secret_config(&issuer, &["HS512"], SECRET)
        .validate()
        .unwrap_err();
    assert!(err.message().contains("64 bytes"), "{err}");

    for err in [
        secret_config(&issuer, &["HS256"], short)
            .validate()
            .unwrap_err(),
        secret_config(&issuer, &["HS256", "RS256"], short)
            .validate()
            .unwrap_err(),
    ] {
        assert!(!err.to_string().contains(short), "{err}");
        assert!(!format!("{err:?}").contains(short), "{err:?}");
    }
    // With a list of issuers, each entry has its own secret and key file: one at the top
    // level is refused rather than ignored.
    let mut raw = secret_config(&issuer, &["HS256"], SECRET);
    raw.issuers = vec![auth_runtime::RawIssuer {
        issuer: issuer.issuer().to_owned(),
        shared_secret: Some(SECRET.into()),
        ..Default::default()
    }];
    raw.issuer = String::new();
    let err = raw.clone().validate().unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Conflict, "{err}");
    assert_eq!(err.key(), Some("auth_client.shared_secret"));
    assert!(!err.to_string().contains(SECRET), "{err}");
    raw.shared_secret = Default::default();
    raw.clone().validate().expect("the entry's own secret");
    raw.keys_file = "keys.pem".into();
    let err = raw.validate().unwrap_err();
    assert_eq!(err.key(), Some("auth_client.keys_file"), "{err}");

    let config = secret_config(&issuer, &["HS256"], SECRET)
        .validate()
        .unwrap();
    assert!(!format!("{config:?}").contains(SECRET), "{config:?}");
    let auth = JwtAuth::new(config).unwrap();
    assert!(!format!("{auth:?}").contains(SECRET), "{auth:?}");
}

/// The algorithm-confusion attack: a token signed HS256 with the issuer's public key (its PEM
/// text, or its JWK) as the secret. Refused whether the keys come from an endpoint or a PEM
/// file, whatever `accepted_algorithms` says; a public key is refused as a shared secret.
#[actix_web::test]
async fn a_public_key_used_as_an_hmac_secret_stays_refused() {
    let issuer = TestIssuer::start();
    let pem = issuer.public_key_pem();
    let jwk = serde_json::to_string(&issuer.jwks()["keys"][0]).unwrap();
    let forged: Vec<String> = [pem.as_bytes(), pem.trim_end().as_bytes(), jwk.as_bytes()]
        .into_iter()
        .map(|secret| hs_token(&issuer, jsonwebtoken::Algorithm::HS256, secret))
        .collect();

    let dir = scratch("confusion");
    let path = dir.join("keys.pem");
    std::fs::write(&path, &pem).unwrap();
    let file = path.display().to_string();
    let from_endpoint = serve(JwtAuth::new(issuer.config()).unwrap());
    let from_pem = serve(JwtAuth::new(config_with(&issuer, |raw| raw.keys_file = file)).unwrap());
    for server in [&from_endpoint, &from_pem] {
        for token in &forged {
            let reply = get(server, "/api/profile", Some(token)).await;
            assert_eq!(reply.status, 401);
            assert!(reply.detail().contains("HS256"), "{}", reply.detail());
        }
    }

    // HS256 cannot be accepted next to public keys ...
    let mut raw = issuer.raw_config();
    raw.accepted_algorithms = vec!["RS256".into(), "HS256".into()];
    assert!(raw.validate().is_err());
    // ... and a public key is no shared secret.
    for secret in [pem.as_str(), jwk.as_str()] {
        let err = secret_config(&issuer, &["HS256"], secret)
            .validate()
            .unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Invalid);
        assert!(err.message().contains("public key"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The secret from the environment, as the docs advise: it works, and an error about it names
/// the variable but never the value.
#[test]
#[allow(clippy::result_large_err)] // figment's `Jail` closures return `figment::Error`
fn a_shared_secret_from_the_environment() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "auth_client:\n  issuer: https://id.example\n  audience: api\n  accepted_algorithms: [HS256]\n",
        )?;
        jail.set_env("AUTH_CLIENT__SHARED_SECRET", SECRET);
        let figment = auth_runtime::figment_from("auth.yaml");
        let config = auth_runtime::AuthConfig::from_figment(&figment).unwrap();
        assert!(config.issuers()[0].has_shared_secret());
        assert!(config.issuers()[0].jwks_url().is_empty(), "no key set URL");
        assert!(!format!("{config:?}").contains(SECRET));

        jail.set_env("AUTH_CLIENT__SHARED_SECRET", "too-short");
        let figment = auth_runtime::figment_from("auth.yaml");
        let err = auth_runtime::AuthConfig::from_figment(&figment).unwrap_err();
        assert_eq!(err.key(), Some("auth_client.shared_secret"));
        let origin = err.origin().expect("set in the environment");
        assert!(origin.contains("AUTH_CLIENT"), "{origin}");
        assert!(!err.to_string().contains("too-short"), "{err}");
        assert!(!format!("{err:?}").contains("too-short"), "{err:?}");
        Ok(())
    });
}

/// A token verified against keys without a `kid` (a PEM file, a shared secret) is served from
/// the verified-token cache the next time, like one verified against a JWKS key.
#[actix_web::test]
async fn tokens_checked_against_unnamed_keys_are_cached() {
    let dir = scratch("cached");
    let issuer = TestIssuer::start();
    let path = dir.join("keys.pem");
    std::fs::write(&path, issuer.public_key_pem()).unwrap();
    let file = path.display().to_string();
    let from_pem = JwtAuth::new(config_with(&issuer, |raw| raw.keys_file = file)).unwrap();
    let from_secret = JwtAuth::new(
        secret_config(&issuer, &["HS256"], SECRET)
            .validate()
            .unwrap(),
    )
    .unwrap();
    let tokens = [
        issuer.token().sign(),
        hs_token(&issuer, jsonwebtoken::Algorithm::HS256, SECRET.as_bytes()),
    ];
    for (auth, token) in [(from_pem, &tokens[0]), (from_secret, &tokens[1])] {
        let server = serve(auth.clone());
        for _ in 0..3 {
            assert_eq!(get(&server, "/api/profile", Some(token)).await.status, 200);
        }
        let stats = auth.token_cache_stats().unwrap();
        assert_eq!((stats.misses, stats.hits), (1, 2), "{stats:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
