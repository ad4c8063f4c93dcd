//! DPoP for tests: a client key pair that binds tokens and signs proofs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::{TestKey, TokenBuilder};
use crate::algorithm::Algorithm;
use crate::clock::now;

static NEXT_JTI: AtomicU64 = AtomicU64::new(1);

/// A client's DPoP key pair (RFC 9449): bind a token to it with
/// [`TokenBuilder::bound_to`], then send the token as `Authorization: DPoP <token>` with a
/// [`proof`](DpopKey::proof) in the `DPoP` header.
///
/// ```no_run
/// use actix_web::{App, HttpResponse, get, test};
/// use auth_runtime::{Algorithm, JwtAuth};
/// use auth_runtime::testing::{DpopKey, TestIssuer};
///
/// #[get("/api/orders")]
/// async fn orders() -> HttpResponse {
///     HttpResponse::Ok().finish()
/// }
///
/// #[actix_web::test]
/// async fn orders_take_a_bound_token_with_its_proof() {
///     let issuer = TestIssuer::start();
///     let auth = JwtAuth::new(issuer.config()).unwrap();
///     let app = test::init_service(App::new().wrap(auth).service(orders)).await;
///
///     let client = DpopKey::generate(Algorithm::ES256);
///     let token = issuer.token().sub("alice").bound_to(&client).sign();
///     let proof = client.proof("GET", "http://localhost:8080/api/orders", &token);
///     let req = test::TestRequest::get()
///         .uri("/api/orders")
///         .insert_header(("Host", "localhost:8080"))
///         .insert_header(("Authorization", format!("DPoP {token}")))
///         .insert_header(("DPoP", proof))
///         .to_request();
///     assert_eq!(test::call_service(&app, req).await.status(), 200);
/// }
/// ```
#[derive(Clone)]
pub struct DpopKey {
    key: Arc<TestKey>,
    jwk: Map<String, Value>,
    thumbprint: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.key.alg)
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A fresh key pair for `alg` (ES256, ES384, EdDSA, RS*/PS*, ML-DSA-44/65/87).
    ///
    /// # Panics
    /// For a shared-secret algorithm.
    pub fn generate(alg: Algorithm) -> DpopKey {
        let key = Arc::new(TestKey::generate(alg));
        let mut jwk = match &key.jwk {
            Value::Object(jwk) => jwk.clone(),
            _ => unreachable!("a JWK is an object"),
        };
        for name in ["kid", "use", "alg"] {
            jwk.remove(name);
        }
        if alg.ml_dsa().is_some() {
            jwk.insert("alg".into(), json!(alg.as_str()));
        }
        let thumbprint = thumbprint(&jwk);
        DpopKey {
            key,
            jwk,
            thumbprint,
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.key.alg
    }

    /// The RFC 7638 thumbprint of the public key: what a bound token's `cnf.jkt` holds.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The public key as a JWK, as a proof's header carries it.
    pub fn public_jwk(&self) -> Value {
        Value::Object(self.jwk.clone())
    }

    /// A proof for one request: `method` and `url` (query and fragment are left out of
    /// `htu`), `iat` now, a fresh `jti`, and `ath` the hash of `token`.
    pub fn proof(&self, method: &str, url: &str, token: &str) -> String {
        self.proof_builder(method, url).token(token).sign()
    }

    /// A proof to shape by hand (for tests of refused proofs): the same claims as
    /// [`proof`](Self::proof), without `ath` until [`token`](DpopProof::token) is called.
    pub fn proof_builder(&self, method: &str, url: &str) -> DpopProof {
        let htu = url.split(['?', '#']).next().unwrap_or_default();
        let mut claims = Map::new();
        claims.insert(
            "jti".into(),
            json!(format!(
                "proof-{}-{}",
                NEXT_JTI.fetch_add(1, Ordering::Relaxed),
                now()
            )),
        );
        claims.insert("htm".into(), json!(method));
        claims.insert("htu".into(), json!(htu));
        claims.insert("iat".into(), json!(now()));
        let mut header = Map::new();
        header.insert("typ".into(), json!("dpop+jwt"));
        header.insert("alg".into(), json!(self.key.alg.as_str()));
        header.insert("jwk".into(), Value::Object(self.jwk.clone()));
        DpopProof {
            key: Arc::clone(&self.key),
            header,
            claims,
        }
    }
}

/// A DPoP proof being built; [`sign`](DpopProof::sign) turns it into a compact JWS.
pub struct DpopProof {
    key: Arc<TestKey>,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl DpopProof {
    /// `ath`: the hash of the access token the proof goes with.
    pub fn token(self, token: &str) -> Self {
        let ath = URL_SAFE_NO_PAD.encode(digest(&SHA256, token.as_bytes()));
        self.claim("ath", json!(ath))
    }

    /// `iat` at now plus `seconds` (negative: in the past).
    pub fn issued_in(self, seconds: i64) -> Self {
        self.claim("iat", json!(now().saturating_add_signed(seconds)))
    }

    /// Any claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.to_owned(), value);
        self
    }

    /// Leaves a claim out.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Any header member (`typ`, `alg`, `jwk`, `crit`).
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.to_owned(), value);
        self
    }

    /// Leaves a header member out.
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// The signed proof, signed with the key's own algorithm whatever the header says.
    pub fn sign(self) -> String {
        let header = serde_json::to_vec(&self.header).expect("a JSON object serialises");
        let claims = serde_json::to_vec(&self.claims).expect("a JSON object serialises");
        self.key.sign(&header, &claims, self.key.alg)
    }

    /// The proof signed over these exact header and claims texts (duplicate members, say).
    pub fn sign_raw(&self, header: &str, claims: &str) -> String {
        self.key
            .sign(header.as_bytes(), claims.as_bytes(), self.key.alg)
    }
}

impl TokenBuilder {
    /// Binds the token to `key`: `cnf.jkt` is its thumbprint (RFC 9449 section 6).
    pub fn bound_to(self, key: &DpopKey) -> Self {
        self.claim("cnf", json!({ "jkt": key.thumbprint() }))
    }
}

/// The RFC 7638 thumbprint of a public JWK: its required members, in order, hashed.
fn thumbprint(jwk: &Map<String, Value>) -> String {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        Some("RSA") => &["e", "kty", "n"],
        Some("AKP") => &["alg", "kty", "pub"],
        _ => panic!("no thumbprint for this key type"),
    };
    let mut canonical = Map::new();
    for name in members {
        canonical.insert((*name).to_owned(), jwk[*name].clone());
    }
    // serde_json's map keeps its keys sorted, and the members above are already in order.
    let text = serde_json::to_string(&canonical).expect("a JSON object serialises");
    URL_SAFE_NO_PAD.encode(digest(&SHA256, text.as_bytes()))
}
