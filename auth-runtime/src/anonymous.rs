//! Anonymous routes: the guard that marks a resource, and the pre-routing declarations.

use std::cell::Cell;
use std::future::{Ready, ready};
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::HttpMessage as _;
use actix_web::dev::{
    Extensions, ResourceDef, Service, ServiceRequest, ServiceResponse, Transform, forward_ready,
};
use actix_web::guard::{Guard, GuardContext};
use actix_web::http::Method;

use crate::principal::Principal;

/// Anonymous routes: the guard that marks a resource as anonymous, and the declaration that
/// lets the middleware know such a resource may exist for a request.
///
/// Inside an app wrapped by [`JwtAuth`](crate::JwtAuth) every route needs a valid token. A
/// resource becomes anonymous with two pieces, both needed:
///
/// 1. a mark: the [`Anonymous`] middleware on the route or resource (it marks the request
///    when routing picks it), or the [`AnonymousGuard`] as its **last** guard (what
///    `#[allow_anonymous]` adds);
/// 2. a declaration of its methods and pattern on the middleware
///    ([`JwtAuth::anonymous_route`](crate::JwtAuth::anonymous_route)), so that a request
///    without a token that could reach it is routed first instead of refused at once.
///
/// ```
/// use actix_web::{App, HttpResponse, http::Method, web};
/// use auth_runtime::{AnonymousGuard, JwtAuth};
///
/// # fn demo(auth: JwtAuth) {
/// let auth = auth.anonymous_route(&[Method::GET], "/health");
/// let app = App::new()
///     .wrap(auth)
///     .service(
///         web::resource("/health")
///             .guard(AnonymousGuard)
///             .route(web::get().to(|| async { HttpResponse::Ok().body("up") })),
///     );
/// # }
/// ```
///
/// A path prefix listed in `public_paths` needs neither: the middleware does not look at such
/// requests at all.
///
/// Marks the resource it guards as anonymous. Always passes; it must be the **last** guard
/// checked, after any other guard of its route and resource, so that it only marks a request
/// whose resource is really the one chosen: a guard checked after it that then fails (a
/// `.method(..)` added after it on a `web::route()`) would leave the mark on a request routed
/// elsewhere. `#[allow_anonymous]` puts it last; for routes registered by hand, [`Anonymous`]
/// has no such rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnonymousGuard;

impl Guard for AnonymousGuard {
    fn check(&self, ctx: &GuardContext<'_>) -> bool {
        leave_anonymous(&mut ctx.req_data_mut());
        true
    }
}

/// Marks the route it wraps as anonymous, as [`AnonymousGuard`] does, but only
/// once routing has really picked it: it runs after every guard passed, so the order in which
/// guards and it are added does not matter. The safer choice for resources registered by
/// hand; it still needs the route declared with
/// [`JwtAuth::anonymous_route`](crate::JwtAuth::anonymous_route).
///
/// ```
/// use actix_web::{App, HttpResponse, http::Method, web};
/// use auth_runtime::{Anonymous, JwtAuth};
///
/// # fn demo(auth: JwtAuth) {
/// let auth = auth.anonymous_route(&[Method::GET], "/status");
/// let app = App::new().wrap(auth).service(
///     web::resource("/status")
///         .route(web::get().to(|| async { HttpResponse::Ok().body("up") }).wrap(Anonymous))
///         .route(web::post().to(|| async { HttpResponse::Accepted().finish() })),
/// );
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Anonymous;

impl<S, B> Transform<S, ServiceRequest> for Anonymous
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = AnonymousService<S>;
    type InitError = ();
    type Future = Ready<Result<AnonymousService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AnonymousService { service }))
    }
}

/// The service [`Anonymous`] wraps around a route or resource.
pub struct AnonymousService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for AnonymousService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = S::Future;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> S::Future {
        leave_anonymous(&mut req.extensions_mut());
        self.service.call(req)
    }
}

/// Marks the request being routed to an anonymous route; the route runs without an identity,
/// so none stays in the request's extensions either.
///
/// A `Principal` there while no middleware is routing means a `JwtAuth` authenticated the
/// request and handed it on, and something between it and the routes routed it later: a
/// middleware that awaits before calling further in. Anonymous routes then cannot be told
/// apart in time (they answer 401 without a token), which is said once, at `error`, with the
/// fix. A `JwtAuth` that passed the request on unchecked (a `public_paths` prefix) leaves
/// [`PassedOn`] to say it routes later on purpose.
fn leave_anonymous(extensions: &mut Extensions) {
    if mark() {
        extensions.remove::<Principal>();
        return;
    }
    if extensions.contains::<PassedOn>() || extensions.remove::<Principal>().is_none() {
        return;
    }
    static REPORTED: AtomicBool = AtomicBool::new(false);
    if !REPORTED.swap(true, Ordering::Relaxed) {
        tracing::error!(
            "an anonymous route was routed after JwtAuth handed the request on: a middleware \
             registered before `.wrap(auth)` (so inside JwtAuth) awaits before calling \
             further in (as a session middleware that loads the session first does), so \
             anonymous routes answer 401 to requests \
             without a token; register that middleware after `.wrap(auth)` (outside JwtAuth)"
        );
    }
}

/// Left in the extensions by a `JwtAuth` that passed a request on without looking at it,
/// whose routing then happens after its `call` on purpose.
pub(crate) struct PassedOn;

/// Marks the request being routed as anonymous, when a middleware is routing it; tells
/// whether one is.
fn mark() -> bool {
    WINDOW.with(|window| {
        let mut state = window.get();
        if state.open {
            state.marked = true;
            window.set(state);
        }
        state.open
    })
}

/// Where the guard leaves its mark while the middleware routes a request.
#[derive(Clone, Copy, Default)]
struct Window {
    open: bool,
    marked: bool,
}

thread_local! {
    static WINDOW: Cell<Window> = const { Cell::new(Window { open: false, marked: false }) };
}

/// Runs `route` (the inner service's `call`, which routes synchronously) and tells whether
/// the resource routing picked carries the [`AnonymousGuard`].
///
/// The mark travels through a per-thread window that is open only while `route` runs: the
/// guard of the request being routed is the only one that can run inside it, since routing
/// runs to its end within `call` on this thread and nothing else runs there meanwhile. A
/// window opened inside another (a scope wrapped by its own `JwtAuth`) passes its mark on to
/// the outer one when it closes; a guard that runs outside any window (routing deferred by
/// some middleware in between) marks nothing, so the request keeps needing a token. Nothing
/// is allocated.
pub(crate) fn route<R>(route: impl FnOnce() -> R) -> (R, bool) {
    struct Restore(Window);
    impl Drop for Restore {
        fn drop(&mut self) {
            WINDOW.with(|window| window.set(self.0));
        }
    }
    let mut outer = Restore(WINDOW.with(|window| {
        window.replace(Window {
            open: true,
            marked: false,
        })
    }));
    let routed = route();
    let marked = WINDOW.with(|window| window.get().marked);
    // A window opened inside another one (a scope wrapped by its own `JwtAuth`) routed the
    // same request on to an anonymous handler: the outer request is anonymous too.
    outer.0.marked |= marked && outer.0.open;
    drop(outer);
    (routed, marked)
}

/// How many path segments of scopes the pre-routing check looks behind.
const MAX_SCOPE_DEPTH: usize = 16;

/// One anonymous route: its methods (empty: any) and its pattern relative to its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousRoute {
    methods: Vec<Method>,
    pattern: ResourceDef,
    /// The pattern matches the empty rest of a path: a resource at its scope's own path.
    at_scope_root: bool,
    /// The pattern when it is one path, without variables: routing matches it exactly.
    exact: Option<Box<str>>,
    /// Declared by `#[allow_anonymous]`, not by hand.
    #[cfg_attr(not(feature = "openapi"), allow(dead_code))]
    pub(crate) by_attribute: bool,
}

impl AnonymousRoute {
    /// A route answering `methods` (empty: any method) at `pattern`, spelled as in the
    /// resource definition (`"/items/{id}"`, `"/files/{path:.*}"`).
    pub fn new(methods: &[Method], pattern: &str) -> AnonymousRoute {
        let pattern = compile(pattern);
        let exact = pattern
            .pattern()
            .filter(|p| p.starts_with('/') && !p.contains(['{', '}', '*']))
            .map(Box::from);
        AnonymousRoute {
            methods: methods.to_vec(),
            at_scope_root: pattern.is_match(""),
            exact,
            pattern,
            by_attribute: false,
        }
    }

    /// The pattern as written, for OpenAPI documents.
    #[cfg(feature = "openapi")]
    pub(crate) fn pattern(&self) -> Option<&str> {
        self.pattern.pattern()
    }

    /// The methods (empty: any), for OpenAPI documents.
    #[cfg(feature = "openapi")]
    pub(crate) fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// Whether routing could hand a request for `method` and `path` (the decoded path routing
    /// matches on, relative to where the middleware sits) to this route, in whatever scope it
    /// is mounted. A yes is checked again after routing, so it may be generous; a no must be
    /// right. Allocates nothing.
    pub(crate) fn could_match(&self, method: &Method, path: &str) -> bool {
        if !(self.methods.is_empty() || self.methods.contains(method)) {
            return false;
        }
        // A scope consumes a prefix of the path that ends before a `/` (or at its end), and
        // the route matches the rest. The scope's own pattern is unknown here, so every such
        // split is a candidate, up to a nesting depth no app reaches; a path with more splits
        // than that (made up to cost CPU) is a generous yes.
        if self.at_scope_root {
            return true;
        }
        // A path without variables matches where the path ends with it: it starts with a
        // `/`, so the rest it is equal to starts where a scope's prefix may end.
        if let Some(exact) = &self.exact {
            return path.ends_with(&**exact);
        }
        self.matches_after_a_scope(path)
    }

    /// The pattern matched against the whole path and against each rest a scope may leave.
    fn matches_after_a_scope(&self, path: &str) -> bool {
        if self.pattern.is_match(path) {
            return true;
        }
        let mut splits = path.match_indices('/').filter(|(at, _)| *at > 0);
        for _ in 0..MAX_SCOPE_DEPTH {
            match splits.next() {
                Some((at, _)) if self.pattern.is_match(&path[at..]) => return true,
                Some(_) => {}
                None => return false,
            }
        }
        true
    }
}

/// The pattern as routing sees it: actix puts a `/` in front of a non-empty pattern that lacks
/// one. A pattern actix itself would refuse (it panics when the resource is registered) is
/// taken as matching every path, which keeps the answer generous rather than wrong.
fn compile(pattern: &str) -> ResourceDef {
    let pattern = if pattern.is_empty() || pattern.starts_with('/') {
        pattern.to_owned()
    } else {
        format!("/{pattern}")
    };
    let parsed = std::panic::catch_unwind(|| ResourceDef::new(pattern.as_str()));
    parsed.unwrap_or_else(|_| {
        tracing::warn!(
            pattern,
            "anonymous route pattern does not parse; matching every path"
        );
        ResourceDef::new("/{tail}*")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// Counts the allocations of the current thread, so that tests running in parallel do
    /// not disturb each other's figures.
    struct Counting;

    thread_local! {
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    // SAFETY: every call is forwarded to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
            // SAFETY: same layout, same contract.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `alloc` above, which is the system allocator's.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    fn routes() -> Vec<AnonymousRoute> {
        vec![
            AnonymousRoute::new(&[Method::GET], "/health"),
            AnonymousRoute::new(&[Method::GET, Method::PUT], "/orders/{id:\\d+}"),
            AnonymousRoute::new(&[], "/assets/{path:.*}"),
            AnonymousRoute::new(&[Method::GET], "/stock/{id}/public"),
        ]
    }

    const PATHS: [&str; 6] = [
        "/health",
        "/api/v1/orders/42",
        "/assets/css/site.css",
        "/stock/7/public",
        "/api/profile/settings/notifications",
        "/",
    ];

    #[test]
    fn the_check_allocates_nothing() {
        let routes = routes();
        let check = |method: &Method| {
            PATHS
                .iter()
                .filter(|path| routes.iter().any(|r| r.could_match(method, path)))
                .count()
        };
        // Warm up the regex engines' per-thread caches.
        assert_eq!(check(&Method::GET), 4);
        let counted = ALLOCATIONS.with(Cell::get);
        drop(std::hint::black_box(String::from("counted")));
        assert_eq!(
            ALLOCATIONS.with(Cell::get),
            counted + 1,
            "the counter counts"
        );
        let before = ALLOCATIONS.with(Cell::get);
        for _ in 0..1000 {
            assert_eq!(check(&Method::GET), 4);
            assert_eq!(check(&Method::POST), 1);
        }
        assert_eq!(ALLOCATIONS.with(Cell::get) - before, 0);
    }

    #[test]
    fn a_route_matches_in_any_scope_and_never_for_another_method() {
        let health = AnonymousRoute::new(&[Method::GET], "/health");
        assert!(health.could_match(&Method::GET, "/health"));
        assert!(health.could_match(&Method::GET, "/internal/health"));
        assert!(!health.could_match(&Method::POST, "/health"));
        assert!(!health.could_match(&Method::GET, "/healthz"));
        assert!(!health.could_match(&Method::GET, "/health/x"));
        let relative = AnonymousRoute::new(&[], "status");
        assert!(relative.could_match(&Method::DELETE, "/v1/status"));
        let root = AnonymousRoute::new(&[Method::GET], "");
        assert!(
            root.could_match(&Method::GET, "/anything"),
            "a scope's own path"
        );
    }

    #[test]
    fn a_path_without_variables_answers_as_routing_would() {
        let paths = [
            "/health",
            "/internal/health",
            "/a/internal/health",
            "/healthz",
            "/xhealth",
            "/health/",
            "/health/x",
            "/v1/status",
            "/status",
            "/v1/statusx",
            "/a/b",
            "/x/a/b",
            "/a/b/c",
            "//health",
            "",
            "/",
        ];
        for pattern in ["/health", "status", "/a/b", "/health/"] {
            let route = AnonymousRoute::new(&[], pattern);
            assert!(route.exact.is_some(), "{pattern}");
            for path in paths {
                assert_eq!(
                    route.could_match(&Method::GET, path),
                    route.matches_after_a_scope(path),
                    "{pattern} against {path}"
                );
            }
        }
        for pattern in ["/items/{id}", "/files/{tail}*", ""] {
            assert!(
                AnonymousRoute::new(&[], pattern).exact.is_none(),
                "{pattern}"
            );
        }
    }

    #[test]
    fn a_path_of_many_slashes_is_a_cheap_yes() {
        let route = AnonymousRoute::new(&[Method::GET], "/files/{name:.*}/public");
        let deep = "/".repeat(60_000);
        assert!(route.could_match(&Method::GET, &deep));
        let nested = format!("{}/files/a/public", "/s".repeat(15));
        assert!(route.could_match(&Method::GET, &nested));
        let shallow = "/a/b/c/d";
        assert!(!route.could_match(&Method::GET, shallow));
    }

    #[test]
    fn a_pattern_actix_refuses_matches_everything_instead_of_panicking() {
        let broken = AnonymousRoute::new(&[Method::GET], "/items/{id");
        assert!(broken.could_match(&Method::GET, "/somewhere/else"));
    }
}
