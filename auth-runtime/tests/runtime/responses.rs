//! Your own rejection responses: `JwtAuthBuilder::error_handler` and `error_format: problem`
//! shape every 401/403/503 the middleware and the attributes produce, before and after
//! routing; the status and the RFC 6750 challenge stay unless the handler sets its own.

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, get};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{
    AuthError, ErrorFormat, JwtAuth, Principal, SecurityContext, allow_anonymous, requires_role,
    requires_scope,
};
use serde_json::{Value, json};

use crate::support::{Reply, Server, config_with, get as fetch, serve_app};

/// Wider than the anonymous route below and registered first: a request for
/// `/resp/wide/open` may be anonymous before routing and is not after it.
#[get("/resp/wide/{name}")]
async fn wide() -> HttpResponse {
    HttpResponse::Ok().body("wide")
}

#[allow_anonymous]
#[get("/resp/wide/open")]
async fn open() -> HttpResponse {
    HttpResponse::Ok().body("open")
}

/// Anonymous, and asks for an identity in code: a 401 decided by the handler.
#[allow_anonymous]
#[get("/resp/anonymous-me")]
async fn anonymous_me(me: Principal) -> HttpResponse {
    HttpResponse::Ok().body(me.claims().sub.clone())
}

#[get("/resp/protected")]
async fn protected() -> HttpResponse {
    HttpResponse::Ok().body("protected")
}

#[requires_role("admin")]
#[get("/resp/admin")]
async fn admin() -> HttpResponse {
    HttpResponse::Ok().body("admin")
}

#[requires_scope("articles:write")]
#[get("/resp/articles")]
async fn articles() -> HttpResponse {
    HttpResponse::Ok().body("articles")
}

#[get("/resp/in-code")]
async fn in_code() -> Result<HttpResponse, AuthError> {
    SecurityContext::require_role(&["auditor"])?;
    Ok(HttpResponse::Ok().body("in code"))
}

fn serve(auth: JwtAuth) -> Server {
    serve_app(1, move || {
        App::new()
            .wrap(auth.clone())
            .service(wide)
            .service(open)
            .service(anonymous_me)
            .service(protected)
            .service(admin)
            .service(articles)
            .service(in_code)
    })
}

/// Every rejection, with what it must answer: path, token, status, code, the start of the
/// default `WWW-Authenticate` challenge.
fn cases(
    issuer: &TestIssuer,
) -> Vec<(
    &'static str,
    Option<String>,
    u16,
    &'static str,
    &'static str,
)> {
    let viewer = issuer.token().role("viewer").sign();
    let expired = issuer.token().expires_in(-3600).sign();
    let forged = format!("{viewer}x");
    let insufficient = "Bearer realm=\"api\", error=\"insufficient_scope\"";
    let invalid = "Bearer realm=\"api\", error=\"invalid_token\"";
    vec![
        (
            "/resp/protected",
            None,
            401,
            "missing_token",
            "Bearer realm=\"api\"",
        ),
        (
            "/resp/protected",
            Some(expired.clone()),
            401,
            "expired",
            invalid,
        ),
        (
            "/resp/protected",
            Some(forged.clone()),
            401,
            "bad_signature",
            invalid,
        ),
        (
            "/resp/protected",
            Some("a.b".to_owned()),
            401,
            "malformed_token",
            invalid,
        ),
        (
            "/resp/wide/open",
            None,
            401,
            "missing_token",
            "Bearer realm=\"api\"",
        ),
        (
            "/resp/wide/open",
            Some(forged),
            401,
            "bad_signature",
            invalid,
        ),
        ("/resp/wide/open", Some(expired), 401, "expired", invalid),
        (
            "/resp/admin",
            Some(viewer.clone()),
            403,
            "insufficient_role",
            insufficient,
        ),
        (
            "/resp/articles",
            Some(viewer.clone()),
            403,
            "insufficient_scope",
            insufficient,
        ),
        (
            "/resp/in-code",
            Some(viewer),
            403,
            "insufficient_role",
            insufficient,
        ),
        (
            "/resp/anonymous-me",
            None,
            401,
            "no_identity",
            "Bearer realm=\"api\"",
        ),
    ]
}

#[actix_web::test]
async fn error_handler_shapes_every_rejection_before_and_after_routing() {
    let issuer = TestIssuer::start();
    let auth = JwtAuth::builder(issuer.config())
        .error_handler(|err: &AuthError, req: &HttpRequest| {
            // Built on 200: the rejection's own status is kept.
            HttpResponse::Ok()
                .insert_header(("x-auth-code", err.code()))
                .json(json!({ "error": err.code(), "path": req.path(), "message": err.detail() }))
        })
        .build()
        .unwrap();
    let server = serve(auth);
    for (path, token, status, code, challenge) in cases(&issuer) {
        let reply = fetch(&server, path, token.as_deref()).await;
        let case = format!("{path} {code}");
        assert_eq!(reply.status, status, "{case}: {:?}", reply.body);
        assert_eq!(reply.body["error"], code, "{case}: {:?}", reply.body);
        assert_eq!(reply.body["path"], path, "{case}");
        assert!(
            reply.body.get("detail").is_none(),
            "the body is replaced: {case}"
        );
        assert_eq!(reply.header("x-auth-code"), code, "{case}");
        assert!(
            reply.header("www-authenticate").starts_with(challenge),
            "{case}: {:?}",
            reply.header("www-authenticate")
        );
        assert_eq!(reply.header("content-type"), "application/json", "{case}");
        assert_eq!(reply.header("cache-control"), "no-store", "{case}");
    }
    // The requests that pass are untouched.
    let admin_token = issuer.token().role("admin").sign();
    let ok = fetch(&server, "/resp/admin", Some(&admin_token)).await;
    assert_eq!((ok.status, ok.header("x-auth-code")), (200, ""));
    let wide_open = fetch(&server, "/resp/wide/open", None).await;
    assert_eq!(wide_open.status, 401, "routed to the wide route first");
}

#[actix_web::test]
async fn error_handler_shapes_the_503_and_keeps_retry_after() {
    let issuer = TestIssuer::start();
    issuer.set_available(false);
    let auth = JwtAuth::builder(issuer.config())
        .error_handler(|err: &AuthError, _: &HttpRequest| {
            HttpResponse::Ok().body(format!("auth says {}", err.code()))
        })
        .build()
        .unwrap();
    let server = serve(auth);
    let token = issuer.token().sign();
    for path in ["/resp/protected", "/resp/wide/open"] {
        let res = crate::support::client()
            .get(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503, "{path}");
        assert_eq!(res.headers()["retry-after"], "5", "{path}");
        assert!(res.headers().get("www-authenticate").is_none(), "{path}");
        assert_eq!(
            res.text().await.unwrap(),
            "auth says keys_unavailable",
            "{path}"
        );
    }
}

#[actix_web::test]
async fn a_handler_may_set_its_own_status_and_challenge() {
    let issuer = TestIssuer::start();
    let auth = JwtAuth::builder(issuer.config())
        .error_handler(|err: &AuthError, req: &HttpRequest| match err {
            // Send browsers to a sign-in page instead of a 401.
            AuthError::MissingCredentials => HttpResponse::Found()
                .insert_header((header::LOCATION, format!("/sign-in?next={}", req.path())))
                .finish(),
            // Hide what exists from callers lacking a role.
            AuthError::MissingRole(_) => HttpResponse::NotFound()
                .insert_header((header::WWW_AUTHENTICATE, "Custom realm=\"shop\""))
                .finish(),
            // A success status is not a rejection's: the 401 stays.
            AuthError::InvalidToken(_) => HttpResponse::NoContent().finish(),
            _ => HttpResponse::build(err.status()).finish(),
        })
        .build()
        .unwrap();
    let server = serve(auth);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .get(format!("{}/resp/protected", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/sign-in?next=/resp/protected");
    // The challenge stays (the handler did not set one); an empty body has no content type.
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
    assert!(res.headers().get("content-type").is_none());
    assert_eq!(res.text().await.unwrap(), "");

    let viewer = issuer.token().role("viewer").sign();
    let forged = format!("{viewer}x");
    let reply = fetch(&server, "/resp/protected", Some(&forged)).await;
    assert_eq!(reply.status, 401);
    assert!(reply.header("www-authenticate").contains("invalid_token"));
    let reply = fetch(&server, "/resp/admin", Some(&viewer)).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("www-authenticate"), "Custom realm=\"shop\"");
}

#[actix_web::test]
async fn problem_details_format_for_every_rejection() {
    let issuer = TestIssuer::start();
    let config = config_with(&issuer, |raw| raw.error_format = ErrorFormat::Problem);
    assert_eq!(config.error_format(), ErrorFormat::Problem);
    let server = serve(JwtAuth::new(config).unwrap());
    for (path, token, status, code, challenge) in cases(&issuer) {
        let reply = fetch(&server, path, token.as_deref()).await;
        let case = format!("{path} {code}");
        assert_eq!(reply.status, status, "{case}: {:?}", reply.body);
        assert_eq!(
            reply.header("content-type"),
            "application/problem+json",
            "{case}"
        );
        let title = if status == 401 {
            "Unauthorized"
        } else {
            "Forbidden"
        };
        let Value::Object(body) = &reply.body else {
            panic!("{case}: not a JSON object: {:?}", reply.body);
        };
        let keys: Vec<&str> = body.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["code", "detail", "status", "title", "type"],
            "{case}"
        );
        assert_eq!(body["type"], "about:blank", "{case}");
        assert_eq!(body["title"], title, "{case}");
        assert_eq!(body["status"], status, "{case}");
        assert_eq!(body["code"], code, "{case}");
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{case}");
        assert!(
            reply.header("www-authenticate").starts_with(challenge),
            "{case}"
        );
        assert_eq!(reply.header("cache-control"), "no-store", "{case}");
    }
    let viewer = issuer.token().role("viewer").sign();
    let reply: Reply = fetch(&server, "/resp/articles", Some(&viewer)).await;
    assert_eq!(
        reply.body["detail"],
        "Requires one of scopes: ['articles:write']"
    );
}

#[actix_web::test]
async fn problem_details_for_the_503() {
    let issuer = TestIssuer::start();
    issuer.set_available(false);
    let config = config_with(&issuer, |raw| raw.error_format = ErrorFormat::Problem);
    let server = serve(JwtAuth::new(config).unwrap());
    let reply = fetch(&server, "/resp/protected", Some(&issuer.token().sign())).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("content-type"), "application/problem+json");
    assert_eq!(reply.header("retry-after"), "5");
    assert_eq!(reply.body["title"], "Service Unavailable");
    assert_eq!(reply.body["code"], "keys_unavailable");
    assert_eq!(reply.body["status"], 503);
}

#[actix_web::test]
async fn the_default_format_is_the_upstream_json() {
    let issuer = TestIssuer::start();
    let server = serve(JwtAuth::new(issuer.config()).unwrap());
    let reply = fetch(&server, "/resp/protected", None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(
        reply.body,
        json!({ "detail": "Missing or invalid Authorization header" })
    );
}

#[test]
fn codes_are_stable() {
    use auth_runtime::InvalidReason;
    let codes = [
        (AuthError::MissingCredentials, "missing_token"),
        (AuthError::Expired, "expired"),
        (
            AuthError::AlgorithmNotAccepted("HS256".into()),
            "algorithm_not_accepted",
        ),
        (
            AuthError::InvalidToken(InvalidReason::BadSignature),
            "bad_signature",
        ),
        (
            AuthError::InvalidToken(InvalidReason::TooLarge),
            "token_too_large",
        ),
        (
            AuthError::InvalidToken(InvalidReason::Malformed),
            "malformed_token",
        ),
        (
            AuthError::InvalidToken(InvalidReason::MissingAlgorithm),
            "missing_algorithm",
        ),
        (
            AuthError::InvalidToken(InvalidReason::UnknownKey),
            "unknown_key",
        ),
        (
            AuthError::InvalidToken(InvalidReason::AmbiguousKey),
            "ambiguous_key",
        ),
        (
            AuthError::InvalidToken(InvalidReason::KeyAlgorithmMismatch),
            "key_algorithm_mismatch",
        ),
        (
            AuthError::InvalidToken(InvalidReason::MissingExpiry),
            "missing_expiry",
        ),
        (
            AuthError::InvalidToken(InvalidReason::NotYetValid),
            "not_yet_valid",
        ),
        (
            AuthError::InvalidToken(InvalidReason::WrongIssuer),
            "wrong_issuer",
        ),
        (
            AuthError::InvalidToken(InvalidReason::WrongAudience),
            "wrong_audience",
        ),
        (
            AuthError::InvalidToken(InvalidReason::DuplicateMember),
            "duplicate_member",
        ),
        (
            AuthError::InvalidToken(InvalidReason::CriticalHeader),
            "critical_header",
        ),
        (
            AuthError::InvalidToken(InvalidReason::BadIssuedAt),
            "bad_issued_at",
        ),
        (
            AuthError::InvalidToken(InvalidReason::IssuedInFuture),
            "issued_in_future",
        ),
        (
            AuthError::InvalidToken(InvalidReason::LifetimeTooLong),
            "lifetime_too_long",
        ),
        (
            AuthError::InvalidToken(InvalidReason::WrongType),
            "wrong_type",
        ),
        (
            AuthError::InvalidToken(InvalidReason::UnexpectedClaims),
            "unexpected_claims",
        ),
        (
            AuthError::MissingRole(vec!["a".into()]),
            "insufficient_role",
        ),
        (
            AuthError::MissingGroup(vec!["a".into()]),
            "insufficient_group",
        ),
        (
            AuthError::MissingScope(vec!["a".into()]),
            "insufficient_scope",
        ),
        (AuthError::NoSecurityContext, "no_identity"),
        (AuthError::KeysUnavailable, "keys_unavailable"),
        (AuthError::Revoked, "revoked"),
        (AuthError::RevocationUnavailable, "revocation_unavailable"),
    ];
    for (err, code) in codes {
        assert_eq!(err.code(), code, "{err:?}");
    }
}
