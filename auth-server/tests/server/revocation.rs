//! Revocation on a real server, against every store: an admin revokes a token or a subject,
//! sign-out and refresh-token reuse revoke a session's access tokens, the list is served in
//! the documented format, the embedded validator refuses at once and a second app reading
//! the list over HTTP refuses after its next read.

use std::time::Duration;

use auth_runtime::JwtAuth;
use auth_server::WalletAlgorithm;
use serde_json::json;

use crate::support::{
    Backend, Wallet, admin_token, claims, client, field, get, post, profile_status, raw_config,
    refresh, revoke, revoked, serve_without_issuer, sign_in, temp_dir,
};

#[actix_web::test]
async fn an_admin_revokes_one_token_and_the_embedded_validator_refuses_it_at_once() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let admin = admin_token(&server).await;
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let (_, answer) = sign_in(&server, &wallet).await;
        let access = field(&answer, "access_token");
        let (_, other) = sign_in(&server, &wallet).await;
        let other = field(&other, "access_token");
        assert_eq!(profile_status(&server, &access).await.0, 200);
        let jti = claims(&access)["jti"].as_str().unwrap().to_owned();
        let exp = claims(&access)["exp"].as_u64().unwrap();

        // Only an admin may revoke.
        assert_eq!(revoke(&server, None, json!({"jti": jti})).await.0, 401);
        let (status, _) = revoke(&server, Some(&other), json!({"jti": jti})).await;
        assert_eq!(status, 403, "{backend:?}");
        let (status, answer) = revoke(&server, Some(&admin), json!({"jti": jti})).await;
        assert_eq!(
            (status, &answer),
            (200, &json!({"listed_entries": 1, "revoked_sessions": 0}))
        );
        assert_eq!(
            profile_status(&server, &access).await,
            revoked(),
            "{backend:?}"
        );
        assert_eq!(profile_status(&server, &other).await.0, 200);

        // The list, whole and then after its cursor.
        let (status, list) = get(&server, "/api/v1/auth/revoked-jtis", None).await;
        assert_eq!(status, 200);
        assert_eq!(list["revoked"], json!([{"jti": jti, "exp": exp}]));
        assert_eq!(
            (&list["full"], &list["more"]),
            (&json!(true), &json!(false))
        );
        let cursor = list["cursor"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/auth/revoked-jtis?since={cursor}");
        let (_, after) = get(&server, &path, None).await;
        assert_eq!(after["revoked"], json!([]));
        assert_eq!(
            (&after["full"], &after["cursor"]),
            (&json!(false), &json!(cursor))
        );
        // A cursor of another store (or made up) gets the whole list.
        let (_, unknown) = get(&server, "/api/v1/auth/revoked-jtis?since=0.0", None).await;
        assert_eq!(unknown["full"], json!(true));
        assert_eq!(unknown["revoked"].as_array().unwrap().len(), 1);

        // Unknown, repeated and malformed requests.
        let (status, answer) = revoke(&server, Some(&admin), json!({"jti": jti})).await;
        assert_eq!(status, 404, "already revoked: {answer}");
        let (status, _) = revoke(&server, Some(&admin), json!({"jti": "nope"})).await;
        assert_eq!(status, 404);
        // Another spelling of a live token's `jti` would list nothing a validator compares
        // with: refused.
        let other = issuer_jti_upper(&server, &admin).await;
        assert_eq!(other.0, 404, "{}", other.1);
        // A `jti` shaped like ours whose MAC does not match was not issued here.
        let forged = format!("{}{}", &jti[..40], "00000000");
        let (status, _) = revoke(&server, Some(&admin), json!({"jti": forged})).await;
        assert_eq!(status, 404);
        let body = json!({"jti": jti, "subject": "x"});
        assert_eq!(revoke(&server, Some(&admin), body).await.0, 400);
        assert_eq!(revoke(&server, Some(&admin), json!({})).await.0, 400);
    }
}

/// Signs in a wallet and asks the admin to revoke its token by its `jti` in upper case: the
/// status and body.
async fn issuer_jti_upper(
    server: &crate::support::Server,
    admin: &str,
) -> (u16, serde_json::Value) {
    let (_, answer) = sign_in(server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
    let access = field(&answer, "access_token");
    let jti = claims(&access)["jti"].as_str().unwrap().to_uppercase();
    let answer = revoke(server, Some(admin), json!({"jti": jti})).await;
    assert_eq!(profile_status(server, &access).await.0, 200, "not revoked");
    answer
}

#[actix_web::test]
async fn revoking_a_subject_ends_all_its_sessions_and_tokens() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let admin = admin_token(&server).await;
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let bystander = Wallet::new(WalletAlgorithm::Ed25519);
        let (_, first) = sign_in(&server, &wallet).await;
        let (_, second) = sign_in(&server, &wallet).await;
        let (_, rotated) = refresh(&server, &field(&second, "refresh_token")).await;
        let (_, theirs) = sign_in(&server, &bystander).await;
        let tokens = [&first, &second, &rotated].map(|answer| field(answer, "access_token"));

        let body = json!({"subject": wallet.address()});
        let (status, answer) = revoke(&server, Some(&admin), body).await;
        assert_eq!(
            (status, &answer),
            (200, &json!({"listed_entries": 1, "revoked_sessions": 2})),
            "{backend:?}"
        );
        // One entry, however many tokens the subject holds: every one issued until now.
        let (_, list) = get(&server, "/api/v1/auth/revoked-jtis", None).await;
        let entries = list["revoked"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{list}");
        assert_eq!(entries[0]["sub"], json!(wallet.address()));
        let issued_before = entries[0]["issued_before"].as_u64().unwrap();
        for token in &tokens {
            assert!(claims(token)["iat"].as_u64().unwrap() <= issued_before);
        }
        for token in &tokens {
            assert_eq!(profile_status(&server, token).await, revoked());
        }
        for answer in [&first, &rotated] {
            let (status, _) = refresh(&server, &field(answer, "refresh_token")).await;
            assert_eq!(status, 401, "the sessions are over");
        }
        let theirs_access = field(&theirs, "access_token");
        assert_eq!(profile_status(&server, &theirs_access).await.0, 200);
        assert_eq!(
            refresh(&server, &field(&theirs, "refresh_token")).await.0,
            200
        );
        // Tokens issued within two seconds after it are covered too (a refresh racing the
        // revocation cannot issue one that escapes); a sign-in after that is not touched.
        let (_, racing) = sign_in(&server, &wallet).await;
        let racing = field(&racing, "access_token");
        assert_eq!(profile_status(&server, &racing).await, revoked());
        actix_web::rt::time::sleep(Duration::from_millis(3100)).await;
        let (_, again) = sign_in(&server, &wallet).await;
        let again = field(&again, "access_token");
        assert_eq!(profile_status(&server, &again).await.0, 200, "{backend:?}");
    }
}

/// Access tokens name their session (`sid`), so that ending a session lists one entry however
/// many tokens it issued; signing out of a session already ended lists nothing more.
#[actix_web::test]
async fn signing_out_lists_one_entry_for_the_whole_session() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let (_, other) = sign_in(&server, &wallet).await;
        let (_, mut answer) = sign_in(&server, &wallet).await;
        let mut tokens = vec![field(&answer, "access_token")];
        for _ in 0..30 {
            let (status, next) = refresh(&server, &field(&answer, "refresh_token")).await;
            assert_eq!(status, 200, "{next}");
            tokens.push(field(&next, "access_token"));
            answer = next;
        }
        let sid = claims(&tokens[0])["sid"].clone();
        assert!(sid.as_str().is_some_and(|sid| sid.len() == 32), "{sid}");
        assert!(tokens.iter().all(|token| claims(token)["sid"] == sid));
        assert_ne!(claims(&field(&other, "access_token"))["sid"], sid);

        let sign_out = json!({"refresh_token": field(&answer, "refresh_token")});
        for _ in 0..2 {
            let (status, _) = post(&server, "/api/v1/auth/sign-out", sign_out.clone()).await;
            assert_eq!(status, 204, "{backend:?}");
            let (_, list) = get(&server, "/api/v1/auth/revoked-jtis", None).await;
            let entries = list["revoked"].as_array().unwrap();
            assert_eq!(entries.len(), 1, "{backend:?}: {list}");
            assert_eq!(entries[0]["sid"], sid);
            assert!(entries[0].get("jti").is_none(), "{list}");
        }
        for token in &tokens {
            assert_eq!(
                profile_status(&server, token).await,
                revoked(),
                "{backend:?}"
            );
        }
        let others = field(&other, "access_token");
        assert_eq!(profile_status(&server, &others).await.0, 200);
    }
}

#[actix_web::test]
async fn sign_out_and_refresh_token_reuse_revoke_the_sessions_access_tokens() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);

        // Sign-out.
        let (_, answer) = sign_in(&server, &wallet).await;
        let access = field(&answer, "access_token");
        let body = json!({"refresh_token": field(&answer, "refresh_token")});
        let res = client()
            .post(format!("{}/api/v1/auth/sign-out", server.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 204, "{backend:?}");
        assert_eq!(profile_status(&server, &access).await, revoked());
        assert_eq!(
            refresh(&server, &field(&answer, "refresh_token")).await.0,
            401
        );
        let (status, _) = post(
            &server,
            "/api/v1/auth/sign-out",
            json!({"refresh_token": "x".repeat(64)}),
        )
        .await;
        assert_eq!(status, 401);

        // Reuse: the replayed token's session loses every access token it issued.
        let (_, first) = sign_in(&server, &wallet).await;
        let (_, second) = refresh(&server, &field(&first, "refresh_token")).await;
        let (status, _) = refresh(&server, &field(&first, "refresh_token")).await;
        assert_eq!(status, 401);
        for answer in [&first, &second] {
            let token = field(answer, "access_token");
            assert_eq!(
                profile_status(&server, &token).await,
                revoked(),
                "{backend:?}"
            );
        }
    }
}

#[actix_web::test]
async fn a_second_app_reads_the_list_over_http_and_refuses_after_its_next_read() {
    let (issuer, server) = Backend::Memory.embedded(raw_config(&temp_dir())).await;
    let other = {
        let raw = auth_runtime::RawConfig {
            issuer: issuer.config().issuer().to_owned(),
            audience: issuer.config().audience().into(),
            jwks_endpoint: format!("{}/api/v1/auth/jwks", server.base),
            revocation_endpoint: format!("{}/api/v1/auth/revoked-jtis", server.base),
            revocation_poll_seconds: 1,
            revocation_max_staleness_seconds: 1,
            ..auth_runtime::RawConfig::default()
        };
        serve_without_issuer(JwtAuth::new(raw.validate().unwrap()).unwrap())
    };
    let admin = admin_token(&server).await;
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (_, answer) = sign_in(&server, &wallet).await;
    let access = field(&answer, "access_token");
    assert_eq!(profile_status(&other, &access).await.0, 200);
    let jti = claims(&access)["jti"].as_str().unwrap().to_owned();
    assert_eq!(
        revoke(&server, Some(&admin), json!({"jti": jti})).await.0,
        200
    );
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(profile_status(&other, &access).await, revoked());
}

#[cfg(feature = "postgres")]
#[actix_web::test]
async fn with_postgres_every_instance_serves_and_applies_one_list() {
    use crate::support::serve;

    let url = crate::pg::fresh_database();
    let dir = temp_dir();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let config = raw_config(&dir).validate().unwrap();
        let store = auth_server::store::PgStore::connect(&url, 2, config.max_sessions())
            .await
            .unwrap();
        let issuer = auth_server::AuthServer::with_store(config, store).unwrap();
        let client = auth_runtime::RawConfig {
            issuer: issuer.config().issuer().to_owned(),
            audience: issuer.config().audience().into(),
            revocation_poll_seconds: 1,
            revocation_max_staleness_seconds: 1,
            ..auth_runtime::RawConfig::default()
        };
        let auth = issuer.jwt_auth(client.validate().unwrap()).unwrap();
        let server = serve(&issuer, auth);
        instances.push((issuer, server));
    }
    let (a, b) = (&instances[0].1, &instances[1].1);
    let admin = admin_token(a).await;
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (_, answer) = sign_in(b, &wallet).await;
    let access = field(&answer, "access_token");
    assert_eq!(profile_status(b, &access).await.0, 200);
    let jti = claims(&access)["jti"].as_str().unwrap().to_owned();
    // Issued by B, revoked through A: A's validator refuses at once...
    assert_eq!(revoke(a, Some(&admin), json!({"jti": jti})).await.0, 200);
    assert_eq!(profile_status(a, &access).await, revoked());
    // ...B serves the same list, and B's validator refuses after its next read.
    let (_, list) = get(b, "/api/v1/auth/revoked-jtis", None).await;
    assert_eq!(list["revoked"][0]["jti"], json!(jti));
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(profile_status(b, &access).await, revoked());
}

/// An ML-DSA-65 wallet's subject is nearly 4,000 characters: longer than a PostgreSQL btree
/// entry may be. Revoking it still lists it, on every store.
#[actix_web::test]
async fn a_subject_of_any_length_can_be_revoked() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let admin = admin_token(&server).await;
        let wallet = Wallet::new(WalletAlgorithm::MlDsa65);
        let (_, answer) = sign_in(&server, &wallet).await;
        let access = field(&answer, "access_token");
        assert!(wallet.address().len() > 3000);
        let body = json!({"subject": wallet.address()});
        let (status, answer) = revoke(&server, Some(&admin), body).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        assert_eq!(
            profile_status(&server, &access).await,
            revoked(),
            "{backend:?}"
        );
        // Listed once: a second revocation in the same second adds nothing.
        let body = json!({"subject": wallet.address()});
        let (_, again) = revoke(&server, Some(&admin), body).await;
        assert!(again["listed_entries"].as_u64() <= Some(1), "{again}");
    }
}
