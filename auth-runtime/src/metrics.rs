//! What the middleware counts and measures, through the [`metrics`](https://docs.rs/metrics)
//! facade, with the feature `metrics` (without it, nothing is recorded).
//!
//! The crate installs no recorder: the application picks one (Prometheus, StatsD, ...) and
//! installs it before serving. Handles are registered with the recorder on first use, so
//! that a request never looks a metric up by name; metrics recorded before a recorder is
//! installed (a `JwtAuth::authenticate` call at start-up, say) go nowhere, then and later.
//!
//! ```
//! # #[cfg(feature = "metrics")]
//! # async fn demo(config: auth_runtime::AuthConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use actix_web::{App, HttpResponse, web};
//! use auth_runtime::{JwtAuth, allow_anonymous};
//! use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
//!
//! #[allow_anonymous]
//! #[actix_web::get("/metrics")]
//! async fn metrics(prometheus: web::Data<PrometheusHandle>) -> HttpResponse {
//!     HttpResponse::Ok().body(prometheus.render())
//! }
//!
//! // The recorder first, then the middleware and the app.
//! let prometheus = web::Data::new(PrometheusBuilder::new().install_recorder()?);
//! let auth = JwtAuth::new(config)?;
//! let app = App::new()
//!     .app_data(prometheus.clone())
//!     .wrap(auth)
//!     .service(metrics);
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `auth_requests_total` | counter | `outcome` (`authenticated`, `anonymous`, `rejected`, `forbidden`), `reason` (the [`AuthError::code`](crate::AuthError::code), or `none`) |
//! | `auth_token_cache_hits_total` | counter | |
//! | `auth_token_cache_misses_total` | counter | |
//! | `auth_token_cache_entries` | gauge | |
//! | `auth_token_cache_bytes` | gauge | |
//! | `auth_token_verification_seconds` | histogram | `algorithm` (`RS256`, `ML-DSA-65`, ...) |
//! | `auth_jwks_fetches_total` | counter | `issuer`, `result` (`ok`, `error`) |
//! | `auth_jwks_last_success_timestamp_seconds` | gauge | `issuer` |

/// A moment to measure a duration from; nothing without the feature.
#[derive(Clone, Copy)]
pub(crate) struct Started(#[cfg(feature = "metrics")] std::time::Instant);

/// Now, when metrics are on.
#[inline]
pub(crate) fn start() -> Started {
    Started(
        #[cfg(feature = "metrics")]
        std::time::Instant::now(),
    )
}

#[cfg(feature = "metrics")]
mod on {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use metrics::{Counter, Gauge, Histogram, Unit};

    use super::Started;
    use crate::algorithm::Algorithm;
    use crate::dpop::DpopReason;
    use crate::error::InvalidReason;

    /// Every code a request can be rejected with (401 or 503), besides those of
    /// [`InvalidReason`](crate::InvalidReason) and [`DpopReason`](crate::DpopReason).
    const REJECTED: [&str; 8] = [
        "missing_token",
        "expired",
        "algorithm_not_accepted",
        "revoked",
        "no_identity",
        "keys_unavailable",
        "revocation_unavailable",
        "use_dpop_nonce",
    ];
    const FORBIDDEN: [&str; 3] = [
        "insufficient_role",
        "insufficient_scope",
        "insufficient_group",
    ];

    struct Handles {
        authenticated: Counter,
        anonymous: Counter,
        refused: HashMap<&'static str, Counter>,
        cache_hits: Counter,
        cache_misses: Counter,
        cache_entries: Gauge,
        cache_bytes: Gauge,
        verification: Vec<(Algorithm, Histogram)>,
    }

    fn handles() -> &'static Handles {
        static HANDLES: OnceLock<Handles> = OnceLock::new();
        HANDLES.get_or_init(|| {
            metrics::describe_counter!(
                "auth_requests_total",
                "Requests that went through authentication, by outcome and reason"
            );
            metrics::describe_counter!(
                "auth_token_cache_hits_total",
                "Tokens answered from the verified-token cache"
            );
            metrics::describe_counter!(
                "auth_token_cache_misses_total",
                "Tokens that had to be verified"
            );
            metrics::describe_gauge!(
                "auth_token_cache_entries",
                "Tokens held by the verified-token cache"
            );
            metrics::describe_gauge!(
                "auth_token_cache_bytes",
                Unit::Bytes,
                "Estimated memory of the verified-token cache"
            );
            metrics::describe_histogram!(
                "auth_token_verification_seconds",
                Unit::Seconds,
                "Time to verify a token's signature, by algorithm"
            );
            let request = |outcome: &'static str, reason: &'static str| {
                metrics::counter!("auth_requests_total", "outcome" => outcome, "reason" => reason)
            };
            let refused = REJECTED
                .iter()
                .copied()
                .chain(InvalidReason::ALL.iter().map(|reason| reason.code()))
                .chain(DpopReason::ALL.iter().map(|reason| reason.code()))
                .map(|code| (code, request("rejected", code)))
                .chain(
                    FORBIDDEN
                        .iter()
                        .map(|&code| (code, request("forbidden", code))),
                )
                .collect();
            Handles {
                authenticated: request("authenticated", "none"),
                anonymous: request("anonymous", "none"),
                refused,
                cache_hits: metrics::counter!("auth_token_cache_hits_total"),
                cache_misses: metrics::counter!("auth_token_cache_misses_total"),
                cache_entries: metrics::gauge!("auth_token_cache_entries"),
                cache_bytes: metrics::gauge!("auth_token_cache_bytes"),
                verification: Algorithm::ALL
                    .iter()
                    .map(|&alg| {
                        let histogram = metrics::histogram!(
                            "auth_token_verification_seconds",
                            "algorithm" => alg.as_str()
                        );
                        (alg, histogram)
                    })
                    .collect(),
            }
        })
    }

    pub(crate) fn authenticated() {
        handles().authenticated.increment(1);
    }

    pub(crate) fn anonymous() {
        handles().anonymous.increment(1);
    }

    pub(crate) fn refused(code: &'static str) {
        if let Some(counter) = handles().refused.get(code) {
            counter.increment(1);
        }
    }

    pub(crate) fn cache_hit() {
        handles().cache_hits.increment(1);
    }

    pub(crate) fn cache_miss() {
        handles().cache_misses.increment(1);
    }

    /// Sets the cache gauges from `size` (entries, bytes), asked only with the feature on.
    pub(crate) fn cache_size(size: impl FnOnce() -> (usize, u64)) {
        let (entries, bytes) = size();
        let handles = handles();
        handles.cache_entries.set(entries as f64);
        handles.cache_bytes.set(bytes as f64);
    }

    pub(crate) fn verified(alg: Algorithm, started: Started) {
        let elapsed = started.0.elapsed();
        if let Some((_, histogram)) = handles().verification.iter().find(|(a, _)| *a == alg) {
            histogram.record(elapsed);
        }
    }

    /// A JWKS fetch of `issuer`; rare, so looked up by name.
    pub(crate) fn jwks_fetch(issuer: &str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        metrics::counter!(
            "auth_jwks_fetches_total",
            "issuer" => issuer.to_owned(),
            "result" => result
        )
        .increment(1);
        if ok {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO);
            metrics::gauge!(
                "auth_jwks_last_success_timestamp_seconds",
                "issuer" => issuer.to_owned()
            )
            .set(now.as_secs_f64());
        }
    }
}

#[cfg(feature = "metrics")]
pub(crate) use on::{
    anonymous, authenticated, cache_hit, cache_miss, cache_size, jwks_fetch, refused, verified,
};

#[cfg(not(feature = "metrics"))]
mod off {
    use super::Started;
    use crate::algorithm::Algorithm;

    #[inline]
    pub(crate) fn authenticated() {}
    #[inline]
    pub(crate) fn anonymous() {}
    #[inline]
    pub(crate) fn refused(_code: &'static str) {}
    #[inline]
    pub(crate) fn cache_hit() {}
    #[inline]
    pub(crate) fn cache_miss() {}
    #[inline]
    pub(crate) fn cache_size(_size: impl FnOnce() -> (usize, u64)) {}
    #[inline]
    pub(crate) fn verified(_alg: Algorithm, _started: Started) {}
    #[inline]
    pub(crate) fn jwks_fetch(_issuer: &str, _ok: bool) {}
}

#[cfg(not(feature = "metrics"))]
pub(crate) use off::{
    anonymous, authenticated, cache_hit, cache_miss, cache_size, jwks_fetch, refused, verified,
};
