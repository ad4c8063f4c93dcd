//! What the validator accepts and refuses, end to end over HTTP.

use auth_runtime::testing::TestIssuer;
use auth_runtime::{Algorithm, JwtAuth};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::support::{config_with, declare, get, serve};

fn auth_for(issuer: &TestIssuer) -> JwtAuth {
    declare(JwtAuth::new(issuer.config()).expect("middleware"))
}

fn assert_invalid_token(reply: &crate::support::Reply, detail: &str) {
    assert_eq!(reply.status, 401, "{:?}", reply.body);
    assert_eq!(reply.detail(), detail);
    let challenge = reply.header("www-authenticate");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[actix_web::test]
async fn valid_token_is_200_and_fills_the_context() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let token = issuer
        .token()
        .sub("alice")
        .email("alice@example.com")
        .role("editor")
        .org_id("org-7")
        .jti("t-1")
        .groups(&["ops", "dev"])
        .sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body,
        json!({"subject": "alice", "email": "alice@example.com", "role": "editor",
               "org_id": "org-7", "jti": "t-1", "groups": ["ops", "dev"], "roles": ["editor"]})
    );
}

#[actix_web::test]
async fn missing_claims_are_empty_and_no_role_means_no_roles() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let token = issuer.token().without_claim("sub").sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["subject"], "");
    assert_eq!(reply.body["email"], "");
    assert_eq!(reply.body["roles"], json!([]));
}

#[actix_web::test]
async fn expired_token_is_401_mentioning_expired() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let token = issuer.token().expires_in(-120).sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_invalid_token(&reply, "Token has expired");
}

#[actix_web::test]
async fn expiry_within_the_leeway_is_accepted_and_beyond_it_refused() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.leeway_seconds = 30);
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let just_expired = issuer.token().expires_in(-10).sign();
    assert_eq!(
        get(&server, "/api/profile", Some(&just_expired))
            .await
            .status,
        200
    );
    let long_expired = issuer.token().expires_in(-45).sign();
    let reply = get(&server, "/api/profile", Some(&long_expired)).await;
    assert_invalid_token(&reply, "Token has expired");
    let soon_valid = issuer.token().not_before_in(10).sign();
    assert_eq!(
        get(&server, "/api/profile", Some(&soon_valid)).await.status,
        200
    );
    let not_yet = issuer.token().not_before_in(120).sign();
    let reply = get(&server, "/api/profile", Some(&not_yet)).await;
    assert_invalid_token(&reply, "Invalid token: token not yet valid");
}

#[actix_web::test]
async fn token_without_exp_is_refused() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let token = issuer.token().without_claim("exp").sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_invalid_token(&reply, "Invalid token: missing or invalid exp claim");
}

#[actix_web::test]
async fn wrong_audience_and_wrong_issuer_are_refused() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let token = issuer.token().audience(json!("other-api")).sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_invalid_token(&reply, "Invalid token: invalid audience");
    let token = issuer.token().issuer("https://evil.example").sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_invalid_token(&reply, "Invalid token: invalid issuer");
    let token = issuer.token().without_claim("aud").sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_invalid_token(&reply, "Invalid token: invalid audience");
}

#[actix_web::test]
async fn audience_array_containing_ours_is_accepted() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let token = issuer
        .token()
        .audience(json!(["billing", "test-api"]))
        .sign();
    assert_eq!(get(&server, "/api/profile", Some(&token)).await.status, 200);
    let token = issuer
        .token()
        .audience(json!(["billing", "reports"]))
        .sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_invalid_token(&reply, "Invalid token: invalid audience");
}

#[actix_web::test]
async fn issuer_is_compared_exactly_with_or_without_trailing_slash() {
    let issuer = TestIssuer::start();
    // Configured with a trailing slash: the JWKS URL is still derived correctly, and only
    // tokens whose `iss` has the slash too are accepted.
    let slash = format!("{}/", issuer.issuer());
    let config = config_with(&issuer, |raw| raw.issuer = slash.clone());
    assert_eq!(config.issuers()[0].jwks_url(), issuer.jwks_url());
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let with_slash = issuer.token().issuer(&slash).sign();
    assert_eq!(
        get(&server, "/api/profile", Some(&with_slash)).await.status,
        200
    );
    let without = issuer.token().sign();
    let reply = get(&server, "/api/profile", Some(&without)).await;
    assert_invalid_token(&reply, "Invalid token: invalid issuer");
}

#[actix_web::test]
async fn token_signed_by_another_key_is_refused() {
    let issuer = TestIssuer::start();
    let impostor = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    // Same claims, same kid, the impostor's private key.
    let forged = impostor
        .token()
        .issuer(issuer.issuer())
        .kid(&issuer.kid())
        .sign();
    let reply = get(&server, "/api/profile", Some(&forged)).await;
    assert_invalid_token(&reply, "Invalid token: signature verification failed");
}

#[actix_web::test]
async fn tampered_payload_is_refused() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let token = issuer.token().role("viewer").sign();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!("admin");
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    let reply = get(&server, "/api/admin", Some(&tampered)).await;
    assert_invalid_token(&reply, "Invalid token: signature verification failed");
}

#[actix_web::test]
async fn alg_none_is_refused_before_any_key_work() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = issuer.token().role("admin").claims().clone();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}.c2ln"),
    ] {
        let reply = get(&server, "/api/admin", Some(&token)).await;
        assert_invalid_token(&reply, "Algorithm 'none' is not accepted");
    }
    assert_eq!(issuer.fetch_count(), 0, "no key was looked up for alg none");
}

#[actix_web::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    // The classic key-confusion attack: HMAC keyed with the public key's bytes.
    let jwk = issuer.jwks()["keys"][0].clone();
    let public_bytes = serde_json::to_vec(&jwk).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(issuer.kid());
    let claims = issuer.token().role("admin").claims().clone();
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public_bytes),
    )
    .unwrap();
    let reply = get(&server, "/api/admin", Some(&forged)).await;
    assert_invalid_token(&reply, "Algorithm 'HS256' is not accepted");
    assert_eq!(issuer.fetch_count(), 0, "no key was looked up for HS256");
}

#[actix_web::test]
async fn algorithm_not_in_the_accepted_list_is_refused() {
    let issuer = TestIssuer::start_with(Algorithm::ES256, "test-api");
    let config = config_with(&issuer, |raw| {
        raw.accepted_algorithms = vec!["RS256".into()]
    });
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let token = issuer.token().sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_invalid_token(&reply, "Algorithm 'ES256' is not accepted");
}

#[actix_web::test]
async fn every_supported_algorithm_verifies() {
    // HS256/384/512 need a shared secret rather than a key set: see `static_keys`.
    for alg in Algorithm::ALL
        .into_iter()
        .filter(|alg| !alg.is_shared_secret())
    {
        let issuer = TestIssuer::start_with(alg, "test-api");
        let server = serve(auth_for(&issuer));
        let token = issuer.token().sub(alg.as_str()).sign();
        let reply = get(&server, "/api/profile", Some(&token)).await;
        assert_eq!(reply.status, 200, "{alg}: {:?}", reply.body);
        assert_eq!(reply.body["subject"], alg.as_str());
    }
}

#[actix_web::test]
async fn header_alg_must_agree_with_the_key() {
    // An RSA key whose JWK pins RS256 must not verify a PS256 token, even one it could check.
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let token = issuer.token().algorithm(Algorithm::PS256).sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_invalid_token(
        &reply,
        "Invalid token: signing key does not match the algorithm",
    );
}

#[actix_web::test]
async fn oversized_token_is_refused_before_parsing() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let token = issuer
        .token()
        .claim("padding", json!("x".repeat(20_000)))
        .sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_invalid_token(&reply, "Invalid token: token too large");
    assert_eq!(issuer.fetch_count(), 0);
}

#[actix_web::test]
async fn garbage_tokens_are_401_never_500() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    for garbage in [
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.???.###",
        "eyJhbGciOiJSUzI1NiJ9..sig",
        "e30.e30.e30",
    ] {
        let reply = get(&server, "/api/profile", Some(garbage)).await;
        assert_eq!(reply.status, 401, "{garbage}: {:?}", reply.body);
        assert!(
            reply.header("www-authenticate").contains("invalid_token"),
            "{garbage}"
        );
    }
}

fn claims_now(extra: &str, issuer: &TestIssuer) -> String {
    format!(
        r#"{{"iss":"{}","aud":"{}","sub":"mallory","exp":{}{extra}}}"#,
        issuer.issuer(),
        issuer.audience(),
        now() + 300
    )
}

#[actix_web::test]
async fn any_crit_header_is_refused_even_null_or_empty() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let claims = claims_now("", &issuer);
    let plain = issuer.sign_raw(
        &format!(r#"{{"alg":"RS256","kid":"{}"}}"#, issuer.kid()),
        &claims,
    );
    assert_eq!(get(&server, "/api/profile", Some(&plain)).await.status, 200);
    for crit in ["null", "[]", r#"["exp"]"#, "\"exp\"", "{}"] {
        let header = format!(
            r#"{{"alg":"RS256","kid":"{}","crit":{crit}}}"#,
            issuer.kid()
        );
        let token = issuer.sign_raw(&header, &claims);
        let reply = get(&server, "/api/profile", Some(&token)).await;
        assert_invalid_token(&reply, "Invalid token: unsupported critical header");
    }
}

#[actix_web::test]
async fn a_member_given_twice_in_the_claims_is_refused_at_any_depth() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let header = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, issuer.kid());
    // Last-one-wins would make this viewer an admin.
    let doubled_role = issuer.sign_raw(
        &header,
        &claims_now(r#","role":"viewer","role":"admin""#, &issuer),
    );
    let reply = get(&server, "/api/admin", Some(&doubled_role)).await;
    assert_invalid_token(&reply, "Invalid token: duplicate JSON member");
    let reply = get(&server, "/api/profile", Some(&doubled_role)).await;
    assert_invalid_token(&reply, "Invalid token: duplicate JSON member");
    let nested = issuer.sign_raw(
        &header,
        &claims_now(
            r#","realm_access":{"roles":["viewer"],"roles":["admin"]}"#,
            &issuer,
        ),
    );
    let reply = get(&server, "/api/profile", Some(&nested)).await;
    assert_invalid_token(&reply, "Invalid token: duplicate JSON member");
    let escaped = issuer.sign_raw(
        &header,
        &claims_now(r#","role":"viewer","\u0072ole":"admin""#, &issuer),
    );
    let reply = get(&server, "/api/admin", Some(&escaped)).await;
    assert_invalid_token(&reply, "Invalid token: duplicate JSON member");
}

#[actix_web::test]
async fn a_member_given_twice_in_the_header_is_refused() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let claims = claims_now("", &issuer);
    for header in [
        format!(
            r#"{{"alg":"RS256","alg":"RS256","kid":"{}"}}"#,
            issuer.kid()
        ),
        format!(
            r#"{{"alg":"RS256","kid":"other","kid":"{}"}}"#,
            issuer.kid()
        ),
        format!(
            r#"{{"alg":"RS256","kid":"{}","typ":"JWT","typ":"at+jwt"}}"#,
            issuer.kid()
        ),
    ] {
        let token = issuer.sign_raw(&header, &claims);
        let reply = get(&server, "/api/profile", Some(&token)).await;
        assert_invalid_token(&reply, "Invalid token: duplicate JSON member");
    }
}

#[actix_web::test]
async fn iat_in_the_future_beyond_the_leeway_or_not_a_number_is_refused() {
    let issuer = TestIssuer::start();
    let server = serve(auth_for(&issuer));
    let within = issuer.token().claim("iat", json!(now() + 20)).sign();
    assert_eq!(
        get(&server, "/api/profile", Some(&within)).await.status,
        200
    );
    let future = issuer.token().claim("iat", json!(now() + 120)).sign();
    let reply = get(&server, "/api/profile", Some(&future)).await;
    assert_invalid_token(&reply, "Invalid token: token issued in the future");
    let text = issuer.token().claim("iat", json!("now")).sign();
    let reply = get(&server, "/api/profile", Some(&text)).await;
    assert_invalid_token(&reply, "Invalid token: invalid iat claim");
    let without = issuer.token().without_claim("iat").sign();
    assert_eq!(
        get(&server, "/api/profile", Some(&without)).await.status,
        200
    );
}

#[actix_web::test]
async fn max_token_lifetime_refuses_long_lived_tokens_with_or_without_iat() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.max_token_lifetime_seconds = Some(3600));
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    let short = issuer.token().expires_in(1800).sign();
    assert_eq!(get(&server, "/api/profile", Some(&short)).await.status, 200);
    let long = issuer.token().expires_in(7200).sign();
    let reply = get(&server, "/api/profile", Some(&long)).await;
    assert_invalid_token(
        &reply,
        "Invalid token: token lifetime exceeds the allowed maximum",
    );
    // Issued long ago and valid for a day: the lifetime counts from iat, not from now.
    let old = issuer
        .token()
        .claim("iat", json!(now() - 86_000))
        .expires_in(400)
        .sign();
    let reply = get(&server, "/api/profile", Some(&old)).await;
    assert_invalid_token(
        &reply,
        "Invalid token: token lifetime exceeds the allowed maximum",
    );
    let no_iat = issuer.token().without_claim("iat").expires_in(7200).sign();
    let reply = get(&server, "/api/profile", Some(&no_iat)).await;
    assert_invalid_token(
        &reply,
        "Invalid token: token lifetime exceeds the allowed maximum",
    );
    // Off by default.
    let default = serve(auth_for(&issuer));
    let year = issuer.token().expires_in(365 * 86_400).sign();
    assert_eq!(get(&default, "/api/profile", Some(&year)).await.status, 200);
}

#[actix_web::test]
async fn required_token_type_refuses_other_types_such_as_id_tokens() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.required_token_type = "at+jwt".into());
    let server = serve(declare(JwtAuth::new(config).unwrap()));
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        let token = issuer.token().typ(typ).sign();
        assert_eq!(
            get(&server, "/api/profile", Some(&token)).await.status,
            200,
            "{typ}"
        );
    }
    let id_token = issuer.token().sign();
    let reply = get(&server, "/api/profile", Some(&id_token)).await;
    assert_invalid_token(&reply, "Invalid token: unexpected token type");
    let untyped = issuer.token().without_typ().typ("").sign();
    let reply = get(&server, "/api/profile", Some(&untyped)).await;
    assert_invalid_token(&reply, "Invalid token: unexpected token type");
    let missing = issuer.token().without_typ().sign();
    let reply = get(&server, "/api/profile", Some(&missing)).await;
    assert_invalid_token(&reply, "Invalid token: unexpected token type");
    // Off by default: any typ.
    let default = serve(auth_for(&issuer));
    assert_eq!(
        get(&default, "/api/profile", Some(&id_token)).await.status,
        200
    );
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
