//! The answers of the auth endpoints: JSON `{"detail": "..."}`, never a 500 for bad input.
//!
//! Each refusal is one variant. Its `detail` text, its HTTP status, its stable
//! [`code`](ServerError::code) and the `outcome` label of the metrics are all derived from the
//! variant, never from one another.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use auth_runtime::DpopReason;

use crate::store::StoreError;

/// A refused auth request.
///
/// ```
/// use auth_server::ServerError;
/// let err = ServerError::InvalidCredentials;
/// assert_eq!(err.code(), "invalid_credentials");
/// assert_eq!(err.status().as_u16(), 401);
/// assert_eq!(err.to_string(), "invalid credentials");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerError {
    /// The body is not the JSON the endpoint reads (400). Holds the parser's message.
    InvalidJson(String),
    /// Fields that must be present and not blank are missing (400). Holds their names as
    /// written in the answer (`"email and password"`).
    MissingFields(&'static str),
    /// The wallet address is not hex, or too long for a public key (400).
    InvalidAddress,
    /// The wallet algorithm is missing or not one of those configured (400).
    UnsupportedAlgorithm {
        /// The name given (empty when missing).
        given: String,
        /// The names accepted.
        supported: Vec<&'static str>,
    },
    /// The public key or the signature is not hex (400).
    InvalidHex,
    /// The address is not the hex of the public key (400).
    AddressMismatch,
    /// The public key or the signature is not of the algorithm's shape (400). Holds what is
    /// wrong.
    MalformedKeyOrSignature(String),
    /// `/revoke` needs exactly one of `jti` or `subject` (400).
    RevokeTargetRequired,
    /// The DPoP proof (RFC 9449) of a sign-in, login or refresh is refused, or missing where
    /// one is needed: `dpop: required`, or a refresh of a session bound to a key (400, as RFC
    /// 9449 section 5 answers `invalid_dpop_proof`). Holds why.
    InvalidDpopProof(DpopReason),
    /// A DPoP proof came while `dpop` is `off` (400).
    DpopNotAccepted,
    /// The challenge was not issued for this address, expired, or was used before (401).
    InvalidChallenge,
    /// The wallet signature does not verify (401).
    BadSignature,
    /// The e-mail or the password is wrong (401).
    InvalidCredentials,
    /// The refresh token is not one of ours, or names no session (401).
    InvalidRefreshToken,
    /// A spent refresh token was presented again: its session is now revoked (401).
    RefreshTokenReused,
    /// The session was revoked earlier, after a refresh token was reused (401).
    SessionRevoked,
    /// The session ended, or its refresh token expired unused (401).
    SessionExpired,
    /// Password login is not enabled (403).
    LoginDisabled,
    /// No live access token has this `jti` (404).
    UnknownJti,
    /// Too many wallet sign-ins from the client's address (429).
    SignInsThrottled {
        /// Seconds until one more sign-in fits.
        retry_after: u64,
    },
    /// Too many `/refresh` and `/sign-out` calls from the client's address (429).
    SessionCallsThrottled {
        /// Seconds until one more call fits.
        retry_after: u64,
    },
    /// Too many failed logins from the client's address or for the account (429).
    LoginsThrottled {
        /// Seconds until one more attempt fits.
        retry_after: u64,
    },
    /// Every password hashing slot is taken and the queue is full (503).
    LoginsBusy,
    /// The store holds its maximum of something (503).
    StoreFull {
        /// What is full: `sessions` or `spent challenges`.
        what: &'static str,
    },
    /// The store cannot be reached or failed (503).
    StoreUnavailable,
    /// Something that cannot fail short of a broken system failed (500).
    Internal,
}

impl ServerError {
    /// A stable, snake_case name of the refusal, for logs and programs.
    pub fn code(&self) -> &'static str {
        match self {
            ServerError::InvalidJson(_) => "invalid_json",
            ServerError::MissingFields(_) => "missing_fields",
            ServerError::InvalidAddress => "invalid_address",
            ServerError::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            ServerError::InvalidHex => "invalid_hex",
            ServerError::AddressMismatch => "address_mismatch",
            ServerError::MalformedKeyOrSignature(_) => "malformed_key_or_signature",
            ServerError::RevokeTargetRequired => "revoke_target_required",
            ServerError::InvalidDpopProof(_) => "invalid_dpop_proof",
            ServerError::DpopNotAccepted => "dpop_not_accepted",
            ServerError::InvalidChallenge => "invalid_challenge",
            ServerError::BadSignature => "bad_signature",
            ServerError::InvalidCredentials => "invalid_credentials",
            ServerError::InvalidRefreshToken => "invalid_refresh_token",
            ServerError::RefreshTokenReused => "refresh_token_reused",
            ServerError::SessionRevoked => "session_revoked",
            ServerError::SessionExpired => "session_expired",
            ServerError::LoginDisabled => "login_disabled",
            ServerError::UnknownJti => "unknown_jti",
            ServerError::SignInsThrottled { .. } => "sign_ins_throttled",
            ServerError::SessionCallsThrottled { .. } => "session_calls_throttled",
            ServerError::LoginsThrottled { .. } => "logins_throttled",
            ServerError::LoginsBusy => "logins_busy",
            ServerError::StoreFull { .. } => "store_full",
            ServerError::StoreUnavailable => "store_unavailable",
            ServerError::Internal => "internal",
        }
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::InvalidJson(_)
            | ServerError::MissingFields(_)
            | ServerError::InvalidAddress
            | ServerError::UnsupportedAlgorithm { .. }
            | ServerError::InvalidHex
            | ServerError::AddressMismatch
            | ServerError::MalformedKeyOrSignature(_)
            | ServerError::RevokeTargetRequired
            | ServerError::InvalidDpopProof(_)
            | ServerError::DpopNotAccepted => StatusCode::BAD_REQUEST,
            ServerError::InvalidChallenge
            | ServerError::BadSignature
            | ServerError::InvalidCredentials
            | ServerError::InvalidRefreshToken
            | ServerError::RefreshTokenReused
            | ServerError::SessionRevoked
            | ServerError::SessionExpired => StatusCode::UNAUTHORIZED,
            ServerError::LoginDisabled => StatusCode::FORBIDDEN,
            ServerError::UnknownJti => StatusCode::NOT_FOUND,
            ServerError::SignInsThrottled { .. }
            | ServerError::SessionCallsThrottled { .. }
            | ServerError::LoginsThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServerError::LoginsBusy
            | ServerError::StoreFull { .. }
            | ServerError::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `Retry-After` seconds sent with a 429 or 503, when the refusal knows them (at least
    /// one). Other 503 answers say 5.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ServerError::SignInsThrottled { retry_after }
            | ServerError::SessionCallsThrottled { retry_after }
            | ServerError::LoginsThrottled { retry_after } => Some((*retry_after).max(1)),
            ServerError::LoginsBusy => Some(1),
            _ => None,
        }
    }
}

/// The `detail` text of the answer.
impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::InvalidJson(why) => write!(f, "invalid JSON body: {why}"),
            ServerError::MissingFields(fields) => write!(f, "{fields} required"),
            ServerError::InvalidAddress => {
                f.write_str("address must be the hex encoded public key of the wallet")
            }
            ServerError::UnsupportedAlgorithm { given, supported } => {
                write!(f, "unsupported algorithm {given:?}; use one of {supported:?}")
            }
            ServerError::InvalidHex => f.write_str("invalid hex encoding"),
            ServerError::AddressMismatch => {
                f.write_str("address does not match verified public key")
            }
            ServerError::MalformedKeyOrSignature(why) => f.write_str(why),
            ServerError::RevokeTargetRequired => f.write_str(
                "give exactly one of `jti` (one access token) or `subject` (every token of a \
                 subject)",
            ),
            ServerError::InvalidDpopProof(reason) => {
                write!(f, "invalid DPoP proof: {}", reason.as_str())
            }
            ServerError::DpopNotAccepted => f.write_str(
                "this issuer issues no DPoP-bound tokens; send the request without a DPoP header",
            ),
            ServerError::InvalidChallenge => f.write_str("invalid or expired challenge"),
            ServerError::BadSignature => f.write_str("signature verification failed"),
            ServerError::InvalidCredentials => f.write_str("invalid credentials"),
            ServerError::InvalidRefreshToken => f.write_str("invalid or expired refresh token"),
            ServerError::RefreshTokenReused => f.write_str(
                "refresh token already used; every session from that sign-in is revoked, sign in again",
            ),
            ServerError::SessionRevoked => f.write_str(
                "this session was revoked after a refresh token was reused; sign in again",
            ),
            ServerError::SessionExpired => f.write_str("session expired; sign in again"),
            ServerError::LoginDisabled => f.write_str("password login disabled"),
            ServerError::UnknownJti => f.write_str(
                "no live access token with this jti (unknown, expired, or already revoked)",
            ),
            ServerError::SignInsThrottled { .. } => {
                f.write_str("too many sign-ins from this address; retry later")
            }
            ServerError::SessionCallsThrottled { .. } => {
                f.write_str("too many refresh and sign-out requests from this address; retry later")
            }
            ServerError::LoginsThrottled { .. } => {
                f.write_str("too many failed logins; retry later")
            }
            ServerError::LoginsBusy => f.write_str("too many logins in progress; retry shortly"),
            ServerError::StoreFull { what } => write!(f, "too many {what} held; retry later"),
            ServerError::StoreUnavailable => {
                f.write_str("the session store is unavailable; retry later")
            }
            ServerError::Internal => f.write_str("internal error"),
        }
    }
}

impl std::error::Error for ServerError {}

/// Where a store failure becomes an answer: logged here, once, and never shown to the caller
/// beyond "retry later".
impl From<StoreError> for ServerError {
    fn from(err: StoreError) -> Self {
        match &err {
            StoreError::Full { what } => {
                tracing::warn!(error = %err, "auth store full; answering 503");
                ServerError::StoreFull { what }
            }
            StoreError::Unavailable(_) => {
                tracing::error!(error = %err, "auth store unavailable; answering 503");
                ServerError::StoreUnavailable
            }
        }
    }
}

impl ResponseError for ServerError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status();
        let mut response = HttpResponse::build(status);
        match self.retry_after() {
            Some(seconds) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            None if status == StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            None => {}
        }
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "detail": self.to_string() }))
    }
}
