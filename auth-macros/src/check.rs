//! The handler the attribute sits on: parsed lightly (signature only, body kept as tokens)
//! and checked.

use proc_macro2::TokenStream;
use syn::parse::ParseStream;
use syn::{Attribute, Signature, Visibility};

use crate::attr::{Ours, Requirement};

/// A function item with its body left untouched.
pub(crate) struct HandlerFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: TokenStream,
}

/// Parses `item` as a handler for attribute `ours`, or says why it cannot be one.
pub(crate) fn parse(item: TokenStream, ours: Ours) -> syn::Result<HandlerFn> {
    let parser = |input: ParseStream<'_>| {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if input.fork().parse::<Signature>().is_err() {
            return Err(input.error(format!(
                "`{}` can only be applied to an `async fn` handler",
                ours.spelling()
            )));
        }
        let sig: Signature = input.parse()?;
        let body: TokenStream = input.parse()?;
        Ok(HandlerFn {
            attrs,
            vis,
            sig,
            body,
        })
    };
    syn::parse::Parser::parse2(parser, item)
}

/// Checks what every handler attribute needs: an `async fn` without receiver, and no other
/// attribute of ours that contradicts or repeats this one. Returns the other `#[requires_*]`
/// attributes below a `#[requires_*]`, by their index in `handler.attrs`: the outermost one
/// generates the check for all of them.
pub(crate) fn handler(handler: &HandlerFn, ours: Ours) -> syn::Result<Vec<(Requirement, usize)>> {
    let mut errors = Vec::new();
    if handler.sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            handler.sig.fn_token,
            format!(
                "`{}` must be on an `async fn`: actix handlers are async, write `async fn {}(..)`",
                ours.spelling(),
                handler.sig.ident
            ),
        ));
    }
    if let Some(receiver) = handler.sig.receiver() {
        errors.push(syn::Error::new_spanned(
            receiver,
            format!(
                "`{}` goes on a free `async fn` handler, not on a method",
                ours.spelling()
            ),
        ));
    }
    let mut seen = vec![ours];
    let mut merged = Vec::new();
    for (index, attr) in handler.attrs.iter().enumerate() {
        let Some(other) = Ours::of(attr) else {
            continue;
        };
        let error = match (ours, other) {
            _ if seen.contains(&other) => Some(match other {
                Ours::Requires(kind) => kind.twice(),
                Ours::AllowAnonymous => "`#[allow_anonymous]` is applied twice; remove one".into(),
            }),
            (Ours::Requires(kind), Ours::AllowAnonymous)
            | (Ours::AllowAnonymous, Ours::Requires(kind)) => Some(kind.with_anonymous()),
            _ => None,
        };
        match (error, other) {
            (Some(error), _) => errors.push(syn::Error::new_spanned(attr, error)),
            (None, Ours::Requires(kind)) => {
                seen.push(other);
                merged.push((kind, index));
            }
            (None, Ours::AllowAnonymous) => {}
        }
    }
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(merged),
        Some(mut first) => {
            errors.for_each(|err| first.combine(err));
            Err(first)
        }
    }
}
