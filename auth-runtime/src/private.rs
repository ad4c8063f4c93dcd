//! What the attribute macros expand to. Not a public API: names and shapes change without
//! notice; use the attributes.

use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::guard::{Guard, GuardContext};
use actix_web::{FromRequest, HttpRequest};

pub use inventory;

use crate::context::SecurityContext;
use crate::error::AuthError;

/// The roles of one `#[requires_role]`, carried by a marker type the macro generates.
pub trait RoleSet {
    /// Any of these grants access.
    const ROLES: &'static [&'static str];
}

/// The hidden first parameter of a `#[requires_role]` handler. Extracted before every other
/// parameter: 401 without an identity, 403 without one of the roles.
pub struct RequireRoles<R: RoleSet>(PhantomData<R>);

impl<R: RoleSet> FromRequest for RequireRoles<R> {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(_req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(SecurityContext::require_role(R::ROLES).map(|_| RequireRoles(PhantomData)))
    }
}

/// The guard `#[allow_anonymous]` appends to the route attribute.
pub fn anonymous(ctx: &GuardContext<'_>) -> bool {
    crate::AnonymousGuard.check(ctx)
}

/// One route declared anonymous by `#[allow_anonymous]`, collected at link time.
pub struct AnonymousDeclaration {
    /// Upper-case method names.
    pub methods: &'static [&'static str],
    /// The pattern as written in the route attribute.
    pub pattern: &'static str,
}

inventory::collect!(AnonymousDeclaration);

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
            crate::AnonymousRoute::new(&methods, decl.pattern)
        })
}
