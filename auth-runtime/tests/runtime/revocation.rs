//! Revoked tokens: the issuer's list read over HTTP (the `TestIssuer` serves it in the
//! documented format), checked for fresh and cached tokens, fail closed when it is too old.

use std::time::Duration;

use auth_runtime::JwtAuth;
use auth_runtime::testing::TestIssuer;
use serde_json::json;

use crate::support::{config_with, get, serve};

/// Seconds since the epoch, as `exp` is written.
fn in_seconds(seconds: u64) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + seconds
}

/// The list may be 1 s old before a request waits for a refresh: each test waits a little
/// over a second to see a change.
fn short_lived(issuer: &TestIssuer, fail_open: bool) -> auth_runtime::AuthConfig {
    short_lived_cached(issuer, fail_open, true)
}

/// [`short_lived`], with the verified-token cache on or off.
fn short_lived_cached(
    issuer: &TestIssuer,
    fail_open: bool,
    cache: bool,
) -> auth_runtime::AuthConfig {
    let url = issuer.revocation_url();
    config_with(issuer, |raw| {
        raw.revocation_endpoint = url;
        raw.revocation_poll_seconds = 1;
        raw.revocation_max_staleness_seconds = 1;
        raw.revocation_fail_open = fail_open;
        if !cache {
            raw.token_cache_max_bytes = 0;
        }
    })
}

async fn past_staleness() {
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
}

#[actix_web::test]
async fn a_revoked_jti_is_401_for_fresh_and_cached_tokens() {
    for cache in [true, false] {
        let issuer = TestIssuer::start();
        let config = short_lived_cached(&issuer, false, cache);
        let server = serve(JwtAuth::new(config).unwrap());
        let used = issuer.token().jti("used-before").sign();
        let unseen = issuer.token().jti("never-used").sign();
        let other = issuer.token().jti("kept").sign();
        assert_eq!(get(&server, "/api/profile", Some(&used)).await.status, 200);
        assert_eq!(
            issuer.revocation_queries(),
            [None],
            "read on the first token"
        );

        issuer.revoke("used-before", in_seconds(300));
        issuer.revoke("never-used", in_seconds(300));
        past_staleness().await;
        for token in [&used, &unseen] {
            let reply = get(&server, "/api/profile", Some(token)).await;
            assert_eq!(reply.status, 401, "cache {cache}");
            assert_eq!(reply.detail(), "Token has been revoked");
            assert_eq!(
                reply.header("www-authenticate"),
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"Token has \
                 been revoked\""
            );
        }
        let reply = get(&server, "/api/profile", Some(&other)).await;
        assert_eq!((reply.status, &reply.body["jti"]), (200, &json!("kept")));
        // The second read asked only for what came after the first.
        let queries = issuer.revocation_queries();
        assert_eq!(queries.len(), 2, "{queries:?}");
        assert!(queries[1].is_some(), "{queries:?}");
    }
}

#[actix_web::test]
async fn within_the_poll_interval_no_request_waits_on_the_network() {
    let issuer = TestIssuer::start();
    let url = issuer.revocation_url();
    let config = config_with(&issuer, |raw| raw.revocation_endpoint = url);
    let auth = JwtAuth::new(config).unwrap();
    let server = serve(auth.clone());
    let token = issuer.token().jti("a").sign();
    for _ in 0..20 {
        assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    }
    assert_eq!(issuer.revocation_queries().len(), 1);
    let list = auth.revocation_list(issuer.issuer()).expect("a list");
    assert_eq!(list.fetch_count(), 1);
}

#[actix_web::test]
async fn past_the_poll_interval_a_refresh_runs_in_the_background() {
    let issuer = TestIssuer::start();
    let url = issuer.revocation_url();
    let config = config_with(&issuer, |raw| {
        raw.revocation_endpoint = url;
        raw.revocation_poll_seconds = 1;
        raw.revocation_max_staleness_seconds = 60;
    });
    let server = serve(JwtAuth::new(config).unwrap());
    let token = issuer.token().jti("soon-revoked").sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    issuer.revoke("soon-revoked", in_seconds(300));
    past_staleness().await;
    // This request goes on with the list in hand and starts the refresh...
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    // ...which lands without any request waiting for it.
    let mut status = 200;
    for _ in 0..100 {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        status = get(&server, "/api/profile", Some(&token)).await.status;
        if status == 401 {
            break;
        }
    }
    assert_eq!(status, 401);
    assert_eq!(issuer.revocation_queries().len(), 2);
}

#[actix_web::test]
async fn tokens_that_fail_verification_never_cause_a_read() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(short_lived(&issuer, false)).unwrap());
    let other = TestIssuer::start();
    let forged = other.token().issuer(issuer.issuer()).sign();
    for token in ["garbage", forged.as_str()] {
        assert_eq!(get(&server, "/api/profile", Some(token)).await.status, 401);
    }
    assert_eq!(get(&server, "/api/profile", None).await.status, 401);
    assert!(issuer.revocation_queries().is_empty());
}

#[actix_web::test]
async fn an_unreachable_list_fails_closed_with_503_and_open_when_configured() {
    for fail_open in [false, true] {
        let issuer = TestIssuer::start();
        issuer.set_revocation_available(false);
        let server = serve(JwtAuth::new(short_lived(&issuer, fail_open)).unwrap());
        let token = issuer.token().jti("a").sign();
        let reply = get(&server, "/api/profile", Some(&token)).await;
        if fail_open {
            assert_eq!(reply.status, 200, "never loaded, failing open");
        } else {
            assert_eq!(reply.status, 503);
            assert_eq!(
                reply.detail(),
                "Authentication temporarily unavailable: the revocation list could not be \
                 refreshed"
            );
            assert_eq!(reply.header("retry-after"), "5");
            assert_eq!(reply.header("www-authenticate"), "");
        }

        // Loaded once, then unreachable again: fine while young, then 503 (or open).
        issuer.set_revocation_available(true);
        issuer.revoke("gone", in_seconds(300));
        past_staleness().await;
        assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
        let revoked = issuer.token().jti("gone").sign();
        assert_eq!(
            get(&server, "/api/profile", Some(&revoked)).await.status,
            401
        );
        issuer.set_revocation_available(false);
        past_staleness().await;
        let expected = if fail_open { 200 } else { 503 };
        assert_eq!(
            get(&server, "/api/profile", Some(&token)).await.status,
            expected,
            "fail_open {fail_open}"
        );
        // Failing open still refuses what the last list named.
        let status = get(&server, "/api/profile", Some(&revoked)).await.status;
        assert_eq!(status, if fail_open { 401 } else { 503 });
    }
}

#[actix_web::test]
async fn a_failing_list_is_asked_at_most_once_a_second() {
    let issuer = TestIssuer::start();
    issuer.set_revocation_available(false);
    let server = serve(JwtAuth::new(short_lived(&issuer, false)).unwrap());
    let token = issuer.token().jti("a").sign();
    for _ in 0..30 {
        assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 503);
    }
    // 30 requests take a fraction of a second: a read or two, never one per request.
    let reads = issuer.revocation_queries().len();
    assert!((1..=3).contains(&reads), "{reads} reads");
}

#[actix_web::test]
async fn large_lists_come_in_pages_and_later_reads_are_incremental() {
    let issuer = TestIssuer::start();
    issuer.set_revocation_page_size(2);
    for n in 0..5 {
        issuer.revoke(&format!("early-{n}"), in_seconds(300));
    }
    let auth = JwtAuth::new(short_lived(&issuer, false)).unwrap();
    let server = serve(auth.clone());
    let fine = issuer.token().jti("fine").sign();
    assert_eq!(get(&server, "/api/profile", Some(&fine)).await.status, 200);
    let queries = issuer.revocation_queries();
    assert_eq!(queries.len(), 3, "three pages of two: {queries:?}");
    assert_eq!(queries[0], None);
    assert!(queries[1].as_deref().is_some_and(|c| c.ends_with(".2")));
    assert!(queries[2].as_deref().is_some_and(|c| c.ends_with(".4")));
    let list = auth.revocation_list(issuer.issuer()).unwrap();
    assert_eq!(list.len(), 5);

    issuer.revoke("late", in_seconds(300));
    past_staleness().await;
    let late = issuer.token().jti("late").sign();
    assert_eq!(get(&server, "/api/profile", Some(&late)).await.status, 401);
    let queries = issuer.revocation_queries();
    assert!(queries[3].as_deref().is_some_and(|c| c.ends_with(".5")));
    let early = issuer.token().jti("early-0").sign();
    assert_eq!(get(&server, "/api/profile", Some(&early)).await.status, 401);
    assert_eq!(list.len(), 6);
}

#[actix_web::test]
async fn entries_are_dropped_once_their_token_is_past_exp_and_leeway() {
    let issuer = TestIssuer::start();
    let auth = JwtAuth::new(short_lived(&issuer, false)).unwrap();
    let server = serve(auth.clone());
    let now = in_seconds(0);
    issuer.revoke("long-gone", now - 3600);
    // Expired 10 s ago, but the default leeway (30 s) still accepts such a token.
    issuer.revoke("within-leeway", now - 10);
    issuer.revoke("live", now + 300);
    let token = issuer.token().jti("x").sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    let list = auth.revocation_list(issuer.issuer()).unwrap();
    assert!(!list.contains("long-gone"));
    assert!(list.contains("within-leeway"));
    assert!(list.contains("live"));
    let within = issuer.token().jti("within-leeway").expires_in(-10).sign();
    assert_eq!(
        get(&server, "/api/profile", Some(&within)).await.status,
        401
    );
}

#[actix_web::test]
async fn one_issuers_list_never_refuses_another_issuers_tokens() {
    let first = TestIssuer::start();
    let second = TestIssuer::start();
    let raw = auth_runtime::RawConfig {
        issuers: [&first, &second]
            .iter()
            .map(|issuer| auth_runtime::RawIssuer {
                issuer: issuer.issuer().to_owned(),
                audience: Some(issuer.audience().into()),
                ..Default::default()
            })
            .collect(),
        ..auth_runtime::RawConfig::default()
    };
    let mut raw = raw;
    raw.issuers[0].revocation_endpoint = Some(first.revocation_url());
    raw.issuers[0].revocation_poll_seconds = Some(1);
    raw.issuers[0].revocation_max_staleness_seconds = Some(1);
    let auth = JwtAuth::new(raw.validate().unwrap()).unwrap();
    assert!(auth.revocation_list(second.issuer()).is_none());
    let server = serve(auth);
    first.revoke("shared-id", in_seconds(300));
    let from_first = first.token().jti("shared-id").sign();
    let from_second = second.token().jti("shared-id").sign();
    assert_eq!(
        get(&server, "/api/profile", Some(&from_first)).await.status,
        401
    );
    assert_eq!(
        get(&server, "/api/profile", Some(&from_second))
            .await
            .status,
        200
    );
    assert!(second.revocation_queries().is_empty());
}

#[actix_web::test]
async fn a_token_without_jti_cannot_be_listed_and_is_judged_on_the_rest() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(short_lived(&issuer, false)).unwrap());
    issuer.revoke("", in_seconds(300));
    let token = issuer.token().without_claim("jti").sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
}

#[test]
fn revocation_settings_are_checked() {
    let issuer = TestIssuer::start();
    type Edit = fn(&mut auth_runtime::RawConfig);
    let cases: [(Edit, &str); 4] = [
        (
            |raw| raw.revocation_endpoint = "http://10.1.2.3/api/v1/auth/revoked-jtis".into(),
            "auth_client.revocation_endpoint",
        ),
        (
            |raw| raw.revocation_endpoint = "not a url".into(),
            "auth_client.revocation_endpoint",
        ),
        (
            |raw| raw.revocation_poll_seconds = 0,
            "auth_client.revocation_poll_seconds must be at least 1",
        ),
        (
            |raw| {
                raw.revocation_poll_seconds = 30;
                raw.revocation_max_staleness_seconds = 10;
            },
            "auth_client.revocation_max_staleness_seconds (10) must be at least \
             revocation_poll_seconds (30)",
        ),
    ];
    for (edit, expected) in cases {
        let mut raw = issuer.raw_config();
        edit(&mut raw);
        let err = raw.validate().unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
}

/// One entry naming a session refuses every token carrying that `sid`, fresh or cached, and
/// nothing else.
#[actix_web::test]
async fn a_session_entry_refuses_every_token_of_the_session() {
    for cache in [true, false] {
        let issuer = TestIssuer::start();
        let server = serve(JwtAuth::new(short_lived_cached(&issuer, false, cache)).unwrap());
        let sid = |sid: &str, jti: &str| issuer.token().jti(jti).claim("sid", json!(sid)).sign();
        let (first, second) = (sid("session-1", "a"), sid("session-1", "b"));
        let other = sid("session-2", "c");
        let without = issuer.token().jti("d").sign();
        for token in [&first, &other, &without] {
            assert_eq!(get(&server, "/api/profile", Some(token)).await.status, 200);
        }
        issuer.revoke_session("session-1", in_seconds(300));
        past_staleness().await;
        for token in [&first, &second] {
            let reply = get(&server, "/api/profile", Some(token)).await;
            assert_eq!(reply.status, 401, "cache {cache}");
            assert_eq!(reply.detail(), "Token has been revoked");
        }
        for token in [&other, &without] {
            assert_eq!(get(&server, "/api/profile", Some(token)).await.status, 200);
        }
    }
}

/// One entry naming a subject refuses every token of that `sub` issued at or before the time
/// it gives, and a token of that subject without `iat` (it cannot be placed in time); a token
/// issued later, and other subjects, pass.
#[actix_web::test]
async fn a_subject_entry_refuses_the_subjects_tokens_issued_until_then() {
    for cache in [true, false] {
        let issuer = TestIssuer::start();
        let server = serve(JwtAuth::new(short_lived_cached(&issuer, false, cache)).unwrap());
        let now = in_seconds(0);
        let of = |sub: &str, iat: u64| issuer.token().sub(sub).claim("iat", json!(iat)).sign();
        let (old, at_the_time, later) = (
            of("alice", now - 60),
            of("alice", now),
            of("alice", now + 1),
        );
        let undated = issuer.token().sub("alice").without_claim("iat").sign();
        let bob = of("bob", now - 60);
        assert_eq!(get(&server, "/api/profile", Some(&old)).await.status, 200);
        issuer.revoke_subject("alice", now, in_seconds(300));
        past_staleness().await;
        for token in [&old, &at_the_time, &undated] {
            let reply = get(&server, "/api/profile", Some(token)).await;
            assert_eq!(reply.status, 401, "cache {cache}");
            assert_eq!(reply.detail(), "Token has been revoked");
        }
        for token in [&later, &bob] {
            assert_eq!(get(&server, "/api/profile", Some(token)).await.status, 200);
        }
    }
}

/// An entry that names several things (a `jti` and a session), or a subject without a time,
/// may revoke anything: the list is not taken as read, and requests are answered by the
/// staleness rule (503 here), not by a list that left the entry out.
#[actix_web::test]
async fn an_entry_that_cannot_be_read_makes_the_list_unavailable() {
    for broken in [
        {
            let mut entry = auth_runtime::RevokedToken::token("a", in_seconds(300));
            entry.sid = Some("session-1".into());
            entry
        },
        {
            let mut entry = auth_runtime::RevokedToken::session("session-1", in_seconds(300));
            entry.sid = None;
            entry.sub = Some("alice".into());
            entry
        },
    ] {
        let issuer = TestIssuer::start();
        let server = serve(JwtAuth::new(short_lived(&issuer, false)).unwrap());
        issuer.list_entry(broken);
        let token = issuer.token().jti("fine").sign();
        let reply = get(&server, "/api/profile", Some(&token)).await;
        assert_eq!(reply.status, 503, "{:?}", reply.body);
    }
}
