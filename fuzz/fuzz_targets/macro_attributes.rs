//! The attribute macros' parsing and expansion, on any arguments and any item. The input is
//! the attribute's arguments, a newline, then the item it is placed on. The macros' own
//! modules are compiled in here: a proc-macro crate cannot be linked as a library.

#![no_main]
#![allow(dead_code)]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use proc_macro2::TokenStream;

#[path = "../../auth-macros/src/attr.rs"]
mod attr;
#[path = "../../auth-macros/src/check.rs"]
mod check;
#[path = "../../auth-macros/src/expand.rs"]
mod expand;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (args, item) = text.split_once('\n').unwrap_or((text, ""));
    let (Ok(args), Ok(item)) = (TokenStream::from_str(args), TokenStream::from_str(item)) else {
        return;
    };
    for expansion in [
        expand::requires(attr::Requirement::Role, args.clone(), item.clone()),
        expand::requires(attr::Requirement::Scope, args.clone(), item.clone()),
        expand::requires(attr::Requirement::Group, args.clone(), item.clone()),
        expand::allow_anonymous(args, item.clone()),
    ] {
        // Either an expansion or one error that still emits the item: never a panic.
        let _ = expansion.unwrap_or_else(|err| expand::fallback(err, item.clone()));
    }
});
