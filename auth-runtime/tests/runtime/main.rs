//! auth-runtime against real parts: a loopback JWKS issuer, a real actix server on a loopback
//! port, tokens really signed, requests over HTTP.

mod support;

mod anonymous;
mod anonymous_waits;
mod cache;
mod config;
mod context;
mod discovery;
mod dpop;
mod dpop_attacks;
mod dpop_interop;
mod dpop_nested;
mod extractors;
mod issuers;
mod jwks;
mod keys_file;
mod macros;
mod oidc;
#[cfg(feature = "openapi")]
mod openapi;
mod outages;
mod outer;
mod policy;
mod post_quantum;
mod preflight;
mod request_extensions;
mod resource_metadata;
mod responses;
mod revocation;
mod scopes;
mod static_keys;
mod test_kit;
mod tracing_spans;
mod typed_claims;
mod validation;
