//! How rejections are answered: the configured format, or the application's error handler.

use std::fmt;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use crate::config::ErrorFormat;
use crate::error::AuthError;

/// What [`JwtAuthBuilder::error_handler`](crate::JwtAuthBuilder::error_handler) takes.
pub(crate) type ErrorHandler =
    Arc<dyn Fn(&AuthError, &HttpRequest) -> HttpResponse + Send + Sync + 'static>;

/// How the middleware answers a rejection: in the configured format, reshaped by the user's
/// handler when there is one.
#[derive(Clone)]
pub(crate) struct Responder {
    format: ErrorFormat,
    handler: Option<ErrorHandler>,
}

impl Responder {
    /// The configured default: `{"detail": ...}` bodies, no handler.
    pub(crate) const DEFAULT: Responder = Responder {
        format: ErrorFormat::Json,
        handler: None,
    };

    pub(crate) fn new(format: ErrorFormat, handler: Option<ErrorHandler>) -> Responder {
        Responder { format, handler }
    }

    /// Whether an answer made by [`AuthError`]'s own `ResponseError` (the attributes, the
    /// `Principal` extractor, a handler returning `Err(AuthError)`) must be made again.
    pub(crate) fn reshapes(&self) -> bool {
        self.handler.is_some() || self.format != ErrorFormat::Json
    }

    /// The answer to `err` for `req`. The handler's response gives the body and its headers;
    /// its status replaces the rejection's when it is a redirection or an error (3xx to 5xx):
    /// a rejection never goes out as a success. The rejection's headers (`WWW-Authenticate`, `Retry-After`, `Cache-Control`)
    /// stay where the handler did not set its own. The source error stays attached, so that
    /// outer middleware sees it in `HttpResponse::error`.
    pub(crate) fn respond(&self, err: &AuthError, req: &HttpRequest) -> HttpResponse {
        let ours = err.response_in(self.format);
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
            .finish()
    }
}
