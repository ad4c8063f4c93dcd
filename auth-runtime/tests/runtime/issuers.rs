//! Several trusted issuers: the token's `iss` picks one before any key is looked up, and each
//! has its own keys, algorithms, audiences, leeway and role mapping.

// figment's `Jail` closures return `figment::Error`, which is large; that is its API.
#![allow(clippy::result_large_err)]

use auth_runtime::testing::TestIssuer;
use auth_runtime::{Algorithm, AuthConfig, JwtAuth, RawConfig, RawIssuer};
use figment::Jail;
use serde_json::json;

use crate::support::{Server, declare, get, serve};

/// Issuer A (RS256, audience `api-a`, roles in `role`) and issuer B (ES256, audiences
/// `api-b` and `admin-api`, roles in `realm_access.roles`), trusted by one app.
struct Two {
    a: TestIssuer,
    b: TestIssuer,
    server: Server,
}

fn two_issuers(edit: impl FnOnce(&mut RawConfig)) -> (TestIssuer, TestIssuer, AuthConfig) {
    let a = TestIssuer::start_with(Algorithm::RS256, "api-a");
    let b = TestIssuer::start_with(Algorithm::ES256, "api-b");
    let mut raw = RawConfig {
        issuers: vec![
            RawIssuer {
                issuer: a.issuer().to_owned(),
                audience: Some("api-a".into()),
                ..RawIssuer::default()
            },
            RawIssuer {
                issuer: b.issuer().to_owned(),
                audience: Some(vec!["api-b".to_owned(), "admin-api".to_owned()].into()),
                accepted_algorithms: Some(vec!["ES256".into()]),
                roles_claim: Some("realm_access.roles".into()),
                discovery: Some(true),
                ..RawIssuer::default()
            },
        ],
        ..RawConfig::default()
    };
    edit(&mut raw);
    let config = raw.validate().expect("two issuers");
    (a, b, config)
}

fn serve_two() -> Two {
    let (a, b, config) = two_issuers(|_| {});
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    Two { a, b, server }
}

#[actix_web::test]
async fn each_issuer_verifies_its_own_tokens_with_its_own_rules() {
    let two = serve_two();
    let a_admin = two.a.token().role("admin").sign();
    let b_admin = two
        .b
        .token()
        .claim("realm_access", json!({"roles": ["admin"]}))
        .sign();
    let b_viewer = two
        .b
        .token()
        .audience(json!("admin-api"))
        .claim("realm_access", json!({"roles": ["viewer"]}))
        .sign();
    for (token, status) in [(&a_admin, 200), (&b_admin, 200), (&b_viewer, 403)] {
        let reply = get(&two.server, "/api/admin", Some(token)).await;
        assert_eq!(reply.status, status, "{:?}", reply.body);
    }
    // A's role mapping is `role`: B's claim shape means nothing there, and the reverse.
    let a_realm = two
        .a
        .token()
        .claim("realm_access", json!({"roles": ["admin"]}))
        .sign();
    let b_role = two.b.token().role("admin").sign();
    for token in [&a_realm, &b_role] {
        assert_eq!(
            get(&two.server, "/api/admin", Some(token)).await.status,
            403
        );
    }
    assert_eq!(two.a.fetch_count(), 1);
    assert_eq!(
        two.b.discovery_fetch_count(),
        1,
        "B is found through discovery"
    );
    assert_eq!(two.b.fetch_count(), 1);
}

#[actix_web::test]
async fn audiences_and_algorithms_belong_to_their_issuer() {
    let two = serve_two();
    // B's audience on an A token, and A's on a B token.
    let a_for_b = two.a.token().audience(json!("api-b")).sign();
    let b_for_a = two.b.token().audience(json!("api-a")).sign();
    for token in [&a_for_b, &b_for_a] {
        let reply = get(&two.server, "/api/profile", Some(token)).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.detail(), "Invalid token: invalid audience");
    }
    // B accepts ES256 only; A, RS256 only (the default, taken from the top level).
    let rs_claiming_b = two
        .a
        .token()
        .issuer(two.b.issuer())
        .audience(json!("api-b"))
        .sign();
    let reply = get(&two.server, "/api/profile", Some(&rs_claiming_b)).await;
    assert_eq!(reply.detail(), "Algorithm 'RS256' is not accepted");
    let es_claiming_a = two
        .b
        .token()
        .issuer(two.a.issuer())
        .audience(json!("api-a"))
        .sign();
    let reply = get(&two.server, "/api/profile", Some(&es_claiming_a)).await;
    assert_eq!(reply.detail(), "Algorithm 'ES256' is not accepted");
}

#[actix_web::test]
async fn a_key_of_one_issuer_never_verifies_another_issuers_token_even_under_the_same_kid() {
    let a = TestIssuer::start_with(Algorithm::RS256, "api-a");
    let b = TestIssuer::start_with(Algorithm::RS256, "api-b");
    // B publishes its own key a second time under A's kid.
    let mut relabelled = b.jwks()["keys"][0].clone();
    relabelled["kid"] = json!(a.kid());
    b.publish_extra(vec![relabelled]);
    let config = RawConfig {
        issuers: [&a, &b]
            .iter()
            .map(|i| RawIssuer {
                issuer: i.issuer().to_owned(),
                audience: Some(i.audience().into()),
                ..RawIssuer::default()
            })
            .collect(),
        ..RawConfig::default()
    }
    .validate()
    .unwrap();
    let auth = JwtAuth::new(config).unwrap();
    let server = serve(declare(auth.clone()));

    // B signs as B under A's kid: B's set holds that kid, so this is B vouching for itself.
    let own = b.token().kid(&a.kid()).sign();
    assert_eq!(get(&server, "/api/profile", Some(&own)).await.status, 200);
    // B signs a token naming A, under A's kid and under its own: A's keys decide, and refuse.
    let forged = || b.token().issuer(a.issuer()).audience(json!("api-a"));
    let under_a_kid = forged().kid(&a.kid()).sign();
    let reply = get(&server, "/api/profile", Some(&under_a_kid)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.detail(),
        "Invalid token: signature verification failed"
    );
    let under_b_kid = forged().sign();
    let reply = get(&server, "/api/profile", Some(&under_b_kid)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.detail(), "Invalid token: unknown signing key");
    // A's real token still works, and B's token is not served to A from the cache.
    let real = a.token().sign();
    assert_eq!(get(&server, "/api/profile", Some(&real)).await.status, 200);
    assert_eq!(get(&server, "/api/profile", Some(&own)).await.status, 200);
}

#[actix_web::test]
async fn an_unknown_issuer_is_refused_before_any_key_or_signature() {
    let two = serve_two();
    let genuine = two.a.token().sign();
    let signature = genuine.rsplit('.').next().unwrap().to_owned();
    // A flood of tokens naming issuers nobody configured, with garbage signatures: each is
    // refused for its issuer (the signature is never looked at) and nothing is fetched.
    for n in 0..200 {
        let claims = two
            .a
            .token()
            .issuer(&format!("https://tenant-{n}.example"))
            .claims()
            .clone();
        let header = json!({"alg": "RS256", "kid": format!("kid-{n}"), "typ": "JWT"});
        use base64::Engine as _;
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let garbage = if n % 2 == 0 {
            "AAAA".to_owned()
        } else {
            signature.clone()
        };
        let token = format!("{}.{}.{garbage}", b64(&header), b64(&json!(claims)));
        let reply = get(&two.server, "/api/profile", Some(&token)).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.detail(), "Invalid token: invalid issuer", "{n}");
    }
    let no_iss = two.a.token().without_claim("iss").sign();
    let reply = get(&two.server, "/api/profile", Some(&no_iss)).await;
    assert_eq!(reply.detail(), "Invalid token: invalid issuer");
    assert_eq!(
        two.a.fetch_count(),
        0,
        "no key set fetched for made-up issuers"
    );
    assert_eq!(two.b.fetch_count() + two.b.discovery_fetch_count(), 0);
    assert_eq!(
        get(&two.server, "/api/profile", Some(&genuine))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn leeway_is_per_issuer() {
    let (a, b, config) = two_issuers(|raw| {
        raw.leeway_seconds = 0;
        raw.issuers[1].leeway_seconds = Some(120);
    });
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let a_late = a.token().expires_in(-60).sign();
    let b_late = b.token().expires_in(-60).sign();
    assert_eq!(
        get(&server, "/api/profile", Some(&a_late)).await.detail(),
        "Token has expired"
    );
    assert_eq!(
        get(&server, "/api/profile", Some(&b_late)).await.status,
        200
    );
}

#[test]
fn configuration_errors_name_the_entry() {
    let entry = |issuer: &str, audience: Option<&str>| RawIssuer {
        issuer: issuer.to_owned(),
        audience: audience.map(Into::into),
        ..RawIssuer::default()
    };
    let cases: Vec<(RawConfig, &str)> = vec![
        (
            RawConfig {
                issuers: vec![
                    entry("https://a.example", Some("api")),
                    entry("https://b.example", None),
                ],
                ..RawConfig::default()
            },
            "auth_client.issuers[1].audience must be set",
        ),
        (
            RawConfig {
                issuers: vec![entry("", Some("api"))],
                ..RawConfig::default()
            },
            "auth_client.issuers[0].issuer must be set",
        ),
        (
            RawConfig {
                issuers: vec![
                    entry("https://a.example", Some("api")),
                    entry("https://a.example", Some("other")),
                ],
                ..RawConfig::default()
            },
            "auth_client.issuers[1].issuer `https://a.example` is already trusted by auth_client.issuers[0]",
        ),
        (
            RawConfig {
                issuer: "https://a.example".into(),
                issuers: vec![entry("https://b.example", Some("api"))],
                ..RawConfig::default()
            },
            "auth_client.issuer and auth_client.issuers are both set",
        ),
        (
            RawConfig {
                jwks_endpoint: "https://a.example/keys".into(),
                issuers: vec![entry("https://b.example", Some("api"))],
                ..RawConfig::default()
            },
            "auth_client.jwks_endpoint and auth_client.issuers are both set",
        ),
        (
            RawConfig {
                issuers: vec![RawIssuer {
                    accepted_algorithms: Some(vec!["HS256".into()]),
                    ..entry("https://a.example", Some("api"))
                }],
                ..RawConfig::default()
            },
            "auth_client.issuers[0].accepted_algorithms: `HS256` is a shared-secret algorithm",
        ),
        (
            RawConfig {
                issuers: vec![RawIssuer {
                    jwks_endpoint: Some("http://keys.example/jwks".into()),
                    ..entry("https://a.example", Some("api"))
                }],
                ..RawConfig::default()
            },
            "auth_client.issuers[0].jwks_endpoint: the JWKS URL `http://keys.example/jwks` uses plain http",
        ),
    ];
    for (raw, expected) in cases {
        let err = raw.validate().and_then(JwtAuth::new).expect_err(expected);
        assert!(err.message().starts_with(expected), "{err}");
    }
}

#[test]
fn entries_take_what_they_leave_out_from_the_top_level() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "auth_client:\n  audience: shared-api\n  accepted_algorithms: [RS256, ES256]\n  leeway_seconds: 5\n  issuers:\n    - issuer: https://id.example.com/realms/acme\n      discovery: true\n      roles_claim: realm_access.roles\n    - issuer: http://localhost:8100\n      audience: [my-api, admin-api]\n      accepted_algorithms: [EdDSA]\n",
        )?;
        let config = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap();
        let [acme, local] = config.issuers() else {
            panic!("two issuers: {config:?}");
        };
        assert_eq!(acme.audiences(), ["shared-api"]);
        assert_eq!(
            acme.accepted_algorithms(),
            [Algorithm::RS256, Algorithm::ES256]
        );
        assert!(acme.discovery());
        assert_eq!(acme.roles_claim(), "realm_access.roles");
        assert_eq!(acme.leeway_seconds(), 5);
        assert_eq!(local.audiences(), ["my-api", "admin-api"]);
        assert_eq!(local.accepted_algorithms(), [Algorithm::EdDSA]);
        assert!(!local.discovery());
        assert_eq!(local.jwks_url(), "http://localhost:8100/api/v1/auth/jwks");
        assert_eq!(local.roles_claim(), "role");
        assert_eq!(config.find_issuer("http://localhost:8100"), Some(local));

        // The environment overrides top-level keys, which entries then take.
        jail.set_env("AUTH_CLIENT__LEEWAY_SECONDS", "7");
        jail.set_env("AUTH_CLIENT__AUDIENCE", "env-api");
        let config = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap();
        assert!(config.issuers().iter().all(|i| i.leeway_seconds() == 7));
        assert_eq!(config.issuers()[0].audiences(), ["env-api"]);
        assert_eq!(config.issuers()[1].audiences(), ["my-api", "admin-api"]);
        jail.clear_env();

        jail.create_file(
            "typo.yaml",
            "auth_client:\n  issuers:\n    - issuer: https://a.example\n      audiense: api\n",
        )?;
        let err = AuthConfig::from_figment(&auth_runtime::figment_from("typo.yaml")).unwrap_err();
        assert!(err.message().contains("audiense"), "{err}");
        assert!(err.message().contains("issuers"), "{err}");
        Ok(())
    });
}

#[test]
fn a_key_source_for_several_issuers_must_say_which() {
    let (a, _b, config) = two_issuers(|_| {});
    let keys = std::sync::Arc::new(auth_runtime::KeySet::default());
    let err = JwtAuth::builder(config.clone())
        .key_source(keys.clone())
        .build()
        .unwrap_err();
    assert!(err.message().contains("issuer_key_source"), "{err}");
    let err = JwtAuth::builder(config.clone())
        .issuer_key_source("https://nobody.example", keys.clone())
        .build()
        .unwrap_err();
    assert!(err.message().contains("https://nobody.example"), "{err}");
    JwtAuth::builder(config)
        .issuer_key_source(a.issuer(), keys)
        .build()
        .expect("A from the given keys, B from its discovery document");
}
