//! The answers of the auth endpoints: JSON `{"detail": "..."}`, never a 500 for bad input.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};

use crate::store::StoreError;

/// A refused auth request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    status: StatusCode,
    detail: String,
    retry_after: Option<u64>,
}

impl ServerError {
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        ServerError {
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        ServerError {
            status: StatusCode::UNAUTHORIZED,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        ServerError {
            status: StatusCode::FORBIDDEN,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        ServerError {
            status: StatusCode::NOT_FOUND,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub(crate) fn unavailable(detail: impl Into<String>) -> Self {
        ServerError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub(crate) fn internal() -> Self {
        ServerError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: "internal error".to_owned(),
            retry_after: None,
        }
    }

    /// 503 with `Retry-After: seconds`.
    pub(crate) fn unavailable_for(detail: impl Into<String>, seconds: u64) -> Self {
        ServerError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: detail.into(),
            retry_after: Some(seconds.max(1)),
        }
    }

    /// 429 with `Retry-After: seconds`.
    pub(crate) fn too_many_requests(detail: impl Into<String>, seconds: u64) -> Self {
        ServerError {
            status: StatusCode::TOO_MANY_REQUESTS,
            detail: detail.into(),
            retry_after: Some(seconds.max(1)),
        }
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `detail` text.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The `Retry-After` seconds sent with a 429 or 503, when set.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
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
                ServerError::unavailable(format!("too many {what} held; retry later"))
            }
            StoreError::Unavailable(_) => {
                tracing::error!(error = %err, "auth store unavailable; answering 503");
                ServerError::unavailable("the session store is unavailable; retry later")
            }
        }
    }
}

impl ResponseError for ServerError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        match self.retry_after {
            Some(seconds) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            None => {}
        }
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "detail": self.detail }))
    }
}
