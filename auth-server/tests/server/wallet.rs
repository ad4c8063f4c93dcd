//! Challenges and wallet sign-in.

use std::time::Duration;

use auth_server::WalletAlgorithm;
use futures_util::future::join_all;
use serde_json::json;

use crate::support::{
    Backend, Wallet, challenge_for, claims, client_from, embedded, get, hex, post, raw_config,
    secp256k1, sign_in, sign_in_from, temp_dir,
};

#[actix_web::test]
async fn challenge_is_64_hex_with_its_ttl() {
    let (_issuer, server) = embedded(raw_config(&temp_dir()));
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (status, body) = post(
        &server,
        "/api/v1/auth/challenge",
        json!({"address": wallet.address()}),
    )
    .await;
    assert_eq!(status, 200);
    let challenge = body["challenge"].as_str().unwrap();
    assert_eq!(challenge.len(), 64);
    assert!(challenge.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(body["ttl"], 120);
    let (status, body) = post(&server, "/api/v1/auth/challenge", json!({})).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("address required"))
    );
    let (status, _) = post(
        &server,
        "/api/v1/auth/challenge",
        json!({"address": "not hex!"}),
    )
    .await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn every_wallet_algorithm_signs_in_and_the_token_works_in_the_same_app() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        for alg in WalletAlgorithm::ALL {
            let wallet = Wallet::new(alg);
            let (status, body) = sign_in(&server, &wallet).await;
            assert_eq!(status, 200, "{alg:?}: {body}");
            assert_eq!(body["address"], wallet.address());
            assert_eq!(body["algorithm"], alg.as_str());
            let access = body["access_token"].as_str().unwrap();
            let issued = claims(access);
            assert_eq!(issued["sub"], wallet.address());
            assert_eq!(issued["role"], "wallet");
            assert_eq!(issued["wallet_address"], wallet.address());
            assert_eq!(issued["algorithm"], alg.as_str());
            assert_eq!(issued["iss"], "http://127.0.0.1:8100");
            assert_eq!(issued["aud"], "test-app");
            let (status, profile) = get(&server, "/api/profile", Some(access)).await;
            assert_eq!(
                (status, &profile["subject"]),
                (200, &json!(wallet.address())),
                "{alg:?}"
            );
            let (status, _) = get(&server, "/api/admin/dashboard", Some(access)).await;
            assert_eq!(status, 403, "a wallet is not an admin");
        }
    }
}

#[actix_web::test]
async fn tampered_signature_is_401_and_burns_the_challenge() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        for alg in WalletAlgorithm::ALL {
            let wallet = Wallet::new(alg);
            let challenge = challenge_for(&server, &wallet.address()).await;
            let mut body = wallet.sign_in_body(&challenge);
            // Signed over another message: well-formed, but not for this challenge.
            body["signature"] = json!(hex(&wallet.sign(b"something else")));
            let (status, answer) = post(&server, "/api/v1/auth/sign-in", body).await;
            assert_eq!(
                (status, answer["detail"].as_str()),
                (401, Some("signature verification failed")),
                "{alg:?}"
            );
            let (status, answer) = post(
                &server,
                "/api/v1/auth/sign-in",
                wallet.sign_in_body(&challenge),
            )
            .await;
            assert_eq!(
                (status, answer["detail"].as_str()),
                (401, Some("invalid or expired challenge")),
                "{alg:?}"
            );
        }
    }
}

/// A sign-in for `address` with `challenge` and a signature of zeros (`signature`: another).
fn junk_sign_in(address: &str, challenge: &str, signature: Option<String>) -> serde_json::Value {
    json!({
        "address": address,
        "public_key": address,
        "signature": signature.unwrap_or_else(|| "00".repeat(64)),
        "challenge": challenge,
        "algorithm": "Ed25519",
    })
}

#[actix_web::test]
async fn every_challenge_of_an_address_works_once_and_none_cancels_another() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let first = challenge_for(&server, &wallet.address()).await;
        // Someone else asks for a challenge for this wallet's address, many times.
        for _ in 0..5 {
            challenge_for(&server, &wallet.address()).await;
        }
        let second = challenge_for(&server, &wallet.address()).await;
        assert_ne!(first, second);
        for challenge in [&first, &second] {
            let body = wallet.sign_in_body(challenge);
            let (status, answer) = post(&server, "/api/v1/auth/sign-in", body.clone()).await;
            assert_eq!(status, 200, "{backend:?}: {answer}");
            let (status, answer) = post(&server, "/api/v1/auth/sign-in", body).await;
            assert_eq!(
                (status, answer["detail"].as_str()),
                (401, Some("invalid or expired challenge"))
            );
        }
    }
}

#[actix_web::test]
async fn junk_sign_ins_for_an_address_do_not_burn_its_owners_challenge() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let victim = Wallet::new(WalletAlgorithm::Ed25519);
        let challenge = challenge_for(&server, &victim.address()).await;
        let junk = |challenge: &str| junk_sign_in(&victim.address(), challenge, None);
        // A made-up challenge, a tampered copy of the victim's, and the attacker's own
        // challenge for the victim's address: each refused, none touches the victim's.
        let mut tampered = challenge.clone().into_bytes();
        tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
        let own = challenge_for(&server, &victim.address()).await;
        for (made_up, expected) in [
            ("ab".repeat(32), "invalid or expired challenge"),
            (
                String::from_utf8(tampered).unwrap(),
                "invalid or expired challenge",
            ),
            (own, "signature verification failed"),
        ] {
            let (status, answer) = post(&server, "/api/v1/auth/sign-in", junk(&made_up)).await;
            assert_eq!(
                (status, answer["detail"].as_str()),
                (401, Some(expected)),
                "{backend:?}"
            );
        }
        let (status, answer) = post(
            &server,
            "/api/v1/auth/sign-in",
            victim.sign_in_body(&challenge),
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {answer}");
    }
}

#[actix_web::test]
async fn a_small_order_ed25519_key_cannot_sign_in_with_a_forged_signature() {
    let (_issuer, server) = embedded(raw_config(&temp_dir()));
    // R = the identity, S = 0: "valid" for a share of all messages under a small-order key.
    let forged = format!("01{}", "00".repeat(63));
    for address in ["00".repeat(32), format!("{}80", "00".repeat(31))] {
        for _ in 0..8 {
            let challenge = challenge_for(&server, &address).await;
            let (status, answer) = post(
                &server,
                "/api/v1/auth/sign-in",
                junk_sign_in(&address, &challenge, Some(forged.clone())),
            )
            .await;
            assert_eq!(status, 400, "{answer}");
            assert!(answer["detail"].as_str().unwrap().contains("small order"));
        }
    }
}

#[actix_web::test]
async fn a_flood_of_challenges_and_junk_sign_ins_does_not_lock_real_wallets_out() {
    for backend in Backend::all().await {
        let mut raw = raw_config(&temp_dir());
        raw.max_spent_challenges = 50;
        let (_issuer, server) = backend.embedded(raw).await;
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let early = challenge_for(&server, &wallet.address()).await;
        let addresses: Vec<String> = (0..1500u32)
            .map(|n| format!("{n:08x}{}", "ab".repeat(28)))
            .collect();
        for batch in addresses.chunks(100) {
            let answers = join_all(batch.iter().map(|address| {
                post(
                    &server,
                    "/api/v1/auth/challenge",
                    json!({ "address": address }),
                )
            }))
            .await;
            assert!(
                answers.iter().all(|(status, _)| *status == 200),
                "{answers:?}"
            );
        }
        // Junk sign-ins burning 300 real challenges of made-up wallets: six times the bound.
        for address in &addresses[..300] {
            let challenge = challenge_for(&server, address).await;
            let (status, answer) = post(
                &server,
                "/api/v1/auth/sign-in",
                junk_sign_in(address, &challenge, None),
            )
            .await;
            assert_eq!(status, 401, "{backend:?} {address} {answer}");
        }
        for challenge in [early, challenge_for(&server, &wallet.address()).await] {
            let (status, answer) = post(
                &server,
                "/api/v1/auth/sign-in",
                wallet.sign_in_body(&challenge),
            )
            .await;
            assert_eq!(status, 200, "{backend:?}: {answer}");
        }
    }
}

#[actix_web::test]
async fn expired_challenge_is_refused() {
    for backend in Backend::all().await {
        let mut raw = raw_config(&temp_dir());
        raw.challenge_ttl_seconds = 1;
        let (_issuer, server) = backend.embedded(raw).await;
        let wallet = Wallet::new(WalletAlgorithm::Ed25519);
        let challenge = challenge_for(&server, &wallet.address()).await;
        actix_web::rt::time::sleep(Duration::from_millis(1200)).await;
        let (status, answer) = post(
            &server,
            "/api/v1/auth/sign-in",
            wallet.sign_in_body(&challenge),
        )
        .await;
        assert_eq!(
            (status, answer["detail"].as_str()),
            (401, Some("invalid or expired challenge"))
        );
    }
}

#[actix_web::test]
async fn challenge_issued_to_another_address_is_refused() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let victim = Wallet::new(WalletAlgorithm::Ed25519);
        let attacker = Wallet::new(WalletAlgorithm::Ed25519);
        let challenge = challenge_for(&server, &victim.address()).await;
        let (status, answer) = post(
            &server,
            "/api/v1/auth/sign-in",
            attacker.sign_in_body(&challenge),
        )
        .await;
        assert_eq!(
            (status, answer["detail"].as_str()),
            (401, Some("invalid or expired challenge"))
        );
        // The victim's challenge is untouched by the attempt.
        assert_eq!(
            post(
                &server,
                "/api/v1/auth/sign-in",
                victim.sign_in_body(&challenge)
            )
            .await
            .0,
            200
        );
    }
}

#[actix_web::test]
async fn secp256k1_high_s_is_a_failed_signature_that_spends_the_challenge() {
    for backend in Backend::all().await {
        let (_issuer, server) = backend.embedded(raw_config(&temp_dir())).await;
        let wallet = Wallet::new(WalletAlgorithm::Secp256k1);
        let challenge = challenge_for(&server, &wallet.address()).await;
        let low = wallet.sign(challenge.as_bytes());
        let mut body = wallet.sign_in_body(&challenge);
        body["signature"] = json!(hex(&secp256k1::with_s(&low, true)));
        let (status, answer) = post(&server, "/api/v1/auth/sign-in", body).await;
        assert_eq!(status, 401, "{answer}");
        assert_eq!(answer["detail"], "signature verification failed");
        // The challenge is spent: even the valid low-S twin cannot use it now.
        let (status, answer) = post(
            &server,
            "/api/v1/auth/sign-in",
            wallet.sign_in_body(&challenge),
        )
        .await;
        assert_eq!(status, 401, "{answer}");
        assert_eq!(answer["detail"], "invalid or expired challenge");
        let challenge = challenge_for(&server, &wallet.address()).await;
        assert_eq!(
            post(
                &server,
                "/api/v1/auth/sign-in",
                wallet.sign_in_body(&challenge)
            )
            .await
            .0,
            200
        );
    }
}

#[actix_web::test]
async fn malformed_sign_in_input_is_400_never_500() {
    let mut raw = raw_config(&temp_dir());
    raw.supported_wallet_algorithms = vec!["Ed25519".into(), "secp256k1".into()];
    let (_issuer, server) = embedded(raw);
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let challenge = challenge_for(&server, &wallet.address()).await;
    let good = wallet.sign_in_body(&challenge);
    let cases = [
        (
            "missing field",
            json!({"address": wallet.address()}),
            "address, public_key, signature, and challenge required",
        ),
        (
            "bad hex",
            {
                let mut b = good.clone();
                b["signature"] = json!("zz");
                b
            },
            "invalid hex encoding",
        ),
        (
            "unknown algorithm",
            {
                let mut b = good.clone();
                b["algorithm"] = json!("RSA");
                b
            },
            "unsupported algorithm",
        ),
        (
            "disabled algorithm",
            {
                let mut b = good.clone();
                b["algorithm"] = json!("ML-DSA-65");
                b
            },
            "unsupported algorithm",
        ),
        (
            "no algorithm",
            {
                let mut b = good.clone();
                b.as_object_mut().unwrap().remove("algorithm");
                b
            },
            "unsupported algorithm",
        ),
        (
            "wrong key length",
            {
                let mut b = good.clone();
                b["public_key"] = json!("abcd");
                b["address"] = json!("abcd");
                b
            },
            "must be 32 bytes",
        ),
        (
            "address mismatch",
            {
                let mut b = good.clone();
                b["address"] = json!("00".repeat(32));
                b
            },
            "address does not match verified public key",
        ),
        (
            "secp key not uncompressed",
            {
                let mut b = good.clone();
                b["algorithm"] = json!("secp256k1");
                b["public_key"] = json!("02".repeat(65));
                b["address"] = json!("02".repeat(65));
                b
            },
            "uncompressed",
        ),
    ];
    for (name, body, detail) in cases {
        let (status, answer) = post(&server, "/api/v1/auth/sign-in", body).await;
        assert_eq!(status, 400, "{name}: {answer}");
        assert!(
            answer["detail"].as_str().unwrap_or("").contains(detail),
            "{name}: {answer}"
        );
    }
    let res = crate::support::client()
        .post(format!("{}/api/v1/auth/sign-in", server.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body"),
        "{body}"
    );
}

#[actix_web::test]
async fn sign_ins_are_limited_per_client_address_and_proxies_are_trusted_only_when_listed() {
    let mut raw = raw_config(&temp_dir());
    raw.sign_ins_per_client = 3;
    raw.sign_in_decay_seconds = 60;
    raw.trusted_proxies = vec!["127.0.0.31".into()];
    let (_issuer, server) = embedded(raw);
    let direct = client_from("127.0.0.21");
    for _ in 0..3 {
        assert_eq!(sign_in_from(&direct, &server, None).await.0, 200);
    }
    assert_eq!(
        sign_in_from(&direct, &server, None).await,
        (429, Some("60".into()))
    );
    // Naming another client does not help a client that is not a trusted proxy.
    assert_eq!(
        sign_in_from(&direct, &server, Some("10.9.9.9")).await.0,
        429
    );
    assert_eq!(
        sign_in_from(&client_from("127.0.0.22"), &server, None)
            .await
            .0,
        200
    );
    // Behind the trusted proxy, each forwarded client has its own allowance; the right-most
    // untrusted hop is the client, whatever it put further left.
    let proxy = client_from("127.0.0.31");
    for _ in 0..3 {
        let (status, _) = sign_in_from(&proxy, &server, Some("6.6.6.6, 10.0.0.1")).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        sign_in_from(&proxy, &server, Some("7.7.7.7, 10.0.0.1"))
            .await
            .0,
        429
    );
    assert_eq!(sign_in_from(&proxy, &server, Some("10.0.0.2")).await.0, 200);
}
