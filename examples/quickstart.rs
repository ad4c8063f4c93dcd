//! A small API protected by auth-runtime.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```
//!
//! Serves on `BIND_ADDR` (default `127.0.0.1:8080`). Configuration comes from
//! `examples/quickstart.yaml` (or the file named by `AUTH_CONFIG`), overridden by
//! `AUTH_CLIENT__*` variables. Without a configured issuer it starts a demo issuer on
//! loopback, trusts it, and prints curl commands with ready-made tokens.

use std::process::ExitCode;

use actix_web::{App, HttpResponse, HttpServer, get, post, web};
use auth_runtime::testing::TestIssuer;
use auth_runtime::{
    AuthError, JwtAuth, Principal, SecurityContext, allow_anonymous, requires_role,
};
use figment::providers::Serialized;
use serde::Deserialize;
use serde_json::json;

#[path = "common/metrics.rs"]
mod metrics;
#[path = "common/process.rs"]
mod process;

/// Anyone may call these; a token, if sent, is ignored.
#[allow_anonymous]
#[utoipa::path(responses((status = 200, description = "The service is up")))]
#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "message": "ok" }))
}

#[allow_anonymous]
#[utoipa::path(responses((status = 200, description = "A message for anyone")))]
#[get("/api/public")]
async fn public() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "message": "This endpoint needs no token." }))
}

/// No attribute: the default policy, any valid token.
#[utoipa::path(responses((status = 200, description = "The caller's claims and roles")))]
#[get("/api/profile")]
async fn profile(me: Principal) -> HttpResponse {
    let claims = me.claims();
    HttpResponse::Ok().json(json!({
        "subject": claims.sub,
        "email": claims.email,
        "role": claims.role,
        "org_id": claims.org_id,
        "roles": me.roles(),
    }))
}

/// Admins only: anyone else gets 403 before this body runs.
#[requires_role("admin")]
#[utoipa::path(responses((status = 200, description = "A welcome for the admin")))]
#[get("/api/admin/dashboard")]
async fn admin_dashboard(me: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "message": format!("Welcome, {}", me.claims().sub) }))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewArticle {
    title: String,
}

/// Editors or admins. The role check runs before the JSON body is even read.
#[utoipa::path(
    request_body = NewArticle,
    responses((status = 201, description = "The article, with its author"))
)]
#[requires_role("editor", "admin")]
#[post("/api/articles")]
async fn create_article(me: Principal, article: web::Json<NewArticle>) -> HttpResponse {
    HttpResponse::Created().json(json!({
        "title": article.title,
        "author": me.claims().sub,
    }))
}

/// The OpenAPI document of the routes above, with how each one is protected.
#[derive(utoipa::OpenApi)]
#[openapi(paths(health, public, profile, admin_dashboard, create_article, whoami))]
struct ApiDoc;

/// The OpenAPI document, rendered once at start-up.
struct OpenApiJson(String);

#[allow_anonymous]
#[get("/api-docs/openapi.json")]
async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// A plain function deep in the service layer: no request, no parameter, yet it knows who
/// is calling.
async fn current_subject() -> Result<String, AuthError> {
    Ok(SecurityContext::require()?.claims().sub.clone())
}

#[utoipa::path(responses((status = 200, description = "The caller's subject")))]
#[get("/api/whoami")]
async fn whoami() -> Result<HttpResponse, AuthError> {
    Ok(HttpResponse::Ok().json(json!({ "subject": current_subject().await? })))
}

#[actix_web::main]
async fn main() -> ExitCode {
    process::main(run()).await
}

async fn run() -> Result<(), String> {
    let prometheus = web::Data::new(metrics::install()?);
    let config_path = process::config_path("quickstart.yaml");
    let mut figment = auth_runtime::figment_from(&config_path);

    // No issuer configured: bring a demo one up on loopback and trust it.
    let issuer_configured = figment
        .extract_inner::<String>("auth_client.issuer")
        .is_ok_and(|issuer| !issuer.trim().is_empty())
        || figment
            .find_value("auth_client.issuers")
            .is_ok_and(|issuers| issuers.as_array().is_some_and(|list| !list.is_empty()));
    let demo = if issuer_configured {
        None
    } else {
        let audience = figment
            .extract_inner::<String>("auth_client.audience")
            .unwrap_or_else(|_| "quickstart-api".to_owned());
        let issuer = TestIssuer::start_with(auth_runtime::Algorithm::RS256, &audience);
        figment = figment
            .merge(Serialized::default("auth_client.issuer", issuer.issuer()))
            .merge(Serialized::default(
                "auth_client.audience",
                issuer.audience(),
            ));
        Some(issuer)
    };

    let (listener, addr) = process::listen("127.0.0.1:8080", "127.0.0.1:8081")?;
    let base = format!("http://{addr}");
    // Unless configured, the URL clients reach this example at is the one it listens on:
    // DPoP proofs must name it.
    let public_url_configured = figment
        .extract_inner::<auth_runtime::PublicUrls>("auth_client.public_url")
        .is_ok_and(|urls| urls.values().iter().any(|url| !url.trim().is_empty()));
    if !public_url_configured {
        figment = figment.merge(Serialized::default("auth_client.public_url", &base));
    }

    let auth = JwtAuth::from_figment(&figment)
        .map_err(|err| format!("{err} (configuration: {})", config_path.display()))?;
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    auth.secure_openapi(&mut doc);
    let doc = web::Data::new(OpenApiJson(
        doc.to_pretty_json()
            .map_err(|err| format!("cannot render the OpenAPI document: {err}"))?,
    ));

    let server = HttpServer::new(move || {
        App::new()
            .app_data(prometheus.clone())
            .app_data(doc.clone())
            .wrap(auth.clone())
            .service(health)
            .service(metrics::metrics)
            .service(openapi_json)
            .service(public)
            .service(profile)
            .service(admin_dashboard)
            .service(create_article)
            .service(whoami)
    })
    .listen(listener)
    .map_err(|err| format!("cannot serve on {addr}: {err}"))?
    .run();

    println!("listening on {base}");
    match &demo {
        Some(issuer) => print_walkthrough(&base, issuer),
        None => println!(
            "trusting the configured issuer; send its tokens as `Authorization: Bearer <token>`"
        ),
    }
    server.await.map_err(|err| format!("server failed: {err}"))
}

fn print_walkthrough(base: &str, issuer: &TestIssuer) {
    let viewer = issuer
        .token()
        .sub("viewer-1")
        .email("viewer@example.com")
        .role("viewer")
        .expires_in(3600)
        .sign();
    let admin = issuer
        .token()
        .sub("admin-1")
        .email("admin@example.com")
        .role("admin")
        .org_id("acme")
        .expires_in(3600)
        .sign();
    println!(
        "demo issuer {} (tokens below are valid for one hour, while this process runs)

Paste into another shell:

export VIEWER='{viewer}'
export ADMIN='{admin}'

curl -i {base}/health                                                       # 200, no token needed
curl -s {base}/metrics | grep ^auth_requests                                # counters, no token needed
curl -s {base}/api-docs/openapi.json                                        # the OpenAPI document
curl -i {base}/api/profile                                                  # 401, no token
curl -i -H \"Authorization: Bearer $VIEWER\" {base}/api/profile               # 200, the viewer's claims
curl -i -H \"Authorization: Bearer $VIEWER\" {base}/api/admin/dashboard       # 403, not an admin
curl -i -H \"Authorization: Bearer $ADMIN\" {base}/api/admin/dashboard        # 200
curl -i -H \"Authorization: Bearer $ADMIN\" {base}/api/whoami                 # 200, read by a service function
curl -i -H \"Authorization: Bearer $ADMIN\" -H 'Content-Type: application/json' \\
     -d '{{\"title\": \"Hello\"}}' {base}/api/articles                          # 201
",
        issuer.issuer()
    );
}
