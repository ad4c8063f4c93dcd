//! Sessions: the bound counts sign-ins, rotation is one atomic step, reuse revokes the whole
//! session whatever the interleaving, and a session has an absolute end. Each test runs
//! against every store.

use auth_server::WalletAlgorithm;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::{
    Backend, TestClock, Wallet, client, field, post, raw_config, refresh, sign_in, temp_dir,
};

const DAY: u64 = 86_400;

fn refresh_token(answer: &Value) -> String {
    field(answer, "refresh_token")
}

#[actix_web::test]
async fn the_bound_counts_sessions_not_refreshes() {
    for backend in Backend::all().await {
        let mut raw = raw_config(&temp_dir());
        raw.max_sessions = 3;
        let (_issuer, server) = backend.embedded(raw).await;
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let (status, answer) = sign_in(&server, &wallet).await;
        assert_eq!(status, 200, "{answer}");
        let first = refresh_token(&answer);
        let mut current = first.clone();
        // Far more refreshes than the bound: each one replaces the session's token.
        for n in 0..60 {
            let (status, answer) = refresh(&server, &current).await;
            assert_eq!(status, 200, "{backend:?}: refresh {n}: {answer}");
            current = refresh_token(&answer);
        }
        // Two more sessions fit; the fourth does not.
        for _ in 0..2 {
            let (status, answer) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
            assert_eq!(status, 200, "{answer}");
        }
        {
            let wallet = Wallet::new(WalletAlgorithm::Ed25519);
            let challenge = crate::support::challenge_for(&server, &wallet.address()).await;
            let res = client()
                .post(format!("{}/api/v1/auth/sign-in", server.base))
                .json(&wallet.sign_in_body(&challenge))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 503);
            assert!(res.headers().contains_key("retry-after"));
        }
        // Reuse detection still knows the first token of the session, 60 rotations later.
        let (status, answer) = refresh(&server, &first).await;
        assert_eq!(status, 401);
        assert!(answer["detail"].as_str().unwrap().contains("already used"));
        assert_eq!(refresh(&server, &current).await.0, 401);
    }
}

#[actix_web::test]
async fn refresh_works_when_no_new_session_fits_and_a_retry_is_no_reuse() {
    for backend in Backend::all().await {
        let mut raw = raw_config(&temp_dir());
        raw.max_sessions = 2;
        let (_issuer, server) = backend.embedded(raw).await;
        let (_, a) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
        let (_, b) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
        {
            let (status, _) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
            assert_eq!(status, 503, "the store is full of sessions");
        }
        // Rotation needs no room: both sessions keep refreshing.
        for answer in [a, b] {
            let (status, answer) = refresh(&server, &refresh_token(&answer)).await;
            assert_eq!(status, 200, "{answer}");
            let (status, answer) = refresh(&server, &refresh_token(&answer)).await;
            assert_eq!(status, 200, "{answer}");
        }
    }
}

#[actix_web::test]
async fn concurrent_refreshes_of_one_token_leave_nothing_of_the_session_working() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        for trial in 0..40 {
            let (_, answer) = sign_in(&server, &wallet).await;
            let token = refresh_token(&answer);
            let racers = if trial % 2 == 0 { 2 } else { 5 };
            let answers = join_all((0..racers).map(|_| refresh(&server, &token))).await;
            let winners: Vec<&Value> = answers
                .iter()
                .filter(|(status, _)| *status == 200)
                .map(|(_, answer)| answer)
                .collect();
            assert!(winners.len() <= 1, "{backend:?} trial {trial}: {answers:?}");
            assert!(
                answers
                    .iter()
                    .all(|(status, _)| *status == 200 || *status == 401),
                "{answers:?}"
            );
            // Whoever won, the token it got is dead: the session is revoked.
            for winner in winners {
                let (status, answer) = refresh(&server, &refresh_token(winner)).await;
                assert_eq!(status, 401, "{backend:?} trial {trial}: {answer}");
            }
            assert_eq!(refresh(&server, &token).await.0, 401);
        }
    }
}

#[actix_web::test]
async fn a_session_ends_after_session_max_days_however_often_it_is_refreshed() {
    for backend in Backend::all().await {
        let clock = TestClock::default();
        let mut raw = raw_config(&temp_dir());
        raw.session_max_days = 30;
        raw.refresh_token_expire_days = 7;
        let (_issuer, server) = backend.embedded_with_clock(raw, clock.clock()).await;
        let (_, answer) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
        let mut current = refresh_token(&answer);
        for day in [6, 12, 18, 24, 29] {
            clock.set(day * DAY);
            let (status, answer) = refresh(&server, &current).await;
            assert_eq!(status, 200, "{backend:?} day {day}: {answer}");
            current = refresh_token(&answer);
        }
        // Issued on day 29 with seven days of life, yet the session ends on day 30.
        clock.set(30 * DAY + 1);
        let (status, answer) = refresh(&server, &current).await;
        assert_eq!(
            (status, answer["detail"].as_str()),
            (401, Some("session expired; sign in again")),
            "{backend:?}"
        );

        // A token left unused past its own lifetime expires too.
        let (_, answer) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
        clock.set(30 * DAY + 1 + 7 * DAY + 1);
        assert_eq!(refresh(&server, &refresh_token(&answer)).await.0, 401);
    }
}

#[actix_web::test]
async fn malformed_refresh_tokens_are_401_or_400_never_500() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let (_, answer) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
        let real = refresh_token(&answer);
        let mut flipped = real.clone().into_bytes();
        flipped[40] = if flipped[40] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for token in [
            "made-up".to_owned(),
            "A".repeat(64),
            format!("{real}A"),
            real[..63].to_owned(),
            "é".repeat(32),
        ] {
            let (status, answer) = refresh(&server, &token).await;
            assert_eq!(status, 401, "{token}: {answer}");
        }
        // A token altered anywhere fails its MAC: refused before the store is asked, so it
        // cannot revoke the session it names.
        assert_eq!(refresh(&server, &flipped).await.0, 401);
        let (status, answer) = refresh(&server, &real).await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
        assert_eq!(
            post(&server, "/api/v1/auth/refresh", json!({})).await.0,
            400
        );
    }
}

#[actix_web::test]
async fn a_flood_of_wallet_sessions_cannot_lock_the_admin_out() {
    for backend in Backend::all().await {
        let mut raw = raw_config(&temp_dir());
        raw.max_sessions = 2;
        let (_issuer, server) = backend.embedded(raw).await;
        for _ in 0..2 {
            let (status, _) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
            assert_eq!(status, 200);
        }
        let (status, _) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
        assert_eq!(
            status, 503,
            "{backend:?}: the wallet sessions are at their bound"
        );
        let (status, answer) = post(
            &server,
            "/api/v1/auth/login",
            json!({"email": crate::support::ADMIN_EMAIL, "password": crate::support::ADMIN_PASSWORD}),
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
    }
}

/// An issuer on the PostgreSQL database at `url` holding at most `max_sessions` sessions.
#[cfg(feature = "postgres")]
async fn bounded_issuer_on(
    url: &str,
    key_dir: &std::path::Path,
    max_sessions: usize,
) -> (auth_server::AuthServer, crate::support::Server) {
    let mut raw = raw_config(key_dir);
    raw.max_sessions = max_sessions;
    let config = raw.validate().expect("valid server config");
    let store = auth_server::store::PgStore::connect(url, 2, config.max_sessions())
        .await
        .expect("PostgreSQL store");
    let issuer = auth_server::AuthServer::with_store(config, store).expect("issuer");
    let server = crate::support::serve(&issuer, crate::support::validator_for(&issuer));
    (issuer, server)
}

/// Runs `query` on the shared cluster's database at `url`.
#[cfg(feature = "postgres")]
fn sql_on(url: &str, query: &str) -> String {
    let database = url.rsplit('/').next().expect("a database name");
    crate::pg::shared()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .sql_in(database, query)
}

/// Sessions another writer adds to the table (an instance of an earlier version, an
/// operator) count against the bound as the store's own do.
#[cfg(feature = "postgres")]
#[actix_web::test]
async fn with_postgres_sessions_any_writer_adds_count_against_the_bound() {
    let url = crate::pg::fresh_database();
    let (_issuer, server) = bounded_issuer_on(&url, &temp_dir(), 3).await;
    let (status, answer) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
    assert_eq!(status, 200, "{answer}");
    sql_on(
        &url,
        "INSERT INTO auth_sessions (id, claims, token_hash, token_expires_at, ends_at, started_at)
         SELECT uuid_send(gen_random_uuid()), '{\"sub\": \"elsewhere\"}',
                sha256(uuid_send(gen_random_uuid())), now() + interval '1 day',
                now() + interval '30 days', now()
         FROM generate_series(1, 2)",
    );
    let (status, answer) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
    assert_eq!(
        status, 503,
        "three live sessions fill a bound of three: {answer}"
    );
}

/// A database whose sessions were started before the store kept a count of its rows
/// (migration 6) is upgraded with them counted: the bound holds at once. Rows the sweep
/// deletes free their places, each once.
#[cfg(feature = "postgres")]
#[actix_web::test]
async fn with_postgres_sessions_from_before_the_upgrade_count_and_deleted_ones_free_places() {
    let url = crate::pg::fresh_database();
    let key_dir = temp_dir();
    let (issuer, server) = bounded_issuer_on(&url, &key_dir, 2).await;
    for _ in 0..2 {
        let (status, answer) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
        assert_eq!(status, 200, "{answer}");
    }
    server.stop().await;
    drop(issuer);
    // The tables as an issuer without migration 6 left them.
    sql_on(
        &url,
        "DROP TRIGGER auth_sessions_added ON auth_sessions;
         DROP TRIGGER auth_sessions_removed ON auth_sessions;
         DROP FUNCTION auth_sessions_count_added(), auth_sessions_count_removed();
         DROP TABLE auth_sessions_removed;
         DROP SEQUENCE auth_sessions_added;
         DELETE FROM auth_schema_migrations WHERE version = 6",
    );

    let (_issuer, server) = bounded_issuer_on(&url, &key_dir, 2).await;
    let (status, answer) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
    assert_eq!(
        status, 503,
        "the two sessions of before fill the bound: {answer}"
    );
    // One session deleted, as the sweep deletes an ended one: one place, no more.
    sql_on(
        &url,
        "DELETE FROM auth_sessions WHERE id = (SELECT id FROM auth_sessions LIMIT 1)",
    );
    let (status, answer) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
    assert_eq!(status, 503, "{answer}");
}
