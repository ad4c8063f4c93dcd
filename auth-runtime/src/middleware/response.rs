//! How the middleware answers: rejections shaped by the [`Responder`], counted and logged;
//! the request rebuilt from a copy of its head when routing consumed the original; the
//! `authenticate` span.

use std::sync::atomic::Ordering;

use actix_web::body::EitherBody;
use actix_web::dev::{RequestHead, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode, Uri, Version};
use tracing::Span;
use tracing::field::{Empty, display};

use super::Policy;
use crate::dpop::{Presented, Scheme};
use crate::error::AuthError;
use crate::metrics;
use crate::principal::Principal;
use crate::responder::Responder;

/// The response of a request that went through authentication and reached a handler: the
/// span's outcome is `authenticated` or `anonymous` unless the response is a rejection.
pub(super) fn finish_routed<B>(
    responder: &Responder,
    res: ServiceResponse<B>,
    anonymous: bool,
) -> ServiceResponse<EitherBody<B>> {
    let refused = res
        .response()
        .error()
        .is_some_and(|err| err.as_error::<AuthError>().is_some());
    if !refused {
        let outcome = if anonymous {
            metrics::anonymous();
            "anonymous"
        } else {
            metrics::authenticated();
            "authenticated"
        };
        record_on_current("outcome", outcome);
    }
    finish(responder, res, true)
}

/// Records `value` as `field` of the current span, as `Span::current().record` would,
/// without taking a handle on the span (a clone, then a close, in the subscriber).
fn record_on_current(field: &str, value: &str) {
    tracing::dispatcher::get_default(|dispatch| {
        let current = dispatch.current_span();
        let (Some(id), Some(metadata)) = (current.id(), current.metadata()) else {
            return;
        };
        let fields = metadata.fields();
        let Some(field) = fields.field(field) else {
            return;
        };
        let value = display(value);
        let values = [(&field, Some(&value as &dyn tracing::Value))];
        dispatch.record(id, &tracing::span::Record::new(&fields.value_set(&values)));
    });
}

/// The routed response, counted and logged when it is an [`AuthError`] the attributes, an
/// extractor or the handler returned, and reshaped when rejections are not answered in the
/// default way. `in_span`: the request has its `authenticate` span. A rejection that a
/// `JwtAuth` nested inside this one answered already is left as it is.
pub(super) fn finish<B>(
    responder: &Responder,
    mut res: ServiceResponse<B>,
    in_span: bool,
) -> ServiceResponse<EitherBody<B>> {
    let Some(err) = unanswered(&res) else {
        return res.map_into_left_body();
    };
    record_rejection(err, in_span);
    if !responder.reshapes() {
        // A rejection only: the request handle is cloned (a reference count) for it.
        let req = res.request().clone();
        responder.add_challenges(res.response_mut(), &req);
        res.response_mut().extensions_mut().insert(Answered);
        return res.map_into_left_body();
    }
    let err = err.clone();
    let (req, _) = res.into_parts();
    let mut response = responder.respond(&err, &req);
    response.extensions_mut().insert(Answered);
    ServiceResponse::new(req, response).map_into_right_body()
}

/// The answer to a request refused with `err`, on the request's `authenticate` span.
pub(super) fn reject<B>(
    policy: &Policy,
    req: ServiceRequest,
    err: AuthError,
) -> ServiceResponse<EitherBody<B>> {
    record_rejection(&err, true);
    warn_on_preflight(&req, policy);
    let (req, _) = req.into_parts();
    let mut response = policy.responder.respond(&err, &req);
    response.extensions_mut().insert(Answered);
    ServiceResponse::new(req, response).map_into_right_body()
}

/// Whether `req` is a browser's CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`, and no credentials (a browser never sends them on one).
fn is_preflight(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    req.method() == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && !headers.contains_key(header::AUTHORIZATION)
}

/// A refused CORS preflight means the browser never sends the request itself. Said once per
/// middleware, with the fix, at `warn`.
fn warn_on_preflight(req: &ServiceRequest, policy: &Policy) {
    if !is_preflight(req) || policy.preflight_warned.swap(true, Ordering::Relaxed) {
        return;
    }
    tracing::warn!(
        target: LOG_TARGET,
        path = %req.path(),
        "a CORS preflight was refused for want of a token, so browsers will not send the \
         request itself: wrap the CORS middleware around JwtAuth (`.wrap(auth)` first, then \
         `.wrap(cors)`), so that it answers preflights before they reach JwtAuth"
    );
}

/// Marks a response whose rejection was counted, logged and shaped, so that a `JwtAuth`
/// wrapped around the one that did it leaves it alone.
struct Answered;

/// The [`AuthError`] a response carries, unless a `JwtAuth` answered it already.
fn unanswered<B>(res: &ServiceResponse<B>) -> Option<&AuthError> {
    let err = res.response().error()?.as_error::<AuthError>()?;
    (!res.response().extensions().contains::<Answered>()).then_some(err)
}

/// The target of the middleware's events, the same whichever file records them.
const LOG_TARGET: &str = "auth_runtime::middleware";

/// Counts and logs a rejection: `info`, or `warn` when authentication is unavailable (503);
/// `in_span`: also puts it on the request's `authenticate` span, the current one.
fn record_rejection(err: &AuthError, in_span: bool) {
    let status = err.status();
    if in_span {
        let span = Span::current();
        let outcome = if status == StatusCode::FORBIDDEN {
            "forbidden"
        } else {
            "rejected"
        };
        span.record("outcome", display(outcome));
        span.record("reason", display(err.code()));
    }
    metrics::refused(err.code());
    let status = status.as_u16();
    if status == 503 {
        tracing::warn!(target: LOG_TARGET, status, detail = %err, "request rejected");
    } else {
        tracing::info!(target: LOG_TARGET, status, detail = %err, "request rejected");
    }
}

/// The parts of a request head kept aside while routing takes the request, to answer for it
/// if it turns out to need a rejection.
pub(super) struct HeadCopy {
    method: Method,
    uri: Uri,
    version: Version,
    peer_addr: Option<std::net::SocketAddr>,
}

impl HeadCopy {
    pub(super) fn of(req: &ServiceRequest) -> HeadCopy {
        let head = req.head();
        HeadCopy {
            method: head.method.clone(),
            uri: head.uri.clone(),
            version: head.version,
            peer_addr: head.peer_addr,
        }
    }

    /// How the token of the request this is the head of was presented, with its `headers`.
    pub(super) fn presented<'a>(
        &'a self,
        headers: &'a HeaderMap,
        scheme: Scheme,
        secure: bool,
    ) -> Presented<'a> {
        Presented::from_parts(&self.method, &self.uri, headers, scheme, secure)
    }

    /// A request carrying this head and `headers`, to answer for one that routing consumed.
    /// It has no extensions and no app data of its own.
    pub(super) fn into_request(self, headers: HeaderMap) -> ServiceRequest {
        let mut head = RequestHead::default();
        head.method = self.method;
        head.uri = self.uri;
        head.version = self.version;
        head.peer_addr = self.peer_addr;
        head.headers = headers;
        let mut req = actix_web::test::TestRequest::default().to_srv_request();
        req.match_info_mut().get_mut().update(&head.uri);
        *req.head_mut() = head;
        req
    }
}

/// The span of one request's authentication. Its fields are filled in as they become known:
/// `iss` and `sub` once the token is verified and the route needs them, `outcome`
/// (`authenticated`, `anonymous`, `rejected` or `forbidden`) and `reason` (the
/// [`AuthError::code`]). It never holds the token or a claim of a token that failed its checks.
pub(super) fn auth_span(req: &ServiceRequest) -> Span {
    tracing::info_span!(
        target: LOG_TARGET,
        "authenticate",
        method = %req.method(),
        path = %req.path(),
        iss = Empty,
        sub = Empty,
        outcome = Empty,
        reason = Empty,
    )
}

/// The `authenticate` span of a request whose caller is known before it opens: the same
/// span as [`auth_span`], with `iss` and `sub` given at once (a route reached this way is
/// never anonymous).
pub(super) fn caller_span(req: &ServiceRequest, principal: &Principal) -> Span {
    tracing::info_span!(
        target: LOG_TARGET,
        "authenticate",
        method = %req.method(),
        path = %req.path(),
        iss = principal
            .raw_claims()
            .get("iss")
            .and_then(|iss| iss.as_str())
            .map(display),
        sub = %principal.claims().sub,
        outcome = Empty,
        reason = Empty,
    )
}
