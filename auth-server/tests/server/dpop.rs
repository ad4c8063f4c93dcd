//! Sender-constrained tokens (DPoP, RFC 9449) at the token endpoints: a proof at sign-in,
//! login or refresh binds the access token (`cnf.jkt`) and, from a sign-in or login, the
//! session, whose refresh tokens then need a proof by the same key. Each behaviour runs
//! against every store.

use auth_runtime::Algorithm;
use auth_runtime::testing::DpopKey;
use auth_server::{BASE_PATH, WalletAlgorithm};
use serde_json::{Value, json};

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Server, Wallet, challenge_for, claims, client, field,
    get, raw_config, refresh, temp_dir,
};

/// The URL clients reach a token endpoint at: under the issuer's public URL.
pub fn endpoint_url(issuer: &str, endpoint: &str) -> String {
    format!("{}{BASE_PATH}/{endpoint}", issuer.trim_end_matches('/'))
}

/// `POST` of `body` to `endpoint` with these `DPoP` headers (none, one, or several).
pub async fn post_with_proofs(
    server: &Server,
    endpoint: &str,
    body: Value,
    proofs: &[String],
) -> (u16, Value) {
    let mut req = client()
        .post(format!("{}{BASE_PATH}/{endpoint}", server.base))
        .json(&body);
    for proof in proofs {
        req = req.header("DPoP", proof);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A proof of `key` for a `POST` to `endpoint` of the issuer `issuer`.
pub fn proof_for(key: &DpopKey, issuer: &str, endpoint: &str) -> String {
    key.proof_builder("POST", &endpoint_url(issuer, endpoint))
        .sign()
}

/// Signs `wallet` in with a proof of `key` (none: without a proof).
pub async fn sign_in_with(
    server: &Server,
    issuer: &str,
    wallet: &Wallet,
    key: Option<&DpopKey>,
) -> (u16, Value) {
    let challenge = challenge_for(server, &wallet.address()).await;
    let proofs: Vec<String> = key
        .map(|key| proof_for(key, issuer, "sign-in"))
        .into_iter()
        .collect();
    post_with_proofs(server, "sign-in", wallet.sign_in_body(&challenge), &proofs).await
}

/// Refreshes `token` with a proof of `key` (none: without a proof).
pub async fn refresh_with(
    server: &Server,
    issuer: &str,
    token: &str,
    key: Option<&DpopKey>,
) -> (u16, Value) {
    let proofs: Vec<String> = key
        .map(|key| proof_for(key, issuer, "refresh"))
        .into_iter()
        .collect();
    post_with_proofs(
        server,
        "refresh",
        json!({ "refresh_token": token }),
        &proofs,
    )
    .await
}

/// Asserts that an answer is the refusal of a DPoP proof.
pub fn assert_proof_refused(status: u16, answer: &Value, context: &str) {
    assert_eq!(status, 400, "{context}: {answer}");
    let detail = field(answer, "detail");
    assert!(
        detail.starts_with("invalid DPoP proof"),
        "{context}: {detail}"
    );
}

/// Asserts that `answer` is a pair bound to `key`.
pub fn assert_bound_to(answer: &Value, key: &DpopKey) {
    assert_eq!(field(answer, "token_type"), "DPoP", "{answer}");
    let access = field(answer, "access_token");
    assert_eq!(claims(&access)["cnf"], json!({ "jkt": key.thumbprint() }));
}

/// Asserts that `answer` is an unbound pair.
fn assert_bearer(answer: &Value) {
    assert_eq!(field(answer, "token_type"), "Bearer", "{answer}");
    assert!(claims(&field(answer, "access_token")).get("cnf").is_none());
}

/// `GET /api/profile` with `token` as `DPoP`, with a proof of `key` for it.
async fn profile_with_proof(server: &Server, token: &str, key: &DpopKey) -> u16 {
    let url = format!("{}/api/profile", server.base);
    client()
        .get(&url)
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", key.proof("GET", &url, token))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[actix_web::test]
async fn a_sign_in_with_a_proof_gets_a_token_bound_to_its_key() {
    for backend in Backend::all().await {
        let (issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let iss = issuer.config().issuer().to_owned();
        let key = DpopKey::generate(Algorithm::ES256);
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let (status, answer) = sign_in_with(&server, &iss, &wallet, Some(&key)).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        assert_bound_to(&answer, &key);
        let access = field(&answer, "access_token");
        // The embedded validator takes it with a proof of that key, never as a bearer token.
        assert_eq!(profile_with_proof(&server, &access, &key).await, 200);
        assert_eq!(get(&server, "/api/profile", Some(&access)).await.0, 401);
        let other = DpopKey::generate(Algorithm::ES256);
        assert_eq!(profile_with_proof(&server, &access, &other).await, 401);
    }
}

#[actix_web::test]
async fn a_login_with_a_proof_gets_a_token_bound_to_its_key() {
    for backend in Backend::all().await {
        let (issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let iss = issuer.config().issuer().to_owned();
        let key = DpopKey::generate(Algorithm::EdDSA);
        let body = json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
        let proof = proof_for(&key, &iss, "login");
        let (status, answer) = post_with_proofs(&server, "login", body, &[proof]).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        assert_bound_to(&answer, &key);
        // The admin's session is bound too.
        let token = field(&answer, "refresh_token");
        let (status, answer) = refresh(&server, &token).await;
        assert_proof_refused(status, &answer, "the admin's refresh without a proof");
        let (status, answer) = refresh_with(&server, &iss, &token, Some(&key)).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        assert_bound_to(&answer, &key);
    }
}

#[actix_web::test]
async fn a_stolen_refresh_token_of_a_bound_session_is_refused_without_the_keys_proof() {
    for backend in Backend::all().await {
        let (issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let iss = issuer.config().issuer().to_owned();
        let key = DpopKey::generate(Algorithm::ES256);
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let (status, answer) = sign_in_with(&server, &iss, &wallet, Some(&key)).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        let stolen = field(&answer, "refresh_token");

        // Without a proof, with a proof of the thief's own key: refused.
        let (status, answer) = refresh(&server, &stolen).await;
        assert_proof_refused(status, &answer, "no proof");
        assert!(
            field(&answer, "detail").contains("no DPoP header"),
            "{answer}"
        );
        let thief = DpopKey::generate(Algorithm::ES256);
        let (status, answer) = refresh_with(&server, &iss, &stolen, Some(&thief)).await;
        assert_proof_refused(status, &answer, "the thief's key");
        assert!(field(&answer, "detail").contains("key"), "{answer}");

        // Nothing changed: the token is still current for its key's holder, and the session
        // goes on bound.
        let (status, answer) = refresh_with(&server, &iss, &stolen, Some(&key)).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        assert_bound_to(&answer, &key);
        let next = field(&answer, "refresh_token");
        let (status, answer) = refresh(&server, &next).await;
        assert_proof_refused(status, &answer, "the successor without a proof");
        let (status, answer) = refresh_with(&server, &iss, &next, Some(&key)).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        assert_bound_to(&answer, &key);
    }
}

#[actix_web::test]
async fn a_session_started_without_a_proof_stays_unbound() {
    for backend in Backend::all().await {
        let (issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let iss = issuer.config().issuer().to_owned();
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let (status, answer) = sign_in_with(&server, &iss, &wallet, None).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        assert_bearer(&answer);

        // A refresh with a proof gets an access token bound to that key...
        let key = DpopKey::generate(Algorithm::ES256);
        let token = field(&answer, "refresh_token");
        let (status, answer) = refresh_with(&server, &iss, &token, Some(&key)).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        assert_bound_to(&answer, &key);
        // ...but does not bind the session: the next refresh needs no proof.
        let (status, answer) = refresh(&server, &field(&answer, "refresh_token")).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        assert_bearer(&answer);
    }
}

#[actix_web::test]
async fn an_invalid_proof_is_refused_never_ignored() {
    let (issuer, server) = Backend::Memory.embedded(raw_config(&temp_dir())).await;
    let iss = issuer.config().issuer().to_owned();
    let key = DpopKey::generate(Algorithm::ES256);
    let sign_in_url = endpoint_url(&iss, "sign-in");
    let reused = proof_for(&key, &iss, "sign-in");
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("garbage", vec!["not.a.proof".to_owned()]),
        (
            "another endpoint's URL",
            vec![proof_for(&key, &iss, "refresh")],
        ),
        (
            "the server's own address instead of the public URL",
            vec![
                key.proof_builder("POST", &format!("{}{BASE_PATH}/sign-in", server.base))
                    .sign(),
            ],
        ),
        (
            "another method",
            vec![key.proof_builder("GET", &sign_in_url).sign()],
        ),
        (
            "too old",
            vec![
                key.proof_builder("POST", &sign_in_url)
                    .issued_in(-600)
                    .sign(),
            ],
        ),
        (
            "from the future",
            vec![
                key.proof_builder("POST", &sign_in_url)
                    .issued_in(600)
                    .sign(),
            ],
        ),
        (
            "with a wrong typ",
            vec![
                key.proof_builder("POST", &sign_in_url)
                    .header("typ", json!("JWT"))
                    .sign(),
            ],
        ),
        (
            "two proofs",
            vec![
                proof_for(&key, &iss, "sign-in"),
                proof_for(&key, &iss, "sign-in"),
            ],
        ),
    ];
    for (case, proofs) in cases {
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let challenge = challenge_for(&server, &wallet.address()).await;
        let (status, answer) =
            post_with_proofs(&server, "sign-in", wallet.sign_in_body(&challenge), &proofs).await;
        assert_proof_refused(status, &answer, case);
        // The refusal spent nothing: the same challenge signs in with a good proof.
        let (status, answer) = post_with_proofs(
            &server,
            "sign-in",
            wallet.sign_in_body(&challenge),
            &[proof_for(&key, &iss, "sign-in")],
        )
        .await;
        assert_eq!(status, 200, "{case}, then a good proof: {answer}");
    }

    // A proof is used once.
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (status, answer) = post_with_proofs(
        &server,
        "sign-in",
        wallet.sign_in_body(&challenge_for(&server, &wallet.address()).await),
        std::slice::from_ref(&reused),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = post_with_proofs(
        &server,
        "sign-in",
        wallet.sign_in_body(&challenge_for(&server, &wallet.address()).await),
        &[reused],
    )
    .await;
    assert_proof_refused(status, &answer, "a replayed proof");
    assert!(
        field(&answer, "detail").contains("already used"),
        "{answer}"
    );

    // At refresh and login too.
    let token = field(&answer_of_sign_in(&server, &iss).await, "refresh_token");
    let (status, answer) = post_with_proofs(
        &server,
        "refresh",
        json!({ "refresh_token": token }),
        &[proof_for(&key, &iss, "login")],
    )
    .await;
    assert_proof_refused(status, &answer, "a login proof at refresh");
    let (status, answer) = post_with_proofs(
        &server,
        "login",
        json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
        &["x".to_owned()],
    )
    .await;
    assert_proof_refused(status, &answer, "garbage at login");
}

/// A bound sign-in's answer.
async fn answer_of_sign_in(server: &Server, issuer: &str) -> Value {
    let key = DpopKey::generate(Algorithm::ES256);
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (status, answer) = sign_in_with(server, issuer, &wallet, Some(&key)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[actix_web::test]
async fn with_dpop_off_a_proof_is_refused_and_with_dpop_required_one_is_needed() {
    let mut raw = raw_config(&temp_dir());
    raw.dpop = auth_runtime::DpopMode::Off;
    let (issuer, server) = Backend::Memory.embedded(raw).await;
    let iss = issuer.config().issuer().to_owned();
    let key = DpopKey::generate(Algorithm::ES256);
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (status, answer) = sign_in_with(&server, &iss, &wallet, Some(&key)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(field(&answer, "detail").contains("DPoP"), "{answer}");
    let (status, answer) = sign_in_with(&server, &iss, &wallet, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_bearer(&answer);

    let mut raw = raw_config(&temp_dir());
    raw.dpop = auth_runtime::DpopMode::Required;
    let (issuer, server) = Backend::Memory.embedded(raw).await;
    let iss = issuer.config().issuer().to_owned();
    let (status, answer) = sign_in_with(&server, &iss, &wallet, None).await;
    assert_proof_refused(status, &answer, "no proof, dpop: required");
    let (status, answer) = post_with_proofs(
        &server,
        "login",
        json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
        &[],
    )
    .await;
    assert_proof_refused(status, &answer, "a login without a proof, dpop: required");
    let (status, answer) = sign_in_with(&server, &iss, &wallet, Some(&key)).await;
    assert_eq!(status, 200, "{answer}");
    assert_bound_to(&answer, &key);
}

#[actix_web::test]
async fn only_the_configured_proof_algorithms_are_taken() {
    let mut raw = raw_config(&temp_dir());
    raw.dpop_algorithms = vec!["EdDSA".into()];
    let (issuer, server) = Backend::Memory.embedded(raw).await;
    let iss = issuer.config().issuer().to_owned();
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let es256 = DpopKey::generate(Algorithm::ES256);
    let (status, answer) = sign_in_with(&server, &iss, &wallet, Some(&es256)).await;
    assert_proof_refused(status, &answer, "ES256 not listed");
    let eddsa = DpopKey::generate(Algorithm::EdDSA);
    let (status, answer) = sign_in_with(&server, &iss, &wallet, Some(&eddsa)).await;
    assert_eq!(status, 200, "{answer}");
    assert_bound_to(&answer, &eddsa);
}

#[actix_web::test]
async fn the_authorization_server_metadata_names_the_endpoints_and_proof_algorithms() {
    let mut raw = raw_config(&temp_dir());
    raw.dpop_algorithms = vec!["ES256".into(), "EdDSA".into()];
    let (issuer, server) = Backend::Memory.embedded(raw).await;
    let iss = issuer.config().issuer().to_owned();
    // Anonymous, at the root of the app, through the validator.
    let (status, metadata) = get(&server, "/.well-known/oauth-authorization-server", None).await;
    assert_eq!(status, 200, "{metadata}");
    assert_eq!(metadata["issuer"], json!(iss));
    assert_eq!(metadata["jwks_uri"], json!(endpoint_url(&iss, "jwks")));
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA"])
    );
    for (member, endpoint) in [
        ("challenge_endpoint", "challenge"),
        ("sign_in_endpoint", "sign-in"),
        ("login_endpoint", "login"),
        ("refresh_endpoint", "refresh"),
        ("sign_out_endpoint", "sign-out"),
        ("revocation_list_endpoint", "revoked-jtis"),
    ] {
        assert_eq!(
            metadata[member],
            json!(endpoint_url(&iss, endpoint)),
            "{member}"
        );
    }
    // Another suffix is no document of this issuer.
    let (status, _) = get(
        &server,
        "/.well-known/oauth-authorization-server/other",
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn the_metadata_of_an_issuer_with_a_path_is_under_that_path() {
    let mut raw = raw_config(&temp_dir());
    raw.issuer = "https://auth.example.com/tenant/".into();
    raw.dpop = auth_runtime::DpopMode::Off;
    raw.auto_create_admin = false;
    let (issuer, server) = Backend::Memory.embedded(raw).await;
    let (status, metadata) = get(
        &server,
        "/.well-known/oauth-authorization-server/tenant",
        None,
    )
    .await;
    assert_eq!(status, 200, "{metadata}");
    assert_eq!(metadata["issuer"], json!(issuer.config().issuer()));
    assert_eq!(
        metadata["refresh_endpoint"],
        json!("https://auth.example.com/tenant/api/v1/auth/refresh")
    );
    // No proofs taken, no proof algorithms named; no password login, no login endpoint.
    assert!(metadata.get("dpop_signing_alg_values_supported").is_none());
    assert!(metadata.get("login_endpoint").is_none());
    let (status, _) = get(&server, "/.well-known/oauth-authorization-server", None).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn a_retry_within_the_grace_of_a_bound_session_needs_the_key_too() {
    for backend in Backend::all().await {
        let mut raw = raw_config(&temp_dir());
        raw.refresh_reuse_grace_seconds = 60;
        let (issuer, server) = backend.embedded(raw).await;
        let iss = issuer.config().issuer().to_owned();
        let key = DpopKey::generate(Algorithm::ES256);
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let (status, answer) = sign_in_with(&server, &iss, &wallet, Some(&key)).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        let spent = field(&answer, "refresh_token");
        let (status, first) = refresh_with(&server, &iss, &spent, Some(&key)).await;
        assert_eq!(status, 200, "{backend:?}: {first}");

        // The spent token again, within the grace: without the key, refused; with a fresh
        // proof by it, the same successor as the first answer, bound.
        let (status, answer) = refresh(&server, &spent).await;
        assert_proof_refused(status, &answer, "a retry without a proof");
        let (status, retried) = refresh_with(&server, &iss, &spent, Some(&key)).await;
        assert_eq!(status, 200, "{backend:?}: {retried}");
        assert_eq!(
            field(&retried, "refresh_token"),
            field(&first, "refresh_token")
        );
        assert_bound_to(&retried, &key);
    }
}
