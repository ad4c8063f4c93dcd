//! DPoP at the embedded issuer with a client nobody here wrote: panva's `dpop` (npm, pinned in
//! `auth-runtime/tests/fixtures/oidc-provider`, run by its `client.mjs`) makes the key pairs and
//! proofs of a client that logs in to auth-server, calls a protected route of the same app with
//! the bound token, and refreshes. The test installs the fixture with `npm ci`, once.

use std::path::{Path, PathBuf};

use actix_web::{App, HttpResponse, HttpServer, get};
use auth_runtime::{JwtAuth, Principal, RawConfig};
use serde_json::json;

#[path = "../auth-runtime/tests/fixtures/oidc-provider/npm.rs"]
mod npm;

const EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "dpop interop password";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("auth-runtime/tests/fixtures/oidc-provider")
}

#[get("/api/profile")]
async fn profile(me: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "subject": me.claims().sub,
        "role": me.claims().role,
        "jkt": me.dpop_thumbprint(),
    }))
}

/// The issuer and a validator trusting it, in one app on a loopback port; its base URL (the
/// issuer's URL, which proofs for the token endpoints name) and its handle.
fn serve(dir: &Path) -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let issuer = auth_server::AuthServer::new(
        auth_server::RawServerConfig {
            issuer: base.clone(),
            audience: "dpop-interop".into(),
            signing_key_path: dir.join("signing-key.pem"),
            auto_create_admin: true,
            admin_email: EMAIL.into(),
            admin_password: PASSWORD.into(),
            ..Default::default()
        }
        .validate()
        .expect("server config"),
    )
    .expect("issuer");
    let client = RawConfig {
        issuer: base.clone(),
        audience: "dpop-interop".into(),
        ..RawConfig::default()
    }
    .validate()
    .expect("client config");
    let auth: JwtAuth = issuer.jwt_auth(client).expect("validator");
    let server = HttpServer::new(move || {
        App::new()
            .wrap(auth.clone())
            .service(issuer.service())
            .service(profile)
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (base, handle)
}

#[actix_web::test]
async fn a_dpop_package_client_logs_in_calls_the_app_and_refreshes_with_its_proofs() {
    let dir = std::env::temp_dir().join(format!("dpop-interop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (base, handle) = serve(&dir);

    let args = ["issuer", base.as_str(), EMAIL, PASSWORD].map(str::to_owned);
    let lines = npm::run_client(&fixture(), args.to_vec()).await;

    for alg in ["ES256", "Ed25519"] {
        let line = |case: &str| {
            lines
                .iter()
                .find(|line| line["alg"] == alg && line["case"] == case)
                .unwrap_or_else(|| panic!("{alg}: no {case} line in {lines:#?}"))
        };
        let login = line("login");
        assert_eq!(login["status"], 200, "{alg}: {login}");
        assert_eq!(login["token_type"], "DPoP", "{alg}");
        let thumbprint = login["thumbprint"].as_str().unwrap();
        assert_eq!(login["jkt"], thumbprint, "{alg}: bound to the client's key");

        let reply = line("profile_with_proof");
        assert_eq!(reply["status"], 200, "{alg}: {reply}");
        assert_eq!(reply["body"]["role"], "admin", "{alg}");
        assert_eq!(reply["body"]["jkt"], thumbprint, "{alg}");
        let reply = line("profile_as_bearer");
        assert_eq!(reply["status"], 401, "{alg}: {reply}");
        assert_eq!(
            reply["body"]["detail"],
            "Invalid token: the token is DPoP-bound: send it as DPoP with a proof",
            "{alg}"
        );

        // The session is bound too: its refresh token is worth nothing without the key.
        let reply = line("refresh_without_proof");
        assert_eq!(reply["status"], 400, "{alg}: {reply}");
        assert_eq!(
            reply["body"]["detail"], "invalid DPoP proof: no DPoP header",
            "{alg}"
        );
        let reply = line("refresh_other_key");
        assert_eq!(reply["status"], 400, "{alg}: {reply}");
        assert_eq!(
            reply["body"]["detail"],
            "invalid DPoP proof: proof key does not match the token's binding",
            "{alg}"
        );
        let refreshed = line("refresh_with_proof");
        assert_eq!(refreshed["status"], 200, "{alg}: {refreshed}");
        assert_eq!(refreshed["token_type"], "DPoP", "{alg}");
        assert_eq!(refreshed["jkt"], thumbprint, "{alg}");
        let reply = line("refreshed_profile_with_proof");
        assert_eq!(reply["status"], 200, "{alg}: {reply}");
        assert_eq!(reply["body"]["jkt"], thumbprint, "{alg}");
    }

    drop(handle.stop(false));
    let _ = std::fs::remove_dir_all(&dir);
}
