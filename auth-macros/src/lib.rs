//! Attribute macros for `auth-runtime`.
