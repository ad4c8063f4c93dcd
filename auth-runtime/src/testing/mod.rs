//! A real token issuer for your tests (feature `testing`).
//!
//! [`TestIssuer::start`] makes a key pair, serves its JWKS over HTTP on a loopback port (the
//! same path a pico-server-auth issuer uses) together with an OpenID Provider discovery
//! document at `/.well-known/openid-configuration` (for `discovery: true`, see
//! [`TestIssuer::discovery_config`]), and mints signed tokens through a builder.
//! [`TestIssuer::config`] points the middleware at it, so your tests exercise exactly the code
//! that runs in production: HTTP fetch, signature, claims.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, get, test};
//! use auth_runtime::JwtAuth;
//! use auth_runtime::testing::TestIssuer;
//!
//! #[get("/api/reports")]
//! async fn reports() -> HttpResponse {
//!     HttpResponse::Ok().finish()
//! }
//!
//! #[actix_web::test]
//! async fn reports_need_a_token() {
//!     let issuer = TestIssuer::start();
//!     let auth = JwtAuth::new(issuer.config()).unwrap();
//!     let app = test::init_service(App::new().wrap(auth).service(reports)).await;
//!
//!     let anonymous = test::TestRequest::get().uri("/api/reports").to_request();
//!     assert_eq!(test::call_service(&app, anonymous).await.status(), 401);
//!
//!     let token = issuer.token().sub("alice").role("analyst").sign();
//!     let signed_in = test::TestRequest::get()
//!         .uri("/api/reports")
//!         .insert_header(("Authorization", format!("Bearer {token}")))
//!         .to_request();
//!     assert_eq!(test::call_service(&app, signed_in).await.status(), 200);
//! }
//! ```
//!
//! The issuer can also misbehave on purpose, to test what your service does when the
//! identity provider does: [`rotate`](TestIssuer::rotate) its key,
//! [`set_available`](TestIssuer::set_available)`(false)` to answer 503,
//! [`set_delay`](TestIssuer::set_delay) to answer slowly.
//!
//! It also serves a list of revoked tokens in the format [`RevocationList`](crate::RevocationList) reads, at
//! [`revocation_url`](TestIssuer::revocation_url): [`revoke`](TestIssuer::revoke) a `jti` and
//! point the middleware at it with [`revocation_config`](TestIssuer::revocation_config).

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{ServerHandle, Service, ServiceResponse};
use actix_web::{App, HttpResponse, HttpServer, web};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _, PqdsaKeyPair, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use serde_json::{Value, json};

use crate::algorithm::Algorithm;
use crate::clock::now;

mod dpop;

use crate::config::{AuthConfig, DEFAULT_JWKS_PATH, DISCOVERY_PATH, RawConfig};
use crate::config_error::ConfigError;
use crate::revocation::{REVOCATION_PATH, RevocationPage, RevokedToken};
pub use dpop::{DpopKey, DpopProof};

/// The audience tokens get unless told otherwise.
pub const DEFAULT_AUDIENCE: &str = "test-api";

static NEXT_KID: AtomicU64 = AtomicU64::new(1);

/// A key pair the issuer signs with.
struct TestKey {
    kid: String,
    alg: Algorithm,
    signer: Signer,
    jwk: Value,
    /// The public key as a DER `SubjectPublicKeyInfo`.
    spki: Vec<u8>,
}

/// The private half: `jsonwebtoken`'s for the classical algorithms, aws-lc's for ML-DSA.
enum Signer {
    Jose(EncodingKey),
    MlDsa(PqdsaKeyPair),
}

impl TestKey {
    fn generate(alg: Algorithm) -> TestKey {
        let kid = format!("test-key-{}", NEXT_KID.fetch_add(1, Ordering::Relaxed));
        let ml_dsa = alg.ml_dsa().map(|level| level.signing);
        if let Some(level) = ml_dsa {
            let pair = PqdsaKeyPair::generate(level).expect("ML-DSA key generation");
            let spki = pair
                .public_key()
                .as_der()
                .expect("ML-DSA public key export")
                .as_ref()
                .to_vec();
            let jwk = json!({
                "kty": "AKP",
                "alg": alg.as_str(),
                "use": "sig",
                "kid": kid,
                "pub": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            });
            return TestKey {
                kid,
                alg,
                signer: Signer::MlDsa(pair),
                jwk,
                spki,
            };
        }
        let public_der = |public: &dyn AsDer<PublicKeyX509Der<'static>>| {
            public
                .as_der()
                .expect("public key export")
                .as_ref()
                .to_vec()
        };
        let (encoding, spki) = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
                let pkcs8 = pair.as_der().expect("RSA key export");
                (
                    EncodingKey::from_rsa_der(pkcs1_from_pkcs8(pkcs8.as_ref())),
                    public_der(pair.public_key()),
                )
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let curve = if alg == Algorithm::ES256 {
                    &ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pair = EcdsaKeyPair::generate(curve).expect("EC key generation");
                let pkcs8 = pair.to_pkcs8v1().expect("EC key export");
                (
                    EncodingKey::from_ec_der(pkcs8.as_ref()),
                    public_der(pair.public_key()),
                )
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::generate().expect("Ed25519 key generation");
                let pkcs8 = pair.to_pkcs8v1().expect("Ed25519 key export");
                (
                    EncodingKey::from_ed_der(pkcs8.as_ref()),
                    public_der(pair.public_key()),
                )
            }
            Algorithm::MlDsa44 | Algorithm::MlDsa65 | Algorithm::MlDsa87 => {
                unreachable!("ML-DSA keys are made above")
            }
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => panic!(
                "TestIssuer signs with public keys; test an HS* issuer with tokens signed with \
                 its shared_secret"
            ),
        };
        let jose = alg.to_jwt().expect("a classical algorithm");
        let mut jwk = Jwk::from_encoding_key(&encoding, jose).expect("public JWK");
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let jwk = serde_json::to_value(&jwk).expect("JWK serialises");
        TestKey {
            kid,
            alg,
            signer: Signer::Jose(encoding),
            jwk,
            spki,
        }
    }

    /// The compact JWS of `header` and `claims` (JSON text), signed as `alg`.
    ///
    /// # Panics
    /// When `alg` does not suit the key.
    fn sign(&self, header: &[u8], claims: &[u8], alg: Algorithm) -> String {
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let signature = match &self.signer {
            Signer::Jose(encoding) => {
                let jose = alg
                    .to_jwt()
                    .unwrap_or_else(|| panic!("{alg} does not suit a {} key", self.alg));
                jsonwebtoken::crypto::sign(token.as_bytes(), encoding, jose)
                    .unwrap_or_else(|err| panic!("{alg} does not suit a {} key: {err}", self.alg))
            }
            Signer::MlDsa(pair) => {
                assert_eq!(alg, self.alg, "an ML-DSA key signs at its own level only");
                let mut signature = vec![0; pair.algorithm().signature_len()];
                let len = pair
                    .sign(token.as_bytes(), &mut signature)
                    .expect("ML-DSA signing");
                URL_SAFE_NO_PAD.encode(&signature[..len])
            }
        };
        token.push('.');
        token.push_str(&signature);
        token
    }
}

/// The inner `RSAPrivateKey` of a PKCS#8 `PrivateKeyInfo` (the signer wants PKCS#1):
/// `SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey, ... }`.
fn pkcs1_from_pkcs8(der: &[u8]) -> &[u8] {
    fn element(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = input[0];
        let (len, header) = match input[1] {
            short if short < 0x80 => (short as usize, 2),
            long => {
                let count = (long & 0x7f) as usize;
                let len = input[2..2 + count]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | *b as usize);
                (len, 2 + count)
            }
        };
        (tag, &input[header..header + len], &input[header + len..])
    }
    let (_, info, _) = element(der);
    let (_, _version, rest) = element(info);
    let (_, _algorithm, rest) = element(rest);
    let (tag, private_key, _) = element(rest);
    assert_eq!(tag, 0x04, "PKCS#8 privateKey is an OCTET STRING");
    private_key
}

struct State {
    issuer: String,
    audience: String,
    fetches: AtomicU64,
    discovery_fetches: AtomicU64,
    /// Told apart from another issuer's (or an earlier run's) cursors.
    epoch: u64,
    inner: Mutex<Published>,
}

/// What the issuer publishes and how it behaves, changed by the test while it serves.
struct Published {
    /// Published keys; the last one signs.
    keys: Vec<Arc<TestKey>>,
    extra_jwks: Vec<Value>,
    available: bool,
    delay: Duration,
    /// Served at the discovery path instead of the issuer's own document.
    discovery: Option<Value>,
    /// Revoked tokens in the order revoked; the cursor is a position in it.
    revoked: Vec<RevokedToken>,
    revocation_available: bool,
    revocation_page_size: usize,
    revocation_delay: Duration,
    /// The `since` of every request for the list, in order (`None`: the whole list).
    revocation_queries: Vec<Option<String>>,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Published> {
        // A test that panicked while holding the lock must not hide its own failure behind
        // a poisoning panic here.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A token issuer serving its JWKS on a loopback port; see the [module docs](self).
///
/// Stops serving when dropped.
pub struct TestIssuer {
    state: Arc<State>,
    addr: SocketAddr,
    server: ServerHandle,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.state.issuer)
            .finish_non_exhaustive()
    }
}

impl TestIssuer {
    /// An RS256 issuer with audience [`DEFAULT_AUDIENCE`].
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub fn start() -> TestIssuer {
        TestIssuer::start_with(Algorithm::RS256, DEFAULT_AUDIENCE)
    }

    /// An issuer signing with `alg`, for tokens meant for `audience`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub fn start_with(alg: Algorithm, audience: &str) -> TestIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let state = Arc::new(State {
            issuer: format!("http://{addr}"),
            audience: audience.to_owned(),
            fetches: AtomicU64::new(0),
            discovery_fetches: AtomicU64::new(0),
            epoch: NEXT_KID.fetch_add(1, Ordering::Relaxed),
            inner: Mutex::new(Published {
                keys: vec![Arc::new(TestKey::generate(alg))],
                extra_jwks: Vec::new(),
                available: true,
                delay: Duration::ZERO,
                discovery: None,
                revoked: Vec::new(),
                revocation_available: true,
                revocation_page_size: 1000,
                revocation_delay: Duration::ZERO,
                revocation_queries: Vec::new(),
            }),
        });
        let (started, handle) = std::sync::mpsc::channel();
        let served = Arc::clone(&state);
        std::thread::Builder::new()
            .name("test-issuer".to_owned())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(web::Data::from(Arc::clone(&served)))
                            .route(DEFAULT_JWKS_PATH, web::get().to(serve_jwks))
                            .route(DISCOVERY_PATH, web::get().to(serve_discovery))
                            .route(REVOCATION_PATH, web::get().to(serve_revoked))
                    })
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(0)
                    .listen(listener)
                    .expect("serve on the bound port")
                    .run();
                    let _ = started.send(server.handle());
                    let _ = server.await;
                });
            })
            .expect("spawn the issuer thread");
        let server = handle.recv().expect("issuer thread started");
        TestIssuer {
            state,
            addr,
            server,
        }
    }

    /// The `iss` of the tokens, `http://127.0.0.1:PORT`.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The `aud` of the tokens.
    pub fn audience(&self) -> &str {
        &self.state.audience
    }

    /// The loopback address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}{DEFAULT_JWKS_PATH}", self.state.issuer)
    }

    /// The URL of its OpenID Provider metadata: `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}{DISCOVERY_PATH}", self.state.issuer)
    }

    /// The discovery document as served (unless replaced with
    /// [`set_discovery_document`](TestIssuer::set_discovery_document)): the issuer, its
    /// `jwks_uri`, and the signing algorithms of its keys.
    pub fn discovery_document(&self) -> Value {
        discovery_document(&self.state, &self.state.lock())
    }

    /// Serves `document` at the discovery path instead of the issuer's own (`None`: its own
    /// again), to test what happens with a document naming another issuer, a key set
    /// elsewhere, or no key set at all.
    pub fn set_discovery_document(&self, document: Option<Value>) {
        self.state.lock().discovery = document;
    }

    /// How many times the discovery document was requested.
    pub fn discovery_fetch_count(&self) -> u64 {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    /// [`raw_config`](TestIssuer::raw_config) with `discovery: true`: the key set URL is
    /// read from the issuer's discovery document.
    pub fn discovery_config(&self) -> AuthConfig {
        RawConfig {
            discovery: true,
            ..self.raw_config()
        }
        .validate()
        .expect("a loopback issuer is a valid configuration")
    }

    /// The `auth_client` settings that trust this issuer (the JWKS URL derived from the
    /// issuer), to adjust before [`RawConfig::validate`].
    pub fn raw_config(&self) -> RawConfig {
        RawConfig {
            issuer: self.state.issuer.clone(),
            audience: self.state.audience.as_str().into(),
            accepted_algorithms: Algorithm::ALL
                .iter()
                .filter(|alg| !alg.is_shared_secret())
                .map(|a| a.to_string())
                .collect(),
            ..RawConfig::default()
        }
    }

    /// A checked configuration that trusts this issuer, accepting every supported algorithm.
    pub fn config(&self) -> AuthConfig {
        self.raw_config()
            .validate()
            .expect("a loopback issuer is a valid configuration")
    }

    /// The application's own configuration (its `auth_client` section, from the figment it
    /// reads: its YAML file and environment), trusting this issuer instead of the real one:
    /// the issuer, the audience and the key set URL are this issuer's, discovery, a key file,
    /// the revocation endpoint and a list of `issuers` are dropped (the first entry's other keys
    /// are kept), and every supported algorithm is accepted. Everything else stays as the
    /// application configures it: `roles_claim`, `error_format`, `public_paths`, the cache,
    /// the leeway.
    ///
    /// ```no_run
    /// use auth_runtime::testing::TestIssuer;
    ///
    /// let issuer = TestIssuer::start();
    /// let config = issuer.config_from(&auth_runtime::figment_from("config.yaml"))?;
    /// let auth = auth_runtime::JwtAuth::new(config)?;
    /// # Ok::<(), auth_runtime::ConfigError>(())
    /// ```
    pub fn config_from(&self, figment: &figment::Figment) -> Result<AuthConfig, ConfigError> {
        let mut raw = crate::config::read_section(figment)?;
        if let Some(first) = raw.issuers.first().cloned() {
            raw.roles_claim = first.roles_claim.unwrap_or(raw.roles_claim);
            raw.required_token_type = first.required_token_type.unwrap_or(raw.required_token_type);
            raw.leeway_seconds = first.leeway_seconds.unwrap_or(raw.leeway_seconds);
            raw.max_token_lifetime_seconds = first
                .max_token_lifetime_seconds
                .or(raw.max_token_lifetime_seconds);
        }
        let ours = self.raw_config();
        raw.enabled = true;
        raw.issuers = Vec::new();
        raw.issuer = ours.issuer;
        raw.audience = ours.audience;
        raw.accepted_algorithms = ours.accepted_algorithms;
        raw.discovery = false;
        raw.jwks_endpoint = String::new();
        raw.keys_file = String::new();
        raw.shared_secret = Default::default();
        raw.revocation_endpoint = String::new();
        raw.validate()
    }

    /// Starts a token for this issuer and audience: subject `test-user`, valid for five
    /// minutes, signed with the current key.
    pub fn token(&self) -> TokenBuilder {
        let key = Arc::clone(self.state.lock().keys.last().expect("a signing key"));
        let now = now();
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), json!(self.state.issuer));
        claims.insert("aud".into(), json!(self.state.audience));
        claims.insert("sub".into(), json!("test-user"));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 300));
        TokenBuilder {
            key,
            claims,
            kid: KidChoice::Key,
            alg: None,
            typ: Some("JWT".to_owned()),
        }
    }

    /// The kid of the current signing key.
    pub fn kid(&self) -> String {
        self.state
            .lock()
            .keys
            .last()
            .expect("a signing key")
            .kid
            .clone()
    }

    /// Replaces every published key with a new one of the same algorithm and signs with it
    /// from now on, as an identity provider does when it rotates. Returns the new `kid`.
    pub fn rotate(&self) -> String {
        let alg = self.state.lock().keys.last().expect("a signing key").alg;
        let key = Arc::new(TestKey::generate(alg));
        let kid = key.kid.clone();
        self.state.lock().keys = vec![key];
        kid
    }

    /// Publishes one more key of `alg` and signs with it from now on, keeping the others
    /// published. Returns its `kid`.
    pub fn add_key(&self, alg: Algorithm) -> String {
        let key = Arc::new(TestKey::generate(alg));
        let kid = key.kid.clone();
        self.state.lock().keys.push(key);
        kid
    }

    /// Publishes arbitrary JWK objects next to the real keys (keys for encryption, unknown
    /// key types, broken entries).
    pub fn publish_extra(&self, jwks: Vec<Value>) {
        self.state.lock().extra_jwks = jwks;
    }

    /// `false`: the JWKS endpoint answers 503 until set back.
    pub fn set_available(&self, available: bool) {
        self.state.lock().available = available;
    }

    /// Every JWKS answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().delay = delay;
    }

    /// How many times the JWKS was requested.
    pub fn fetch_count(&self) -> u64 {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// Signs `header` and `claims` exactly as given (JSON text, not re-serialised) with the
    /// current key: for tokens no well-behaved issuer makes, such as ones with a member name
    /// given twice. The header should name the key's algorithm and `kid`
    /// ([`kid`](TestIssuer::kid)).
    ///
    /// # Panics
    /// When the key cannot sign (it always can).
    pub fn sign_raw(&self, header: &str, claims: &str) -> String {
        let key = Arc::clone(self.state.lock().keys.last().expect("a signing key"));
        key.sign(header.as_bytes(), claims.as_bytes(), key.alg)
    }

    /// The current signing key's public key as PEM (`-----BEGIN PUBLIC KEY-----`, a DER
    /// `SubjectPublicKeyInfo`), as a `keys_file` may hold it.
    pub fn public_key_pem(&self) -> String {
        let state = self.state.lock();
        let key = state.keys.last().expect("a signing key");
        let body = base64::engine::general_purpose::STANDARD.encode(&key.spki);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// The JWKS document as currently served.
    pub fn jwks(&self) -> Value {
        jwks_document(&self.state.lock())
    }

    /// The URL of its list of revoked tokens: `{issuer}/api/v1/auth/revoked-jtis`.
    pub fn revocation_url(&self) -> String {
        format!("{}{REVOCATION_PATH}", self.state.issuer)
    }

    /// [`config`](TestIssuer::config) with `revocation_endpoint` pointing at this issuer's
    /// list of revoked tokens.
    pub fn revocation_config(&self) -> AuthConfig {
        RawConfig {
            revocation_endpoint: self.revocation_url(),
            ..self.raw_config()
        }
        .validate()
        .expect("a loopback issuer is a valid configuration")
    }

    /// Lists the token `jti`, whose `exp` is `exp`, as revoked.
    pub fn revoke(&self, jti: &str, exp: u64) {
        self.state
            .lock()
            .revoked
            .push(RevokedToken::token(jti, exp));
    }

    /// Lists the session `sid` as revoked: every token whose `sid` claim names it, until `exp`
    /// (when the last of them expires).
    pub fn revoke_session(&self, sid: &str, exp: u64) {
        self.state
            .lock()
            .revoked
            .push(RevokedToken::session(sid, exp));
    }

    /// Lists the subject `sub` as revoked: every token of it issued (`iat`) at or before
    /// `issued_before`, until `exp` (when the last of them expires).
    pub fn revoke_subject(&self, sub: &str, issued_before: u64, exp: u64) {
        self.state
            .lock()
            .revoked
            .push(RevokedToken::subject(sub, issued_before, exp));
    }

    /// Puts `entry` on the list as it is, even one that names several things: to see how a
    /// validator takes an entry it cannot read.
    pub fn list_entry(&self, entry: RevokedToken) {
        self.state.lock().revoked.push(entry);
    }

    /// `false`: the list of revoked tokens answers 503 until set back (the key set is not
    /// affected).
    pub fn set_revocation_available(&self, available: bool) {
        self.state.lock().revocation_available = available;
    }

    /// At most `size` entries per answer of the list (default 1000); more follow with
    /// `"more": true`.
    pub fn set_revocation_page_size(&self, size: usize) {
        self.state.lock().revocation_page_size = size.max(1);
    }

    /// Every answer of the list of revoked tokens (each page) comes after `delay`; zero (the
    /// default) answers at once. A delay longer than the validator's timeout is a list that
    /// hangs.
    pub fn set_revocation_delay(&self, delay: Duration) {
        self.state.lock().revocation_delay = delay;
    }

    /// The `since` of every request for the list so far, in order (`None`: the whole list).
    pub fn revocation_queries(&self) -> Vec<Option<String>> {
        self.state.lock().revocation_queries.clone()
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only waits for completion.
        drop(self.server.stop(false));
    }
}

fn jwks_document(inner: &Published) -> Value {
    let mut keys: Vec<Value> = inner.keys.iter().map(|k| k.jwk.clone()).collect();
    keys.extend(inner.extra_jwks.iter().cloned());
    json!({ "keys": keys })
}

fn discovery_document(state: &State, inner: &Published) -> Value {
    if let Some(document) = &inner.discovery {
        return document.clone();
    }
    let mut algorithms: Vec<&str> = inner.keys.iter().map(|k| k.alg.as_str()).collect();
    algorithms.dedup();
    json!({
        "issuer": state.issuer,
        "jwks_uri": format!("{}{DEFAULT_JWKS_PATH}", state.issuer),
        "id_token_signing_alg_values_supported": algorithms,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
    })
}

/// The discovery document, under the same availability and delay as the key set.
async fn serve_discovery(state: web::Data<State>) -> HttpResponse {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    answer(&state, |inner| discovery_document(&state, inner)).await
}

#[derive(serde::Deserialize)]
struct RevokedQuery {
    since: Option<String>,
}

/// The revoked tokens after the position in `since` (when it is one of this issuer's
/// cursors), a page at a time.
async fn serve_revoked(state: web::Data<State>, query: web::Query<RevokedQuery>) -> HttpResponse {
    let since = query.into_inner().since;
    let delay = {
        let mut inner = state.lock();
        inner.revocation_queries.push(since.clone());
        inner.revocation_delay
    };
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    let inner = state.lock();
    if !inner.revocation_available {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let start = since
        .as_deref()
        .and_then(|cursor| cursor.split_once('.'))
        .filter(|(epoch, _)| *epoch == state.epoch.to_string())
        .and_then(|(_, position)| position.parse::<usize>().ok())
        .filter(|position| *position <= inner.revoked.len());
    let from = start.unwrap_or(0);
    let to = inner.revoked.len().min(from + inner.revocation_page_size);
    HttpResponse::Ok().json(RevocationPage {
        revoked: inner.revoked[from..to].to_vec(),
        cursor: format!("{}.{to}", state.epoch),
        full: start.is_none(),
        more: to < inner.revoked.len(),
    })
}

async fn serve_jwks(state: web::Data<State>) -> HttpResponse {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    answer(&state, jwks_document).await
}

/// The document `make` builds, after the configured delay, or 503 while unavailable.
async fn answer(state: &State, make: impl FnOnce(&Published) -> Value) -> HttpResponse {
    let (available, delay, document) = {
        let inner = state.lock();
        (inner.available, inner.delay, make(&inner))
    };
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    if available {
        HttpResponse::Ok().json(document)
    } else {
        HttpResponse::ServiceUnavailable().finish()
    }
}

enum KidChoice {
    Key,
    None,
    Custom(String),
}

/// A token being built; [`sign`](TokenBuilder::sign) turns it into a compact JWS.
pub struct TokenBuilder {
    key: Arc<TestKey>,
    claims: serde_json::Map<String, Value>,
    kid: KidChoice,
    alg: Option<Algorithm>,
    typ: Option<String>,
}

impl TokenBuilder {
    /// `sub`.
    // Named after the claim, like every other setter here; it has nothing to do with `Sub`.
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, sub: &str) -> Self {
        self.claim("sub", json!(sub))
    }

    /// `email`.
    pub fn email(self, email: &str) -> Self {
        self.claim("email", json!(email))
    }

    /// `role`.
    pub fn role(self, role: &str) -> Self {
        self.claim("role", json!(role))
    }

    /// `roles`: an array of roles, as `roles_claim: roles` reads them. For another claim or
    /// a dotted path (`realm_access.roles`), write it with [`claim`](TokenBuilder::claim).
    pub fn roles(self, roles: &[&str]) -> Self {
        self.claim("roles", json!(roles))
    }

    /// `scope`: the scopes, space-delimited, as OAuth writes them.
    pub fn scope(self, scopes: &[&str]) -> Self {
        self.claim("scope", json!(scopes.join(" ")))
    }

    /// `org_id`.
    pub fn org_id(self, org_id: &str) -> Self {
        self.claim("org_id", json!(org_id))
    }

    /// `jti`.
    pub fn jti(self, jti: &str) -> Self {
        self.claim("jti", json!(jti))
    }

    /// `groups`.
    pub fn groups(self, groups: &[&str]) -> Self {
        self.claim("groups", json!(groups))
    }

    /// `iss`, instead of the issuer's own.
    pub fn issuer(self, issuer: &str) -> Self {
        self.claim("iss", json!(issuer))
    }

    /// `aud`: a string or an array.
    pub fn audience(self, audience: Value) -> Self {
        self.claim("aud", audience)
    }

    /// `exp` at now plus `seconds` (negative: already expired).
    pub fn expires_in(self, seconds: i64) -> Self {
        let exp = now().saturating_add_signed(seconds);
        self.claim("exp", json!(exp))
    }

    /// `nbf` at now plus `seconds`.
    pub fn not_before_in(self, seconds: i64) -> Self {
        let nbf = now().saturating_add_signed(seconds);
        self.claim("nbf", json!(nbf))
    }

    /// Any claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.to_owned(), value);
        self
    }

    /// Leaves a claim out (`exp`, say).
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// The header's `kid`, instead of the signing key's.
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid = KidChoice::Custom(kid.to_owned());
        self
    }

    /// No `kid` in the header.
    pub fn without_kid(mut self) -> Self {
        self.kid = KidChoice::None;
        self
    }

    /// Signs with `alg` instead of the key's own algorithm (it must suit the key: PS256 with
    /// an RSA key, say).
    pub fn algorithm(mut self, alg: Algorithm) -> Self {
        self.alg = Some(alg);
        self
    }

    /// The header's `typ` (`at+jwt`, say), instead of `JWT`.
    pub fn typ(mut self, typ: &str) -> Self {
        self.typ = Some(typ.to_owned());
        self
    }

    /// No `typ` in the header.
    pub fn without_typ(mut self) -> Self {
        self.typ = None;
        self
    }

    /// The claims as they will be signed.
    pub fn claims(&self) -> &serde_json::Map<String, Value> {
        &self.claims
    }

    /// The signed token.
    ///
    /// # Panics
    /// When the algorithm does not suit the key.
    pub fn sign(self) -> String {
        let alg = self.alg.unwrap_or(self.key.alg);
        let mut header = serde_json::Map::new();
        if let Some(typ) = self.typ {
            header.insert("typ".into(), json!(typ));
        }
        header.insert("alg".into(), json!(alg.as_str()));
        match self.kid {
            KidChoice::Key => header.insert("kid".into(), json!(self.key.kid)),
            KidChoice::None => None,
            KidChoice::Custom(kid) => header.insert("kid".into(), json!(kid)),
        };
        let header = serde_json::to_vec(&header).expect("a JSON object serialises");
        let claims = serde_json::to_vec(&self.claims).expect("a JSON object serialises");
        self.key.sign(&header, &claims, alg)
    }
}

/// What `actix_web::test::init_service` makes of an `App` wrapped in [`JwtAuth`](crate::JwtAuth)
/// whose handlers answer with `HttpResponse`: name it in a fixture shared by your tests,
/// without a dependency on `actix-http` for the request type.
///
/// ```
/// use actix_web::{App, HttpResponse, get, test};
/// use auth_runtime::JwtAuth;
/// use auth_runtime::testing::TestApp;
///
/// #[get("/reports")]
/// async fn reports() -> HttpResponse {
///     HttpResponse::Ok().finish()
/// }
///
/// async fn app(auth: JwtAuth) -> impl TestApp {
///     test::init_service(App::new().wrap(auth).service(reports)).await
/// }
/// ```
pub trait TestApp:
    Service<
        actix_http::Request,
        Response = ServiceResponse<EitherBody<BoxBody>>,
        Error = actix_web::Error,
    >
{
}

impl<S> TestApp for S where
    S: Service<
            actix_http::Request,
            Response = ServiceResponse<EitherBody<BoxBody>>,
            Error = actix_web::Error,
        >
{
}
