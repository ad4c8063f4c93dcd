//! The same app on auth-runtime, as the quickstart writes it: shipped (the Prometheus
//! recorder installed and `info` logging, as `examples/quickstart.rs` does) or with metrics
//! and logging off.

use actix_web::{App, HttpResponse, HttpServer, get};
use auth_runtime::{JwtAuth, Principal, RawConfig, RawIssuer, allow_anonymous};

#[path = "../../examples/common/metrics.rs"]
mod metrics;

#[allow_anonymous]
#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "message": "ok" }))
}

/// The same work as `/health` once the caller is known, so that the two routes differ by
/// authentication only.
#[get("/api/profile")]
async fn profile(_caller: Principal) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "message": "ok" }))
}

/// What the app runs with besides authentication.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extras {
    /// As the quickstart ships: the Prometheus recorder and `info` logging to stderr.
    Shipped,
    /// Neither metrics nor logging.
    Off,
}

pub(crate) async fn serve(
    port: u16,
    issuer: String,
    audience: String,
    cache_bytes: u64,
    extras: Extras,
) -> std::io::Result<()> {
    serve_with(
        port,
        issuer,
        audience,
        cache_bytes,
        extras,
        Options::default(),
    )
    .await
}

/// What [`serve_with`] adds to the quickstart app; the default adds nothing.
#[derive(Debug, Default)]
pub(crate) struct Options {
    /// `jwks_ttl_seconds`, when not the default: a refetched key set makes every cached
    /// token be verified once more.
    pub(crate) jwks_ttl_seconds: Option<u64>,
    /// A revocation list to poll, read in full before the app serves.
    pub(crate) revocation: Option<Revocation>,
}

/// The revocation list of every trusted issuer, and its bounds.
#[derive(Debug)]
pub(crate) struct Revocation {
    /// `revocation_endpoint`.
    pub(crate) endpoint: String,
    /// `revocation_max_entries`.
    pub(crate) max_entries: usize,
    /// `revocation_max_bytes`.
    pub(crate) max_bytes: usize,
}

/// The app of [`serve`], with `options`. With a revocation list, `/stats` also tells how many
/// entries the lists hold (`"revoked"`).
pub(crate) async fn serve_with(
    port: u16,
    issuer: String,
    audience: String,
    cache_bytes: u64,
    extras: Extras,
    options: Options,
) -> std::io::Result<()> {
    let names: Vec<String> = issuer.split(',').map(str::to_owned).collect();
    let prometheus = match extras {
        Extras::Shipped => {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("info,actix_server=warn"))
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .init();
            Some(actix_web::web::Data::new(
                metrics::install().map_err(std::io::Error::other)?,
            ))
        }
        Extras::Off => None,
    };
    // Several issuers, comma-separated: each trusted as an entry of `issuers`.
    let (issuer, issuers) = match issuer.split_once(',') {
        None => (issuer, Vec::new()),
        Some(_) => (
            String::new(),
            issuer
                .split(',')
                .map(|one| RawIssuer {
                    issuer: one.to_owned(),
                    ..RawIssuer::default()
                })
                .collect(),
        ),
    };
    let config = RawConfig {
        issuer,
        issuers,
        audience: audience.into(),
        accepted_algorithms: ["RS256", "ES256", "EdDSA", "ML-DSA-65"]
            .map(str::to_owned)
            .to_vec(),
        token_cache_max_bytes: cache_bytes,
        ..defaults(&options)
    }
    .validate()
    .map_err(std::io::Error::other)?;
    let auth = JwtAuth::new(config)
        .map_err(std::io::Error::other)?
        .anonymous_route(&[actix_web::http::Method::GET], "/stats");
    if options.revocation.is_some() {
        for name in &names {
            if let Some(list) = auth.revocation_list(name) {
                list.prefetch().await.map_err(std::io::Error::other)?;
            }
        }
    }
    let revoked = options.revocation.is_some().then_some(names);
    let stats = auth.clone();
    HttpServer::new(move || {
        let stats = stats.clone();
        let revoked = revoked.clone();
        let mut app = App::new();
        if let Some(prometheus) = &prometheus {
            app = app.app_data(prometheus.clone()).service(metrics::metrics);
        }
        app.wrap(auth.clone())
            .service(health)
            .service(profile)
            .service(
                actix_web::web::resource("/stats")
                    .guard(auth_runtime::AnonymousGuard)
                    .get(move || {
                        let cache = stats.token_cache_stats();
                        let held = revoked.as_ref().map(|names| {
                            names
                                .iter()
                                .filter_map(|name| stats.revocation_list(name))
                                .map(|list| list.len())
                                .sum::<usize>()
                        });
                        async move {
                            let mut body = serde_json::json!(cache.map(|s| {
                                serde_json::json!({
                                    "entries": s.entries, "weight_bytes": s.weight_bytes,
                                    "capacity_bytes": s.capacity_bytes, "hits": s.hits, "misses": s.misses,
                                })
                            }));
                            if let (Some(body), Some(held)) = (body.as_object_mut(), held) {
                                body.insert("revoked".to_owned(), held.into());
                            }
                            HttpResponse::Ok().json(body)
                        }
                    }),
            )
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}

/// The configuration's defaults, changed as `options` say.
fn defaults(options: &Options) -> RawConfig {
    let mut config = RawConfig::default();
    if let Some(ttl) = options.jwks_ttl_seconds {
        config.jwks_ttl_seconds = ttl;
    }
    if let Some(revocation) = &options.revocation {
        config.revocation_endpoint = revocation.endpoint.clone();
        config.revocation_max_entries = revocation.max_entries;
        config.revocation_max_bytes = revocation.max_bytes;
    }
    config
}
