//! ML-DSA (FIPS 204) signed tokens: JWK `kty: "AKP"` with `pub`, JWS `alg` `ML-DSA-44|65|87`,
//! accepted only when `accepted_algorithms` lists them.

use auth_runtime::testing::TestIssuer;
use auth_runtime::{Algorithm, JwtAuth, RawConfig};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::support::{declare, get, serve};

const ML_DSA: [Algorithm; 3] = [Algorithm::MlDsa44, Algorithm::MlDsa65, Algorithm::MlDsa87];

fn accepting(issuer: &TestIssuer, algorithms: &[&str]) -> JwtAuth {
    let config = RawConfig {
        accepted_algorithms: algorithms.iter().map(|a| (*a).to_owned()).collect(),
        ..issuer.raw_config()
    }
    .validate()
    .expect("config");
    declare(JwtAuth::new(config).expect("middleware"))
}

fn assert_invalid_token(reply: &crate::support::Reply, detail: &str) {
    assert_eq!(reply.status, 401, "{:?}", reply.body);
    assert_eq!(reply.detail(), detail);
    assert!(
        reply
            .header("www-authenticate")
            .contains("error=\"invalid_token\""),
        "{}",
        reply.header("www-authenticate")
    );
}

#[actix_web::test]
async fn each_ml_dsa_level_verifies_when_listed() {
    for alg in ML_DSA {
        let issuer = TestIssuer::start_with(alg, "test-api");
        let jwks = issuer.jwks();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kty"], "AKP", "{jwk}");
        assert_eq!(jwk["alg"], alg.as_str());
        let auth = accepting(&issuer, &[alg.as_str()]);
        let server = serve(auth.clone());
        let token = issuer.token().sub(alg.as_str()).sign();
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], alg.as_str());
        // Twice: verified, then served from the verified-token cache.
        for _ in 0..2 {
            let reply = get(&server, "/api/profile", Some(&token)).await;
            assert_eq!(reply.status, 200, "{alg}: {:?}", reply.body);
            assert_eq!(reply.body["subject"], alg.as_str());
        }
        let stats = auth
            .token_cache_stats()
            .expect("the cache is on by default");
        assert_eq!((stats.misses, stats.hits), (1, 1), "{alg}");
    }
}

#[actix_web::test]
async fn ml_dsa_is_refused_unless_listed() {
    // The default list is RS256 alone: an ML-DSA token is refused before any key is read.
    let issuer = TestIssuer::start_with(Algorithm::MlDsa65, "test-api");
    let default = RawConfig {
        issuer: issuer.issuer().to_owned(),
        audience: "test-api".into(),
        ..RawConfig::default()
    }
    .validate()
    .expect("config");
    assert_eq!(
        default.issuers()[0].accepted_algorithms(),
        [Algorithm::RS256]
    );
    let server = serve(declare(JwtAuth::new(default).expect("middleware")));
    let token = issuer.token().sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_invalid_token(&reply, "Algorithm 'ML-DSA-65' is not accepted");
    assert_eq!(
        issuer.fetch_count(),
        0,
        "no key is fetched for a refused algorithm"
    );

    // Listing another level does not let this one in.
    let server = serve(accepting(&issuer, &["ML-DSA-87"]));
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_invalid_token(&reply, "Algorithm 'ML-DSA-65' is not accepted");
}

#[actix_web::test]
async fn a_tampered_ml_dsa_token_is_refused() {
    let issuer = TestIssuer::start_with(Algorithm::MlDsa65, "test-api");
    let server = serve(accepting(&issuer, &["ML-DSA-65"]));
    let token = issuer.token().sub("alice").sign();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let (header, _) = signed.split_once('.').unwrap();

    // Claims changed after signing.
    let mut claims = issuer.token().sub("alice").claims().clone();
    claims.insert("sub".into(), json!("mallory"));
    let forged = format!(
        "{header}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let reply = get(&server, "/api/profile", Some(&forged)).await;
    assert_invalid_token(&reply, "Invalid token: signature verification failed");

    // One bit of the signature flipped.
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[100] ^= 1;
    let flipped = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&bytes));
    let reply = get(&server, "/api/profile", Some(&flipped)).await;
    assert_invalid_token(&reply, "Invalid token: signature verification failed");

    // Truncated, and too long.
    let short = format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() - 1])
    );
    let reply = get(&server, "/api/profile", Some(&short)).await;
    assert_invalid_token(&reply, "Invalid token: signature verification failed");
    let long = format!("{signed}.{}", URL_SAFE_NO_PAD.encode([0u8; 5000]));
    let reply = get(&server, "/api/profile", Some(&long)).await;
    assert_invalid_token(&reply, "Invalid token: signature verification failed");

    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

#[actix_web::test]
async fn the_header_alg_must_be_the_keys_level() {
    // An ML-DSA-65 key verifies ML-DSA-65 only: a header naming ML-DSA-44 (or RS256) with its
    // kid is refused before any signature check.
    let issuer = TestIssuer::start_with(Algorithm::MlDsa65, "test-api");
    let token = issuer.token().sign();
    let ml_dsa = issuer.kid();
    // An RSA key is published next to it.
    let rsa = issuer.add_key(Algorithm::RS256);
    let server = serve(accepting(&issuer, &["ML-DSA-44", "ML-DSA-65", "RS256"]));
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let (_, payload) = signed.split_once('.').unwrap();
    for alg in ["ML-DSA-44", "RS256"] {
        let header = json!({"alg": alg, "kid": ml_dsa, "typ": "JWT"});
        let relabelled = format!(
            "{}.{payload}.{signature}",
            URL_SAFE_NO_PAD.encode(header.to_string())
        );
        let reply = get(&server, "/api/profile", Some(&relabelled)).await;
        assert_invalid_token(
            &reply,
            "Invalid token: signing key does not match the algorithm",
        );
    }

    // The RSA key does not verify ML-DSA tokens either.
    let header = json!({"alg": "ML-DSA-65", "kid": rsa, "typ": "JWT"});
    let relabelled = format!(
        "{}.{payload}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string())
    );
    let reply = get(&server, "/api/profile", Some(&relabelled)).await;
    assert_invalid_token(
        &reply,
        "Invalid token: signing key does not match the algorithm",
    );
}

#[actix_web::test]
async fn unusable_akp_keys_are_skipped() {
    // The issuer's own key is replaced by broken copies of it, each with its own kid; a token
    // naming any of them finds no usable key.
    let issuer = TestIssuer::start_with(Algorithm::MlDsa65, "test-api");
    let good = issuer.jwks()["keys"][0].clone();
    let public = good["pub"].as_str().unwrap().to_owned();
    let variant = |kid: &str, change: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut jwk = good.as_object().unwrap().clone();
        jwk.insert("kid".into(), json!(kid));
        change(&mut jwk);
        serde_json::Value::Object(jwk)
    };
    issuer.publish_extra(vec![
        // The algorithm is required for AKP keys, and must be an ML-DSA level.
        variant("no-alg", &|jwk| {
            jwk.remove("alg");
        }),
        variant("other-alg", &|jwk| {
            jwk.insert("alg".into(), json!("SLH-DSA-SHA2-128s"));
        }),
        // The key length must be the level's (1952 bytes for ML-DSA-65).
        variant("wrong-level", &|jwk| {
            jwk.insert("alg".into(), json!("ML-DSA-44"));
        }),
        variant("short", &|jwk| {
            jwk.insert("pub".into(), json!(&public[..public.len() - 4]));
        }),
        variant("padded", &|jwk| {
            jwk.insert("pub".into(), json!(format!("{public}==")));
        }),
        variant("for-encryption", &|jwk| {
            jwk.insert("use".into(), json!("enc"));
        }),
        // A set that publishes a private key has given it away: refused.
        variant("with-private", &|jwk| {
            jwk.insert("priv".into(), json!(URL_SAFE_NO_PAD.encode([7u8; 32])));
        }),
    ]);
    let server = serve(accepting(&issuer, &["ML-DSA-44", "ML-DSA-65"]));
    for kid in [
        "no-alg",
        "other-alg",
        "wrong-level",
        "short",
        "padded",
        "for-encryption",
        "with-private",
    ] {
        let token = issuer.token().kid(kid).sign();
        let reply = get(&server, "/api/profile", Some(&token)).await;
        assert_invalid_token(&reply, "Invalid token: unknown signing key");
    }
    let token = issuer.token().sign();
    let reply = get(&server, "/api/profile", Some(&token)).await;
    assert_eq!(
        reply.status, 200,
        "the good key is still used: {:?}",
        reply.body
    );
}

#[actix_web::test]
async fn private_members_make_any_key_unusable() {
    // The same rule for classical keys: an RSA or Ed25519 JWK carrying `d` is refused.
    for alg in [Algorithm::RS256, Algorithm::EdDSA] {
        let issuer = TestIssuer::start_with(alg, "test-api");
        let mut leaked = issuer.jwks()["keys"][0].clone();
        leaked["kid"] = json!("leaked");
        leaked["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
        issuer.publish_extra(vec![leaked]);
        let server = serve(accepting(&issuer, &[alg.as_str()]));
        let token = issuer.token().kid("leaked").sign();
        let reply = get(&server, "/api/profile", Some(&token)).await;
        assert_invalid_token(&reply, "Invalid token: unknown signing key");
        let token = issuer.token().sign();
        let reply = get(&server, "/api/profile", Some(&token)).await;
        assert_eq!(reply.status, 200, "{alg}: {:?}", reply.body);
    }
}

#[actix_web::test]
async fn ml_dsa_and_rsa_keys_in_one_set() {
    // An issuer moving to ML-DSA publishes both; tokens of either verify while both are listed.
    let issuer = TestIssuer::start();
    let rsa_token = issuer.token().sub("classic").sign();
    issuer.add_key(Algorithm::MlDsa65);
    let pq_token = issuer.token().sub("post-quantum").sign();
    let server = serve(accepting(&issuer, &["RS256", "ML-DSA-65"]));
    for (token, subject) in [(&rsa_token, "classic"), (&pq_token, "post-quantum")] {
        let reply = get(&server, "/api/profile", Some(token)).await;
        assert_eq!(reply.status, 200, "{subject}: {:?}", reply.body);
        assert_eq!(reply.body["subject"], subject);
    }
}
