//! How rejections are answered: the configured format, or the application's error handler.

use std::fmt;
use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, ResponseError};

use crate::challenge::Challenge;
use crate::config::ErrorFormat;
use crate::error::AuthError;
use crate::principal::Principal;

/// Seconds a client is told to wait when no key set is available.
const RETRY_AFTER_SECONDS: &str = "5";

/// What [`JwtAuthBuilder::error_handler`](crate::JwtAuthBuilder::error_handler) takes.
pub(crate) type ErrorHandler =
    Arc<dyn Fn(&AuthError, &HttpRequest) -> HttpResponse + Send + Sync + 'static>;

/// How the middleware answers a rejection: in the configured format, reshaped by the user's
/// handler when there is one.
#[derive(Clone)]
pub(crate) struct Responder {
    format: ErrorFormat,
    handler: Option<ErrorHandler>,
    /// What 401 answers carry past the error's own challenge (DPoP, nonce, metadata).
    challenge: Option<Arc<Challenge>>,
}

impl Responder {
    /// The configured default: `{"detail": ...}` bodies, no handler.
    pub(crate) const DEFAULT: Responder = Responder {
        format: ErrorFormat::Json,
        handler: None,
        challenge: None,
    };

    pub(crate) fn new(
        format: ErrorFormat,
        handler: Option<ErrorHandler>,
        challenge: Option<Arc<Challenge>>,
    ) -> Responder {
        Responder {
            format,
            handler,
            challenge,
        }
    }

    /// Whether an answer made by [`AuthError`]'s own `ResponseError` (the attributes, the
    /// `Principal` extractor, a handler returning `Err(AuthError)`) must be made again.
    pub(crate) fn reshapes(&self) -> bool {
        self.handler.is_some() || self.format != ErrorFormat::Json
    }

    /// Whether 401 answers get more challenges (DPoP, a nonce, the resource metadata) than
    /// the error's own.
    pub(crate) fn adds_challenges(&self) -> bool {
        self.challenge.is_some()
    }

    /// Adds those challenges to `response`, the answer to `req`, in place: whatever else it
    /// carries stays.
    pub(crate) fn add_challenges<B>(&self, response: &mut HttpResponse<B>, req: &HttpRequest) {
        if let Some(challenge) = &self.challenge {
            let dpop_caller = req
                .extensions()
                .get::<Principal>()
                .is_some_and(Principal::is_sender_constrained);
            challenge.decorate(response, dpop_caller);
        }
    }

    /// The answer to `err` for `req`. The handler's response gives the body and its headers;
    /// its status replaces the rejection's when it is a redirection or an error (3xx to 5xx):
    /// a rejection never goes out as a success. The rejection's headers (`WWW-Authenticate`, `Retry-After`, `Cache-Control`)
    /// stay where the handler did not set its own. The source error stays attached, so that
    /// outer middleware sees it in `HttpResponse::error`.
    pub(crate) fn respond(&self, err: &AuthError, req: &HttpRequest) -> HttpResponse {
        let mut ours = err.response_in(self.format);
        self.add_challenges(&mut ours, req);
        let Some(handler) = &self.handler else {
            return ours;
        };
        let (theirs, body) = handler(err, req).into_parts();
        let mut response = ours.set_body(body);
        let status = theirs.status();
        if status.is_redirection() || status.is_client_error() || status.is_server_error() {
            *response.status_mut() = status;
        }
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_TYPE);
        for name in theirs.headers().keys() {
            headers.remove(name);
        }
        for (name, value) in theirs.headers().iter() {
            headers.append(name.clone(), value.clone());
        }
        response
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("format", &self.format)
            .field("handler", &self.handler.is_some())
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl AuthError {
    /// The answer in `format`: the status, `WWW-Authenticate` (or `Retry-After`),
    /// `Cache-Control: no-store`, and the body.
    pub(crate) fn response_in(&self, format: ErrorFormat) -> HttpResponse {
        match format {
            ErrorFormat::Json => HttpResponse::from_error(self.clone()),
            ErrorFormat::Problem => {
                let status = self.status_code();
                let body = serde_json::json!({
                    "type": "about:blank",
                    "title": status.canonical_reason().unwrap_or(""),
                    "status": status.as_u16(),
                    "detail": self.detail(),
                    "code": self.code(),
                });
                let mut response = HttpResponse::from_error(self.clone());
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                response.set_body(BoxBody::new(body.to_string()))
            }
        }
    }
}

/// The default answer: `{"detail": ...}`, the RFC 6750 challenge (or `Retry-After` on a
/// 503) and `Cache-Control: no-store`, as pico-client-auth answers plus the challenge.
impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.challenge() {
            // The challenge is built from printable ASCII only (see `challenge`), which is
            // always a valid header value; the fallback is never taken.
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
        }
        if matches!(
            self,
            AuthError::KeysUnavailable | AuthError::RevocationUnavailable
        ) {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
        }
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "detail": self.detail() }))
    }
}
