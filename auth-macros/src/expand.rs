//! Generating the rewritten handler.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{Attribute, FnArg, LitStr, Meta, parse_quote};

use crate::attr::{self, Ours, Requirement, RouteKind};
use crate::check::{self, HandlerFn};

/// On error: the error, and the item exactly as written, so that the one mistake is the only
/// error shown (no cascade of "cannot find `handler`" where it is used).
pub(crate) fn fallback(err: syn::Error, item: TokenStream) -> TokenStream {
    let error = err.to_compile_error();
    quote! { #error #item }
}

fn combine(first: syn::Result<()>, second: syn::Result<()>) -> syn::Result<()> {
    match (first, second) {
        (Err(mut a), Err(b)) => {
            a.combine(b);
            Err(a)
        }
        (Err(a), Ok(())) | (Ok(()), Err(a)) => Err(a),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// `#[requires_role("a", "b")]`, `#[requires_scope(..)]`, `#[requires_group(..)]`: a hidden
/// first parameter whose extractor answers 401/403 before any other extractor (a JSON body,
/// say) or the body runs. Its type names a marker struct that carries what is required. The
/// outermost of these attributes checks them all; the others stay, marked, and expand to nothing.
pub(crate) fn requires(
    kind: Requirement,
    args: TokenStream,
    item: TokenStream,
) -> syn::Result<TokenStream> {
    if is_merged_mark(&args) {
        return merged(kind, item);
    }
    let own = attr::names(args, kind, Span::call_site());
    let handler = check::parse(item.clone(), Ours::Requires(kind))?;
    let checked = check::handler(&handler, Ours::Requires(kind));
    let (own, merged) = match (own, checked) {
        (Ok(own), Ok(merged)) => (own, merged),
        (Ok(_), Err(err)) | (Err(err), Ok(_)) => return Err(err),
        (Err(mut first), Err(second)) => {
            first.combine(second);
            return Err(first);
        }
    };
    let mut lists = [Vec::new(), Vec::new(), Vec::new()];
    lists[slot(kind)] = own;
    for &(other, index) in &merged {
        let attr = &handler.attrs[index];
        if attribute_args(attr).is_ok_and(|args| is_merged_mark(&args)) {
            // Only an outer attribute leaves the mark, and none stands above this one.
            return Err(syn::Error::new_spanned(attr, hand_written_mark(other)));
        }
        match attribute_args(attr).and_then(|args| attr::names(args, other, attr.span())) {
            Ok(names) => lists[slot(other)] = names,
            // That attribute reports its own mistake when it expands: the item goes on as
            // written, so that each mistake is shown once and every import stays used.
            Err(_) => return Ok(item),
        }
    }

    let HandlerFn {
        attrs,
        vis,
        mut sig,
        body,
    } = handler;
    // The attributes merged here stay where they are, under the path the user wrote (so that
    // its import is used), with their arguments replaced by the mark: they then expand to the
    // handler as it is.
    let attrs: Vec<Attribute> = attrs
        .into_iter()
        .enumerate()
        .map(|(index, mut attr)| {
            if merged.iter().any(|&(_, taken)| taken == index) {
                let (path, mark) = (attr.path().clone(), merged_mark());
                attr.meta = parse_quote!(#path(#mark));
            }
            attr
        })
        .collect();
    let [roles, scopes, groups] = lists;
    let marker = format_ident!("__auth_policy_{}", sig.ident.unraw());
    let handler = sig.ident.unraw().to_string();
    // The routes below this attribute, when it sits above the route attribute; only OpenAPI
    // documents read them, to tell operations with the same handler name apart.
    let routes = routes(&attrs);
    let guard: FnArg = parse_quote! {
        _: ::auth_runtime::__private::Require<#marker>
    };
    sig.inputs.insert(0, guard);
    Ok(quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #marker;

        impl ::auth_runtime::__private::Policy for #marker {
            const ROLES: &'static [&'static str] = &[#(#roles),*];
            const SCOPES: &'static [&'static str] = &[#(#scopes),*];
            const GROUPS: &'static [&'static str] = &[#(#groups),*];
        }

        ::auth_runtime::__private::declare_policy! {
            handler: #handler,
            roles: [#(#roles),*],
            scopes: [#(#scopes),*],
            groups: [#(#groups),*],
            routes: [#(#routes),*],
        }

        #(#attrs)*
        #vis #sig #body
    })
}

/// What a `#[requires_*]` merged into the outermost one carries instead of its names.
fn merged_mark() -> proc_macro2::Ident {
    proc_macro2::Ident::new("__auth_merged", Span::call_site())
}

fn is_merged_mark(args: &TokenStream) -> bool {
    let mut tokens = args.clone().into_iter();
    matches!(
        (tokens.next(), tokens.next()),
        (Some(TokenTree::Ident(ident)), None) if ident == merged_mark()
    )
}

/// A `#[requires_*]` whose names the outermost one took: the handler as it is, once that one
/// has put its check first. Written by hand, the mark would check nothing, so it is refused
/// on a handler without that check.
fn merged(kind: Requirement, item: TokenStream) -> syn::Result<TokenStream> {
    let handler = check::parse(item.clone(), Ours::Requires(kind))?;
    // Exactly what the outer attribute put first: the check of this handler's own policy.
    let marker = format_ident!("__auth_policy_{}", handler.sig.ident.unraw());
    let expected = quote!(::auth_runtime::__private::Require<#marker>).to_string();
    let checked = match handler.sig.inputs.first() {
        Some(FnArg::Typed(arg)) => {
            let ty = &arg.ty;
            quote!(#ty).to_string() == expected
        }
        _ => false,
    };
    if !checked {
        return Err(syn::Error::new(Span::call_site(), hand_written_mark(kind)));
    }
    Ok(item)
}

/// The error for a mark no outer attribute left.
fn hand_written_mark(kind: Requirement) -> String {
    format!(
        "`{}` takes {} names as string literals; `__auth_merged` is what another attribute \
         leaves behind when it checks this one",
        kind.spelling(),
        kind.spelling()
            .trim_start_matches("#[requires_")
            .trim_end_matches(']')
    )
}

/// The `(methods, pattern)` of every route attribute among `attrs` that can be read, as
/// `::auth_runtime::__private::RouteDeclaration` values.
fn routes(attrs: &[Attribute]) -> Vec<TokenStream> {
    attrs
        .iter()
        .filter_map(|attr| {
            let kind = RouteKind::of(attr)?;
            if kind == RouteKind::Routes {
                return None;
            }
            let route = attr::route_args(attr, &kind).ok()?;
            let (methods, pattern) = (&route.methods, &route.pattern);
            Some(quote! {
                ::auth_runtime::__private::RouteDeclaration {
                    methods: &[#(#methods),*],
                    pattern: #pattern,
                }
            })
        })
        .collect()
}

fn slot(kind: Requirement) -> usize {
    match kind {
        Requirement::Role => 0,
        Requirement::Scope => 1,
        Requirement::Group => 2,
    }
}

/// The arguments of another `#[requires_*(..)]` on the handler: empty for a bare path. (The
/// compiler itself refuses `#[requires_scope = ".."]` on an attribute macro.)
fn attribute_args(attr: &Attribute) -> syn::Result<TokenStream> {
    match &attr.meta {
        Meta::List(list) => Ok(list.tokens.clone()),
        Meta::Path(_) => Ok(TokenStream::new()),
        Meta::NameValue(_) => Err(syn::Error::new_spanned(attr, "not an attribute macro call")),
    }
}

/// `#[allow_anonymous]`: appends the anonymous guard, last, to every route attribute below it,
/// and declares each route so that the middleware routes such requests before refusing them.
pub(crate) fn allow_anonymous(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let no_args = attr::no_arguments(args);
    let handler = check::parse(item, Ours::AllowAnonymous)?;
    let checked = check::handler(&handler, Ours::AllowAnonymous).map(|_| ());
    combine(no_args, checked)?;

    let HandlerFn {
        mut attrs,
        vis,
        sig,
        body,
    } = handler;
    let mut declarations = Vec::new();
    for attr in &mut attrs {
        let Some(kind) = RouteKind::of(attr) else {
            continue;
        };
        if kind == RouteKind::Routes {
            // `#[routes]` carries no path; the method attributes below it do.
            continue;
        }
        let route = attr::route_args(attr, &kind)?;
        append_guard(attr)?;
        declarations.push(declaration(&sig, &route.methods, &route.pattern));
    }
    if declarations.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "`#[allow_anonymous]` must be placed above the route attribute (`#[get(..)]`, \
             `#[post(..)]`, `#[route(..)]`, `#[routes]`); for a resource registered by hand, \
             add the guard `auth_runtime::AnonymousGuard` last and declare the route with \
             `JwtAuth::anonymous_route`",
        ));
    }
    Ok(quote! {
        #(#attrs)*
        #vis #sig #body
        #(#declarations)*
    })
}

fn append_guard(attr: &mut Attribute) -> syn::Result<()> {
    let Meta::List(list) = &mut attr.meta else {
        return Err(syn::Error::new_spanned(
            &*attr,
            "the route attribute needs its path, e.g. `#[get(\"/items\")]`",
        ));
    };
    let ends_with_comma = matches!(
        list.tokens.clone().into_iter().last(),
        Some(TokenTree::Punct(p)) if p.as_char() == ','
    );
    let separator = if ends_with_comma { quote!() } else { quote!(,) };
    list.tokens
        .extend(quote! { #separator guard = "::auth_runtime::__private::anonymous" });
    Ok(())
}

fn declaration(sig: &syn::Signature, methods: &[String], pattern: &LitStr) -> TokenStream {
    let handler = sig.ident.unraw().to_string();
    quote! {
        ::auth_runtime::__private::inventory::submit! {
            ::auth_runtime::__private::AnonymousDeclaration {
                handler: #handler,
                methods: &[#(#methods),*],
                pattern: #pattern,
            }
        }
    }
}
