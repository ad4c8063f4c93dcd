//! Procedural macros of `auth-runtime`: `#[requires_role]`, `#[requires_scope]`,
//! `#[requires_group]` and `#[allow_anonymous]`.
//!
//! Depend on `auth-runtime`, never on this crate directly: the generated code refers to items
//! that only `auth-runtime` provides, at the exact version it pins. The full documentation is
//! on the re-exports: `auth_runtime::requires_role` and the others.

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
