//! DPoP against parts nobody here wrote: `oidc-provider` binds the access tokens it issues to
//! the key of a client whose keys and proofs `dpop` (npm, both pinned in
//! `tests/fixtures/oidc-provider`) makes, and that client calls an app that trusts the
//! provider through discovery: with a proof, as Bearer, and with every kind of wrong proof.
//! What such clients write that the rest of the suite does not is pinned here too.

use std::collections::HashMap;

use actix_web::{App, HttpResponse, get};
use auth_runtime::testing::{DpopKey, TestIssuer};
use auth_runtime::{Algorithm, ErrorFormat, JwtAuth, Principal, RawConfig, RawIssuer};
use serde_json::{Value, json};

use crate::oidc::Provider;
use crate::support::{client, config_with, send, serve_app};

#[get("/dpop/me")]
async fn me(caller: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "sub": caller.claims().sub,
        "roles": caller.roles(),
        "jkt": caller.dpop_thumbprint(),
        "bound": caller.is_sender_constrained(),
    }))
}

/// Runs `client.mjs` with `args`; answers its lines by key pair algorithm and case.
async fn run_client(args: Vec<String>) -> HashMap<(String, String), Value> {
    crate::oidc::run_client(args)
        .await
        .into_iter()
        .map(|line| {
            let key = (
                line["alg"].as_str().unwrap().to_owned(),
                line["case"].as_str().unwrap().to_owned(),
            );
            (key, line)
        })
        .collect()
}

#[actix_web::test]
async fn oidc_provider_dpop_tokens_pass_with_dpop_package_proofs_and_fail_without_them() {
    let state = std::env::temp_dir().join(format!("oidc-provider-dpop-{}", std::process::id()));
    std::fs::create_dir_all(&state).unwrap();
    let provider = Provider::start(&state, 0, false);
    let config = RawConfig {
        issuers: vec![RawIssuer {
            issuer: provider.issuer.clone(),
            audience: Some("https://api.example.test".into()),
            discovery: Some(true),
            roles_claim: Some("roles".into()),
            required_token_type: Some("at+jwt".into()),
            ..RawIssuer::default()
        }],
        error_format: ErrorFormat::Problem,
        ..RawConfig::default()
    }
    .validate()
    .unwrap();
    let auth = JwtAuth::new(config).unwrap();
    let server = serve_app(1, move || App::new().wrap(auth.clone()).service(me));
    let url = format!("{}/dpop/me", server.base);

    let lines = run_client(vec!["provider".into(), provider.issuer.clone(), url]).await;
    for alg in ["ES256", "Ed25519"] {
        let line = |case: &str| {
            lines
                .get(&(alg.to_owned(), case.to_owned()))
                .unwrap_or_else(|| panic!("{alg}: no {case} line in {lines:#?}"))
        };
        let granted = line("token");
        assert_eq!(granted["status"], 200, "{alg}: {granted}");
        assert_eq!(granted["token_type"], "DPoP", "{alg}");
        let thumbprint = granted["thumbprint"].as_str().unwrap();
        assert_eq!(
            granted["jkt"], thumbprint,
            "{alg}: bound to the client's key"
        );

        let reply = line("with_proof");
        assert_eq!(reply["status"], 200, "{alg}: {reply}");
        assert_eq!(reply["body"]["jkt"], thumbprint, "{alg}");
        assert_eq!(reply["body"]["bound"], true, "{alg}");
        assert_eq!(reply["body"]["sub"], "admin-client", "{alg}");
        assert_eq!(reply["body"]["roles"], json!(["admin"]), "{alg}");

        for (case, code) in [
            ("as_bearer", "dpop_bound_token"),
            ("replayed_proof", "dpop_replayed"),
            ("other_url", "dpop_wrong_url"),
            ("other_method", "dpop_wrong_method"),
            ("other_key", "dpop_wrong_key"),
            ("stale_proof", "dpop_stale"),
        ] {
            let reply = line(case);
            assert_eq!(reply["status"], 401, "{alg} {case}: {reply}");
            assert_eq!(reply["body"]["code"], code, "{alg} {case}: {reply}");
            let challenge = reply["www_authenticate"].as_str().unwrap_or("");
            if case != "as_bearer" {
                assert!(
                    challenge.contains("error=\"invalid_dpop_proof\""),
                    "{alg} {case}: {challenge}"
                );
            }
        }
    }

    drop(provider);
    let _ = std::fs::remove_dir_all(&state);
}

#[actix_web::test]
async fn an_ed25519_proof_under_its_fully_specified_name_passes_where_eddsa_is_accepted() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| {
        raw.dpop_algorithms = vec!["EdDSA".into()];
        raw.error_format = ErrorFormat::Problem;
    });
    let auth = JwtAuth::new(config).unwrap();
    let server = serve_app(1, move || App::new().wrap(auth.clone()).service(me));
    let url = format!("{}/dpop/me", server.base);
    let key = DpopKey::generate(Algorithm::EdDSA);
    let token = issuer.token().sub("carol").bound_to(&key).sign();
    let call = |proof: String| {
        send(
            client()
                .get(&url)
                .header("Authorization", format!("DPoP {token}"))
                .header("DPoP", proof),
        )
    };

    // RFC 9864's `Ed25519`, as panva's `dpop` writes it, on the proof and on its key.
    let named = key
        .proof_builder("GET", &url)
        .token(&token)
        .header("alg", json!("Ed25519"))
        .sign();
    let reply = call(named).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["jkt"], key.thumbprint());
    let mut jwk = key.public_jwk();
    jwk["alg"] = json!("Ed25519");
    let pinned = key
        .proof_builder("GET", &url)
        .token(&token)
        .header("jwk", jwk)
        .sign();
    assert_eq!(call(pinned).await.status, 200);

    // The name says which key: a P-256 key under it is refused, as under `EdDSA`.
    let p256 = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().sub("carol").bound_to(&p256).sign();
    let mismatched = p256
        .proof_builder("GET", &url)
        .token(&token)
        .header("alg", json!("Ed25519"))
        .sign();
    let reply = send(
        client()
            .get(&url)
            .header("Authorization", format!("DPoP {token}"))
            .header("DPoP", mismatched),
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["code"], "dpop_key_algorithm_mismatch");
}
