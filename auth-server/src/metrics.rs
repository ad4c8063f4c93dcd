//! The issuer's counters through the [`metrics`](https://docs.rs/metrics) facade, with the
//! feature `metrics`; without it, every function here does nothing. Sign-ins, logins and
//! refreshes are rare next to validations, so each is looked up by name.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `auth_server_sign_ins_total` | counter | `algorithm` (`Ed25519`, `secp256k1`, `ML-DSA-65`, or `unsupported`), `outcome` |
//! | `auth_server_logins_total` | counter | `outcome` |
//! | `auth_server_refreshes_total` | counter | `outcome`, `reused` being a reuse detection |
//! | `auth_server_throttled_total` | counter | `limit` (`client`, `account`, `busy`, `sign_in`) |
//!
//! `outcome` is `ok`, or the refusal: `invalid` (400), `refused` (401), `disabled` (403),
//! `throttled` (429), `unavailable` (503), `error` (500); a refresh refused with 401 says why:
//! `reused`, `revoked`, `expired` or `unknown`.

use crate::error::ServerError;

/// The `outcome` label of an answer.
pub(crate) fn outcome<T>(result: &Result<T, ServerError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(err) => match err.status().as_u16() {
            400 => "invalid",
            401 => "refused",
            403 => "disabled",
            429 => "throttled",
            503 => "unavailable",
            _ => "error",
        },
    }
}

#[cfg(feature = "metrics")]
mod on {
    pub(crate) fn sign_in(algorithm: &'static str, outcome: &'static str) {
        metrics::counter!(
            "auth_server_sign_ins_total",
            "algorithm" => algorithm,
            "outcome" => outcome
        )
        .increment(1);
    }

    pub(crate) fn login(outcome: &'static str) {
        metrics::counter!("auth_server_logins_total", "outcome" => outcome).increment(1);
    }

    pub(crate) fn refresh(outcome: &'static str) {
        metrics::counter!("auth_server_refreshes_total", "outcome" => outcome).increment(1);
    }

    pub(crate) fn throttled(limit: &'static str) {
        metrics::counter!("auth_server_throttled_total", "limit" => limit).increment(1);
    }
}

#[cfg(feature = "metrics")]
pub(crate) use on::{login, refresh, sign_in, throttled};

#[cfg(not(feature = "metrics"))]
mod off {
    #[inline]
    pub(crate) fn sign_in(_algorithm: &'static str, _outcome: &'static str) {}
    #[inline]
    pub(crate) fn login(_outcome: &'static str) {}
    #[inline]
    pub(crate) fn refresh(_outcome: &'static str) {}
    #[inline]
    pub(crate) fn throttled(_limit: &'static str) {}
}

#[cfg(not(feature = "metrics"))]
pub(crate) use off::{login, refresh, sign_in, throttled};
