//! ML-DSA tokens against an independent implementation: Python's `cryptography` (on OpenSSL),
//! driven through `tests/interop/ml_dsa_jwt.py`. Tokens it mints verify in an app on
//! auth-runtime, and tokens an auth-server signs with ML-DSA verify there. The test installs
//! `cryptography` from PyPI into a virtual environment under the target folder, once.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use actix_web::{App, HttpResponse, HttpServer, get};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{JwtAuth, Principal, RawConfig};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const LEVELS: [&str; 3] = ["ML-DSA-44", "ML-DSA-65", "ML-DSA-87"];
const CRYPTOGRAPHY: &str = "cryptography==50.0.2";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/ml_dsa_jwt.py");

/// The Python of a virtual environment holding `cryptography` with ML-DSA.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ml-dsa-interop-venv");
        let python = venv.join("bin").join("python");
        let ready = |python: &Path| {
            Command::new(python)
                .args([
                    "-c",
                    "from cryptography.hazmat.primitives.asymmetric import mldsa",
                ])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        if !ready(&python) {
            let _ = std::fs::remove_dir_all(&venv);
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
            run(Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                CRYPTOGRAPHY,
            ]));
            assert!(ready(&python), "{CRYPTOGRAPHY} offers no ML-DSA here");
        }
        python
    })
}

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    assert!(status.success(), "{command:?}: {status}");
}

/// Runs the script with `args`, `stdin` as its input.
fn script(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(python())
        .arg(SCRIPT)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the interop script");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("write the token");
    child.wait_with_output().expect("the script ends")
}

#[get("/whoami")]
async fn whoami(me: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({"subject": me.claims().sub, "roles": me.roles()}))
}

/// An actix server on a loopback port with `auth` in front of `/whoami`; returns its URL.
fn serve(auth: JwtAuth) -> (String, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(move || App::new().wrap(auth.clone()).service(whoami))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind("127.0.0.1:0")
        .expect("bind a loopback port");
    let url = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (url, handle)
}

async fn whoami_with(url: &str, token: &str) -> (u16, Value) {
    let reply = reqwest::Client::new()
        .get(format!("{url}/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn tokens_minted_by_python_cryptography_verify_here() {
    for level in LEVELS {
        // The key set is served over HTTP by a loopback issuer, the Python key among its keys.
        let issuer = TestIssuer::start();
        let minted = script(&["mint", level, issuer.issuer(), "test-api", "py-user"], "");
        assert!(
            minted.status.success(),
            "{}",
            String::from_utf8_lossy(&minted.stderr)
        );
        let minted: Value = serde_json::from_slice(&minted.stdout).expect("JSON from the script");
        issuer.publish_extra(vec![minted["jwk"].clone()]);
        let token = minted["token"].as_str().expect("a token");

        let config = RawConfig {
            accepted_algorithms: vec!["RS256".into(), level.into()],
            ..issuer.raw_config()
        }
        .validate()
        .expect("config");
        let (url, handle) = serve(JwtAuth::new(config).expect("middleware"));
        let (status, body) = whoami_with(&url, token).await;
        assert_eq!(status, 200, "{level}: {body}");
        assert_eq!(body, json!({"subject": "py-user", "roles": ["admin"]}));

        // The same token with its claims changed, and with its signature cut, is refused.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("base64url"))
                .expect("claims");
        claims["sub"] = json!("someone-else");
        let forged_claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert_eq!(whoami_with(&url, &forged).await.0, 401, "{level}");
        let cut = parts[2].len() - 8;
        parts[2].truncate(cut);
        assert_eq!(whoami_with(&url, &parts.join(".")).await.0, 401, "{level}");
        drop(handle.stop(false));
    }
}

#[actix_web::test]
async fn tokens_of_an_ml_dsa_auth_server_verify_in_python() {
    for level in LEVELS {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("address");
        let issuer_url = format!("http://{addr}");
        let dir =
            std::env::temp_dir().join(format!("ml-dsa-interop-{}-{level}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let issuer = auth_server::AuthServer::new(
            auth_server::RawServerConfig {
                issuer: issuer_url.clone(),
                audience: "interop-api".into(),
                signing_algorithm: level.into(),
                signing_key_path: dir.join("signing-key.pem"),
                auto_create_admin: true,
                admin_email: "admin@example.com".into(),
                admin_password: "interop password".into(),
                ..Default::default()
            }
            .validate()
            .expect("server config"),
        )
        .expect("issuer");
        let service = issuer.clone();
        let server = HttpServer::new(move || App::new().service(service.service()))
            .workers(1)
            .disable_signals()
            .shutdown_timeout(0)
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);

        let login: Value = reqwest::Client::new()
            .post(format!("{issuer_url}/api/v1/auth/login"))
            .json(&json!({"email": "admin@example.com", "password": "interop password"}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("JSON");
        let token = login["access_token"].as_str().expect("an access token");

        let jwks_url = format!("{issuer_url}/api/v1/auth/jwks");
        let verify = |token: &str| {
            let jwks_url = jwks_url.clone();
            let issuer_url = issuer_url.clone();
            let token = token.to_owned();
            // The script waits for its own HTTP request to this test's server.
            actix_web::rt::task::spawn_blocking(move || {
                script(&["verify", &jwks_url, &issuer_url, "interop-api"], &token)
            })
        };
        let verified = verify(token).await.expect("script task");
        assert!(
            verified.status.success(),
            "{level}: {}",
            String::from_utf8_lossy(&verified.stderr)
        );
        let claims: Value = serde_json::from_slice(&verified.stdout).expect("claims");
        assert_eq!(claims["sub"], "admin@example.com");
        assert_eq!(claims["role"], "admin");

        // The Python side refuses a token whose signature does not hold.
        let (signed, signature) = token.rsplit_once('.').expect("three parts");
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let tampered = format!("{signed}.{flipped}{}", &signature[1..]);
        let refused = verify(&tampered).await.expect("script task");
        assert!(
            !refused.status.success(),
            "{level}: a tampered token verified"
        );
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("signature verification failed"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
        drop(handle.stop(false));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
