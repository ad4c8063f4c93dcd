//! The actix [`Service`]: decides, per request, whether authentication is needed and when
//! (before routing, or after it when an anonymous route may answer), and names the states of
//! the response future.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, forward_ready};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage as _};
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tracing::field::display;
use tracing::{Instrument as _, Span};

use super::Policy;
use super::authenticator::credentials;
use super::response::{HeadCopy, auth_span, caller_span, finish, finish_routed, reject};
use crate::anonymous;
use crate::context::SecurityContext;
use crate::dpop::{DPOP_NONCE, Presented, Scheme};
use crate::error::AuthError;
use crate::issuer::Wait;
use crate::principal::Principal;

/// The per-worker service [`JwtAuth`](crate::JwtAuth) wraps around the app.
pub struct JwtAuthMiddleware<S> {
    service: Rc<S>,
    policy: Arc<Policy>,
    /// Headers of the request being routed first, kept in case it needs a rejection.
    spare_headers: RefCell<HeaderMap>,
}

impl<S> JwtAuthMiddleware<S> {
    pub(super) fn new(service: S, policy: Arc<Policy>) -> JwtAuthMiddleware<S> {
        JwtAuthMiddleware {
            service: Rc::new(service),
            policy,
            spare_headers: RefCell::new(HeaderMap::new()),
        }
    }
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

pin_project! {
    /// The response future of [`JwtAuthMiddleware`].
    pub struct JwtAuthFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        /// Not looked at (auth disabled, or a `public_paths` prefix): the inner service is
        /// called when this is first polled, as is, so that its routing happens outside the
        /// routing window of a `JwtAuth` wrapped around this one (a guard run there marks
        /// nothing for it).
        Unchecked {
            future: LocalBoxFuture<Result<ServiceResponse<EitherBody<B>>, Error>>,
        },
        /// Routed to an anonymous route without a token: the handler runs with no identity.
        /// `policy` is there only when rejections are reshaped or get more challenges.
        Anonymous {
            #[pin]
            future: TaskLocalFuture<Option<Principal>, F>,
            policy: Option<Arc<Policy>>,
        },
        /// Authenticating a token (which may wait for keys or a revocation list), then the
        /// handler inside the caller's identity.
        Authenticating {
            future: LocalBoxFuture<Result<ServiceResponse<EitherBody<B>>, Error>>,
        },
        /// Decided without a handler: a rejection after routing, or the resource metadata.
        Rejected {
            response: Option<ServiceResponse<EitherBody<B>>>,
        },
    }
}

impl<F, B> Future for JwtAuthFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Unchecked { future } => future.as_mut().poll(cx),
            StateProj::Anonymous { future, policy } => {
                let res = std::task::ready!(future.poll(cx))?;
                Poll::Ready(Ok(match policy {
                    Some(policy) => finish(&policy.responder, res, false),
                    None => finish(&DEFAULT_RESPONDER, res, false),
                }))
            }
            StateProj::Authenticating { future } => future.as_mut().poll(cx),
            StateProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polling a future again after it returned `Ready` breaks the `Future`
                // contract; actix never does.
                None => panic!("JwtAuthFuture polled after completion"),
            },
        }
    }
}

/// Rejections answered the default way: what the anonymous fast path uses when no
/// reshaping is configured, so that it needs no reference to the policy.
static DEFAULT_RESPONDER: crate::responder::Responder = crate::responder::Responder::DEFAULT;

impl<S, B> Service<ServiceRequest> for JwtAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = JwtAuthFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let policy = &self.policy;
        if let Some(metadata) = &policy.metadata
            && metadata.serves(&req)
        {
            // Public by design (RFC 9728): it tells clients how to get a token.
            let (req, _) = req.into_parts();
            let response = ServiceResponse::new(req, metadata.response()).map_into_right_body();
            return JwtAuthFuture::new(State::Rejected {
                response: Some(response),
            });
        }
        if !policy.config.enabled() || policy.is_public_path(req.match_info().as_str()) {
            if req.extensions().contains::<Principal>() {
                // Authenticated by a `JwtAuth` around this one: routed later on purpose.
                req.extensions_mut().insert(anonymous::PassedOn);
            }
            let (policy, service) = (Arc::clone(policy), Rc::clone(&self.service));
            return JwtAuthFuture::new(State::Unchecked {
                future: Box::pin(async move {
                    Ok(finish(&policy.responder, service.call(req).await?, false))
                }),
            });
        }
        if !policy.could_be_anonymous(&req) {
            // No anonymous resource can answer: decide before routing, so that a rejection
            // is an ordinary response that outer middleware still decorates.
            return self.authenticate_first(req);
        }
        if credentials(req.headers()).is_ok() {
            // An anonymous resource may answer, and the request carries a token. It is checked
            // before routing, so that the identity is in the request's extensions when the
            // handler runs (`web::ReqData<Principal>`); an anonymous route ignores the outcome.
            return self.authenticate_then_route(req);
        }
        self.route_first(req)
    }
}

impl<S, B> JwtAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    /// No anonymous route can answer: the token decides, before routing.
    fn authenticate_first(&self, req: ServiceRequest) -> JwtAuthFuture<S::Future, B> {
        let (policy, service) = (Arc::clone(&self.policy), Rc::clone(&self.service));
        let presented = credentials(req.headers());
        let seen = presented
            .as_ref()
            .ok()
            .and_then(|(_, token)| policy.authenticator.seen(token));
        // A cached verdict with nothing to wait for or report: the span opens with the caller
        // in it, rather than having it recorded once the span is open.
        if let (Ok((scheme, _)), Some(entry)) = (&presented, seen.as_deref())
            && let Some(principal) = policy.authenticator.at_once(entry, *scheme)
        {
            let span = caller_span(&req, &principal);
            return JwtAuthFuture::authenticating(
                async move { run(&policy, &*service, req, principal, Recorded::Yes).await }
                    .instrument(span),
            );
        }
        let span = auth_span(&req);
        JwtAuthFuture::authenticating(
            async move {
                let verdict = match credentials(req.headers()) {
                    Ok((scheme, token)) => {
                        let presented = Presented::of(&req, scheme);
                        policy
                            .authenticator
                            .authenticate_seen(token, seen, &presented, Wait::ForFetch)
                            .await
                    }
                    Err(err) => Err(err),
                };
                match verdict {
                    Ok(principal) => run(&policy, &*service, req, principal, Recorded::No).await,
                    Err(err) => Ok(reject(&policy, req, err)),
                }
            }
            .instrument(span),
        )
    }

    /// An anonymous route may answer a request that carries a token: the token is checked
    /// first, as far as it can be without waiting for the network (a cached verdict, a key
    /// held, a fresh revocation list). When it fails, or needs a fetch, routing says whether
    /// the request needed it; only a protected route then waits for the fetch.
    fn authenticate_then_route(&self, req: ServiceRequest) -> JwtAuthFuture<S::Future, B> {
        let (policy, service) = (Arc::clone(&self.policy), Rc::clone(&self.service));
        let span = auth_span(&req);
        JwtAuthFuture::authenticating(
            async move {
                let (scheme, token) = credentials(req.headers()).unwrap_or((Scheme::Bearer, ""));
                let presented = Presented::of(&req, scheme);
                let verdict = policy
                    .authenticator
                    .authenticate(token, &presented, Wait::Never)
                    .await;
                let err = match verdict {
                    Ok(principal) => {
                        return run(&policy, &*service, req, principal, Recorded::No).await;
                    }
                    Err(err) => err,
                };
                // Kept for after routing, which takes the request: the token when it still
                // needs a fetch, and a copy of the head to answer for the request (a rare
                // path).
                let needs_fetch = matches!(
                    err,
                    AuthError::KeysUnavailable | AuthError::RevocationUnavailable
                );
                let token = needs_fetch.then(|| Box::<str>::from(token));
                let head = HeadCopy::of(&req);
                let headers = req.headers().clone();
                // What a proof checked after routing is checked against.
                let secure = req.app_config().secure();
                let (routed, anonymous) = anonymous::route(|| service.call(req));
                if anonymous {
                    let res = SecurityContext::anonymous_scope(routed).await?;
                    return Ok(finish_routed(&policy.responder, res, true));
                }
                let err = match token {
                    // A protected route: now it may wait. The identity reaches the handler
                    // through the task-local scope, too late for the request's extensions.
                    Some(token) => match policy
                        .authenticator
                        .authenticate(
                            &token,
                            &head.presented(&headers, scheme, secure),
                            Wait::ForFetch,
                        )
                        .await
                    {
                        Ok(principal) => {
                            record_caller(&principal);
                            let nonce = policy.authenticator.nonce_for(&principal);
                            let res = SecurityContext::scope(Some(principal), routed).await?;
                            let res = finish_routed(&policy.responder, res, false);
                            return Ok(with_nonce(res, nonce));
                        }
                        Err(err) => err,
                    },
                    None => err,
                };
                // The request belongs to the unpolled handler future, dropped here without
                // having run; the answer goes out on a request rebuilt from the head, so
                // that outer middleware handles it like any other response.
                drop(routed);
                Ok(reject(&policy, head.into_request(headers), err))
            }
            .instrument(span),
        )
    }

    /// An anonymous route may answer and there is no token: route first, then look at the
    /// mark. Routing takes the request; a copy of its head answers for it if it turns out to
    /// need the 401.
    fn route_first(&self, req: ServiceRequest) -> JwtAuthFuture<S::Future, B> {
        let head = {
            let mut spare = self.spare_headers.borrow_mut();
            spare.clear();
            for (name, value) in req.headers().iter() {
                spare.append(name.clone(), value.clone());
            }
            HeadCopy::of(&req)
        };
        let (routed, anonymous) = anonymous::route(|| self.service.call(req));
        if anonymous {
            // The copy is not needed; it must not keep this request's headers around.
            self.spare_headers.borrow_mut().clear();
            let responder = &self.policy.responder;
            let policy = (responder.reshapes() || responder.adds_challenges())
                .then(|| Arc::clone(&self.policy));
            return JwtAuthFuture::new(State::Anonymous {
                future: SecurityContext::anonymous_scope(routed),
                policy,
            });
        }
        drop(routed);
        let req = head.into_request(std::mem::take(&mut *self.spare_headers.borrow_mut()));
        let response =
            auth_span(&req).in_scope(|| reject(&self.policy, req, AuthError::MissingCredentials));
        JwtAuthFuture::new(State::Rejected {
            response: Some(response),
        })
    }
}

impl<F, B> JwtAuthFuture<F, B> {
    fn new(state: State<F, B>) -> JwtAuthFuture<F, B> {
        JwtAuthFuture { state }
    }

    fn authenticating(
        future: impl Future<Output = Result<ServiceResponse<EitherBody<B>>, Error>> + 'static,
    ) -> JwtAuthFuture<F, B> {
        JwtAuthFuture::new(State::Authenticating {
            future: Box::pin(future),
        })
    }
}

/// Whether the request's `authenticate` span was opened with the caller in it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Recorded {
    Yes,
    No,
}

/// Puts the caller's issuer and subject on the request's `authenticate` span.
fn record_caller(principal: &Principal) {
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    if let Some(iss) = principal
        .raw_claims()
        .get("iss")
        .and_then(|iss| iss.as_str())
    {
        span.record("iss", display(iss));
    }
    span.record("sub", display(&principal.claims().sub));
}

/// Runs the request for `principal`: the identity goes into the request's extensions and
/// the task-local scope, unless routing picks a route marked anonymous (whose guard takes it
/// back out of the extensions).
async fn run<S, B>(
    policy: &Policy,
    service: &S,
    req: ServiceRequest,
    principal: Principal,
    recorded: Recorded,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    req.extensions_mut().insert(principal.clone());
    let nonce = policy.authenticator.nonce_for(&principal);
    let (routed, anonymous) = anonymous::route(|| service.call(req));
    if !anonymous && recorded == Recorded::No {
        record_caller(&principal);
    }
    let identity = (!anonymous).then_some(principal);
    let res = SecurityContext::scope(identity, routed).await?;
    Ok(with_nonce(
        finish_routed(&policy.responder, res, anonymous),
        nonce,
    ))
}

/// `res` with the server nonce a DPoP caller is to use next, when there is one.
fn with_nonce<B>(mut res: ServiceResponse<B>, nonce: Option<HeaderValue>) -> ServiceResponse<B> {
    if let Some(nonce) = nonce {
        res.headers_mut()
            .insert(HeaderName::from_static(DPOP_NONCE), nonce);
    }
    res
}
