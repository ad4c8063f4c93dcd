//! The signing key: JWKS, persistence across restarts, retiring keys, other apps.

use auth_runtime::JwtAuth;
use auth_server::{AuthServer, WalletAlgorithm};
use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Wallet, embedded, get, issuer, post, raw_config, serve,
    serve_without_issuer, sign_in, temp_dir, validator_for,
};

#[actix_web::test]
async fn jwks_publishes_the_key_with_its_rfc7638_thumbprint_as_kid() {
    let (issuer, server) = embedded(raw_config(&temp_dir()));
    let (status, jwks) = get(&server, "/api/v1/auth/jwks", None).await;
    assert_eq!(status, 200);
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        key["e"].as_str().unwrap(),
        key["n"].as_str().unwrap()
    );
    let thumbprint = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
    assert_eq!(key["kid"], thumbprint);
    assert_eq!(key["kid"], issuer.kid());
}

#[actix_web::test]
async fn key_survives_a_restart_and_old_tokens_stay_valid() {
    let dir = temp_dir();
    let token = {
        let (first, server) = embedded(raw_config(&dir));
        let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
        let (_, answer) = post(&server, "/api/v1/auth/login", body).await;
        let _ = first;
        answer["access_token"].as_str().unwrap().to_owned()
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("signing-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only key file");
    }
    let (_again, server) = embedded(raw_config(&dir));
    let (status, page) = get(&server, "/api/admin/dashboard", Some(&token)).await;
    assert_eq!(
        (status, page),
        (200, json!({"message": format!("Welcome, {ADMIN_EMAIL}")}))
    );
}

#[actix_web::test]
async fn retiring_key_keeps_its_tokens_valid_after_rotation() {
    let old_dir = temp_dir();
    let old = issuer(raw_config(&old_dir));
    let old_server = serve(&old, validator_for(&old));
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (_, signed) = sign_in(&old_server, &wallet).await;
    let old_token = signed["access_token"].as_str().unwrap().to_owned();
    drop(old_server);

    let mut raw = raw_config(&temp_dir());
    raw.retiring_key_paths = vec![old_dir.join("signing-key.pem")];
    let (new, server) = embedded(raw);
    assert_ne!(new.kid(), old.kid());
    let (_, jwks) = get(&server, "/api/v1/auth/jwks", None).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![new.kid(), old.kid()]);
    assert_eq!(get(&server, "/api/profile", Some(&old_token)).await.0, 200);
    let (_, fresh) = sign_in(&server, &wallet).await;
    let fresh_token = fresh["access_token"].as_str().unwrap();
    assert_eq!(
        crate::support::claims(fresh_token)["iss"],
        "http://127.0.0.1:8100"
    );
    assert_eq!(get(&server, "/api/profile", Some(fresh_token)).await.0, 200);
}

#[actix_web::test]
async fn a_second_app_that_only_knows_the_jwks_url_accepts_the_tokens() {
    let mut raw = raw_config(&temp_dir());
    // The issuer's name is its own public address here: the second app fetches keys from it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    raw.issuer = format!("http://{addr}");
    let issuer: AuthServer = crate::support::issuer(raw);
    let auth = validator_for(&issuer);
    let server = {
        let issuer = issuer.clone();
        let http = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .wrap(auth.clone())
                .service(issuer.service())
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(addr)
        .unwrap()
        .run();
        let handle = http.handle();
        actix_web::rt::spawn(http);
        handle
    };
    let remote = auth_runtime::RawConfig {
        issuer: issuer.config().issuer.clone(),
        audience: issuer.config().audience.as_str().into(),
        ..auth_runtime::RawConfig::default()
    }
    .validate()
    .unwrap();
    assert_eq!(
        remote.issuers[0].jwks_endpoint,
        format!("http://{addr}/api/v1/auth/jwks")
    );
    let second = serve_without_issuer(JwtAuth::new(remote).unwrap());
    let issuer_app = crate::support::Server::external(format!("http://{addr}"));
    let wallet = Wallet::new(WalletAlgorithm::MlDsa65);
    let (status, signed) = sign_in(&issuer_app, &wallet).await;
    assert_eq!(status, 200, "{signed}");
    let token = signed["access_token"].as_str().unwrap();
    let (status, page) = get(&second, "/api/profile", Some(token)).await;
    assert_eq!((status, &page["subject"]), (200, &json!(wallet.address())));
    drop(server.stop(false));
}

#[actix_web::test]
async fn embed_reads_both_sections_and_refuses_disagreement() {
    use figment::providers::Serialized;
    let dir = temp_dir();
    let base = figment::Figment::new()
        .merge(Serialized::default("server_auth.audience", "app"))
        .merge(Serialized::default(
            "server_auth.signing_key_path",
            dir.join("k.pem"),
        ));
    let (server, auth) = auth_server::embed(&base)
        .await
        .expect("auth_client defaults to server_auth");
    let trusted = auth.config().issuer().expect("one issuer");
    assert_eq!(trusted.issuer, server.config().issuer);
    assert_eq!(trusted.audiences, ["app"]);
    let disagreeing = base
        .clone()
        .merge(Serialized::default("auth_client.audience", "other"));
    let err = auth_server::embed(&disagreeing).await.unwrap_err();
    assert!(err.message().contains("auth_client.audience"), "{err}");
    // A PostgreSQL store URL needs the `postgres` feature, or a reachable database with it.
    let with_store = base.merge(Serialized::default(
        "server_auth.store_url",
        "postgres://app:s3cret-pw@127.0.0.1:1/auth",
    ));
    let err = auth_server::embed(&with_store).await.unwrap_err();
    assert!(err.message().contains("server_auth.store_url"), "{err}");
    assert!(!err.message().contains("s3cret-pw"), "{err}");
}

#[actix_web::test]
async fn embed_takes_its_place_in_a_list_of_issuers() {
    use figment::providers::Serialized;
    let dir = temp_dir();
    let other =
        auth_runtime::testing::TestIssuer::start_with(auth_runtime::Algorithm::ES256, "app");
    let base = figment::Figment::new()
        .merge(Serialized::default(
            "server_auth.issuer",
            "http://localhost:8100",
        ))
        .merge(Serialized::default("server_auth.audience", "app"))
        .merge(Serialized::default(
            "server_auth.signing_key_path",
            dir.join("k.pem"),
        ));
    let listed = base.clone().merge(Serialized::default(
        "auth_client.issuers",
        json!([
            {"issuer": other.issuer(), "audience": "app", "accepted_algorithms": ["ES256"]},
            {"issuer": "http://localhost:8100", "audience": ["app", "admin-api"]},
        ]),
    ));
    let (server, auth) = auth_server::embed(&listed)
        .await
        .expect("embedded among two");
    let ours = auth
        .validator()
        .key_source("http://localhost:8100")
        .expect("the embedded issuer is trusted");
    let keys = ours.cached().expect("keys handed over, not fetched");
    assert!(std::sync::Arc::ptr_eq(&keys, &server.key_source()));
    // The other issuer's tokens are verified with its own keys, over HTTP.
    let token = other.token().role("admin").sign();
    let principal = auth.authenticate(&token).await.expect("the other issuer");
    assert_eq!(principal.roles(), ["admin"]);
    assert_eq!(other.fetch_count(), 1);

    // A list without the embedded issuer, or with another audience for it, is refused.
    let without = base.clone().merge(Serialized::default(
        "auth_client.issuers",
        json!([{"issuer": other.issuer(), "audience": "app"}]),
    ));
    let err = auth_server::embed(&without).await.unwrap_err();
    assert!(err.message().contains("server_auth.issuer"), "{err}");
    let elsewhere = base.merge(Serialized::default(
        "auth_client.issuers",
        json!([{"issuer": "http://localhost:8100", "audience": "admin-api"}]),
    ));
    let err = auth_server::embed(&elsewhere).await.unwrap_err();
    assert!(
        err.message().starts_with("auth_client.issuers[0].audience"),
        "{err}"
    );
}

#[test]
fn instances_starting_together_share_one_new_key() {
    let dir = temp_dir();
    let raw = raw_config(&dir);
    let kids: Vec<String> = std::thread::scope(|scope| {
        let started: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| crate::support::issuer(raw.clone()).kid().to_owned()))
            .collect();
        started.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(kids.iter().all(|kid| *kid == kids[0]), "{kids:?}");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(files, ["signing-key.pem"], "no temporary file left behind");
}
