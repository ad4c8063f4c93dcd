//! Procedural macros of `auth-runtime`.
//!
//! Depend on `auth-runtime`, never on this crate directly: the generated code refers to items
//! that only `auth-runtime` provides, at the exact version it pins.
