//! The answers of the auth endpoints: JSON `{"detail": "..."}`, never a 500 for bad input.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};

/// A refused auth request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    status: StatusCode,
    detail: String,
}

impl ServerError {
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        ServerError {
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
        }
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        ServerError {
            status: StatusCode::UNAUTHORIZED,
            detail: detail.into(),
        }
    }

    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        ServerError {
            status: StatusCode::FORBIDDEN,
            detail: detail.into(),
        }
    }

    pub(crate) fn unavailable(detail: impl Into<String>) -> Self {
        ServerError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: detail.into(),
        }
    }

    pub(crate) fn internal() -> Self {
        ServerError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: "internal error".to_owned(),
        }
    }

    /// The `detail` text.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for ServerError {}

impl ResponseError for ServerError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "detail": self.detail }))
    }
}
