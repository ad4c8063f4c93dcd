//! Against an OpenID Provider nobody here wrote: `oidc-provider` (Node.js, from the npm
//! registry, `tests/fixtures/oidc-provider`) runs as its own process on loopback and issues
//! RFC 9068 JWT access tokens through the client credentials grant with a resource indicator.
//! The app trusts it through discovery, next to a second issuer (a `TestIssuer`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use auth_runtime::testing::TestIssuer;
use auth_runtime::{Algorithm, JwtAuth, RawConfig, RawIssuer};
use serde_json::{Value, json};

use crate::support::{client, declare, get, serve};

#[path = "../fixtures/oidc-provider/npm.rs"]
mod npm;

const API: &str = "https://api.example.test";
const OTHER_API: &str = "https://other.example.test";

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oidc-provider")
}

/// Installs the fixture's locked dependencies once per test run.
pub fn install() {
    npm::install(&fixture());
}

/// Runs the fixture's DPoP client with `args`: the JSON lines it prints.
pub async fn run_client(args: Vec<String>) -> Vec<Value> {
    npm::run_client(&fixture(), args).await
}

/// The provider process; killed when dropped.
pub struct Provider {
    child: Child,
    pub issuer: String,
    port: u16,
    state: PathBuf,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    pub fn start(state: &Path, port: u16, rotate: bool) -> Provider {
        install();
        let mut child = Command::new("node")
            .arg(fixture().join("provider.mjs"))
            .arg(state)
            .arg(port.to_string())
            .env("ROTATE", if rotate { "1" } else { "0" })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs (Node.js 20 or newer must be installed; .ci/run installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("the provider writes its address");
        let issuer = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"))
            .to_owned();
        let port = issuer.rsplit(':').next().unwrap().parse().unwrap();
        Provider {
            child,
            issuer,
            port,
            state: state.to_owned(),
        }
    }

    /// Stops this process and starts the provider again on the same port with a new signing
    /// key first in its key set (the old one stays published).
    fn rotate(self) -> Provider {
        let (state, port) = (self.state.clone(), self.port);
        drop(self);
        Provider::start(&state, port, true)
    }

    /// An access token for `client_id`, meant for `resource`.
    async fn token(&self, client_id: &str, resource: &str) -> String {
        let body = format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={client_id}-secret\
             &scope=api%3Aread&resource={}",
            resource.replace(':', "%3A").replace('/', "%2F")
        );
        let reply: Value = client()
            .post(format!("{}/token", self.issuer))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token response");
        reply["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {reply}"))
            .to_owned()
    }
}

fn header(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[actix_web::test]
async fn tokens_of_a_real_openid_provider_next_to_a_second_issuer() {
    let state = std::env::temp_dir().join(format!("oidc-provider-{}", std::process::id()));
    std::fs::create_dir_all(&state).unwrap();
    let provider = Provider::start(&state, 0, false);
    let second = TestIssuer::start_with(Algorithm::ES256, "test-api");

    let config = RawConfig {
        issuers: vec![
            RawIssuer {
                issuer: provider.issuer.clone(),
                audience: Some(API.into()),
                discovery: Some(true),
                roles_claim: Some("roles".into()),
                required_token_type: Some("at+jwt".into()),
                // A rotated-in key is looked for at once.
                jwks_min_refresh_interval_seconds: Some(0),
                ..RawIssuer::default()
            },
            RawIssuer {
                issuer: second.issuer().to_owned(),
                audience: Some(second.audience().into()),
                accepted_algorithms: Some(vec!["ES256".into()]),
                ..RawIssuer::default()
            },
        ],
        ..RawConfig::default()
    }
    .validate()
    .unwrap();
    let server = serve(declare(JwtAuth::new(config).unwrap()));

    // 200 and 403 by the roles the provider puts in its tokens.
    let admin = provider.token("admin-client", API).await;
    let viewer = provider.token("viewer-client", API).await;
    assert_eq!(header(&admin)["typ"], "at+jwt");
    let reply = get(&server, "/api/admin", Some(&admin)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let reply = get(&server, "/api/admin", Some(&viewer)).await;
    assert_eq!(reply.status, 403, "{:?}", reply.body);
    let reply = get(&server, "/api/profile", Some(&viewer)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["subject"], "viewer-client");
    assert_eq!(reply.body["roles"], json!(["viewer"]));

    // A token of the same provider for another resource.
    let elsewhere = provider.token("admin-client", OTHER_API).await;
    let reply = get(&server, "/api/admin", Some(&elsewhere)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.detail(), "Invalid token: invalid audience");

    // The second issuer, in the same app, with its own keys and role claim.
    let theirs = second.token().role("admin").sign();
    assert_eq!(get(&server, "/api/admin", Some(&theirs)).await.status, 200);
    let posing = second
        .token()
        .issuer(&provider.issuer)
        .audience(json!(API))
        .typ("at+jwt")
        .claim("roles", json!(["admin"]))
        .sign();
    let reply = get(&server, "/api/admin", Some(&posing)).await;
    assert_eq!(reply.status, 401, "the provider's keys decide its tokens");

    // The provider rotates its signing key; the app is not restarted.
    let old_kid = header(&admin)["kid"].clone();
    let provider = provider.rotate();
    let rotated = provider.token("admin-client", API).await;
    assert_ne!(header(&rotated)["kid"], old_kid, "signed with the new key");
    let reply = get(&server, "/api/admin", Some(&rotated)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let reply = get(&server, "/api/admin", Some(&admin)).await;
    assert_eq!(reply.status, 200, "the old key is still published");

    drop(provider);
    let _ = std::fs::remove_dir_all(&state);
}
