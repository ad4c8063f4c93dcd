//! The per-client limits against an attacker: a full table of client addresses, and the forms
//! one address takes (an IPv4-mapped peer on a `[::]` listener, `ip:port` hops, proxies listed
//! as networks, hops that are no address at all).

use auth_server::WalletAlgorithm;
use futures_util::StreamExt as _;
use serde_json::json;

use crate::support::{
    Server, Wallet, challenge_for, client_from, embedded, embedded_on_every_address, hex,
    raw_config, sign_in_from, temp_dir,
};

/// Sign-in attempts from `addresses` distinct clients named in `X-Forwarded-For` by `proxy`,
/// one each: the statuses. All present one challenge with a signature of another message, so
/// that each attempt is counted by the limit and then refused with 401 at little cost.
async fn one_attempt_from_each(
    proxy: &reqwest::Client,
    server: &Server,
    addresses: u32,
) -> Vec<u16> {
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let challenge = challenge_for(server, &wallet.address()).await;
    let mut body = wallet.sign_in_body(&challenge);
    body["signature"] = json!(hex(&wallet.sign(b"not the challenge")));
    let url = format!("{}/api/v1/auth/sign-in", server.base);
    futures_util::stream::iter(0..addresses)
        .map(|n| {
            let [_, a, b, c] = n.to_be_bytes();
            let request = proxy
                .post(&url)
                .header("X-Forwarded-For", format!("10.{a}.{b}.{c}"))
                .json(&body)
                .send();
            async move { request.await.expect("request").status().as_u16() }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// How many of `attempts` sign-ins naming `forwarded` through `proxy` succeed.
async fn sign_ins_passed(
    proxy: &reqwest::Client,
    server: &Server,
    forwarded: Option<&str>,
    attempts: u32,
) -> u32 {
    let mut passed = 0;
    for _ in 0..attempts {
        let (status, _) = sign_in_from(proxy, server, forwarded).await;
        assert!(status == 200 || status == 429, "{forwarded:?}: {status}");
        passed += u32::from(status == 200);
    }
    passed
}

#[actix_web::test]
async fn after_20000_distinct_addresses_a_fresh_address_still_gets_only_its_limit() {
    let mut raw = raw_config(&temp_dir());
    raw.sign_ins_per_client = 20;
    // Nothing decays while the test runs: the table is full of live counts.
    raw.sign_in_decay_seconds = 3_600;
    raw.challenge_ttl_seconds = 3_600;
    raw.trusted_proxies = vec!["127.0.0.41".into()];
    let (_issuer, server) = embedded(raw);
    let proxy = client_from("127.0.0.41");
    assert_eq!(
        sign_ins_passed(&proxy, &server, Some("198.51.100.1"), 25).await,
        20
    );
    // Twice as many addresses as the table of counted clients holds.
    let statuses = one_attempt_from_each(&proxy, &server, 20_000).await;
    assert!(statuses.iter().all(|status| *status == 401));
    assert_eq!(
        sign_ins_passed(&proxy, &server, Some("198.51.100.2"), 40).await,
        20,
        "a fresh address after the flood"
    );
    // The address that used its allowance before the flood did not get it back.
    assert_eq!(
        sign_ins_passed(&proxy, &server, Some("198.51.100.1"), 5).await,
        0
    );
}

#[actix_web::test]
async fn on_a_dual_stack_listener_a_trusted_proxy_keys_each_forwarded_client_apart() {
    // IPv4 clients of a `[::]` listener arrive as `::ffff:127.0.0.42`; the proxy is listed
    // as an IPv4 address, and as a network.
    for trusted in [vec!["127.0.0.42"], vec!["10.0.0.0/8", "127.0.0.0/8"]] {
        let mut raw = raw_config(&temp_dir());
        raw.sign_ins_per_client = 3;
        raw.sign_in_decay_seconds = 3_600;
        raw.trusted_proxies = trusted.iter().map(|entry| entry.to_string()).collect();
        let (_issuer, server) = embedded_on_every_address(raw);
        let proxy = client_from("127.0.0.42");
        assert_eq!(
            sign_ins_passed(&proxy, &server, Some("203.0.113.7"), 5).await,
            3,
            "{trusted:?}"
        );
        assert_eq!(
            sign_ins_passed(&proxy, &server, Some("203.0.113.8"), 5).await,
            3,
            "{trusted:?}: another client is not limited by the first"
        );
        // A trusted hop, in any form, is skipped: the client is the next one to its left.
        assert_eq!(
            sign_ins_passed(&proxy, &server, Some("203.0.113.9, ::ffff:127.0.0.42"), 5).await,
            3,
            "{trusted:?}"
        );
        assert_eq!(
            sign_ins_passed(&proxy, &server, Some("203.0.113.9"), 1).await,
            0,
            "{trusted:?}"
        );
        // The proxy's own requests are a client of their own.
        assert_eq!(
            sign_ins_passed(&proxy, &server, None, 1).await,
            1,
            "{trusted:?}"
        );
    }
    // A client that is not a trusted proxy cannot name another address.
    let mut raw = raw_config(&temp_dir());
    raw.sign_ins_per_client = 3;
    raw.sign_in_decay_seconds = 3_600;
    raw.trusted_proxies = vec!["127.0.0.42/32".into()];
    let (_issuer, server) = embedded_on_every_address(raw);
    let direct = client_from("127.0.0.43");
    let mut passed = 0;
    for n in 0..5 {
        let named = format!("203.0.113.{n}");
        passed += sign_ins_passed(&direct, &server, Some(&named), 1).await;
    }
    assert_eq!(passed, 3);
}

#[actix_web::test]
async fn an_ipv6_proxy_listed_as_a_network_keys_each_forwarded_client_apart() {
    let mut raw = raw_config(&temp_dir());
    raw.sign_ins_per_client = 3;
    raw.sign_in_decay_seconds = 3_600;
    raw.trusted_proxies = vec!["fd00::/8".into(), "::1/128".into()];
    let (_issuer, mut server) = embedded_on_every_address(raw);
    server.base = server.base.replace("127.0.0.1", "[::1]");
    let proxy = client_from("::1");
    assert_eq!(
        sign_ins_passed(&proxy, &server, Some("2001:db8:1::1, fd12::7"), 5).await,
        3
    );
    assert_eq!(
        sign_ins_passed(&proxy, &server, Some("2001:db8:2::1"), 5).await,
        3
    );
}

#[actix_web::test]
async fn forwarded_hops_with_a_port_are_keyed_by_their_address() {
    let mut raw = raw_config(&temp_dir());
    raw.sign_ins_per_client = 3;
    raw.sign_in_decay_seconds = 3_600;
    raw.trusted_proxies = vec!["127.0.0.44".into()];
    let (_issuer, server) = embedded_on_every_address(raw);
    let proxy = client_from("127.0.0.44");
    for port in [51_234, 51_235, 51_236] {
        let hop = format!("203.0.113.7:{port}");
        assert_eq!(sign_ins_passed(&proxy, &server, Some(&hop), 1).await, 1);
    }
    // Another port, no port, the IPv4-mapped form: the same client, past its limit.
    for hop in [
        "203.0.113.7:1",
        "203.0.113.7",
        "::ffff:203.0.113.7",
        "[::ffff:203.0.113.7]:8080",
    ] {
        assert_eq!(
            sign_ins_passed(&proxy, &server, Some(hop), 1).await,
            0,
            "{hop}"
        );
    }
    for _ in 0..3 {
        assert_eq!(
            sign_ins_passed(&proxy, &server, Some("[2001:db8::1]:443"), 1).await,
            1
        );
    }
    for hop in ["2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:80"] {
        assert_eq!(
            sign_ins_passed(&proxy, &server, Some(hop), 1).await,
            0,
            "{hop}"
        );
    }
    // None of these fell back to the proxy's own allowance.
    assert_eq!(sign_ins_passed(&proxy, &server, None, 5).await, 3);
}

#[actix_web::test]
async fn a_forwarded_hop_that_is_no_address_counts_against_the_proxy_and_picks_no_fresh_allowance()
{
    let mut raw = raw_config(&temp_dir());
    raw.sign_ins_per_client = 3;
    raw.sign_in_decay_seconds = 3_600;
    raw.trusted_proxies = vec!["127.0.0.0/8".into()];
    let (_issuer, server) = embedded_on_every_address(raw);
    let proxy = client_from("127.0.0.45");
    let garbage = [
        "unknown",
        "not an address",
        "203.0.113.7:http",
        "203.0.113.7:",
        "203.0.113.7:99999",
        "[2001:db8::1",
        "2001:db8::1]:443",
        "[203.0.113.7]:80",
        "fe80::1%eth0",
        "",
        "203.0.113.7, _hidden",
    ];
    // Each differs from the last, yet all share one allowance: the proxy's.
    let mut passed = 0;
    for hop in garbage {
        passed += sign_ins_passed(&proxy, &server, Some(hop), 1).await;
    }
    assert_eq!(passed, 3);
    assert_eq!(sign_ins_passed(&proxy, &server, None, 1).await, 0);
    // A well-formed client is still its own, also behind garbage further left.
    assert_eq!(
        sign_ins_passed(&proxy, &server, Some("_hidden, 203.0.113.8"), 5).await,
        3
    );
}

/// A failed login through `proxy` naming `forwarded`: its status.
async fn failed_login(proxy: &reqwest::Client, server: &Server, forwarded: &str) -> u16 {
    proxy
        .post(format!("{}/api/v1/auth/login", server.base))
        .header("X-Forwarded-For", forwarded)
        .json(&json!({"email": "other@example.com", "password": "guess"}))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[actix_web::test]
async fn on_a_dual_stack_listener_failed_logins_count_against_the_forwarded_client() {
    let mut raw = raw_config(&temp_dir());
    raw.login_failures_per_client = 2;
    raw.login_failure_decay_seconds = 3_600;
    raw.trusted_proxies = vec!["127.0.0.0/8".into()];
    let (_issuer, server) = embedded_on_every_address(raw);
    let proxy = client_from("127.0.0.46");
    assert_eq!(failed_login(&proxy, &server, "203.0.113.7:5000").await, 401);
    assert_eq!(
        failed_login(&proxy, &server, "::ffff:203.0.113.7").await,
        401
    );
    assert_eq!(failed_login(&proxy, &server, "203.0.113.7").await, 429);
    assert_eq!(
        failed_login(&proxy, &server, "[2001:db8::7]:443").await,
        401
    );
    assert_eq!(failed_login(&proxy, &server, "203.0.113.8").await, 401);
}

/// `/refresh` and `/sign-out` are limited per client address like sign-in (their own count,
/// the same burst and decay): a client that floods them with tokens, real or made up, gets
/// 429 with `Retry-After`, and another client is not limited by it.
#[actix_web::test]
async fn refresh_and_sign_out_are_limited_per_client() {
    let mut raw = raw_config(&temp_dir());
    raw.sign_ins_per_client = 5;
    raw.sign_in_decay_seconds = 3_600;
    let (_issuer, server) = embedded(raw);
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (status, tokens) = crate::support::sign_in(&server, &wallet).await;
    assert_eq!(status, 200);
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    for path in ["/api/v1/auth/refresh", "/api/v1/auth/sign-out"] {
        let flooder = client_from(if path.ends_with("refresh") {
            "127.0.0.61"
        } else {
            "127.0.0.62"
        });
        let mut statuses = Vec::new();
        for i in 0..8 {
            let res = flooder
                .post(format!("{}{path}", server.base))
                .json(&json!({ "refresh_token": format!("made-up-{i}") }))
                .send()
                .await
                .expect("request");
            if res.status().as_u16() == 429 {
                assert!(res.headers().get("retry-after").is_some(), "{path}");
            }
            statuses.push(res.status().as_u16());
        }
        assert_eq!(
            statuses.iter().filter(|status| **status == 429).count(),
            3,
            "{path}: {statuses:?}"
        );
        assert!(statuses[..5].iter().all(|status| *status != 429), "{path}");
    }
    // Another client refreshes its real session as usual.
    let (status, _) = crate::support::post_with(
        &client_from("127.0.0.63"),
        &server,
        "/api/v1/auth/refresh",
        json!({ "refresh_token": refresh_token }),
    )
    .await;
    assert_eq!(status, 200);
}
