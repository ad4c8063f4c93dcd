//! `/metrics` for the examples: the Prometheus recorder the auth layer's metrics go to, and
//! the anonymous route that renders them.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use auth_runtime::allow_anonymous;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The auth layer's counters, gauges and histograms in the Prometheus text format.
#[allow_anonymous]
#[get("/metrics")]
pub async fn metrics(prometheus: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(prometheus.render())
}

/// Installs the Prometheus recorder the auth layer's metrics go to (before anything records).
pub fn install() -> Result<PrometheusHandle, String> {
    // Signature checks take tens of microseconds (RSA) to about a millisecond (ES384 on a
    // slow machine).
    let buckets = [
        0.000_01, 0.000_02, 0.000_05, 0.000_1, 0.000_2, 0.000_5, 0.001, 0.002, 0.005,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("auth_token_verification_seconds".to_owned()),
            &buckets,
        )
        .and_then(|builder| builder.install_recorder())
        .map_err(|err| format!("cannot install the metrics recorder: {err}"))?;
    // Histogram samples wait in the recorder until upkeep folds them into the buckets.
    let upkeep = handle.clone();
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}
