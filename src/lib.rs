//! Runnable examples and end-to-end tests of the auth workspace.
//!
//! The crate documentation is the README, so that its code compiles as doctests; the pages
//! of the guide in `docs/` are compiled the same way, each as the documentation of a module
//! that exists only while doctests are collected.
#![doc = include_str!("../README.md")]

/// `docs/identity-providers.md`.
#[doc = include_str!("../docs/identity-providers.md")]
#[cfg(doctest)]
pub mod identity_providers {}

/// `docs/configuration.md`.
#[doc = include_str!("../docs/configuration.md")]
#[cfg(doctest)]
pub mod configuration {}

/// `docs/attributes.md`.
#[doc = include_str!("../docs/attributes.md")]
#[cfg(doctest)]
pub mod attributes {}

/// `docs/caller.md`.
#[doc = include_str!("../docs/caller.md")]
#[cfg(doctest)]
pub mod caller {}

/// `docs/responses.md`.
#[doc = include_str!("../docs/responses.md")]
#[cfg(doctest)]
pub mod responses {}

/// `docs/observability.md`.
#[doc = include_str!("../docs/observability.md")]
#[cfg(doctest)]
pub mod observability {}

/// `docs/openapi.md`.
#[doc = include_str!("../docs/openapi.md")]
#[cfg(doctest)]
pub mod openapi {}

/// `docs/issuer.md`.
#[doc = include_str!("../docs/issuer.md")]
#[cfg(doctest)]
pub mod issuer {}

/// `docs/revocation.md`.
#[doc = include_str!("../docs/revocation.md")]
#[cfg(doctest)]
pub mod revocation {}

/// `docs/post-quantum.md`.
#[doc = include_str!("../docs/post-quantum.md")]
#[cfg(doctest)]
pub mod post_quantum {}

/// `docs/security.md`.
#[doc = include_str!("../docs/security.md")]
#[cfg(doctest)]
pub mod security {}

/// `docs/dpop.md`.
#[doc = include_str!("../docs/dpop.md")]
#[cfg(doctest)]
pub mod dpop {}

/// `docs/performance.md`.
#[doc = include_str!("../docs/performance.md")]
#[cfg(doctest)]
pub mod performance {}

/// `docs/project.md`.
#[doc = include_str!("../docs/project.md")]
#[cfg(doctest)]
pub mod project {}
