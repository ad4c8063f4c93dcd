//! Verification keys: the parsed key set, the key source trait, and the HTTP JWKS source.

mod file;
mod http;
mod key;
mod pem;
mod set;

pub use file::FileKeySource;
pub use http::JwksKeySource;
pub use key::{KeyError, VerifyingKey};
pub(crate) use key::{ec_point, rsa_public_key_der};
pub(crate) use set::KeyLookup;
pub use set::{JwksError, KeySet, KeySource, KeysUnavailable};
