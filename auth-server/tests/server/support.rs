use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, get};
use auth_runtime::{JwtAuth, Principal, requires_role};
use auth_server::{AuthServer, Clock, RawServerConfig, WalletAlgorithm};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256K1_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ML_DSA_65_SIGNING,
    PqdsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub const ADMIN_EMAIL: &str = "root@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A fresh folder for one test's signing key.
pub fn temp_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "auth-server-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn raw_config(dir: &std::path::Path) -> RawServerConfig {
    RawServerConfig {
        issuer: "http://127.0.0.1:8100".into(),
        audience: "test-app".into(),
        signing_key_path: dir.join("signing-key.pem"),
        auto_create_admin: true,
        admin_email: ADMIN_EMAIL.into(),
        admin_password: ADMIN_PASSWORD.into(),
        // Tests sign in many times from one address; the limit has tests of its own.
        sign_ins_per_client: 1_000_000,
        ..RawServerConfig::default()
    }
}

pub fn issuer(raw: RawServerConfig) -> AuthServer {
    AuthServer::new(raw.validate().expect("valid server config")).expect("issuer")
}

/// A clock the test moves forward by hand, starting at the system time.
#[derive(Clone, Default)]
pub struct TestClock {
    offset_secs: Arc<AtomicU64>,
}

impl TestClock {
    pub fn clock(&self) -> Clock {
        let offset = Arc::clone(&self.offset_secs);
        Clock::from_fn(move || {
            std::time::SystemTime::now() + Duration::from_secs(offset.load(Ordering::SeqCst))
        })
    }

    /// Moves the clock to `secs` after the real time.
    pub fn set(&self, secs: u64) {
        self.offset_secs.store(secs, Ordering::SeqCst);
    }
}

/// Where the issuer keeps its sessions: every behaviour test runs against each.
#[derive(Clone, Debug)]
pub enum Backend {
    Memory,
    /// A fresh database on the shared throwaway cluster for each issuer.
    #[cfg(feature = "postgres")]
    Postgres,
}

impl Backend {
    /// Every store the behaviour tests run against.
    pub async fn all() -> Vec<Backend> {
        vec![
            Backend::Memory,
            #[cfg(feature = "postgres")]
            Backend::Postgres,
        ]
    }

    /// An issuer on this store, reading `clock`.
    pub async fn issuer_with_clock(&self, raw: RawServerConfig, clock: Clock) -> AuthServer {
        let config = raw.validate().expect("valid server config");
        match self {
            Backend::Memory => AuthServer::builder(config).clock(clock).build(),
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let url = crate::pg::fresh_database();
                let store = auth_server::store::PgStore::connect(
                    &url,
                    config.store_pool_size(),
                    config.max_sessions(),
                )
                .await
                .expect("PostgreSQL store");
                AuthServer::builder(config)
                    .clock(clock)
                    .store(store)
                    .build()
            }
        }
        .expect("issuer")
    }

    /// An issuer on this store, mounted with its validator on a loopback server.
    pub async fn embedded(&self, raw: RawServerConfig) -> (AuthServer, Server) {
        self.embedded_with_clock(raw, Clock::system()).await
    }

    pub async fn embedded_with_clock(
        &self,
        raw: RawServerConfig,
        clock: Clock,
    ) -> (AuthServer, Server) {
        let issuer = self.issuer_with_clock(raw, clock).await;
        let auth = validator_for(&issuer);
        let server = serve(&issuer, auth);
        (issuer, server)
    }
}

#[get("/api/profile")]
async fn profile(me: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "subject": me.claims().sub, "role": me.claims().role }))
}

#[requires_role("admin")]
#[get("/api/admin/dashboard")]
pub async fn dashboard(me: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "message": format!("Welcome, {}", me.claims().sub) }))
}

pub struct Server {
    pub base: String,
    handle: Option<ServerHandle>,
}

impl Server {
    /// A handle on a server started elsewhere (nothing to stop on drop).
    pub fn external(base: String) -> Server {
        Server { base, handle: None }
    }

    /// Stops the server and waits until its workers are gone.
    pub async fn stop(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop(false).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            drop(handle.stop(false));
        }
    }
}

/// Runs an app factory on a loopback port (a macro: the app types are unnameable).
macro_rules! start {
    ($factory:expr) => {
        start!($factory, 2)
    };
    ($factory:expr, $workers:expr) => {
        start!($factory, $workers, "127.0.0.1:0")
    };
    ($factory:expr, $workers:expr, $address:expr) => {{
        let server = HttpServer::new($factory)
            .workers($workers)
            .disable_signals()
            .shutdown_timeout(0)
            .bind($address)
            .expect("bind");
        let bound = server.addrs()[0];
        // A server on every address is reached over IPv4 loopback.
        let base = if bound.ip().is_unspecified() {
            format!("http://127.0.0.1:{}", bound.port())
        } else {
            format!("http://{bound}")
        };
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Server {
            base,
            handle: Some(handle),
        }
    }};
}

/// The issuer mounted, the validator wrapped around the app, two protected routes.
pub fn serve(server: &AuthServer, auth: JwtAuth) -> Server {
    let server = server.clone();
    start!(move || {
        App::new()
            .wrap(auth.clone())
            .service(server.service())
            .service(profile)
            .service(dashboard)
    })
}

/// The issuer and its validator on a server with one worker thread.
pub fn serve_on_one_worker(server: &AuthServer, auth: JwtAuth) -> Server {
    let server = server.clone();
    start!(
        move || {
            App::new()
                .wrap(auth.clone())
                .service(server.service())
                .service(profile)
                .service(dashboard)
        },
        1
    )
}

/// An app with only the validator and the protected routes: no issuer inside.
pub fn serve_without_issuer(auth: JwtAuth) -> Server {
    start!(move || App::new()
        .wrap(auth.clone())
        .service(profile)
        .service(dashboard))
}

/// The issuer and its validator on `[::]:0`, every address of the host, reached at
/// 127.0.0.1: the peer address of an IPv4 client is then IPv4-mapped (`::ffff:127.0.0.1`).
pub fn embedded_on_every_address(raw: RawServerConfig) -> (AuthServer, Server) {
    let issuer = issuer(raw);
    let auth = validator_for(&issuer);
    let server = issuer.clone();
    let server = start!(
        move || {
            App::new()
                .wrap(auth.clone())
                .service(server.service())
                .service(profile)
                .service(dashboard)
        },
        2,
        "[::]:0"
    );
    (issuer, server)
}

pub fn embedded(raw: RawServerConfig) -> (AuthServer, Server) {
    let issuer = issuer(raw);
    let auth = validator_for(&issuer);
    let server = serve(&issuer, auth);
    (issuer, server)
}

/// The embedded validator, accepting the algorithms of the issuer's keys.
pub fn validator_for(issuer: &AuthServer) -> JwtAuth {
    let client = auth_runtime::RawConfig {
        issuer: issuer.config().issuer().to_owned(),
        audience: issuer.config().audience().into(),
        accepted_algorithms: issuer.algorithms().iter().map(|a| a.to_string()).collect(),
        ..auth_runtime::RawConfig::default()
    }
    .validate()
    .expect("client config");
    issuer.jwt_auth(client).expect("validator")
}

pub fn client() -> reqwest::Client {
    static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(0)
            .build()
            .expect("client")
    });
    CLIENT.clone()
}

pub async fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    post_with(&client(), server, path, body).await
}

/// A client whose connections leave from `ip` (any 127.x.y.z reaches a loopback server), so
/// that a test can be several client addresses.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .local_address(ip.parse::<std::net::IpAddr>().expect("ip"))
        .build()
        .expect("client")
}

pub async fn post_with(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let res = client
        .post(format!("{}{path}", server.base))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub async fn get(server: &Server, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = client().get(format!("{}{path}", server.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The claims of a JWT, unverified: only to look at what was issued.
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

/// A wallet of one algorithm that really signs.
pub enum Wallet {
    Ed25519(Ed25519KeyPair),
    Secp256k1(EcdsaKeyPair),
    MlDsa65(PqdsaKeyPair),
}

impl Wallet {
    pub fn new(alg: WalletAlgorithm) -> Wallet {
        match alg {
            WalletAlgorithm::Ed25519 => Wallet::Ed25519(Ed25519KeyPair::generate().unwrap()),
            WalletAlgorithm::Secp256k1 => Wallet::Secp256k1(
                EcdsaKeyPair::generate(&ECDSA_P256K1_SHA256_ASN1_SIGNING).unwrap(),
            ),
            WalletAlgorithm::MlDsa65 => {
                Wallet::MlDsa65(PqdsaKeyPair::generate(&ML_DSA_65_SIGNING).unwrap())
            }
        }
    }

    pub fn algorithm(&self) -> WalletAlgorithm {
        match self {
            Wallet::Ed25519(_) => WalletAlgorithm::Ed25519,
            Wallet::Secp256k1(_) => WalletAlgorithm::Secp256k1,
            Wallet::MlDsa65(_) => WalletAlgorithm::MlDsa65,
        }
    }

    pub fn public_key(&self) -> Vec<u8> {
        match self {
            Wallet::Ed25519(k) => k.public_key().as_ref().to_vec(),
            Wallet::Secp256k1(k) => k.public_key().as_ref().to_vec(),
            Wallet::MlDsa65(k) => k.public_key().as_ref().to_vec(),
        }
    }

    pub fn address(&self) -> String {
        hex(&self.public_key())
    }

    /// A valid signature (for secp256k1, normalised to low S as wallets do).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Wallet::Ed25519(k) => k.sign(message).as_ref().to_vec(),
            Wallet::Secp256k1(k) => {
                let der = k
                    .sign(&SystemRandom::new(), message)
                    .unwrap()
                    .as_ref()
                    .to_vec();
                secp256k1::with_s(&der, false)
            }
            Wallet::MlDsa65(k) => {
                let mut signature = vec![0; ML_DSA_65_SIGNING.signature_len()];
                let len = k.sign(message, &mut signature).unwrap();
                signature.truncate(len);
                signature
            }
        }
    }

    /// The sign-in body for `challenge`.
    pub fn sign_in_body(&self, challenge: &str) -> Value {
        json!({
            "address": self.address(),
            "public_key": self.address(),
            "signature": hex(&self.sign(challenge.as_bytes())),
            "challenge": challenge,
            "algorithm": self.algorithm().as_str(),
        })
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn challenge_for(server: &Server, address: &str) -> String {
    let (status, body) = post(
        server,
        "/api/v1/auth/challenge",
        json!({ "address": address }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["challenge"].as_str().expect("challenge").to_owned()
}

/// Signs in a fresh wallet through `client`, optionally naming `forwarded` as the client in
/// `X-Forwarded-For`: the status and any `Retry-After`.
pub async fn sign_in_from(
    client: &reqwest::Client,
    server: &Server,
    forwarded: Option<&str>,
) -> (u16, Option<String>) {
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let challenge = challenge_for(server, &wallet.address()).await;
    let mut request = client
        .post(format!("{}/api/v1/auth/sign-in", server.base))
        .json(&wallet.sign_in_body(&challenge));
    if let Some(forwarded) = forwarded {
        request = request.header("X-Forwarded-For", forwarded);
    }
    let res = request.send().await.unwrap();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), retry_after)
}

/// Signs in with a fresh wallet of `alg`; returns the answer body.
pub async fn sign_in(server: &Server, wallet: &Wallet) -> (u16, Value) {
    let challenge = challenge_for(server, &wallet.address()).await;
    post(
        server,
        "/api/v1/auth/sign-in",
        wallet.sign_in_body(&challenge),
    )
    .await
}

/// secp256k1 signatures in both S forms: `s` and `n - s` sign the same message.
pub mod secp256k1 {
    const ORDER: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    const HALF: [u8; 32] = [
        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b,
        0x20, 0xa0,
    ];

    fn integer(input: &[u8]) -> ([u8; 32], &[u8]) {
        assert_eq!(input[0], 0x02);
        let len = input[1] as usize;
        let bytes = &input[2..2 + len];
        let bytes = if bytes[0] == 0 { &bytes[1..] } else { bytes };
        let mut out = [0u8; 32];
        out[32 - bytes.len()..].copy_from_slice(bytes);
        (out, &input[2 + len..])
    }

    fn encode_integer(value: &[u8; 32]) -> Vec<u8> {
        let start = value.iter().position(|b| *b != 0).unwrap_or(31);
        let mut body = value[start..].to_vec();
        if body[0] & 0x80 != 0 {
            body.insert(0, 0);
        }
        let mut out = vec![0x02, body.len() as u8];
        out.extend(body);
        out
    }

    fn order_minus(s: &[u8; 32]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = ORDER[i] as i16 - s[i] as i16 - borrow;
            borrow = if d < 0 {
                d += 256;
                1
            } else {
                0
            };
            out[i] = d as u8;
        }
        out
    }

    /// The same signature with a high (`high = true`) or low S.
    pub fn with_s(der: &[u8], high: bool) -> Vec<u8> {
        assert_eq!(der[0], 0x30);
        let (r, rest) = integer(&der[2..]);
        let (s, _) = integer(rest);
        let is_high = s > HALF;
        let s = if is_high == high { s } else { order_minus(&s) };
        let mut body = encode_integer(&r);
        body.extend(encode_integer(&s));
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }
}

/// `POST /refresh` with `token`.
pub async fn refresh(server: &Server, token: &str) -> (u16, Value) {
    post(
        server,
        "/api/v1/auth/refresh",
        json!({ "refresh_token": token }),
    )
    .await
}

/// The string field `name` of an answer.
pub fn field(answer: &Value, name: &str) -> String {
    answer[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {answer}"))
        .to_owned()
}

/// An access token of the admin, from `POST /login`.
pub async fn admin_token(server: &Server) -> String {
    let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let (status, answer) = post(server, "/api/v1/auth/login", body).await;
    assert_eq!(status, 200, "{answer}");
    field(&answer, "access_token")
}

/// `POST /revoke` with `body`, as the bearer of `token`.
pub async fn revoke(server: &Server, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = client()
        .post(format!("{}/api/v1/auth/revoke", server.base))
        .json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `POST /sign-out` with `refresh_token`; the status.
pub async fn sign_out(server: &Server, refresh_token: &str) -> u16 {
    client()
        .post(format!("{}/api/v1/auth/sign-out", server.base))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

/// The status and `detail` of `GET /api/profile` with `token`.
pub async fn profile_status(server: &Server, token: &str) -> (u16, String) {
    let (status, body) = get(server, "/api/profile", Some(token)).await;
    (status, body["detail"].as_str().unwrap_or("").to_owned())
}

/// The answer to a revoked token.
pub fn revoked() -> (u16, String) {
    (401, "Token has been revoked".to_owned())
}
