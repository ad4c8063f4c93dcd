//! What the attribute macros expand to. Not a public API: names and shapes change without
//! notice; use the attributes.

use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::guard::{Guard, GuardContext};
use actix_web::{FromRequest, HttpMessage as _, HttpRequest};

pub use inventory;

/// The environment provider and error wording `auth-server` shares with this crate.
pub use crate::config::{EnvSection, explain, is_secret_key};

/// Refuses a figment with a misspelled `section` and no real one (`server_auth` too).
pub fn check_section(figment: &figment::Figment, section: &str) -> Result<(), crate::ConfigError> {
    crate::config::check_section(figment, section)
}

/// The aws-lc signing algorithm of an ML-DSA level; `None` for the classical algorithms.
pub fn ml_dsa_signing(
    alg: crate::Algorithm,
) -> Option<&'static aws_lc_rs::signature::PqdsaSigningAlgorithm> {
    alg.ml_dsa().map(|level| level.signing)
}

/// `url` as it may be shown in errors and logs (see the validator's own fetch rules).
pub fn redact_url(url: &str, keep_user: bool) -> String {
    crate::fetch::redact_url(url, keep_user)
}

/// Checks one DPoP proof as the middleware does for a `GET` of `url` with `token`, bound to
/// `jkt`, against the default proof algorithms, a 60 s age and a 30 s leeway at `now`: the
/// proof parser's entry point for the fuzz target. No replay record is kept.
pub fn check_dpop_proof(
    proof: &str,
    url: &str,
    token: &str,
    jkt: &str,
    now: u64,
) -> Result<(), crate::DpopReason> {
    crate::dpop::check_proof_for_fuzzing(proof, url, token, jkt, now)
}

/// DPoP at a token endpoint (auth-server): a proof checked without an access token, its
/// key's thumbprint, and the proofs spent.
pub use crate::dpop::{
    DEFAULT_DPOP_ALGORITHMS, ProofReplay, TokenEndpointProof, check_token_endpoint_proof,
};

/// The `dpop_algorithms` of a configuration, parsed (public-key algorithms only).
pub use crate::algorithm::public_key_algorithms;

/// `url` in the one form DPoP compares URLs in; `None` for anything but an absolute http(s)
/// URL.
pub fn normalise_url(url: &str) -> Option<String> {
    crate::dpop::normalise(url)
}

use crate::context::SecurityContext;
use crate::error::AuthError;
use crate::principal::Principal;

/// What the `#[requires_*]` attributes of one handler ask for, carried by a marker type the
/// macro generates. An empty list asks for nothing.
pub trait Policy {
    /// `#[requires_role]`: any of these roles.
    const ROLES: &'static [&'static str];
    /// `#[requires_scope]`: any of these scopes.
    const SCOPES: &'static [&'static str];
    /// `#[requires_group]`: any of these groups.
    const GROUPS: &'static [&'static str];
}

/// The hidden first parameter of a handler with `#[requires_*]` attributes. Extracted before
/// every other parameter: 401 without an identity, 403 when one of the lists is not met.
pub struct Require<P: Policy>(PhantomData<P>);

impl<P: Policy> FromRequest for Require<P> {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(SecurityContext::check(|me| check::<P>(req, me)).map(|()| Require(PhantomData)))
    }
}

/// The policy's lists against the caller. A caller whose token was checked after routing
/// (it needed a fetch, on a path an anonymous route might have answered) is not in the
/// request's extensions yet: put there, before any other extractor runs, so that
/// `web::ReqData<Principal>` finds it.
fn check<P: Policy>(req: &HttpRequest, me: &Principal) -> Result<(), AuthError> {
    if !req.extensions().contains::<Principal>() {
        req.extensions_mut().insert(me.clone());
    }
    if !P::ROLES.is_empty() {
        me.require_any_role(P::ROLES)?;
    }
    if !P::SCOPES.is_empty() {
        me.require_any_scope(P::SCOPES)?;
    }
    if !P::GROUPS.is_empty() {
        me.require_any_group(P::GROUPS)?;
    }
    Ok(())
}

/// The guard `#[allow_anonymous]` appends to the route attribute.
pub fn anonymous(ctx: &GuardContext<'_>) -> bool {
    crate::AnonymousGuard.check(ctx)
}

/// One route declared anonymous by `#[allow_anonymous]`, collected at link time.
pub struct AnonymousDeclaration {
    /// The handler's function name.
    pub handler: &'static str,
    /// Upper-case method names.
    pub methods: &'static [&'static str],
    /// The pattern as written in the route attribute.
    pub pattern: &'static str,
}

/// A route attribute below a `#[requires_*]` attribute.
pub struct RouteDeclaration {
    /// Upper-case method names.
    pub methods: &'static [&'static str],
    /// The pattern as written in the route attribute.
    pub pattern: &'static str,
}

/// What the `#[requires_*]` attributes of one handler ask for, collected at link time for
/// OpenAPI documents (feature `openapi`) and the scopes of the protected resource metadata.
pub struct PolicyDeclaration {
    /// The handler's function name (utoipa's default `operation_id`).
    pub handler: &'static str,
    /// `#[requires_role]`.
    pub roles: &'static [&'static str],
    /// `#[requires_scope]`.
    pub scopes: &'static [&'static str],
    /// `#[requires_group]`.
    pub groups: &'static [&'static str],
    /// The route attributes below the outermost `#[requires_*]`, when it is above them.
    pub routes: &'static [RouteDeclaration],
}

inventory::collect!(PolicyDeclaration);

/// Declares a handler's policy for OpenAPI documents and the resource metadata.
#[doc(hidden)]
#[macro_export]
macro_rules! __declare_policy {
    (
        handler: $handler:expr,
        roles: [$($role:expr),*],
        scopes: [$($scope:expr),*],
        groups: [$($group:expr),*],
        routes: [$($route:expr),*] $(,)?
    ) => {
        $crate::__private::inventory::submit! {
            $crate::__private::PolicyDeclaration {
                handler: $handler,
                roles: &[$($role),*],
                scopes: &[$($scope),*],
                groups: &[$($group),*],
                routes: &[$($route),*],
            }
        }
    };
}

pub use crate::__declare_policy as declare_policy;

inventory::collect!(AnonymousDeclaration);

/// Every scope some `#[requires_scope]` of the program asks for, sorted, once each.
pub(crate) fn declared_scopes() -> Vec<&'static str> {
    let mut scopes: Vec<&'static str> = inventory::iter::<PolicyDeclaration>
        .into_iter()
        .flat_map(|decl| decl.scopes.iter().copied())
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

/// Every route declared by `#[allow_anonymous]` in the program.
pub(crate) fn declared_routes() -> impl Iterator<Item = crate::AnonymousRoute> {
    inventory::iter::<AnonymousDeclaration>
        .into_iter()
        .map(|decl| {
            let methods: Vec<actix_web::http::Method> = decl
                .methods
                .iter()
                .filter_map(|m| actix_web::http::Method::from_bytes(m.as_bytes()).ok())
                .collect();
            let mut route = crate::AnonymousRoute::new(&methods, decl.pattern);
            route.by_attribute = true;
            route
        })
}
