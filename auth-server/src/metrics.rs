//! The issuer's counters through the [`metrics`](https://docs.rs/metrics) facade, with the
//! feature `metrics`; without it, every function here does nothing. Sign-ins, logins and
//! refreshes are rare next to validations, so each is looked up by name.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `auth_server_sign_ins_total` | counter | `algorithm` (`Ed25519`, `secp256k1`, `ML-DSA-65`, or `unsupported`), `outcome` |
//! | `auth_server_logins_total` | counter | `outcome` |
//! | `auth_server_refreshes_total` | counter | `outcome`, `reused` being a reuse detection, `retried` a retry within `refresh_reuse_grace_seconds` |
//! | `auth_server_throttled_total` | counter | `limit` (`client`, `account`, `busy`, `sign_in`, `session_call`) |
//!
//! `outcome` is `ok`, or the refusal: `invalid` (400), `refused` (401), `disabled` (403),
//! `throttled` (429), `unavailable` (503), `error` (500); a refresh refused with 401 says why:
//! `reused`, `revoked`, `expired` or `unknown`. Each label is chosen by the error's variant.

use crate::error::ServerError;

/// The `outcome` label of an answer.
pub(crate) fn outcome<T>(result: &Result<T, ServerError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(err) => refusal(err),
    }
}

/// The `outcome` label of a refresh: why a refresh token was refused, or [`outcome`].
pub(crate) fn refresh_outcome<T>(result: &Result<T, ServerError>) -> &'static str {
    match result {
        Err(ServerError::RefreshTokenReused) => "reused",
        Err(ServerError::SessionRevoked) => "revoked",
        Err(ServerError::SessionExpired) => "expired",
        Err(ServerError::InvalidRefreshToken) => "unknown",
        _ => outcome(result),
    }
}

/// The `outcome` label of a refusal. Every variant is listed, so that a new one gets a label
/// on purpose.
fn refusal(err: &ServerError) -> &'static str {
    match err {
        ServerError::InvalidJson(_)
        | ServerError::MissingFields(_)
        | ServerError::InvalidAddress
        | ServerError::UnsupportedAlgorithm { .. }
        | ServerError::InvalidHex
        | ServerError::AddressMismatch
        | ServerError::MalformedKeyOrSignature(_)
        | ServerError::RevokeTargetRequired
        | ServerError::InvalidDpopProof(_)
        | ServerError::DpopNotAccepted => "invalid",
        ServerError::InvalidChallenge
        | ServerError::BadSignature
        | ServerError::InvalidCredentials
        | ServerError::InvalidRefreshToken
        | ServerError::RefreshTokenReused
        | ServerError::SessionRevoked
        | ServerError::SessionExpired => "refused",
        ServerError::LoginDisabled => "disabled",
        ServerError::SignInsThrottled { .. }
        | ServerError::SessionCallsThrottled { .. }
        | ServerError::LoginsThrottled { .. } => "throttled",
        ServerError::LoginsBusy | ServerError::StoreFull { .. } | ServerError::StoreUnavailable => {
            "unavailable"
        }
        // A 404 was counted as an error before outcomes came from the variant.
        ServerError::UnknownJti | ServerError::Internal => "error",
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
