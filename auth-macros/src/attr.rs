//! Parsing the attributes' own arguments, and recognising attributes on the handler.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Token};

/// The roles of `#[requires_role("a", "b")]`, each a non-empty string literal, no repeats.
pub(crate) fn roles(args: TokenStream) -> syn::Result<Vec<LitStr>> {
    if args.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "`#[requires_role]` needs at least one role: `#[requires_role(\"admin\")]`",
        ));
    }
    let exprs = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(args)?;
    let mut errors: Option<syn::Error> = None;
    let mut push = |err: syn::Error| match &mut errors {
        Some(all) => all.combine(err),
        None => errors = Some(err),
    };
    let mut roles: Vec<LitStr> = Vec::new();
    for expr in exprs {
        match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Str(role),
                ..
            }) => {
                let name = role.value();
                if name.trim().is_empty() {
                    push(syn::Error::new(
                        role.span(),
                        "a role cannot be empty: give its name, e.g. `#[requires_role(\"admin\")]`",
                    ));
                } else if roles.iter().any(|seen| seen.value() == name) {
                    push(syn::Error::new(
                        role.span(),
                        format!(
                            "role `{name}` is listed twice in `#[requires_role]`; list it once"
                        ),
                    ));
                } else {
                    roles.push(role);
                }
            }
            Expr::Assign(assign) => push(syn::Error::new(
                assign.left.span(),
                "unknown argument: `#[requires_role]` takes only role names as string \
                 literals, e.g. `#[requires_role(\"editor\", \"admin\")]`",
            )),
            other => push(syn::Error::new(
                other.span(),
                "roles must be string literals, e.g. `#[requires_role(\"admin\")]`",
            )),
        }
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(roles),
    }
}

/// `#[allow_anonymous]` takes nothing.
pub(crate) fn no_arguments(args: TokenStream) -> syn::Result<()> {
    if args.is_empty() {
        return Ok(());
    }
    Err(syn::Error::new_spanned(
        args,
        "`#[allow_anonymous]` takes no arguments: write `#[allow_anonymous]` alone",
    ))
}

/// Our two attributes, recognised by their last path segment (`allow_anonymous`,
/// `auth_runtime::allow_anonymous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ours {
    RequiresRole,
    AllowAnonymous,
}

impl Ours {
    pub(crate) fn of(attr: &Attribute) -> Option<Ours> {
        let last = attr.path().segments.last()?;
        if last.ident == "requires_role" {
            Some(Ours::RequiresRole)
        } else if last.ident == "allow_anonymous" {
            Some(Ours::AllowAnonymous)
        } else {
            None
        }
    }

    pub(crate) fn spelling(self) -> &'static str {
        match self {
            Ours::RequiresRole => "#[requires_role]",
            Ours::AllowAnonymous => "#[allow_anonymous]",
        }
    }
}

/// The actix-web route attributes, recognised by their last path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteKind {
    /// `#[get]`, `#[post]`, ...: one method, named here in upper case.
    Method(String),
    /// `#[route(path, method = "...", ...)]`.
    Route,
    /// `#[routes]`, followed by method attributes.
    Routes,
}

const METHOD_ATTRIBUTES: [&str; 9] = [
    "get", "post", "put", "delete", "head", "connect", "options", "trace", "patch",
];

impl RouteKind {
    pub(crate) fn of(attr: &Attribute) -> Option<RouteKind> {
        let last = attr.path().segments.last()?.ident.to_string();
        if METHOD_ATTRIBUTES.contains(&last.as_str()) {
            Some(RouteKind::Method(last.to_ascii_uppercase()))
        } else if last == "route" {
            Some(RouteKind::Route)
        } else if last == "routes" {
            Some(RouteKind::Routes)
        } else {
            None
        }
    }
}

/// What a route attribute (`#[get("/p", ...)]`, `#[route("/p", method = "GET")]`) says about
/// the anonymous route: its pattern and its methods.
pub(crate) struct RouteArgs {
    pub(crate) pattern: LitStr,
    pub(crate) methods: Vec<String>,
}

pub(crate) fn route_args(attr: &Attribute, kind: &RouteKind) -> syn::Result<RouteArgs> {
    let args = attr
        .meta
        .require_list()?
        .parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated)?;
    let mut args = args.into_iter();
    let pattern = match args.next() {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Str(pattern),
            ..
        })) => pattern,
        _ => {
            return Err(syn::Error::new_spanned(
                attr,
                "the route attribute needs its path first, e.g. `#[get(\"/items\")]`",
            ));
        }
    };
    let mut methods = Vec::new();
    if let RouteKind::Method(method) = kind {
        methods.push(method.clone());
    }
    for arg in args {
        if let Expr::Assign(assign) = arg
            && matches!(&*assign.left, Expr::Path(p) if p.path.is_ident("method"))
            && let Expr::Lit(ExprLit {
                lit: Lit::Str(method),
                ..
            }) = &*assign.right
        {
            methods.push(method.value().to_ascii_uppercase());
        }
    }
    Ok(RouteArgs { pattern, methods })
}
