//! What middleware wrapped around `JwtAuth` sees of its rejections: actix-cors, `DefaultHeaders`
//! and `Logger` each see every 401, 403 and 503 as an ordinary response, whether the rejection
//! was decided before routing or after it.

use std::sync::{Mutex, OnceLock};

use actix_web::dev::Service as _;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Logger};
use actix_web::{App, HttpMessage as _, HttpResponse, get, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{JwtAuth, allow_anonymous, requires_role};

use crate::support::{Server, client, cors, send, serve_app};

/// Wider than the anonymous route below and registered first, so that a request for
/// `/outer/wide/open` may be anonymous before routing and turns out not to be after it.
#[get("/outer/wide/{name}")]
async fn wide() -> HttpResponse {
    HttpResponse::Ok().body("wide")
}

#[allow_anonymous]
#[get("/outer/wide/open")]
async fn open() -> HttpResponse {
    HttpResponse::Ok().body("open")
}

#[get("/outer/protected")]
async fn protected() -> HttpResponse {
    HttpResponse::Ok().body("protected")
}

#[requires_role("admin")]
#[get("/outer/admin")]
async fn admin() -> HttpResponse {
    HttpResponse::Ok().body("admin")
}

/// The lines `Logger` wrote under the `outer-test` target.
fn logged() -> &'static Mutex<Vec<String>> {
    static LINES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    LINES.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "outer-test"
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            logged().lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

/// Put into the request's extensions by an outer middleware.
struct Stamp;

/// App data of the app.
struct AppName;

fn serve(auth: JwtAuth) -> Server {
    static LOGGER: Capture = Capture;
    // Only this module installs a `log` logger; a second call fails harmlessly.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
    serve_app(1, move || {
        App::new()
            .app_data(web::Data::new(AppName))
            .wrap(auth.clone())
            .wrap(cors())
            .wrap_fn(|req, srv| {
                req.extensions_mut().insert(Stamp);
                let res = srv.call(req);
                async move {
                    let mut res = res.await?;
                    let yes_no =
                        |seen: bool| HeaderValue::from_static(if seen { "yes" } else { "no" });
                    let stamp = res.request().extensions().contains::<Stamp>();
                    let data = res.request().app_data::<web::Data<AppName>>().is_some();
                    let headers = res.headers_mut();
                    headers.insert(HeaderName::from_static("x-stamp-seen"), yes_no(stamp));
                    headers.insert(HeaderName::from_static("x-app-data-seen"), yes_no(data));
                    Ok(res)
                }
            })
            .wrap(DefaultHeaders::new().add(("X-Frame-Options", "DENY")))
            .wrap(Logger::new("%s %r").log_target("outer-test"))
            .service(wide)
            .service(open)
            .service(protected)
            .service(admin)
    })
}

#[actix_web::test]
async fn cors_default_headers_and_logger_see_every_rejection_before_and_after_routing() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let viewer = issuer.token().role("viewer").sign();
    let forged = format!("{viewer}x");
    let cases: [(&str, Option<&str>, u16, &str); 6] = [
        ("/outer/protected", None, 401, "before routing, no token"),
        (
            "/outer/protected",
            Some(&forged),
            401,
            "before routing, bad token",
        ),
        ("/outer/wide/open", None, 401, "after routing, no token"),
        (
            "/outer/wide/open",
            Some(&forged),
            401,
            "after routing, bad token",
        ),
        ("/outer/admin", Some(&viewer), 403, "role missing"),
        (
            "/outer/wide/open",
            Some(&viewer),
            200,
            "after routing, valid token",
        ),
    ];
    for (path, token, status, case) in cases {
        let mut req = client()
            .get(format!("{}{path}", server.base))
            .header("Origin", "https://app.example");
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let reply = send(req).await;
        assert_eq!(reply.status, status, "{case}: {:?}", reply.body);
        assert_eq!(
            reply.header("x-frame-options"),
            "DENY",
            "DefaultHeaders, {case}"
        );
        assert_eq!(
            reply.header("access-control-allow-origin"),
            "https://app.example",
            "CORS, {case}"
        );
        if status != 200 {
            assert!(!reply.detail().is_empty(), "JSON body, {case}");
            assert_eq!(reply.header("cache-control"), "no-store", "{case}");
        }
        // A rejection decided after routing goes out on a copy of the request's head: the
        // extensions that outer middleware put on the request are not on it.
        let after_routing = case.starts_with("after routing") && status != 200;
        let stamp = if after_routing { "no" } else { "yes" };
        assert_eq!(reply.header("x-stamp-seen"), stamp, "extensions, {case}");
        assert_eq!(reply.header("x-app-data-seen"), stamp, "app data, {case}");
        let line = format!("{status} GET {path} HTTP/1.1");
        let seen = logged().lock().unwrap().contains(&line);
        assert!(seen, "Logger, {case}: {:?}", logged().lock().unwrap());
        logged().lock().unwrap().clear();
    }
}

#[actix_web::test]
async fn keys_unavailable_is_seen_by_outer_middleware_too() {
    let issuer = TestIssuer::start();
    issuer.set_available(false);
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let token = issuer.token().sign();
    for path in ["/outer/protected", "/outer/wide/open"] {
        let req = client()
            .get(format!("{}{path}", server.base))
            .header("Origin", "https://app.example")
            .bearer_auth(&token);
        let reply = send(req).await;
        assert_eq!(reply.status, 503, "{path}");
        assert_eq!(reply.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(reply.header("retry-after"), "5", "{path}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            "https://app.example",
            "{path}"
        );
    }
}
