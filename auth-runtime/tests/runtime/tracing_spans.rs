//! One `authenticate` span per authenticated request, with the subject, issuer, outcome and
//! reason, never the token; the log lines a rejected request produces.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use actix_web::{App, HttpResponse, get};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{JwtAuth, allow_anonymous, requires_role};
use tracing_subscriber::fmt::format::FmtSpan;

use crate::support::{config_with, get as fetch, serve_app};

#[get("/trace/hello")]
async fn hello() -> HttpResponse {
    tracing::info!("hello handler");
    HttpResponse::Ok().finish()
}

#[requires_role("admin")]
#[get("/trace/admin")]
async fn admin() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[get("/trace/public/ping")]
async fn ping() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[allow_anonymous]
#[get("/trace/open")]
async fn open() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// Everything the global subscriber wrote.
fn written() -> &'static Mutex<Vec<u8>> {
    static BUFFER: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    BUFFER.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        written().lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the subscriber that writes into [`written`]: the whole test binary shares it, and
/// each test picks its lines by their paths.
fn install() {
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(|| Capture)
            .with_ansi(false)
            .with_span_events(FmtSpan::CLOSE)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    );
}

/// The lines written so far that mention `needle`.
fn lines_with(needle: &str) -> Vec<String> {
    String::from_utf8_lossy(&written().lock().unwrap())
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

#[actix_web::test]
async fn one_span_per_authentication_with_subject_issuer_outcome_and_reason() {
    install();
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| {
        raw.public_paths = vec!["/trace/public".into()]
    });
    let auth = JwtAuth::new(config).unwrap();
    let server = serve_app(1, move || {
        App::new()
            .wrap(auth.clone())
            .service(hello)
            .service(admin)
            .service(open)
            .service(ping)
    });
    let iss = issuer.issuer().to_owned();
    let expired = issuer.token().sub("trace-late").expires_in(-3600).sign();
    let viewer = issuer.token().sub("trace-viewer").role("viewer").sign();
    let ok = issuer.token().sub("trace-ok").sign();
    let forged = format!("{ok}x");

    assert_eq!(
        fetch(&server, "/trace/hello", Some(&expired)).await.status,
        401
    );
    assert_eq!(fetch(&server, "/trace/hello", None).await.status, 401);
    assert_eq!(
        fetch(&server, "/trace/admin", Some(&forged)).await.status,
        401
    );
    // Each valid token twice: verified, then answered from the cache.
    for _ in 0..2 {
        assert_eq!(fetch(&server, "/trace/hello", Some(&ok)).await.status, 200);
        assert_eq!(
            fetch(&server, "/trace/admin", Some(&viewer)).await.status,
            403
        );
    }
    assert_eq!(
        fetch(&server, "/trace/open", Some(&viewer)).await.status,
        200
    );

    let expect = |path: &str, fields: &str, event: &str| {
        let lines = lines_with(&format!("path={path} "));
        let span = format!("authenticate{{method=GET path={path} {fields}}}");
        assert!(
            lines
                .iter()
                .any(|line| line.contains(&span) && line.contains(event)),
            "no line with `{span}` and `{event}` in {lines:#?}"
        );
    };
    // An expired token: rejected before its claims are trusted, so no subject or issuer.
    expect(
        "/trace/hello",
        "outcome=rejected reason=expired",
        "request rejected status=401 detail=Token has expired",
    );
    expect(
        "/trace/hello",
        "outcome=rejected reason=missing_token",
        "request rejected status=401",
    );
    expect(
        "/trace/admin",
        "outcome=rejected reason=bad_signature",
        "request rejected status=401",
    );
    expect(
        "/trace/admin",
        &format!("iss={iss} sub=trace-viewer outcome=forbidden reason=insufficient_role"),
        "request rejected status=403 detail=Requires one of roles: ['admin']",
    );
    // The handler's own events carry the caller; the outcome is known when the span closes.
    expect(
        "/trace/hello",
        &format!("iss={iss} sub=trace-ok"),
        "hello handler",
    );
    expect(
        "/trace/hello",
        &format!("iss={iss} sub=trace-ok outcome=authenticated"),
        "close",
    );
    expect("/trace/open", "outcome=anonymous", "close");
    // A token answered from the cache has the same span as when it was verified.
    let count = |path: &str, fields: &str, event: &str| {
        let span = format!("authenticate{{method=GET path={path} {fields}}}");
        lines_with(&format!("path={path} "))
            .iter()
            .filter(|line| line.contains(&span) && line.contains(event))
            .count()
    };
    let ok_fields = format!("iss={iss} sub=trace-ok");
    assert_eq!(count("/trace/hello", &ok_fields, "hello handler"), 2);
    let done = format!("{ok_fields} outcome=authenticated");
    assert_eq!(count("/trace/hello", &done, "close"), 2);
    let refused = format!("iss={iss} sub=trace-viewer outcome=forbidden reason=insufficient_role");
    assert_eq!(
        count("/trace/admin", &refused, "request rejected status=403"),
        2
    );
    assert_eq!(count("/trace/admin", &refused, "close"), 2);
    // One span per authentication: each closes once.
    let counts = [
        ("/trace/hello", 4),
        ("/trace/admin", 3),
        ("/trace/open", 1),
        ("/trace/public/ping", 0),
    ];
    for (path, count) in counts {
        let closes = lines_with(&format!("path={path} "))
            .into_iter()
            .filter(|line| line.contains(": close time.busy"))
            .count();
        assert_eq!(closes, count, "{path}");
    }
    // Never the token, nor a piece of its signature, nor a claim of a token refused.
    let all = String::from_utf8_lossy(&written().lock().unwrap()).into_owned();
    assert!(
        !all.contains("trace-late"),
        "a refused token's subject was logged"
    );
    for token in [&expired, &viewer, &ok, &forged] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!all.contains(&signature[..20]), "a token was logged");
    }
}

#[actix_web::test]
async fn a_503_is_a_warning() {
    install();
    let issuer = TestIssuer::start();
    issuer.set_available(false);
    let auth = JwtAuth::new(issuer.config()).unwrap();
    let server = serve_app(1, move || {
        App::new().wrap(auth.clone()).service(unavailable)
    });
    let token = issuer.token().sign();
    assert_eq!(
        fetch(&server, "/trace/unavailable", Some(&token))
            .await
            .status,
        503
    );
    let lines = lines_with("path=/trace/unavailable ");
    let warned = lines.iter().any(|line| {
        line.contains(" WARN authenticate{method=GET path=/trace/unavailable outcome=rejected reason=keys_unavailable}")
            && line.contains("request rejected status=503")
    });
    assert!(warned, "{lines:#?}");
}

#[get("/trace/unavailable")]
async fn unavailable() -> HttpResponse {
    HttpResponse::Ok().finish()
}
