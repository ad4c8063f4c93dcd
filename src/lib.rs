//! Runnable examples and end-to-end tests of the auth workspace.
//!
//! The crate documentation is the README, so that its code compiles as doctests.
#![doc = include_str!("../README.md")]
