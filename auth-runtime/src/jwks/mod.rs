//! Verification keys: the parsed key set, the [`KeySource`] trait, and the HTTP JWKS source.
//!
//! The request path only ever reads an already-parsed [`KeySet`] through an atomic pointer:
//! no lock, no I/O. The network is touched in three cases only:
//!
//! - no key set was loaded yet (the first request waits for the first fetch);
//! - a token names a `kid` the set does not hold (a key was rotated in at the issuer): one
//!   forced refetch, shared by every waiting request on every worker, and at most one per
//!   `jwks_min_refresh_interval_seconds`, so a flood of made-up `kid`s costs the issuer at
//!   most one fetch per interval;
//! - the set is older than `jwks_ttl_seconds`: the request that notices is served from the
//!   cached set and a refresh runs in the background.
//!
//! A failed fetch keeps the set already cached (and logs a warning). With no set at all,
//! requests get 503 with `Retry-After`.
//!
//! The pieces: [`VerifyingKey`] (one JWK, parsed into a verifying key), [`KeySet`] and the
//! [`KeySource`] trait (the keys a validator trusts, and where they come from), and
//! [`JwksKeySource`] (the HTTP source with its single-flight refresh).

mod http;
mod key;
mod set;

pub use http::JwksKeySource;
pub use key::{KeyError, VerifyingKey};
pub use set::{JwksError, KeyLookup, KeySet, KeySource, KeysUnavailable};
