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

/// A loopback address nothing listens on, for an issuer named after it.
fn free_address() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Serves the issuer configured by `raw` at `addr`, which its name is, and a second app
/// that knows only the issuer's name and accepts `accepted`; returns both, and the handle
/// that stops the issuer's server.
fn issuer_and_second_app(
    addr: std::net::SocketAddr,
    mut raw: auth_server::RawServerConfig,
    accepted: &[&str],
) -> (
    AuthServer,
    crate::support::Server,
    crate::support::Server,
    actix_web::dev::ServerHandle,
) {
    // The issuer's name is its own public address here: the second app fetches keys from it.
    raw.issuer = format!("http://{addr}");
    let issuer: AuthServer = crate::support::issuer(raw);
    let auth = validator_for(&issuer);
    let handle = {
        let issuer = issuer.clone();
        let http = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .wrap(auth.clone())
                .service(issuer.service())
                .service(crate::support::dashboard)
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
        issuer: issuer.config().issuer().to_owned(),
        audience: issuer.config().audience().into(),
        accepted_algorithms: accepted.iter().map(|a| (*a).to_owned()).collect(),
        ..auth_runtime::RawConfig::default()
    }
    .validate()
    .unwrap();
    assert_eq!(
        remote.issuers()[0].jwks_url(),
        format!("http://{addr}/api/v1/auth/jwks")
    );
    let second = serve_without_issuer(JwtAuth::new(remote).unwrap());
    let issuer_app = crate::support::Server::external(format!("http://{addr}"));
    (issuer, issuer_app, second, handle)
}

#[actix_web::test]
async fn a_second_app_that_only_knows_the_jwks_url_accepts_the_tokens() {
    let (_issuer, issuer_app, second, handle) =
        issuer_and_second_app(free_address(), raw_config(&temp_dir()), &["RS256"]);
    let wallet = Wallet::new(WalletAlgorithm::MlDsa65);
    let (status, signed) = sign_in(&issuer_app, &wallet).await;
    assert_eq!(status, 200, "{signed}");
    let token = signed["access_token"].as_str().unwrap();
    let (status, page) = get(&second, "/api/profile", Some(token)).await;
    assert_eq!((status, &page["subject"]), (200, &json!(wallet.address())));
    drop(handle.stop(false));
}

fn header(token: &str) -> serde_json::Value {
    let first = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(first).unwrap()).unwrap()
}

#[actix_web::test]
async fn ml_dsa_signing_publishes_an_akp_key_whose_tokens_verify() {
    for (level, public_len) in [
        ("ML-DSA-44", 1312),
        ("ML-DSA-65", 1952),
        ("ML-DSA-87", 2592),
    ] {
        let dir = temp_dir();
        let mut raw = raw_config(&dir);
        raw.signing_algorithm = level.into();
        let (issuer, server) = embedded(raw.clone());
        assert_eq!(
            issuer.algorithms(),
            [auth_runtime::Algorithm::from_name(level).unwrap()]
        );
        let (status, jwks) = get(&server, "/api/v1/auth/jwks", None).await;
        assert_eq!(status, 200);
        let key = &jwks["keys"][0];
        assert_eq!(
            (
                key["kty"].as_str(),
                key["alg"].as_str(),
                key["use"].as_str()
            ),
            (Some("AKP"), Some(level), Some("sig")),
            "{level}"
        );
        let public = key["pub"].as_str().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(public).unwrap().len(), public_len);
        // RFC 7638 thumbprint over the AKP key's required members.
        let canonical = format!(r#"{{"alg":"{level}","kty":"AKP","pub":"{public}"}}"#);
        let thumbprint =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
        assert_eq!(key["kid"], thumbprint);
        assert_eq!(key["kid"], issuer.kid());

        let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
        let (_, answer) = post(&server, "/api/v1/auth/login", body).await;
        let token = answer["access_token"].as_str().unwrap().to_owned();
        assert_eq!(header(&token)["alg"], level);
        assert_eq!(header(&token)["kid"], issuer.kid());
        let (status, _) = get(&server, "/api/admin/dashboard", Some(&token)).await;
        assert_eq!(status, 200, "{level}");
        // Tampered: refused.
        let forged = format!("{}A", &token[..token.len() - 1]);
        let forged = if forged == token {
            format!("{}B", &token[..token.len() - 1])
        } else {
            forged
        };
        assert_eq!(
            get(&server, "/api/admin/dashboard", Some(&forged)).await.0,
            401
        );
        drop(server);

        // The key is kept: after a restart its tokens still verify.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("signing-key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "owner-only key file");
        }
        let (again, server) = embedded(raw);
        assert_eq!(again.kid(), issuer.kid());
        assert_eq!(
            get(&server, "/api/admin/dashboard", Some(&token)).await.0,
            200
        );
    }
}

#[actix_web::test]
async fn ml_dsa_wallet_tokens_and_the_size_cap() {
    // The largest tokens issued carry an ML-DSA-65 wallet address (3904 characters, twice in
    // the claims). Signed with ML-DSA-65 they fit the default max_token_bytes (16384).
    let mut raw = raw_config(&temp_dir());
    raw.signing_algorithm = "ML-DSA-65".into();
    let (_issuer, server) = embedded(raw);
    let wallet = Wallet::new(WalletAlgorithm::MlDsa65);
    let (status, signed) = sign_in(&server, &wallet).await;
    assert_eq!(status, 200, "{signed}");
    let token = signed["access_token"].as_str().unwrap();
    assert!(token.len() <= 16 * 1024, "{} bytes", token.len());
    let (status, page) = get(&server, "/api/profile", Some(token)).await;
    assert_eq!((status, &page["subject"]), (200, &json!(wallet.address())));

    // Signed with ML-DSA-87 they do not (about 17 KB): refused as too large until the
    // validator's max_token_bytes is raised.
    let mut raw = raw_config(&temp_dir());
    raw.signing_algorithm = "ML-DSA-87".into();
    let issuer = issuer(raw);
    let accepting = |max_token_bytes: usize| {
        let client = auth_runtime::RawConfig {
            issuer: issuer.config().issuer().to_owned(),
            audience: issuer.config().audience().into(),
            accepted_algorithms: vec!["ML-DSA-87".into()],
            max_token_bytes,
            ..auth_runtime::RawConfig::default()
        }
        .validate()
        .unwrap();
        serve(&issuer, issuer.jwt_auth(client).unwrap())
    };
    let server = accepting(16 * 1024);
    let (status, signed) = sign_in(&server, &wallet).await;
    assert_eq!(status, 200, "{signed}");
    let token = signed["access_token"].as_str().unwrap();
    assert!(token.len() > 16 * 1024, "{} bytes", token.len());
    let (status, page) = get(&server, "/api/profile", Some(token)).await;
    assert_eq!(
        (status, page["detail"].as_str()),
        (401, Some("Invalid token: token too large"))
    );
    let server = accepting(24 * 1024);
    let (status, page) = get(&server, "/api/profile", Some(token)).await;
    assert_eq!((status, &page["subject"]), (200, &json!(wallet.address())));
}

#[actix_web::test]
async fn moving_from_rsa_to_ml_dsa_keeps_rsa_tokens_valid_here_and_in_a_second_app() {
    let addr = free_address();
    let old_dir = temp_dir();
    let mut old_raw = raw_config(&old_dir);
    old_raw.issuer = format!("http://{addr}");
    let old = issuer(old_raw);
    let old_server = serve(&old, validator_for(&old));
    let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let (_, answer) = post(&old_server, "/api/v1/auth/login", body.clone()).await;
    let rsa_token = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(header(&rsa_token)["alg"], "RS256");
    drop(old_server);

    let mut raw = raw_config(&temp_dir());
    raw.signing_algorithm = "ML-DSA-65".into();
    raw.retiring_key_paths = vec![old_dir.join("signing-key.pem")];
    let (issuer, issuer_app, second, handle) =
        issuer_and_second_app(addr, raw, &["ML-DSA-65", "RS256"]);
    assert_eq!(
        issuer.algorithms(),
        [
            auth_runtime::Algorithm::MlDsa65,
            auth_runtime::Algorithm::RS256
        ]
    );
    let (_, jwks) = get(&issuer_app, "/api/v1/auth/jwks", None).await;
    let published: Vec<(&str, &str)> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kty"].as_str().unwrap(), k["kid"].as_str().unwrap()))
        .collect();
    assert_eq!(published, [("AKP", issuer.kid()), ("RSA", old.kid())]);

    let (_, answer) = post(&issuer_app, "/api/v1/auth/login", body).await;
    let pq_token = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(header(&pq_token)["alg"], "ML-DSA-65");
    for token in [&rsa_token, &pq_token] {
        // The issuer's own validator, and the second app over HTTP.
        assert_eq!(
            get(&issuer_app, "/api/admin/dashboard", Some(token))
                .await
                .0,
            200
        );
        let (status, page) = get(&second, "/api/profile", Some(token)).await;
        assert_eq!((status, &page["subject"]), (200, &json!(ADMIN_EMAIL)));
    }
    drop(handle.stop(false));
}

#[test]
fn the_validator_must_accept_every_algorithm_the_issuer_signs_with() {
    let old_dir = temp_dir();
    drop(issuer(raw_config(&old_dir)));
    let mut raw = raw_config(&temp_dir());
    raw.signing_algorithm = "ML-DSA-65".into();
    raw.retiring_key_paths = vec![old_dir.join("signing-key.pem")];
    let issuer = issuer(raw);
    let client = |accepted: &[&str]| {
        auth_runtime::RawConfig {
            issuer: issuer.config().issuer().to_owned(),
            audience: issuer.config().audience().into(),
            accepted_algorithms: accepted.iter().map(|a| (*a).to_owned()).collect(),
            ..auth_runtime::RawConfig::default()
        }
        .validate()
        .unwrap()
    };
    // The default list (RS256) lacks the signing algorithm.
    let err = issuer.jwt_auth(client(&["RS256"])).unwrap_err();
    assert_eq!(
        err.message(),
        "auth_client.accepted_algorithms (RS256) lacks ML-DSA-65, which the keys of \
         server_auth sign with (signing_algorithm and retiring_key_paths): the tokens issued \
         here would be refused; add ML-DSA-65 to it"
    );
    // The retiring RSA key's tokens count too.
    let err = issuer.jwt_auth(client(&["ML-DSA-65"])).unwrap_err();
    assert!(err.message().contains("lacks RS256"), "{err}");
    assert!(issuer.jwt_auth(client(&["RS256", "ML-DSA-65"])).is_ok());
}

#[test]
fn signing_algorithm_is_checked_and_must_match_the_key_file() {
    for name in ["ES256", "HS256", "none", "ml-dsa-65", ""] {
        let mut raw = raw_config(&temp_dir());
        raw.signing_algorithm = name.into();
        let err = raw.validate().unwrap_err();
        assert_eq!(
            err.message(),
            format!(
                "server_auth.signing_algorithm: `{name}` is not supported; use one of RS256, \
                 ML-DSA-44, ML-DSA-65, ML-DSA-87"
            )
        );
    }
    // A key file made for RS256 is not silently replaced when the algorithm changes.
    let dir = temp_dir();
    let rsa = issuer(raw_config(&dir));
    let mut raw = raw_config(&dir);
    raw.signing_algorithm = "ML-DSA-65".into();
    let err = match AuthServer::new(raw.clone().validate().unwrap()) {
        Ok(_) => panic!("an RSA key file used for ML-DSA-65"),
        Err(err) => err,
    };
    let path = dir.join("signing-key.pem");
    assert_eq!(
        err.message(),
        format!(
            "{} holds an RS256 key, but server_auth.signing_algorithm is ML-DSA-65: to switch, \
             point server_auth.signing_key_path at a new file (created on first start) and \
             list {} in server_auth.retiring_key_paths, so that the tokens it signed stay valid",
            path.display(),
            path.display()
        )
    );
    // And the other way round.
    let pq_dir = temp_dir();
    raw.signing_key_path = pq_dir.join("signing-key.pem");
    let pq = issuer(raw.clone());
    raw.signing_algorithm = "RS256".into();
    let err = match AuthServer::new(raw.validate().unwrap()) {
        Ok(_) => panic!("an ML-DSA key file used for RS256"),
        Err(err) => err,
    };
    assert!(err.message().contains("holds an ML-DSA-65 key"), "{err}");
    assert_ne!(rsa.kid(), pq.kid());
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
    assert_eq!(trusted.issuer(), server.config().issuer());
    assert_eq!(trusted.audiences(), ["app"]);
    // The issuer's origin is where clients reach the app, which DPoP proofs name.
    assert_eq!(auth.config().public_urls(), [server.config().issuer()]);
    let (_, auth) = auth_server::embed(&base.clone().merge(Serialized::default(
        "auth_client.public_url",
        "https://api.example.com",
    )))
    .await
    .expect("a public_url of its own");
    assert_eq!(auth.config().public_urls(), ["https://api.example.com"]);
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
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["revoked-jtis.jsonl", "signing-key.pem"],
        "no temporary file left behind"
    );
}
