//! DPoP proofs, as the middleware checks them for a `GET` of a fixed URL with a fixed token
//! bound to a fixed Ed25519 key.
//!
//! The first byte picks what the rest is:
//! - `0`: a whole proof, as an attacker would send it. None may ever pass: the fuzzer does
//!   not hold the key.
//! - `1`: the claims of a proof signed with the bound key (header fixed), so that the claim
//!   checks and the strict JSON reader see every shape the fuzzer can make. One that passes
//!   names exactly the request.
//! - `2`: header and claims, split at the first `0xFF` byte, both signed with the bound key.

#![no_main]

use std::sync::LazyLock;

use auth_runtime::__private::check_dpop_proof;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const URL: &str = "https://api.fuzz/orders";
const TOKEN: &str = "header.claims.signature";
const NOW: u64 = 1_800_000_000;

struct Fixture {
    pair: Ed25519KeyPair,
    jwk: String,
    jkt: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let pair = Ed25519KeyPair::from_seed_unchecked(&[9; 32]).expect("a fixed seed");
    let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    Fixture {
        jkt: URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes())),
        jwk: canonical,
        pair,
    }
});

fn signed(header: &[u8], claims: &[u8]) -> String {
    let mut proof = URL_SAFE_NO_PAD.encode(header);
    proof.push('.');
    proof.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let signature = FIXTURE.pair.sign(proof.as_bytes());
    proof.push('.');
    proof.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
    proof
}

fn check(proof: &str) -> bool {
    check_dpop_proof(proof, URL, TOKEN, &FIXTURE.jkt, NOW).is_ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let proof = String::from_utf8_lossy(rest);
            assert!(!check(&proof), "an unsigned proof passed: {proof}");
        }
        1 => {
            let header = format!(
                r#"{{"typ":"dpop+jwt","alg":"EdDSA","jwk":{}}}"#,
                FIXTURE.jwk
            );
            if check(&signed(header.as_bytes(), rest)) {
                let claims: Value = serde_json::from_slice(rest).expect("passed, so JSON");
                assert_eq!(claims["htm"], "GET");
                let ath = URL_SAFE_NO_PAD.encode(digest(&SHA256, TOKEN.as_bytes()));
                assert_eq!(claims["ath"], ath.as_str());
                let iat = claims["iat"].as_f64().expect("passed, so a number");
                assert!(iat <= (NOW + 30) as f64 && iat + 90.0 >= NOW as f64);
            }
        }
        _ => {
            let split = rest.iter().position(|b| *b == 0xFF).unwrap_or(rest.len());
            let (header, claims) = rest.split_at(split);
            let claims = claims.get(1..).unwrap_or_default();
            if check(&signed(header, claims)) {
                let header: Value = serde_json::from_slice(header).expect("passed, so JSON");
                assert_eq!(header["alg"], "EdDSA");
                assert!(header["jwk"].get("d").is_none());
            }
        }
    }
});
