//! The token issuer and the validator in one actix app.
//!
//! ```text
//! SERVER_AUTH__ADMIN_PASSWORD='a strong password' cargo run --release --example embedded
//! ```
//!
//! Serves on `BIND_ADDR` (default `127.0.0.1:8100`) the `/api/v1/auth/*` endpoints
//! (jwks, challenge, sign-in, login, refresh) plus two protected routes. Configuration comes
//! from `examples/embedded.yaml` (or the file named by `AUTH_CONFIG`), overridden by
//! `SERVER_AUTH__*` and `AUTH_CLIENT__*` variables. Try it with the `wallet_client` example.

use std::process::ExitCode;

use actix_web::{App, HttpResponse, HttpServer, get, web};
use auth_runtime::{Principal, requires_role};
use serde_json::json;

#[path = "common/metrics.rs"]
mod metrics;
#[path = "common/process.rs"]
mod process;

/// Any signed-in caller: a wallet or the admin.
#[get("/api/profile")]
async fn profile(me: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "subject": me.claims().sub, "role": me.claims().role }))
}

#[requires_role("admin")]
#[get("/api/admin/dashboard")]
async fn admin_dashboard(me: Principal) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "message": format!("Welcome, {}", me.claims().sub) }))
}

#[actix_web::main]
async fn main() -> ExitCode {
    process::main(run()).await
}

async fn run() -> Result<(), String> {
    let prometheus = web::Data::new(metrics::install()?);
    let config_path = process::config_path("embedded.yaml");
    let figment = auth_server::figment_from(&config_path);
    let (issuer, auth) = auth_server::embed(&figment)
        .await
        .map_err(|err| format!("{err} (configuration: {})", config_path.display()))?;

    let (listener, addr) = process::listen("127.0.0.1:8100", "127.0.0.1:8101")?;
    let admin = issuer
        .config()
        .admin()
        .map(|admin| admin.email().to_owned());

    let server = HttpServer::new(move || {
        App::new()
            .app_data(prometheus.clone())
            .wrap(auth.clone())
            .service(issuer.service())
            .service(metrics::metrics)
            .service(profile)
            .service(admin_dashboard)
    })
    .listen(listener)
    .map_err(|err| format!("cannot serve on {addr}: {err}"))?
    .run();

    let base = format!("http://{addr}");
    println!("listening on {base}");
    println!(
        "
A wallet signs in:      cargo run --release --example wallet_client   (BASE_URL={base})
The keys, for others:   curl {base}/api/v1/auth/jwks
The metrics:            curl {base}/metrics"
    );
    if let Some(email) = admin {
        println!(
            "The admin logs in:     curl -s -H 'Content-Type: application/json' \\
                          -d '{{\"email\": \"{email}\", \"password\": \"...\"}}' {base}/api/v1/auth/login
Then:                   curl -H \"Authorization: Bearer <access_token>\" {base}/api/admin/dashboard"
        );
    }
    server.await.map_err(|err| format!("server failed: {err}"))
}
