//! Procedural macros of `auth-runtime`: `#[requires_role]` and `#[allow_anonymous]`.
//!
//! Depend on `auth-runtime`, never on this crate directly: the generated code refers to items
//! that only `auth-runtime` provides, at the exact version it pins. The full documentation is
//! on the re-exports, `auth_runtime::requires_role` and `auth_runtime::allow_anonymous`.

mod attr;
mod check;
mod expand;

use proc_macro::TokenStream;

/// Restricts a handler to callers holding any of the listed roles (401 without a valid
/// token, 403 without the role). See `auth_runtime::requires_role`.
#[proc_macro_attribute]
pub fn requires_role(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    expand::requires_role(args.into(), item.clone())
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
