//! Anonymous routes: the guard that marks a resource as anonymous, and the declaration that
//! lets the middleware know such a resource may exist for a request.
//!
//! Inside an app wrapped by [`JwtAuth`](crate::JwtAuth) every route needs a valid token. A
//! resource becomes anonymous with two pieces, both needed:
//!
//! 1. the [`AnonymousGuard`], added as the **last** guard of the resource or route: when
//!    routing picks that resource, the guard marks the request as anonymous;
//! 2. a declaration of its methods and pattern on the middleware
//!    ([`JwtAuth::anonymous_route`](crate::JwtAuth::anonymous_route)), so that a request
//!    without a token that could reach it is routed first instead of refused at once.
//!
//! ```
//! use actix_web::{App, HttpResponse, http::Method, web};
//! use auth_runtime::{AnonymousGuard, JwtAuth};
//!
//! # fn demo(auth: JwtAuth) {
//! let auth = auth.anonymous_route(&[Method::GET], "/health");
//! let app = App::new()
//!     .wrap(auth)
//!     .service(
//!         web::resource("/health")
//!             .guard(AnonymousGuard)
//!             .route(web::get().to(|| async { HttpResponse::Ok().body("up") })),
//!     );
//! # }
//! ```
//!
//! A path prefix listed in `public_paths` needs neither: the middleware does not look at such
//! requests at all.

use std::cell::Cell;
use std::rc::Rc;

use actix_web::guard::{Guard, GuardContext};
use actix_web::http::Method;

/// Marks the resource it guards as anonymous. Always passes; put it last, after any other
/// guard, so that it only marks a request when its resource is really the one chosen.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnonymousGuard;

impl Guard for AnonymousGuard {
    fn check(&self, ctx: &GuardContext<'_>) -> bool {
        if let Some(mark) = ctx.req_data().get::<AnonymousMark>() {
            mark.0.set(true);
        }
        true
    }
}

/// Shared between the middleware and the guard through the request extensions: routing owns
/// the request while it runs, so the middleware keeps its own handle to the cell.
#[derive(Clone, Default)]
pub(crate) struct AnonymousMark(pub(crate) Rc<Cell<bool>>);

impl AnonymousMark {
    /// A fresh mark, put into the request's extensions for the guard to find.
    pub(crate) fn install(req: &actix_web::dev::ServiceRequest) -> AnonymousMark {
        use actix_web::HttpMessage as _;
        let mark = AnonymousMark::default();
        req.extensions_mut().insert(mark.clone());
        mark
    }
}

/// One anonymous route: its methods (empty: any) and its pattern relative to its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousRoute {
    methods: Vec<Method>,
    pattern: String,
}

impl AnonymousRoute {
    /// A route answering `methods` (empty: any method) at `pattern`, spelled as in the
    /// resource definition (`"/items/{id}"`).
    pub fn new(methods: &[Method], pattern: impl Into<String>) -> AnonymousRoute {
        AnonymousRoute {
            methods: methods.to_vec(),
            pattern: pattern.into(),
        }
    }

    /// Whether a request for `method` that routing would send to a resource with the full
    /// pattern `matched` could be this route. A yes is checked again after routing, so it
    /// may be generous; a no must be right.
    pub(crate) fn could_match(&self, method: &Method, matched: &str) -> bool {
        (self.methods.is_empty() || self.methods.contains(method))
            && matched.ends_with(self.pattern.as_str())
    }
}
