//! A proxy named in the environment never supplies the keys of a plain-http JWKS endpoint.
//!
//! The proxy is a real process on loopback (`tests/fixtures/hostile_proxy.py`) that answers
//! every proxied request with an attacker's key set. This binary holds a single test because
//! it sets the proxy variables for the whole process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use actix_web::{App, HttpResponse, HttpServer, get};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{JwksKeySource, JwtAuth, requires_role};
use serde_json::json;

#[requires_role("admin")]
#[get("/api/admin")]
async fn admin() -> HttpResponse {
    HttpResponse::Ok().body("admin area")
}

struct Proxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn start(dir: &Path, attacker_jwks: &serde_json::Value) -> Proxy {
        let jwks = dir.join("attacker-jwks.json");
        let log = dir.join("proxy.log");
        std::fs::write(&jwks, attacker_jwks.to_string()).unwrap();
        std::fs::write(&log, "").unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile_proxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&jwks)
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the proxy fixture");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("proxy did not start: {line:?}"))
            .parse()
            .unwrap();
        Proxy { child, port, log }
    }

    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

async fn status(base: &str, token: &str) -> u16 {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{base}/api/admin"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn environment_proxies_never_supply_plain_http_keys_and_https_follows_the_setting() {
    let issuer = TestIssuer::start();
    let attacker = TestIssuer::start();
    let dir = std::env::temp_dir().join(format!("auth-proxy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let proxy = Proxy::start(&dir, &attacker.jwks());
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        // SAFETY: this binary runs this one test; nothing else reads or writes the
        // environment while it is changed here.
        unsafe { std::env::set_var(name, &proxy_url) };
    }
    for name in ["NO_PROXY", "no_proxy"] {
        // SAFETY: as above.
        unsafe { std::env::remove_var(name) };
    }

    // Plain http to loopback, the default of an embedded issuer: never through the proxy.
    let auth = JwtAuth::new(issuer.config()).unwrap();
    let server = HttpServer::new(move || App::new().wrap(auth.clone()).service(admin))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind("127.0.0.1:0")
        .unwrap();
    let base = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let forged = attacker
        .token()
        .issuer(issuer.issuer())
        .audience(json!(issuer.audience()))
        .role("admin")
        .sign();
    assert_eq!(
        status(&base, &forged).await,
        401,
        "the proxy's key is not trusted"
    );
    let genuine = issuer.token().role("admin").sign();
    assert_eq!(
        status(&base, &genuine).await,
        200,
        "the real issuer was reached"
    );
    assert_eq!(attacker.fetch_count(), 0);
    assert!(issuer.fetch_count() >= 1);
    assert_eq!(
        proxy.requests(),
        Vec::<String>::new(),
        "nothing went to the proxy"
    );
    drop(handle.stop(false));

    // The URL is fetched as parsed: spaces around it or a tab inside it, which a URL parser
    // drops, do not make a plain-http URL look like anything else.
    let spaced_issuer = {
        let mut raw = issuer.raw_config();
        raw.issuer = format!(" {}", issuer.issuer());
        raw
    };
    let tabbed_endpoint = {
        let mut raw = issuer.raw_config();
        raw.jwks_endpoint = format!("{}/api/v1/au\tth/jwks", issuer.issuer());
        raw
    };
    for raw in [spaced_issuer, tabbed_endpoint] {
        let source = JwksKeySource::new(&raw.validate().unwrap().issuers()[0]).unwrap();
        let keys = source.prefetch().await.expect("the real issuer's keys");
        assert_eq!(keys.len(), 1);
    }
    // Discovery over plain http: the document and the key set it names, both direct.
    let discovered = JwksKeySource::new(&issuer.discovery_config().issuers()[0]).unwrap();
    let keys = discovered.prefetch().await.expect("the real issuer's keys");
    assert_eq!(keys.len(), 1);
    assert!(issuer.discovery_fetch_count() >= 1);
    assert_eq!(
        proxy.requests(),
        Vec::<String>::new(),
        "still nothing went to the proxy"
    );

    // https: the environment's proxy is followed by default (TLS protects the keys)...
    let https = |use_env_proxy: bool| {
        let mut raw = issuer.raw_config();
        raw.jwks_endpoint = "https://127.0.0.1:9/keys".to_owned();
        raw.use_env_proxy = use_env_proxy;
        JwksKeySource::new(&raw.validate().unwrap().issuers()[0]).unwrap()
    };
    assert!(https(true).prefetch().await.is_err());
    assert_eq!(
        proxy.requests(),
        vec!["CONNECT 127.0.0.1:9 HTTP/1.1".to_owned()]
    );
    // ...and `use_env_proxy: false` goes direct.
    assert!(https(false).prefetch().await.is_err());
    assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
    let _ = std::fs::remove_dir_all(&dir);
}
