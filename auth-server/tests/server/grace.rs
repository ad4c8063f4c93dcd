//! `refresh_reuse_grace_seconds`: the spent refresh token presented again shortly after its
//! rotation, before its successor was used, gets that same successor; every other replay is a
//! reuse that revokes the session, as without a grace. Each test runs against every store.

use auth_server::WalletAlgorithm;
use futures_util::future::join_all;
use serde_json::Value;

use crate::support::{
    Backend, Server, TestClock, Wallet, field, profile_status, raw_config, refresh, revoked,
    sign_in, temp_dir,
};

const GRACE: u64 = 60;

/// An issuer with a grace of [`GRACE`] seconds on `backend`, reading `clock`.
async fn with_grace(backend: &Backend, clock: &TestClock) -> Server {
    let mut raw = raw_config(&temp_dir());
    raw.refresh_reuse_grace_seconds = GRACE;
    let (_issuer, server) = backend.embedded_with_clock(raw, clock.clock()).await;
    server
}

/// Signs in a fresh wallet: its first refresh token.
async fn first_token(server: &Server) -> String {
    let (status, answer) = sign_in(server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
    assert_eq!(status, 200, "{answer}");
    field(&answer, "refresh_token")
}

/// A refresh that must succeed: the answer.
async fn refreshed(server: &Server, token: &str) -> Value {
    let (status, answer) = refresh(server, token).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// Asserts that `token` is refused as a reuse.
async fn assert_reuse(server: &Server, token: &str, context: &str) {
    let (status, answer) = refresh(server, token).await;
    assert_eq!(status, 401, "{context}: {answer}");
    assert!(
        field(&answer, "detail").contains("already used"),
        "{context}: {answer}"
    );
}

/// Asserts that the session of `token` is revoked: its refresh token is refused as such.
async fn assert_session_revoked(server: &Server, token: &str, context: &str) {
    let (status, answer) = refresh(server, token).await;
    assert_eq!(status, 401, "{context}: {answer}");
    assert!(
        field(&answer, "detail").contains("was revoked"),
        "{context}: {answer}"
    );
}

#[actix_web::test]
async fn without_a_grace_a_retried_refresh_is_a_reuse_that_revokes_the_session() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let first = first_token(&server).await;
        let second = refreshed(&server, &first).await;
        let context = format!("{backend:?}");
        assert_reuse(&server, &first, &context).await;
        assert_session_revoked(&server, &field(&second, "refresh_token"), &context).await;
        assert_eq!(
            profile_status(&server, &field(&second, "access_token")).await,
            revoked(),
            "{context}"
        );
    }
}

#[actix_web::test]
async fn a_retry_within_the_grace_gets_the_same_successor_and_the_session_goes_on() {
    for backend in Backend::all().await {
        let clock = TestClock::default();
        let server = with_grace(&backend, &clock).await;
        let context = format!("{backend:?}");
        let first = first_token(&server).await;
        let lost = refreshed(&server, &first).await;
        let retried = refreshed(&server, &first).await;
        let successor = field(&lost, "refresh_token");
        assert_eq!(field(&retried, "refresh_token"), successor, "{context}");
        assert_ne!(
            field(&retried, "access_token"),
            field(&lost, "access_token"),
            "{context}: a fresh access token"
        );
        assert_eq!(
            profile_status(&server, &field(&retried, "access_token"))
                .await
                .0,
            200,
            "{context}"
        );
        // Until the last second of the grace, a retry is answered the same way. (The access
        // tokens issued on the moved clock are not shown to the validator, which reads the
        // real time and would find them issued in the future.)
        clock.set(GRACE - 1);
        let again = refreshed(&server, &first).await;
        assert_eq!(field(&again, "refresh_token"), successor, "{context}");

        // The successor refreshes as any current token does, and the session goes on (back at
        // the real time, for the validator).
        clock.set(0);
        let third = refreshed(&server, &successor).await;
        let fourth = refreshed(&server, &field(&third, "refresh_token")).await;
        assert_eq!(
            profile_status(&server, &field(&fourth, "access_token"))
                .await
                .0,
            200,
            "{context}"
        );
    }
}

#[actix_web::test]
async fn a_retry_after_the_successor_was_used_is_a_reuse() {
    for backend in Backend::all().await {
        let clock = TestClock::default();
        let server = with_grace(&backend, &clock).await;
        let context = format!("{backend:?}");
        let first = first_token(&server).await;
        let second = refreshed(&server, &first).await;
        let retried = refreshed(&server, &first).await;
        let third = refreshed(&server, &field(&second, "refresh_token")).await;
        // Within the grace of both rotations, yet the successor of `first` is spent.
        assert_reuse(&server, &first, &context).await;
        assert_session_revoked(&server, &field(&third, "refresh_token"), &context).await;
        assert_session_revoked(&server, &field(&second, "refresh_token"), &context).await;
        for answer in [&second, &retried, &third] {
            assert_eq!(
                profile_status(&server, &field(answer, "access_token")).await,
                revoked(),
                "{context}: every access token of the session, the retry's included"
            );
        }
    }
}

#[actix_web::test]
async fn a_retry_after_the_grace_is_a_reuse() {
    for backend in Backend::all().await {
        let clock = TestClock::default();
        let server = with_grace(&backend, &clock).await;
        let context = format!("{backend:?}");
        let first = first_token(&server).await;
        let second = refreshed(&server, &first).await;
        // Retries inside the grace do not extend it: it runs from the rotation.
        clock.set(GRACE - 1);
        refreshed(&server, &first).await;
        clock.set(GRACE);
        assert_reuse(&server, &first, &context).await;
        assert_session_revoked(&server, &field(&second, "refresh_token"), &context).await;
        assert_eq!(
            profile_status(&server, &field(&second, "access_token")).await,
            revoked(),
            "{context}"
        );
    }
}

#[actix_web::test]
async fn a_token_two_rotations_old_is_a_reuse_within_the_grace() {
    for backend in Backend::all().await {
        let clock = TestClock::default();
        let server = with_grace(&backend, &clock).await;
        let context = format!("{backend:?}");
        let first = first_token(&server).await;
        let second = refreshed(&server, &first).await;
        let third = refreshed(&server, &field(&second, "refresh_token")).await;
        assert_reuse(&server, &first, &context).await;
        assert_session_revoked(&server, &field(&third, "refresh_token"), &context).await;
    }
}

#[actix_web::test]
async fn whoever_uses_the_shared_successor_later_than_the_grace_after_the_other_revokes_the_session()
 {
    for backend in Backend::all().await {
        let clock = TestClock::default();
        let server = with_grace(&backend, &clock).await;
        let context = format!("{backend:?}");
        let first = first_token(&server).await;
        // The client's refresh, then a thief's replay of the same token within the grace.
        let client = refreshed(&server, &first).await;
        let thief = refreshed(&server, &first).await;
        let successor = field(&client, "refresh_token");
        assert_eq!(field(&thief, "refresh_token"), successor, "{context}");
        assert_eq!(
            profile_status(&server, &field(&thief, "access_token"))
                .await
                .0,
            200,
            "{context}"
        );
        // The thief uses the successor first and goes on; the client's use of it, past the
        // grace of that rotation, is a reuse: the session, the thief's part included, ends.
        let thief_next = refreshed(&server, &successor).await;
        clock.set(GRACE);
        assert_reuse(&server, &successor, &context).await;
        assert_session_revoked(&server, &field(&thief_next, "refresh_token"), &context).await;
        assert_eq!(
            profile_status(&server, &field(&thief_next, "access_token")).await,
            revoked(),
            "{context}"
        );
    }
}

#[actix_web::test]
async fn within_the_grace_two_holders_of_a_token_get_the_same_successors() {
    for backend in Backend::all().await {
        let clock = TestClock::default();
        let server = with_grace(&backend, &clock).await;
        let context = format!("{backend:?}");
        let first = first_token(&server).await;
        let a = refreshed(&server, &first).await;
        let b = refreshed(&server, &first).await;
        let successor = field(&a, "refresh_token");
        assert_eq!(field(&b, "refresh_token"), successor, "{context}");
        // The second use of the successor within the grace of its rotation is a retry too.
        let a_next = refreshed(&server, &successor).await;
        clock.set(GRACE - 1);
        let b_next = refreshed(&server, &successor).await;
        assert_eq!(
            field(&a_next, "refresh_token"),
            field(&b_next, "refresh_token"),
            "{context}"
        );
    }
}

#[actix_web::test]
async fn concurrent_refreshes_of_one_token_within_the_grace_all_get_one_successor() {
    for backend in Backend::all().await {
        let clock = TestClock::default();
        let server = with_grace(&backend, &clock).await;
        for trial in 0..20 {
            let context = format!("{backend:?} trial {trial}");
            let token = first_token(&server).await;
            let racers = if trial % 2 == 0 { 2 } else { 5 };
            let answers = join_all((0..racers).map(|_| refresh(&server, &token))).await;
            let successors: Vec<String> = answers
                .iter()
                .map(|(status, answer)| {
                    assert_eq!(*status, 200, "{context}: {answers:?}");
                    field(answer, "refresh_token")
                })
                .collect();
            assert!(
                successors.iter().all(|s| *s == successors[0]),
                "{context}: {successors:?}"
            );
            let next = refreshed(&server, &successors[0]).await;
            assert_eq!(
                profile_status(&server, &field(&next, "access_token"))
                    .await
                    .0,
                200,
                "{context}"
            );
        }
    }
}

/// A database made without the retry columns (migration 3; migrations 1, 2 and 4 applied) is
/// upgraded when an issuer starts on it, and its sessions go on: a session rotated before
/// refreshes, and gets the grace from its next rotation on.
#[cfg(feature = "postgres")]
#[actix_web::test]
async fn a_database_of_the_earlier_schema_is_upgraded_and_its_sessions_go_on() {
    use crate::support::{serve, validator_for};
    use auth_server::AuthServer;
    use auth_server::store::PgStore;

    async fn issuer_on(url: &str, key_dir: &std::path::Path) -> (AuthServer, Server) {
        let mut raw = raw_config(key_dir);
        raw.refresh_reuse_grace_seconds = GRACE;
        let config = raw.validate().expect("valid server config");
        let store = PgStore::connect(url, config.store_pool_size(), config.max_sessions())
            .await
            .expect("PostgreSQL store");
        let issuer = AuthServer::builder(config)
            .store(store)
            .build()
            .expect("issuer");
        let server = serve(&issuer, validator_for(&issuer));
        (issuer, server)
    }

    let url = crate::pg::fresh_database();
    let database = url.rsplit('/').next().expect("a database name").to_owned();
    let key_dir = temp_dir();
    let (issuer, server) = issuer_on(&url, &key_dir).await;
    let a_first = first_token(&server).await;
    refreshed(&server, &a_first).await;
    let b_first = first_token(&server).await;
    let b_second = field(&refreshed(&server, &b_first).await, "refresh_token");
    server.stop().await;
    drop(issuer);
    // The tables as an issuer without migration 3 left them.
    crate::pg::shared()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .sql_in(
            &database,
            "ALTER TABLE auth_sessions DROP COLUMN previous_hash, DROP COLUMN rotated_at;
             DELETE FROM auth_schema_migrations WHERE version = 3",
        );

    let (_issuer, server) = issuer_on(&url, &key_dir).await;
    // Nothing recorded the token a rotation before the upgrade spent: presented again, it is
    // a reuse, even within the grace.
    assert_reuse(&server, &a_first, "a rotation from before the upgrade").await;
    // Another session rotated before the upgrade refreshes, and has the grace from then on.
    let b_third = refreshed(&server, &b_second).await;
    let retried = refreshed(&server, &b_second).await;
    assert_eq!(
        field(&retried, "refresh_token"),
        field(&b_third, "refresh_token")
    );
}
