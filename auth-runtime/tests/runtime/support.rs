//! A real actix server around the middleware, and an HTTP client to talk to it.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::{App, HttpResponse, HttpServer, web};
use auth_runtime::{AnonymousGuard, AuthConfig, AuthError, JwtAuth, SecurityContext};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// Counts how often the protected `/api/counter` handler body ran.
pub static COUNTER_RUNS: AtomicUsize = AtomicUsize::new(0);

pub struct Server {
    pub base: String,
    handle: ServerHandle,
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Every `WWW-Authenticate` value of a reply, in order.
pub fn challenges(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// The routes every policy test talks to.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/profile", web::get().to(profile))
        .route("/api/admin", web::get().to(admin))
        .route("/api/editors", web::get().to(editors))
        .route("/api/whoami", web::get().to(whoami))
        .route("/api/counter", web::get().to(counter))
        .service(
            web::resource("/health")
                .guard(AnonymousGuard)
                .route(web::get().to(anonymous_probe)),
        )
        .service(
            web::resource("/items")
                .route(web::get().guard(AnonymousGuard).to(anonymous_probe))
                .route(web::post().to(profile)),
        )
        .route("/docs/index.html", web::get().to(anonymous_probe));
}

/// The anonymous routes of [`routes`], declared on the middleware.
pub fn declare(auth: JwtAuth) -> JwtAuth {
    auth.anonymous_route(&[Method::GET], "/health")
        .anonymous_route(&[Method::GET], "/items")
}

async fn profile() -> Result<HttpResponse, AuthError> {
    let me = SecurityContext::require()?;
    let c = me.claims();
    Ok(HttpResponse::Ok().json(json!({
        "subject": c.sub, "email": c.email, "role": c.role, "org_id": c.org_id,
        "jti": c.jti, "groups": c.groups, "roles": me.roles(),
    })))
}

async fn admin() -> Result<HttpResponse, AuthError> {
    let me = SecurityContext::require_role(&["admin"])?;
    Ok(HttpResponse::Ok().json(json!({ "message": format!("Welcome, {}", me.claims().sub) })))
}

async fn editors() -> Result<HttpResponse, AuthError> {
    SecurityContext::require_role(&["editor", "admin"])?;
    Ok(HttpResponse::Ok().json(json!({ "ok": true })))
}

/// A service function far from the handler: it yields first, so that concurrent requests
/// interleave, then reads the identity.
async fn current_subject() -> Option<String> {
    actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    SecurityContext::get().map(|me| me.claims().sub.clone())
}

async fn whoami() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "subject": current_subject().await }))
}

async fn counter() -> HttpResponse {
    COUNTER_RUNS.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().finish()
}

async fn anonymous_probe() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "identity": SecurityContext::get().is_some() }))
}

/// Serves [`routes`] behind `auth` on a loopback port, inside actix-cors (which lets
/// `https://app.example` in and leaves requests without `Origin` alone).
pub fn serve(auth: JwtAuth) -> Server {
    serve_routes(auth, routes)
}

/// Serves the app `factory` builds on a loopback port with `workers` workers, in the
/// background.
pub fn serve_app<F, T, B>(workers: usize, factory: F) -> Server
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let server = HttpServer::new(factory)
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(0)
        .bind("127.0.0.1:0")
        .expect("bind loopback");
    let base = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Server { base, handle }
}

/// actix-cors letting `https://app.example` in; requests without `Origin` pass untouched.
pub fn cors() -> actix_cors::Cors {
    actix_cors::Cors::default()
        .allowed_origin("https://app.example")
        .allow_any_method()
        .allow_any_header()
}

pub fn serve_routes(auth: JwtAuth, configure: fn(&mut web::ServiceConfig)) -> Server {
    serve_app(2, move || {
        App::new()
            .wrap(auth.clone())
            .wrap(cors())
            .configure(configure)
    })
}

pub fn config_with(
    issuer: &auth_runtime::testing::TestIssuer,
    edit: impl FnOnce(&mut auth_runtime::RawConfig),
) -> AuthConfig {
    let mut raw = issuer.raw_config();
    edit(&mut raw);
    raw.validate().expect("valid test configuration")
}

/// One client for every test: building one loads the TLS roots, which is too slow to do per
/// request. Tests run on separate runtimes, so it keeps no idle connection between requests.
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

pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    let res = req.send().await.expect("request sent");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get(server: &Server, path: &str, token: Option<&str>) -> Reply {
    let mut req = client().get(format!("{}{path}", server.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    send(req).await
}

/// The debug lines of one test, from a subscriber of its own on this thread.
#[derive(Clone, Default)]
pub struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    /// Every event at `debug` and above on this thread, while the guard lives.
    pub fn capture() -> (Lines, tracing::subscriber::DefaultGuard) {
        let lines = Lines::default();
        let writer = lines.clone();
        let guard = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::DEBUG)
                .finish(),
        );
        // While tracing knows of a single dispatcher, a callsite first reached on another
        // thread asks only that thread's (none) and stays off for every thread. A second one,
        // kept for the whole run, makes it ask every live dispatcher, this one included.
        static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
        SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        tracing::callsite::rebuild_interest_cache();
        (lines, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A middleware for `actix_web::middleware::from_fn` that awaits before calling further in,
/// as one that loads a session first does.
pub async fn awaiting(
    req: ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    actix_web::rt::task::yield_now().await;
    next.call(req).await
}
