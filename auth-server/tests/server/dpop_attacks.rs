//! Attacks on DPoP at the token endpoints, where any key may prove: floods that would make
//! everyone else's proofs refused, proofs checked for a throttled client, and a captured
//! refresh request replayed at another instance. Each succeeded before its fix.

use std::sync::Arc;

use auth_runtime::testing::DpopKey;
use auth_runtime::{Algorithm, BoxFuture};
use auth_server::store::{
    AuthStore, ChallengeId, MemoryStore, NewSession, Revoke, Revoked, RevokedEntry, Rotate,
    Rotation, SignInOutcome, StoreError,
};
use auth_server::{AuthServer, WalletAlgorithm};
use futures_util::future::join_all;
use serde_json::json;

use crate::dpop::{
    assert_proof_refused, endpoint_url, post_with_proofs, proof_for, refresh_with, sign_in_with,
};
use crate::support::{
    ADMIN_EMAIL, Backend, Server, Wallet, field, post, raw_config, serve, temp_dir, validator_for,
};

/// A flood of valid login proofs, each by a fresh key and dated as far ahead as a token
/// endpoint takes, from one client: the victim's bound session still refreshes with its proofs,
/// and a newcomer still signs in with one.
#[actix_web::test]
async fn a_login_flood_of_fresh_keys_locks_no_client_out_of_dpop() {
    let mut raw = raw_config(&temp_dir());
    // The smallest record the configuration allows.
    raw.dpop_replay_max_entries = 1_000;
    let (issuer, server) = Backend::Memory.embedded(raw).await;
    let iss = issuer.config().issuer().to_owned();

    let victim = DpopKey::generate(Algorithm::ES256);
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (status, answer) = sign_in_with(&server, &iss, &wallet, Some(&victim)).await;
    assert_eq!(status, 200, "{answer}");
    let mut token = field(&answer, "refresh_token");

    let url = endpoint_url(&iss, "login");
    for issued_in in [4, 25] {
        for _ in 0..20 {
            let proofs: Vec<String> = (0..100)
                .map(|_| {
                    DpopKey::generate(Algorithm::EdDSA)
                        .proof_builder("POST", &url)
                        .issued_in(issued_in)
                        .sign()
                })
                .collect();
            join_all(proofs.into_iter().map(|proof| {
                let server = &server;
                async move {
                    post_with_proofs(
                        server,
                        "login",
                        json!({ "email": "nobody@example.com", "password": "x" }),
                        &[proof],
                    )
                    .await
                }
            }))
            .await;
        }
    }

    for n in 0..10 {
        let (status, answer) = refresh_with(&server, &iss, &token, Some(&victim)).await;
        assert_eq!(status, 200, "refresh {n}: {answer}");
        token = field(&answer, "refresh_token");
    }
    let newcomer = DpopKey::generate(Algorithm::ES256);
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (status, answer) = sign_in_with(&server, &iss, &wallet, Some(&newcomer)).await;
    assert_eq!(status, 200, "{answer}");
}

/// A client the login throttle answers 429 gets 429 with a proof too: its proof is neither
/// verified (a stale ML-DSA-87 one, sent again and again, costs no signature check) nor spent.
#[actix_web::test]
async fn a_throttled_login_neither_verifies_nor_spends_a_proof() {
    let (issuer, server) = Backend::Memory.embedded(raw_config(&temp_dir())).await;
    let iss = issuer.config().issuer().to_owned();
    let body = json!({ "email": ADMIN_EMAIL, "password": "wrong" });
    let mut last = 0;
    for _ in 0..8 {
        last = post(&server, "/api/v1/auth/login", body.clone()).await.0;
    }
    assert_eq!(last, 429, "the client is throttled");
    let stale = DpopKey::generate(Algorithm::MlDsa87)
        .proof_builder("POST", &endpoint_url(&iss, "login"))
        .issued_in(-3600)
        .sign();
    for _ in 0..20 {
        let (status, answer) =
            post_with_proofs(&server, "login", body.clone(), std::slice::from_ref(&stale)).await;
        assert_eq!(status, 429, "{answer}");
    }
    // A fresh proof sent while throttled is not spent: once the throttle lets the client in
    // again it would still pass; here it is enough that it was answered 429, not refused.
    let fresh = DpopKey::generate(Algorithm::ES256)
        .proof_builder("POST", &endpoint_url(&iss, "login"))
        .sign();
    let (status, _) = post_with_proofs(&server, "login", body, &[fresh]).await;
    assert_eq!(status, 429);
}

/// A memory store shared by several issuer instances, as a PostgreSQL database is.
#[derive(Clone)]
struct Shared(Arc<MemoryStore>);

impl AuthStore for Shared {
    fn secret(&self) -> &[u8; 32] {
        self.0.secret()
    }
    fn spend_challenge(
        &self,
        id: ChallengeId,
        expires_at: std::time::SystemTime,
        outcome: SignInOutcome,
        now: std::time::SystemTime,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.0.spend_challenge(id, expires_at, outcome, now)
    }
    fn start_session(
        &self,
        session: NewSession,
        now: std::time::SystemTime,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.0.start_session(session, now)
    }
    fn rotate(&self, rotate: Rotate) -> BoxFuture<'_, Result<Rotation, StoreError>> {
        self.0.rotate(rotate)
    }
    fn revoke(
        &self,
        what: Revoke,
        now: std::time::SystemTime,
    ) -> BoxFuture<'_, Result<Revoked, StoreError>> {
        self.0.revoke(what, now)
    }
    fn revoked_after(
        &self,
        after: u64,
        limit: usize,
        now: std::time::SystemTime,
    ) -> BoxFuture<'_, Result<Vec<RevokedEntry>, StoreError>> {
        self.0.revoked_after(after, limit, now)
    }
}

fn instance(dir: &std::path::Path, store: &Shared, grace: u64) -> (AuthServer, Server) {
    let mut raw = raw_config(dir);
    raw.refresh_reuse_grace_seconds = grace;
    let issuer = AuthServer::builder(raw.validate().expect("config"))
        .store(store.clone())
        .build()
        .expect("issuer");
    let server = serve(&issuer, validator_for(&issuer));
    (issuer, server)
}

/// A captured refresh request of a bound session (its token and proof together), replayed at
/// other instances within the proof's lifetime: refused as a replayed proof everywhere, and
/// the session goes on, with or without a grace.
#[actix_web::test]
async fn a_captured_refresh_request_replayed_at_another_instance_changes_nothing() {
    for grace in [0, 5] {
        let dir = temp_dir();
        let store = Shared(Arc::new(MemoryStore::new(100, 100)));
        let (issuer, a) = instance(&dir, &store, grace);
        let (_, b) = instance(&dir, &store, grace);
        let (_, c) = instance(&dir, &store, grace);
        let iss = issuer.config().issuer().to_owned();
        let key = DpopKey::generate(Algorithm::ES256);
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let (status, answer) = sign_in_with(&a, &iss, &wallet, Some(&key)).await;
        assert_eq!(status, 200, "{answer}");
        let first = field(&answer, "refresh_token");

        // The owner's refresh at A; the request is captured.
        let captured = proof_for(&key, &iss, "refresh");
        let body = json!({ "refresh_token": first });
        let (status, answer) =
            post_with_proofs(&a, "refresh", body.clone(), std::slice::from_ref(&captured)).await;
        assert_eq!(status, 200, "{answer}");
        let second = field(&answer, "refresh_token");
        for (name, instance) in [("A", &a), ("B", &b), ("C", &c)] {
            let (status, answer) = post_with_proofs(
                instance,
                "refresh",
                body.clone(),
                std::slice::from_ref(&captured),
            )
            .await;
            assert_proof_refused(status, &answer, &format!("grace {grace}, replay at {name}"));
        }
        // The owner goes on.
        let (status, answer) = refresh_with(&b, &iss, &second, Some(&key)).await;
        assert_eq!(status, 200, "grace {grace}: {answer}");
    }
}
