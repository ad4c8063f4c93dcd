//! Attacks on DPoP (RFC 9449) beyond the proof's own checks: a `Host` header that moves a
//! proof to another path, dot segments out of the public URL's prefix, floods of the replay
//! record, a replay at a second boundary, two bindings in one `cnf`, two thumbprints for one
//! RSA key, and a `JwtAuth` nested in a clone of itself. Each was seen to succeed before its
//! fix.

#![allow(clippy::result_large_err)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::middleware::DefaultHeaders;
use actix_web::test as web_test;
use actix_web::{App, HttpResponse, get};
use auth_runtime::__private::{DEFAULT_DPOP_ALGORITHMS, ProofReplay, check_token_endpoint_proof};
use auth_runtime::testing::{DpopKey, TestIssuer};
use auth_runtime::{Algorithm, DpopMode, DpopReason, JwtAuth, Principal, requires_role};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::{Server, config_with, serve_app};

#[get("/dpop/me")]
async fn me(caller: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": caller.claims().sub }))
}

#[requires_role("admin")]
#[get("/dpop/admin")]
async fn admin() -> HttpResponse {
    HttpResponse::Ok().body("admin")
}

fn serve(auth: JwtAuth) -> Server {
    serve_app(1, move || {
        App::new().wrap(auth.clone()).service(me).service(admin)
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One raw HTTP/1.1 request, written byte for byte (no client normalises the target or the
/// `Host` header): the status and the whole answer. The blocking socket runs off the test's
/// runtime, which also drives the server.
async fn raw(
    server: &Server,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
) -> (u16, String) {
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    let answer = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.write_all(request.as_bytes()).expect("write");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap();
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

/// With `public_url` unset, the URL a proof must name is made from the `Host` header: a `Host`
/// that is not a host (`127.0.0.1:PORT/dpop/me?`) must not cut the real path off and move a
/// proof made for `GET /dpop/me` to `GET /dpop/admin`.
#[actix_web::test]
async fn a_host_header_cannot_move_a_proof_to_another_path() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let host = server.base.trim_start_matches("http://").to_owned();
    let holder = DpopKey::generate(Algorithm::ES256);
    let token = issuer
        .token()
        .sub("mallory")
        .role("admin")
        .bound_to(&holder)
        .sign();
    let me_url = format!("{}/dpop/me", server.base);

    // Control: a proof for /dpop/me, sent to /dpop/admin with an honest Host, is refused.
    let proof = holder.proof("GET", &me_url, &token);
    let (status, answer) = raw(
        &server,
        "GET",
        "/dpop/admin",
        &[
            ("Host", host.clone()),
            ("Authorization", format!("DPoP {token}")),
            ("DPoP", proof),
        ],
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("htu does not match"), "{answer}");

    for cut in ["?", "#", "/", "@evil", " x"] {
        // The attack: a proof made for /dpop/me (captured, not yet spent) on /dpop/admin.
        let proof = holder.proof("GET", &me_url, &token);
        let (status, answer) = raw(
            &server,
            "GET",
            "/dpop/admin",
            &[
                ("Host", format!("{host}/dpop/me{cut}")),
                ("Authorization", format!("DPoP {token}")),
                ("DPoP", proof),
            ],
        )
        .await;
        assert!(
            status == 401 || status == 400,
            "Host cut with {cut:?}: {answer}"
        );
        assert!(!answer.ends_with("admin"), "{answer}");
    }
}

/// With a `public_url` carrying a path prefix, dot segments in the request path must not climb
/// out of the prefix: `GET /../dpop/me` would compare as `https://api.example.com/dpop/me`, a
/// URL outside this app (a sibling service behind the same proxy). A DPoP request whose path
/// has dot segments is refused (routing reads the raw path, so they mean nothing here).
#[actix_web::test]
async fn dot_segments_cannot_escape_the_public_url_prefix() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| {
        raw.public_url = "https://api.example.com/v1".into();
    });
    let server = serve(JwtAuth::new(config).unwrap());
    let holder = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().sub("mallory").bound_to(&holder).sign();
    let headers = |proof: String| {
        vec![
            ("Host", "api.example.com".to_owned()),
            ("Authorization", format!("DPoP {token}")),
            ("DPoP", proof),
        ]
    };
    // Control: the sibling's URL on the app's own path is refused.
    let sibling = holder.proof("GET", "https://api.example.com/dpop/me", &token);
    let (status, answer) = raw(&server, "GET", "/dpop/me", &headers(sibling)).await;
    assert_eq!(status, 401, "{answer}");

    // The attack: the same kind of proof, with the request path climbing out of /v1.
    for path in [
        "/../dpop/me",
        "/./dpop/me",
        "/x/../dpop/me",
        "/%2e%2e/dpop/me",
    ] {
        let sibling = holder.proof("GET", "https://api.example.com/dpop/me", &token);
        let (status, answer) = raw(&server, "GET", path, &headers(sibling)).await;
        assert_eq!(status, 401, "{path}: {answer}");
        assert!(answer.contains("htu does not match"), "{path}: {answer}");
    }
}

/// `GET /dpop/me` on `localhost:8080` with `Authorization: DPoP <token>` and one proof.
macro_rules! dpop_get {
    ($app:expr, $token:expr, $proof:expr) => {{
        let req = web_test::TestRequest::get()
            .uri("/dpop/me")
            .insert_header(("Host", "localhost:8080"))
            .insert_header(("Authorization", format!("DPoP {}", $token)))
            .insert_header(("DPoP", $proof))
            .to_request();
        let res = web_test::call_service($app, req).await;
        let status = res.status().as_u16();
        let body = web_test::read_body(res).await;
        (
            status,
            serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
        )
    }};
}

const URL: &str = "http://localhost:8080/dpop/me";

/// One client with one valid bound token floods the replay record with proofs dated as far
/// ahead as a proof may be, which outlive everyone else's: the record makes room from the
/// flooder's own entries, and every other client's fresh proof still passes.
#[actix_web::test]
async fn a_flood_of_future_dated_proofs_locks_out_no_other_client() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.dpop_replay_max_entries = 1_000);
    let app =
        web_test::init_service(App::new().wrap(JwtAuth::new(config).unwrap()).service(me)).await;
    let victim = DpopKey::generate(Algorithm::ES256);
    let victim_token = issuer.token().sub("victim").bound_to(&victim).sign();
    // Control: before the flood, the victim's fresh proof passes.
    let (status, body) = dpop_get!(&app, &victim_token, victim.proof("GET", URL, &victim_token));
    assert_eq!(status, 200, "{body}");

    let attacker = DpopKey::generate(Algorithm::EdDSA);
    let attacker_token = issuer.token().sub("attacker").bound_to(&attacker).sign();
    let mut accepted = 0;
    for _ in 0..1_600 {
        // iat 4 s ahead: inside what a proof may be. Once a shard overflows, the attacker's own
        // proofs of the same second are refused too; the attacker does not care.
        let proof = attacker
            .proof_builder("GET", URL)
            .token(&attacker_token)
            .issued_in(4)
            .sign();
        let (status, _) = dpop_get!(&app, &attacker_token, proof);
        accepted += usize::from(status == 200);
    }
    // The record holds about 1,000 proofs: past that, the flooder's own window shrank.
    assert!(accepted < 1_600, "{accepted}");
    // Every fresh, never-seen proof of the victim still passes.
    for n in 0..8 {
        let proof = victim.proof("GET", URL, &victim_token);
        let (status, body) = dpop_get!(&app, &victim_token, proof);
        assert_eq!(status, 200, "victim proof {n}: {body}");
    }
}

/// A proof is judged fresh with the clock read before its signature is checked, and the
/// record is pruned by whichever request takes its lock next: a replay whose clock was read in
/// the proof's last second must still be caught after another request pruned a second later.
#[test]
fn a_spent_proof_is_caught_across_a_second_boundary() {
    let key = DpopKey::generate(Algorithm::ES256);
    let url = "https://as.example.com/token";
    let t = now();
    let check = |proof: &str, at: u64| {
        check_token_endpoint_proof(proof, "POST", url, &DEFAULT_DPOP_ALGORITHMS, 60, 30, at)
    };
    // A proof in its last accepted second at t (iat + 60 + 30 == t).
    let victim = key
        .proof_builder("POST", url)
        .claim("iat", json!(t - 90))
        .sign();
    let checked = check(&victim, t).expect("valid at t");
    let record = ProofReplay::new(100_000);
    assert_eq!(record.spend(&checked, t), Ok(()));
    assert_eq!(record.spend(&checked, t), Err(DpopReason::Replayed));
    // Other requests, in the next second, touch every shard.
    for _ in 0..400 {
        let other = check(&key.proof_builder("POST", url).sign(), t + 1).expect("valid");
        assert_eq!(record.spend(&other, t + 1), Ok(()));
    }
    // The replay, whose clock was read at t: caught.
    assert_eq!(record.spend(&checked, t), Err(DpopReason::Replayed));
}

/// The `DPoP` challenge is added to an answer in place: headers that middleware inside
/// `JwtAuth` (here `DefaultHeaders`) set on a handler's rejection stay, with DPoP on or off.
#[actix_web::test]
async fn a_handlers_rejection_keeps_the_headers_of_inner_middleware() {
    let issuer = TestIssuer::start();
    let token = issuer.token().sub("erin").role("viewer").sign();
    for (mode, kept) in [(DpopMode::Allowed, true), (DpopMode::Off, true)] {
        let config = config_with(&issuer, |raw| raw.dpop = mode);
        let app = web_test::init_service(
            App::new()
                .wrap(DefaultHeaders::new().add(("X-Frame-Options", "DENY")))
                .wrap(JwtAuth::new(config).unwrap())
                .service(admin),
        )
        .await;
        let req = web_test::TestRequest::get()
            .uri("/dpop/admin")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request();
        let res = web_test::call_service(&app, req).await;
        assert_eq!(res.status(), 403, "{mode:?}");
        assert_eq!(
            res.headers().contains_key("x-frame-options"),
            kept,
            "{mode:?}"
        );
    }
}

/// A `cnf` that binds the token by `jkt` and by a certificate (`x5t#S256`, RFC 8705) cannot
/// pass on the DPoP proof alone: the certificate binding cannot be checked here.
#[actix_web::test]
async fn a_cnf_with_a_second_binding_is_refused() {
    let issuer = TestIssuer::start();
    let app = web_test::init_service(
        App::new()
            .wrap(JwtAuth::new(issuer.config()).unwrap())
            .service(me),
    )
    .await;
    let holder = DpopKey::generate(Algorithm::ES256);
    let token = issuer
        .token()
        .sub("judy")
        .claim(
            "cnf",
            json!({"jkt": holder.thumbprint(), "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
        )
        .sign();
    let (status, body) = dpop_get!(&app, &token, holder.proof("GET", URL, &token));
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body["detail"],
        "Invalid token: unsupported cnf confirmation method"
    );
}

/// An RSA `n` with a leading zero octet would be the same key under another thumbprint
/// (RFC 7518 6.3.1.1 requires the minimal form): refused, so that one key has one `jkt`.
#[test]
fn an_rsa_key_in_a_non_minimal_form_is_refused() {
    let key = DpopKey::generate(Algorithm::RS256);
    let url = "https://as.example.com/token";
    let mut jwk = key.public_jwk();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let mut padded = vec![0u8];
    padded.extend_from_slice(&n);
    jwk["n"] = json!(URL_SAFE_NO_PAD.encode(&padded));
    let proof = key.proof_builder("POST", url).header("jwk", jwk).sign();
    let checked =
        check_token_endpoint_proof(&proof, "POST", url, &DEFAULT_DPOP_ALGORITHMS, 60, 30, now());
    assert_eq!(checked.err(), Some(DpopReason::BadKey));
}

/// ML-DSA-65 and ML-DSA-87 proofs, in the default `dpop_algorithms`, pass end to end.
#[actix_web::test]
async fn ml_dsa_65_and_87_proofs_pass() {
    let issuer = TestIssuer::start();
    let app = web_test::init_service(
        App::new()
            .wrap(JwtAuth::new(issuer.config()).unwrap())
            .service(me),
    )
    .await;
    for alg in [Algorithm::MlDsa65, Algorithm::MlDsa87] {
        let holder = DpopKey::generate(alg);
        let token = issuer.token().sub("pq").bound_to(&holder).sign();
        let proof = holder.proof("GET", URL, &token);
        let (status, body) = dpop_get!(&app, &token, proof);
        assert_eq!(status, 200, "{alg}: {body}");
    }
}

/// Each entry's expiry follows its issuer's `dpop_max_age_seconds`. A client of an issuer with
/// a long window (3600 s) floods with ordinary proofs; the clients of an issuer with the
/// default 60 s still pass.
#[actix_web::test]
async fn a_flood_by_a_long_window_issuers_client_locks_out_no_other_client() {
    let long = TestIssuer::start();
    let short = TestIssuer::start();
    let config = auth_runtime::RawConfig {
        issuers: vec![
            auth_runtime::RawIssuer {
                issuer: long.issuer().to_owned(),
                audience: Some(long.audience().into()),
                dpop_max_age_seconds: Some(3600),
                ..auth_runtime::RawIssuer::default()
            },
            auth_runtime::RawIssuer {
                issuer: short.issuer().to_owned(),
                audience: Some(short.audience().into()),
                ..auth_runtime::RawIssuer::default()
            },
        ],
        dpop_replay_max_entries: 1_000,
        ..auth_runtime::RawConfig::default()
    }
    .validate()
    .unwrap();
    let app =
        web_test::init_service(App::new().wrap(JwtAuth::new(config).unwrap()).service(me)).await;
    let attacker = DpopKey::generate(Algorithm::EdDSA);
    let attacker_token = long.token().sub("attacker").bound_to(&attacker).sign();
    let mut accepted = 0;
    for _ in 0..1_600 {
        let (status, _) = dpop_get!(
            &app,
            &attacker_token,
            attacker.proof("GET", URL, &attacker_token)
        );
        accepted += usize::from(status == 200);
    }
    assert!(accepted < 1_600, "{accepted}");
    let victim = DpopKey::generate(Algorithm::ES256);
    let victim_token = short.token().sub("victim").bound_to(&victim).sign();
    for n in 0..8 {
        let (status, body) =
            dpop_get!(&app, &victim_token, victim.proof("GET", URL, &victim_token));
        assert_eq!(status, 200, "victim proof {n}: {body}");
    }
}

/// The same `JwtAuth` (clones share one replay record) wrapped around the app and again
/// around a scope checks the proof twice and spends it once: an honest DPoP request passes,
/// as a Bearer token does.
#[actix_web::test]
async fn a_jwt_auth_nested_in_a_clone_of_itself_spends_a_proof_once() {
    let issuer = TestIssuer::start();
    let auth = JwtAuth::new(issuer.config()).unwrap();
    let app = web_test::init_service(
        App::new().wrap(auth.clone()).service(
            actix_web::web::scope("/dpop")
                .wrap(auth.clone())
                .route("/me", actix_web::web::get().to(HttpResponse::Ok)),
        ),
    )
    .await;
    let bearer = issuer.token().sub("bob").sign();
    let req = web_test::TestRequest::get()
        .uri("/dpop/me")
        .insert_header(("Authorization", format!("Bearer {bearer}")))
        .to_request();
    assert_eq!(web_test::call_service(&app, req).await.status(), 200);

    let holder = DpopKey::generate(Algorithm::ES256);
    let token = issuer.token().sub("alice").bound_to(&holder).sign();
    let (status, body) = dpop_get!(&app, &token, holder.proof("GET", URL, &token));
    assert_eq!(status, 200, "{body}");
    // A replay still fails, at the outer one.
    let proof = holder.proof("GET", URL, &token);
    let (status, _) = dpop_get!(&app, &token, proof.clone());
    assert_eq!(status, 200);
    let (status, body) = dpop_get!(&app, &token, proof);
    assert_eq!(status, 401);
    assert_eq!(body["detail"], "Invalid DPoP proof: proof already used");
}
