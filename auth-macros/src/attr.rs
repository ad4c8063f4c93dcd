//! Parsing the attributes' own arguments, and recognising attributes on the handler.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Token};

/// What a `#[requires_*]` attribute asks the caller for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requirement {
    Role,
    Scope,
    Group,
}

impl Requirement {
    pub(crate) const ALL: [Requirement; 3] =
        [Requirement::Role, Requirement::Scope, Requirement::Group];

    fn noun(self) -> &'static str {
        match self {
            Requirement::Role => "role",
            Requirement::Scope => "scope",
            Requirement::Group => "group",
        }
    }

    /// The attribute's name.
    fn name(self) -> &'static str {
        match self {
            Requirement::Role => "requires_role",
            Requirement::Scope => "requires_scope",
            Requirement::Group => "requires_group",
        }
    }

    pub(crate) fn spelling(self) -> &'static str {
        match self {
            Requirement::Role => "#[requires_role]",
            Requirement::Scope => "#[requires_scope]",
            Requirement::Group => "#[requires_group]",
        }
    }

    fn example(self) -> &'static str {
        match self {
            Requirement::Role => "`#[requires_role(\"admin\")]`",
            Requirement::Scope => "`#[requires_scope(\"articles:write\")]`",
            Requirement::Group => "`#[requires_group(\"engineering\")]`",
        }
    }

    fn example_of_two(self) -> &'static str {
        match self {
            Requirement::Role => "`#[requires_role(\"editor\", \"admin\")]`",
            Requirement::Scope => "`#[requires_scope(\"articles:write\", \"articles:admin\")]`",
            Requirement::Group => "`#[requires_group(\"engineering\", \"operations\")]`",
        }
    }

    /// The error for a second attribute of this kind on one handler.
    pub(crate) fn twice(self) -> String {
        format!(
            "`{}` is applied twice; list every {} in one: {}",
            self.spelling(),
            self.noun(),
            self.example_of_two()
        )
    }

    /// The error for this attribute next to `#[allow_anonymous]`.
    pub(crate) fn with_anonymous(self) -> String {
        format!(
            "`{}` and `#[allow_anonymous]` cannot both be on one handler: an anonymous handler \
             has no caller whose {}s could be checked; keep one",
            self.spelling(),
            self.noun()
        )
    }
}

/// The names of `#[requires_role("a", "b")]` (or scopes, or groups), each a non-empty string
/// literal, no repeats; scopes also in scope syntax. `span` is where the attribute is, for
/// the error when it lists nothing.
pub(crate) fn names(args: TokenStream, kind: Requirement, span: Span) -> syn::Result<Vec<LitStr>> {
    let noun = kind.noun();
    if args.is_empty() {
        return Err(syn::Error::new(
            span,
            format!(
                "`{}` needs at least one {noun}: {}",
                kind.spelling(),
                kind.example()
            ),
        ));
    }
    let exprs = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(args)?;
    let mut errors: Option<syn::Error> = None;
    let mut push = |err: syn::Error| match &mut errors {
        Some(all) => all.combine(err),
        None => errors = Some(err),
    };
    let mut names: Vec<LitStr> = Vec::new();
    for expr in exprs {
        match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => {
                let name = lit.value();
                if name.trim().is_empty() {
                    push(syn::Error::new(
                        lit.span(),
                        format!(
                            "a {noun} cannot be empty: give its name, e.g. {}",
                            kind.example()
                        ),
                    ));
                } else if let Some(split) = split_form(kind, &name) {
                    push(syn::Error::new(
                        lit.span(),
                        format!(
                            "{noun} `{}` contains a comma or whitespace, but each string is one \
                             {noun}, compared whole: list them separately: {split}",
                            name.escape_default()
                        ),
                    ));
                } else if names.iter().any(|seen| seen.value() == name) {
                    push(syn::Error::new(
                        lit.span(),
                        format!(
                            "{noun} `{name}` is listed twice in `{}`; list it once",
                            kind.spelling()
                        ),
                    ));
                } else if let (Requirement::Scope, Err(why)) = (kind, scope_syntax(&name)) {
                    push(syn::Error::new(lit.span(), why));
                } else {
                    names.push(lit);
                }
            }
            Expr::Assign(assign) => push(syn::Error::new(
                assign.left.span(),
                format!(
                    "unknown argument: `{}` takes only {noun} names as string literals, e.g. {}",
                    kind.spelling(),
                    kind.example_of_two()
                ),
            )),
            other => push(syn::Error::new(
                other.span(),
                format!("{noun}s must be string literals, e.g. {}", kind.example()),
            )),
        }
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(names),
    }
}

/// For a name holding commas or whitespace (`"admin,support"`), the attribute written with
/// each part as its own string: `#[requires_role("admin", "support")]`.
fn split_form(kind: Requirement, name: &str) -> Option<String> {
    if !name.contains(|c: char| c == ',' || c.is_whitespace()) {
        return None;
    }
    let parts: Vec<String> = name
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(|part| format!("\"{}\"", part.escape_default()))
        .collect();
    Some(format!("`#[{}({})]`", kind.name(), parts.join(", ")))
}

/// A scope as RFC 6749 section 3.3 writes it (printable ASCII, no space, quote or
/// backslash), where `*` is only the wildcard of a trailing `:*` after a prefix.
fn scope_syntax(scope: &str) -> Result<(), String> {
    if let Some(bad) = scope
        .chars()
        .find(|&c| !matches!(c, '!'..='~') || c == '"' || c == '\\')
    {
        let shown = if bad == ' ' {
            "a space".to_owned()
        } else {
            format!("`{}`", bad.escape_default())
        };
        return Err(format!(
            "scope `{}` contains {shown}: a scope is printable ASCII without spaces, quotes or \
             backslashes (RFC 6749 section 3.3); list several scopes as separate strings: \
             `#[requires_scope(\"articles:read\", \"articles:write\")]`",
            scope.escape_default()
        ));
    }
    let prefix = scope.strip_suffix(":*").unwrap_or(scope);
    if prefix.contains('*') {
        return Err(format!(
            "scope `{scope}`: `*` is a wildcard only as the last segment, after `:`, e.g. \
             `\"articles:*\"` for every scope under `articles:`"
        ));
    }
    if prefix.is_empty() {
        return Err(format!(
            "scope `{scope}`: the wildcard needs a prefix, e.g. `\"articles:*\"`"
        ));
    }
    Ok(())
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

/// Our attributes, recognised by their last path segment (`allow_anonymous`,
/// `auth_runtime::allow_anonymous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ours {
    Requires(Requirement),
    AllowAnonymous,
}

impl Ours {
    pub(crate) fn of(attr: &Attribute) -> Option<Ours> {
        let last = &attr.path().segments.last()?.ident;
        if last == "allow_anonymous" {
            return Some(Ours::AllowAnonymous);
        }
        Requirement::ALL
            .into_iter()
            .find(|kind| last == kind.name())
            .map(Ours::Requires)
    }

    pub(crate) fn spelling(self) -> &'static str {
        match self {
            Ours::Requires(kind) => kind.spelling(),
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
