//! The attribute macros of [`auth-runtime`](https://docs.rs/auth-runtime), JWT bearer
//! authentication for actix-web.
//!
//! **Do not depend on this crate.** Depend on `auth-runtime`, which re-exports the four
//! attributes and pins this crate at the exact version its generated code needs (the code
//! refers to items that only `auth-runtime` provides):
//!
//! ```toml
//! [dependencies]
//! auth-runtime = "0.1"
//! ```
//!
//! ```ignore
//! use auth_runtime::{allow_anonymous, requires_group, requires_role, requires_scope};
//! ```
//!
//! | attribute | on a handler |
//! |---|---|
//! | `#[requires_role("admin", ...)]` | the caller needs any of the roles: 401 without a valid token, 403 without the role |
//! | `#[requires_scope("articles:write", ...)]` | the token needs a scope that satisfies any of these (`prefix:*` wildcards) |
//! | `#[requires_group("engineering", ...)]` | the token's `groups` claim needs any of these |
//! | `#[allow_anonymous]` | no token needed; above the route attribute |
//!
//! Their documentation, with the exact semantics, the compile errors and examples, is on the
//! re-exports: [`auth_runtime::requires_role`](https://docs.rs/auth-runtime/latest/auth_runtime/attr.requires_role.html),
//! [`requires_scope`](https://docs.rs/auth-runtime/latest/auth_runtime/attr.requires_scope.html),
//! [`requires_group`](https://docs.rs/auth-runtime/latest/auth_runtime/attr.requires_group.html)
//! and [`allow_anonymous`](https://docs.rs/auth-runtime/latest/auth_runtime/attr.allow_anonymous.html).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod attr;
mod check;
mod expand;

use proc_macro::TokenStream;

use attr::Requirement;

/// Restricts a handler to callers holding any of the listed roles (401 without a valid
/// token, 403 without the role). See `auth_runtime::requires_role`.
#[proc_macro_attribute]
pub fn requires_role(args: TokenStream, item: TokenStream) -> TokenStream {
    requires(Requirement::Role, args, item)
}

/// Restricts a handler to tokens with a scope that satisfies any of the listed ones (401
/// without a valid token, 403 otherwise). See `auth_runtime::requires_scope`.
#[proc_macro_attribute]
pub fn requires_scope(args: TokenStream, item: TokenStream) -> TokenStream {
    requires(Requirement::Scope, args, item)
}

/// Restricts a handler to tokens listing any of the groups (401 without a valid token, 403
/// otherwise). See `auth_runtime::requires_group`.
#[proc_macro_attribute]
pub fn requires_group(args: TokenStream, item: TokenStream) -> TokenStream {
    requires(Requirement::Group, args, item)
}

fn requires(kind: Requirement, args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    expand::requires(kind, args.into(), item.clone())
        .unwrap_or_else(|err| expand::fallback(err, item))
        .into()
}

/// Lets a handler answer without a token. Place it above the route attribute. See
/// `auth_runtime::allow_anonymous`.
#[proc_macro_attribute]
pub fn allow_anonymous(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    expand::allow_anonymous(args.into(), item.clone())
        .unwrap_or_else(|err| expand::fallback(err, item))
        .into()
}
