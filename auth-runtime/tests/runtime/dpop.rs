//! Sender-constrained tokens (DPoP, RFC 9449) over HTTP: a token bound to a key passes only
//! as `Authorization: DPoP` with a fresh proof by that key for that very request; every
//! forged, stale, replayed or misdirected proof is refused with its own code and a `DPoP`
//! challenge.

// figment's `Jail` closures return `figment::Error`, which is large; that is its API.
#![allow(clippy::result_large_err)]

use actix_web::{App, HttpResponse, get, web};
use auth_runtime::testing::{DpopKey, TestIssuer};
use auth_runtime::{
    Algorithm, AuthConfig, DpopMode, JwtAuth, Principal, RawConfig, allow_anonymous, requires_role,
};
use figment::Jail;
use serde_json::{Value, json};

use crate::support::{Reply, Server, challenges, client, config_with, send, serve_app};

#[get("/dpop/me")]
async fn me(caller: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "sub": caller.claims().sub,
        "jkt": caller.dpop_thumbprint(),
        "bound": caller.is_sender_constrained(),
    }))
}

#[requires_role("admin")]
#[get("/dpop/admin")]
async fn admin() -> HttpResponse {
    HttpResponse::Ok().body("admin")
}

#[allow_anonymous]
#[get("/dpop/open")]
async fn open() -> HttpResponse {
    HttpResponse::Ok().body("open")
}

fn serve(auth: JwtAuth) -> Server {
    serve_app(1, move || {
        App::new()
            .wrap(auth.clone())
            .service(me)
            .service(admin)
            .service(open)
            .route("/dpop/post", web::post().to(HttpResponse::Ok))
    })
}

/// `GET path` with `Authorization: <scheme> <token>` and each of `proofs` as a `DPoP` header.
async fn call(server: &Server, path: &str, scheme: &str, token: &str, proofs: &[&str]) -> Reply {
    let mut req = client()
        .get(format!("{}{path}", server.base))
        .header("Authorization", format!("{scheme} {token}"));
    for proof in proofs {
        req = req.header("DPoP", *proof);
    }
    send(req).await
}

const ALL_ALGS: &str = "algs=\"ES256 EdDSA RS256 PS256 ML-DSA-44 ML-DSA-65 ML-DSA-87\"";

#[actix_web::test]
async fn a_bound_token_with_its_proof_passes_for_each_proof_algorithm() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let url = format!("{}/dpop/me", server.base);
    for alg in [
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::MlDsa44,
    ] {
        let client_key = DpopKey::generate(alg);
        let token = issuer.token().sub("alice").bound_to(&client_key).sign();
        let proof = client_key.proof("GET", &url, &token);
        let reply = call(&server, "/dpop/me", "DPoP", &token, &[&proof]).await;
        assert_eq!(reply.status, 200, "{alg}: {}", reply.body);
        assert_eq!(reply.body["sub"], "alice");
        assert_eq!(reply.body["jkt"], client_key.thumbprint(), "{alg}");
        assert_eq!(reply.body["bound"], true);

        // The same token as Bearer: what a thief who has the token and not the key sends.
        let stolen = call(&server, "/dpop/me", "Bearer", &token, &[]).await;
        assert_eq!(stolen.status, 401, "{alg}");
        assert_eq!(
            stolen.detail(),
            "Invalid token: the token is DPoP-bound: send it as DPoP with a proof"
        );
    }
}

#[actix_web::test]
async fn a_bearer_token_stays_a_bearer_token_and_the_scheme_is_read_in_any_case() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let token = issuer.token().sub("bob").sign();
    let reply = call(&server, "/dpop/me", "Bearer", &token, &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["jkt"], Value::Null);
    assert_eq!(reply.body["bound"], false);

    // An unbound token sent as DPoP proves nothing about its holder.
    let client_key = DpopKey::generate(Algorithm::ES256);
    let proof = client_key.proof("GET", &format!("{}/dpop/me", server.base), &token);
    let reply = call(&server, "/dpop/me", "DPoP", &token, &[&proof]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.detail(), "Invalid token: the token is not DPoP-bound");

    let bound = issuer.token().sub("carol").bound_to(&client_key).sign();
    let proof = client_key.proof("GET", &format!("{}/dpop/me", server.base), &bound);
    let reply = call(&server, "/dpop/me", "dpop", &bound, &[&proof]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[actix_web::test]
async fn required_takes_bound_tokens_only_and_off_takes_unbound_ones_only() {
    let issuer = TestIssuer::start();
    let client_key = DpopKey::generate(Algorithm::EdDSA);
    let unbound = issuer.token().sub("dave").sign();
    let bound = issuer.token().sub("dave").bound_to(&client_key).sign();

    let required =
        serve(JwtAuth::new(config_with(&issuer, |raw| raw.dpop = DpopMode::Required)).unwrap());
    let url = format!("{}/dpop/me", required.base);
    let reply = call(&required, "/dpop/me", "Bearer", &unbound, &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.detail(), "Invalid token: the token is not DPoP-bound");
    // Only the DPoP scheme is offered.
    assert_eq!(
        challenges(&reply),
        [format!(
            "DPoP {ALL_ALGS}, realm=\"api\", error=\"invalid_token\", error_description=\"Invalid \
             token: the token is not DPoP-bound\""
        )]
    );
    let proof = client_key.proof("GET", &url, &bound);
    let reply = call(&required, "/dpop/me", "DPoP", &bound, &[&proof]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let off = serve(JwtAuth::new(config_with(&issuer, |raw| raw.dpop = DpopMode::Off)).unwrap());
    let url = format!("{}/dpop/me", off.base);
    let reply = call(&off, "/dpop/me", "Bearer", &unbound, &[]).await;
    assert_eq!(reply.status, 200);
    let proof = client_key.proof("GET", &url, &bound);
    for (scheme, proofs) in [("DPoP", vec![proof.as_str()]), ("Bearer", vec![])] {
        let reply = call(&off, "/dpop/me", scheme, &bound, &proofs).await;
        assert_eq!(reply.status, 401, "{scheme}");
        assert_eq!(
            reply.detail(),
            "Invalid token: DPoP is not accepted for this issuer"
        );
    }
    // With DPoP off, the answers are the bearer-only ones.
    let reply = call(&off, "/dpop/me", "Bearer", "", &[]).await;
    assert_eq!(challenges(&reply), ["Bearer realm=\"api\""]);
}

#[actix_web::test]
async fn a_401_names_both_schemes_where_both_are_taken() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let reply = send(client().get(format!("{}/dpop/me", server.base))).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        challenges(&reply),
        [
            "Bearer realm=\"api\"".to_owned(),
            format!("DPoP {ALL_ALGS}")
        ]
    );
    // A 403 is about the caller's rights, not the scheme: as before.
    let token = issuer.token().sub("erin").role("viewer").sign();
    let reply = call(&server, "/dpop/admin", "Bearer", &token, &[]).await;
    assert_eq!(reply.status, 403);
    assert_eq!(challenges(&reply).len(), 1);
}

#[actix_web::test]
async fn a_proof_is_accepted_once_with_the_cache_on_and_off() {
    let issuer = TestIssuer::start();
    for cache in [true, false] {
        let config = config_with(&issuer, |raw| {
            if !cache {
                raw.token_cache_max_bytes = 0;
            }
        });
        let auth = JwtAuth::new(config).unwrap();
        let server = serve(auth.clone());
        let client_key = DpopKey::generate(Algorithm::ES256);
        let token = issuer.token().sub("frank").bound_to(&client_key).sign();
        let url = format!("{}/dpop/me", server.base);
        for _ in 0..3 {
            // A fresh proof each time: the token's verdict may come from the cache, the
            // proof is checked anew.
            let proof = client_key.proof("GET", &url, &token);
            let reply = call(&server, "/dpop/me", "DPoP", &token, &[&proof]).await;
            assert_eq!(reply.status, 200, "cache {cache}: {}", reply.body);
        }
        if cache {
            let stats = auth.token_cache_stats().unwrap();
            assert!(stats.hits >= 2, "{stats:?}");
        }
        let proof = client_key.proof("GET", &url, &token);
        let first = call(&server, "/dpop/me", "DPoP", &token, &[&proof]).await;
        assert_eq!(first.status, 200);
        let replayed = call(&server, "/dpop/me", "DPoP", &token, &[&proof]).await;
        assert_eq!(replayed.status, 401, "cache {cache}");
        assert_eq!(replayed.detail(), "Invalid DPoP proof: proof already used");
    }
}

/// A refused proof: 401, the `DPoP` challenge with `invalid_dpop_proof` first, the `Bearer`
/// one after it, and the reason's code in a problem body.
async fn assert_refused(server: &Server, token: &str, proofs: &[&str], code: &str, case: &str) {
    let reply = call(server, "/dpop/me", "DPoP", token, proofs).await;
    assert_eq!(reply.status, 401, "{case}: {}", reply.body);
    assert_eq!(reply.body["code"], code, "{case}");
    let challenges = challenges(&reply);
    assert!(
        challenges[0].starts_with(&format!(
            "DPoP {ALL_ALGS}, realm=\"api\", error=\"invalid_dpop_proof\""
        )),
        "{case}: {challenges:?}"
    );
    assert_eq!(challenges[1], "Bearer realm=\"api\"", "{case}");
}

#[actix_web::test]
async fn hostile_proofs_are_each_refused_with_their_reason() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| {
        raw.error_format = auth_runtime::ErrorFormat::Problem;
    });
    let server = serve(JwtAuth::new(config).unwrap());
    let url = format!("{}/dpop/me", server.base);
    let holder = DpopKey::generate(Algorithm::ES256);
    let other = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().sub("grace").bound_to(&holder).sign();
    let other_token = issuer
        .token()
        .sub("grace")
        .bound_to(&holder)
        .jti("other")
        .sign();
    let proof = || holder.proof_builder("GET", &url).token(&token);

    let mut private_jwk = holder.public_jwk();
    private_jwk["d"] = json!("AAAA");
    let mut wrong_curve = holder.public_jwk();
    wrong_curve["crv"] = json!("P-384");
    let mut unknown_curve = holder.public_jwk();
    unknown_curve["crv"] = json!("P-521");
    let ed_key = DpopKey::generate(Algorithm::EdDSA);

    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("no proof", vec![], "dpop_missing"),
        (
            "two proofs",
            vec![proof().sign(), proof().sign()],
            "dpop_multiple",
        ),
        ("oversized", vec!["a".repeat(17 * 1024)], "dpop_too_large"),
        ("not a JWS", vec!["abc.def".into()], "dpop_malformed"),
        (
            "duplicate claim",
            vec![proof().sign_raw(
                &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": holder.public_jwk()}).to_string(),
                r#"{"jti":"a","jti":"b","htm":"GET","htu":"x","iat":1,"ath":"x"}"#,
            )],
            "dpop_duplicate_member",
        ),
        (
            "crit",
            vec![proof().header("crit", json!(["exp"])).sign()],
            "dpop_critical_header",
        ),
        (
            "typ JWT",
            vec![proof().header("typ", json!("JWT")).sign()],
            "dpop_wrong_type",
        ),
        (
            "no typ",
            vec![proof().without_header("typ").sign()],
            "dpop_wrong_type",
        ),
        (
            "alg none",
            vec![proof().header("alg", json!("none")).sign()],
            "dpop_algorithm_not_accepted",
        ),
        (
            "alg HS256",
            vec![proof().header("alg", json!("HS256")).sign()],
            "dpop_algorithm_not_accepted",
        ),
        (
            "EdDSA over an EC key",
            vec![proof().header("alg", json!("EdDSA")).sign()],
            "dpop_key_algorithm_mismatch",
        ),
        (
            "no jwk",
            vec![proof().without_header("jwk").sign()],
            "dpop_bad_key",
        ),
        (
            "jwk on another curve",
            vec![proof().header("jwk", wrong_curve).sign()],
            "dpop_key_algorithm_mismatch",
        ),
        (
            "jwk on an unknown curve",
            vec![proof().header("jwk", unknown_curve).sign()],
            "dpop_bad_key",
        ),
        (
            "symmetric jwk",
            vec![
                proof()
                    .header("jwk", json!({"kty": "oct", "k": "c2VjcmV0"}))
                    .sign(),
            ],
            "dpop_private_key",
        ),
        (
            "private jwk",
            vec![proof().header("jwk", private_jwk).sign()],
            "dpop_private_key",
        ),
        (
            "signed by another key with the holder's jwk",
            vec![
                other
                    .proof_builder("GET", &url)
                    .token(&token)
                    .header("jwk", holder.public_jwk())
                    .sign(),
            ],
            "dpop_bad_signature",
        ),
        (
            "signature cut",
            vec![{
                let good = proof().sign();
                good[..good.len() - 4].to_owned()
            }],
            "dpop_bad_signature",
        ),
        (
            "another key's own proof",
            vec![other.proof("GET", &url, &token)],
            "dpop_wrong_key",
        ),
        (
            "another EdDSA key's own proof",
            vec![ed_key.proof("GET", &url, &token)],
            "dpop_wrong_key",
        ),
        (
            "another method",
            vec![holder.proof("POST", &url, &token)],
            "dpop_wrong_method",
        ),
        (
            "another host",
            vec![holder.proof("GET", "https://elsewhere.example/dpop/me", &token)],
            "dpop_wrong_url",
        ),
        (
            "another path",
            vec![holder.proof("GET", &format!("{}/dpop/admin", server.base), &token)],
            "dpop_wrong_url",
        ),
        (
            "not a URL",
            vec![proof().claim("htu", json!("/dpop/me")).sign()],
            "dpop_wrong_url",
        ),
        ("stale", vec![proof().issued_in(-600).sign()], "dpop_stale"),
        (
            "from the future",
            vec![proof().issued_in(600).sign()],
            "dpop_issued_in_future",
        ),
        (
            "20 s ahead, within the leeway but past the 5 s a proof may be ahead",
            vec![proof().issued_in(20).sign()],
            "dpop_issued_in_future",
        ),
        (
            "no ath",
            vec![holder.proof_builder("GET", &url).sign()],
            "dpop_missing_claim",
        ),
        (
            "ath of another token",
            vec![holder.proof("GET", &url, &other_token)],
            "dpop_wrong_token_hash",
        ),
        (
            "no jti",
            vec![proof().without_claim("jti").sign()],
            "dpop_missing_claim",
        ),
        (
            "iat as text",
            vec![proof().claim("iat", json!("now")).sign()],
            "dpop_missing_claim",
        ),
    ];
    for (case, proofs, code) in &cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        assert_refused(&server, &token, &proofs, code, case).await;
    }
    // A proof a little ahead (a client's clock a few seconds fast) passes.
    let ahead = proof().issued_in(3).sign();
    let reply = call(&server, "/dpop/me", "DPoP", &token, &[&ahead]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // None of the refused proofs spent anything: a good one still passes, with a query and
    // another spelling of the same URL in `htu`.
    let spelled = url
        .replace("http://", "HTTP://")
        .replace("/dpop/me", "/dpop/./me?x=1");
    let good = holder.proof("GET", &spelled, &token);
    let reply = call(&server, "/dpop/me?page=2", "DPoP", &token, &[&good]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[actix_web::test]
async fn public_url_decides_where_proofs_must_point() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| {
        raw.public_url = "https://api.example.com/v1".into();
    });
    let server = serve(JwtAuth::new(config).unwrap());
    let holder = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().sub("heidi").bound_to(&holder).sign();

    // A proxy serves https://api.example.com/v1/... from this app's /...
    let proof = holder.proof("GET", "https://api.example.com/v1/dpop/me", &token);
    let reply = call(&server, "/dpop/me", "DPoP", &token, &[&proof]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    // A proof for the address the app listens on is one made for another host.
    let local = holder.proof("GET", &format!("{}/dpop/me", server.base), &token);
    let reply = call(&server, "/dpop/me", "DPoP", &token, &[&local]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.detail(),
        "Invalid DPoP proof: htu does not match the request URL"
    );
}

#[actix_web::test]
async fn an_anonymous_route_ignores_a_refused_proof_and_a_protected_one_does_not() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let holder = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().sub("ivan").bound_to(&holder).sign();
    let reply = call(&server, "/dpop/open", "DPoP", &token, &["bad"]).await;
    assert_eq!(reply.status, 200);
    let reply = call(&server, "/dpop/admin", "DPoP", &token, &["bad"]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.detail(), "Invalid DPoP proof: malformed proof");
}

#[actix_web::test]
async fn a_token_bound_some_other_way_is_refused() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    for cnf in [json!({"x5t#S256": "abc"}), json!("jkt"), json!({"jkt": 7})] {
        let token = issuer.token().sub("judy").claim("cnf", cnf.clone()).sign();
        let reply = call(&server, "/dpop/me", "Bearer", &token, &[]).await;
        assert_eq!(reply.status, 401, "{cnf}");
        assert_eq!(
            reply.detail(),
            "Invalid token: unsupported cnf confirmation method",
            "{cnf}"
        );
    }
}

#[test]
fn the_dpop_settings_are_read_and_checked() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "auth_client:\n  issuer: https://id.example\n  audience: api\n  dpop: required\n  \
             dpop_algorithms: [ES256]\n  dpop_max_age_seconds: 30\n",
        )?;
        jail.set_env("AUTH_CLIENT__PUBLIC_URL", "https://api.example.com");
        let config = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap();
        let one = &config.issuers()[0];
        assert_eq!(one.dpop(), DpopMode::Required);
        assert_eq!(one.dpop_algorithms(), [Algorithm::ES256]);
        assert_eq!(one.dpop_max_age_seconds(), 30);
        assert_eq!(config.public_urls(), ["https://api.example.com"]);
        Ok(())
    });
    let defaults = RawConfig {
        issuer: "https://id.example".into(),
        audience: "api".into(),
        ..RawConfig::default()
    };
    let config = defaults.clone().validate().unwrap();
    assert_eq!(config.issuers()[0].dpop(), DpopMode::Allowed);
    assert_eq!(config.issuers()[0].dpop_max_age_seconds(), 60);
    assert_eq!(config.dpop_replay_max_entries(), 250_000);

    for (edit, key, says) in [
        (
            (|raw: &mut RawConfig| raw.dpop_algorithms = vec!["HS256".into()])
                as fn(&mut RawConfig),
            "auth_client.dpop_algorithms",
            "not a public-key algorithm",
        ),
        (
            |raw: &mut RawConfig| raw.dpop_algorithms = vec![],
            "auth_client.dpop_algorithms",
            "dpop: off",
        ),
        (
            |raw: &mut RawConfig| raw.dpop_max_age_seconds = 0,
            "auth_client.dpop_max_age_seconds",
            "1 to 3600",
        ),
        (
            |raw: &mut RawConfig| raw.public_url = "api.example.com".into(),
            "auth_client.public_url",
            "https://api.example.com",
        ),
        (
            |raw: &mut RawConfig| raw.public_url = "https://api.example.com/?x=1".into(),
            "auth_client.public_url",
            "without query",
        ),
        (
            |raw: &mut RawConfig| raw.public_url = "https://api.example.com/a\"b".into(),
            "auth_client.public_url",
            "without query",
        ),
        (
            |raw: &mut RawConfig| raw.dpop_replay_max_entries = 10,
            "auth_client.dpop_replay_max_entries",
            "at least 1000",
        ),
        (
            |raw: &mut RawConfig| raw.dpop_nonce_seconds = 1,
            "auth_client.dpop_nonce_seconds",
            "5 to 3600",
        ),
        (
            |raw: &mut RawConfig| raw.dpop_nonce_secret = "short".into(),
            "auth_client.dpop_nonce_secret",
            "32 bytes",
        ),
    ] {
        let mut raw = defaults.clone();
        edit(&mut raw);
        let err = raw.validate().unwrap_err();
        assert_eq!(err.key(), Some(key), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    // With DPoP off, no proof algorithm is needed.
    let mut off = defaults;
    off.dpop = DpopMode::Off;
    off.dpop_algorithms = vec![];
    assert!(off.validate().is_ok());
}

#[actix_web::test]
async fn with_nonces_on_a_proof_needs_a_current_nonce_that_any_instance_sharing_the_secret_gave() {
    let issuer = TestIssuer::start();
    let secret = "a nonce secret of thirty-two bytes or more";
    let config = |secret: &str| {
        config_with(&issuer, |raw| {
            raw.dpop_nonce = true;
            raw.dpop_nonce_seconds = 5;
            raw.dpop_nonce_secret = secret.into();
        })
    };
    let one = serve(JwtAuth::new(config(secret)).unwrap());
    let two = serve(JwtAuth::new(config(secret)).unwrap());
    let stranger = serve(JwtAuth::new(config("")).unwrap());
    let holder = DpopKey::generate(Algorithm::EdDSA);
    let token = issuer.token().sub("kim").bound_to(&holder).sign();
    let proof_for = |server: &Server, nonce: Option<&str>| {
        let url = format!("{}/dpop/me", server.base);
        let proof = holder.proof_builder("GET", &url).token(&token);
        match nonce {
            Some(nonce) => proof.claim("nonce", json!(nonce)).sign(),
            None => proof.sign(),
        }
    };

    // Without a nonce: 401 use_dpop_nonce, and the nonce to use.
    let reply = call(&one, "/dpop/me", "DPoP", &token, &[&proof_for(&one, None)]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.detail(),
        "DPoP proof needs a nonce: retry with the DPoP-Nonce of this answer"
    );
    assert!(
        challenges(&reply)[0].starts_with(&format!(
            "DPoP {ALL_ALGS}, realm=\"api\", error=\"use_dpop_nonce\""
        )),
        "{:?}",
        challenges(&reply)
    );
    let nonce = reply.header("dpop-nonce").to_owned();
    assert!(!nonce.is_empty());

    // With it: 200, here and at the other instance, each answer carrying a nonce.
    for server in [&one, &two] {
        let reply = call(
            server,
            "/dpop/me",
            "DPoP",
            &token,
            &[&proof_for(server, Some(&nonce))],
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(!reply.header("dpop-nonce").is_empty());
    }
    // An instance with another secret does not take it; a forged one is refused too.
    let reply = call(
        &stranger,
        "/dpop/me",
        "DPoP",
        &token,
        &[&proof_for(&stranger, Some(&nonce))],
    )
    .await;
    assert_eq!(
        reply.body["detail"],
        "DPoP proof needs a nonce: retry with the DPoP-Nonce of this answer"
    );
    let last = if nonce.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{last}", &nonce[..nonce.len() - 1]);
    let reply = call(
        &one,
        "/dpop/me",
        "DPoP",
        &token,
        &[&proof_for(&one, Some(&forged))],
    )
    .await;
    assert_eq!(reply.status, 401);
    assert!(reply.header("www-authenticate").contains("use_dpop_nonce"));

    // A proof replayed at another instance passes while its nonce lasts: the replay record
    // is per instance (the documented limit) ...
    let captured = proof_for(&two, Some(&nonce));
    let reply = call(&two, "/dpop/me", "DPoP", &token, &[&captured]).await;
    assert_eq!(reply.status, 200);
    let again = call(&two, "/dpop/me", "DPoP", &token, &[&captured]).await;
    assert_eq!(again.detail(), "Invalid DPoP proof: proof already used");
    // ... and stops working everywhere two windows after its nonce was made.
    actix_web::rt::time::sleep(std::time::Duration::from_secs(11)).await;
    let late = call(
        &one,
        "/dpop/me",
        "DPoP",
        &token,
        &[&proof_for(&one, Some(&nonce))],
    )
    .await;
    assert_eq!(late.status, 401);
    assert!(late.header("www-authenticate").contains("use_dpop_nonce"));
    assert_ne!(late.header("dpop-nonce"), nonce);
}

#[actix_web::test]
async fn the_attributes_work_on_bound_tokens_as_on_any_other() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let url = format!("{}/dpop/admin", server.base);
    let holder = DpopKey::generate(Algorithm::ES256);
    for (role, status) in [("admin", 200), ("viewer", 403)] {
        let token = issuer
            .token()
            .sub("mia")
            .role(role)
            .bound_to(&holder)
            .sign();
        let proof = holder.proof("GET", &url, &token);
        let reply = call(&server, "/dpop/admin", "DPoP", &token, &[&proof]).await;
        assert_eq!(reply.status, status, "{role}");
    }
}

#[test]
fn without_public_url_the_start_up_warns_that_the_host_header_decides() {
    let issuer = TestIssuer::start();
    let (lines, _logs) = crate::support::Lines::capture();
    JwtAuth::new(issuer.config()).unwrap();
    assert!(
        lines.text().contains("auth_client.public_url is not set"),
        "{}",
        lines.text()
    );
    let (lines, _logs) = crate::support::Lines::capture();
    JwtAuth::new(config_with(&issuer, |raw| {
        raw.public_url = "https://api.example.com".into();
    }))
    .unwrap();
    JwtAuth::new(config_with(&issuer, |raw| raw.dpop = DpopMode::Off)).unwrap();
    assert!(!lines.text().contains("public_url"), "{}", lines.text());
}

#[actix_web::test]
async fn each_instance_takes_a_proof_once_as_its_record_is_its_own() {
    let issuer = TestIssuer::start();
    let config = || {
        config_with(&issuer, |raw| {
            raw.public_url = "https://api.example.com".into();
        })
    };
    let (one, two) = (
        serve(JwtAuth::new(config()).unwrap()),
        serve(JwtAuth::new(config()).unwrap()),
    );
    let holder = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().sub("noor").bound_to(&holder).sign();
    let proof = holder.proof("GET", "https://api.example.com/dpop/me", &token);
    for server in [&one, &two] {
        let reply = call(server, "/dpop/me", "DPoP", &token, &[&proof]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let again = call(server, "/dpop/me", "DPoP", &token, &[&proof]).await;
        assert_eq!(again.detail(), "Invalid DPoP proof: proof already used");
    }
}

#[actix_web::test]
async fn a_403_to_a_caller_that_proved_its_key_names_the_dpop_scheme() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let url = format!("{}/dpop/admin", server.base);
    let holder = DpopKey::generate(Algorithm::EdDSA);
    let token = issuer
        .token()
        .sub("omar")
        .role("viewer")
        .bound_to(&holder)
        .sign();
    let reply = call(
        &server,
        "/dpop/admin",
        "DPoP",
        &token,
        &[&holder.proof("GET", &url, &token)],
    )
    .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        challenges(&reply),
        [
            "DPoP realm=\"api\", error=\"insufficient_scope\", error_description=\"Requires one of roles: ['admin']\""
        ]
    );
    // A bearer caller's 403 keeps the Bearer scheme.
    let token = issuer.token().sub("omar").role("viewer").sign();
    let reply = call(&server, "/dpop/admin", "Bearer", &token, &[]).await;
    assert_eq!(reply.status, 403);
    assert!(
        challenges(&reply)[0].starts_with("Bearer realm=\"api\", error=\"insufficient_scope\"")
    );
}
