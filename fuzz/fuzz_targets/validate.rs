//! Token validation end to end, with a fixed key set.
//!
//! The first byte picks what the rest is:
//! - `0`: a whole token, as an attacker would send it. No such token may ever validate.
//! - `1`: the claims of a token signed with the trusted key (header fixed), so that the
//!   claims checks and the strict JSON reader see every shape the fuzzer can make.
//! - `2`: header and claims, split at the first `0xFF` byte, both signed with the trusted key.

#![no_main]

use std::pin::pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Waker};

use auth_runtime::{AuthError, KeySet, KeySource, RawConfig, ValidToken, Validator};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    pair: Ed25519KeyPair,
    validators: [Validator; 2],
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let pair = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).expect("a fixed seed");
    let jwks = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"fuzz","use":"sig","x":"{}"}}]}}"#,
        URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())
    );
    let keys: Arc<dyn KeySource> = Arc::new(Arc::new(
        KeySet::from_jwks_json(jwks.as_bytes()).expect("a valid JWKS"),
    ));
    let config = |strict: bool| {
        RawConfig {
            issuer: "https://issuer.fuzz".into(),
            audience: "fuzz".into(),
            accepted_algorithms: vec!["EdDSA".into(), "RS256".into(), "ES256".into()],
            max_token_lifetime_seconds: strict.then_some(3600),
            required_token_type: if strict {
                "at+jwt".into()
            } else {
                String::new()
            },
            ..RawConfig::default()
        }
        .validate()
        .expect("a valid configuration")
    };
    Fixture {
        validators: [
            Validator::new(&config(false), [Arc::clone(&keys)]).expect("one issuer"),
            Validator::new(&config(true), [keys]).expect("one issuer"),
        ],
        pair,
    }
});

fn signed(header: &[u8], claims: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = FIXTURE.pair.sign(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// The key source here never waits, so one poll decides.
fn validate(validator: &Validator, token: &str) -> Result<ValidToken, AuthError> {
    let mut future = pin!(validator.validate(token));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("a fixed key set never makes validation wait"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = match mode % 3 {
        0 => match std::str::from_utf8(rest) {
            Ok(token) => token.to_owned(),
            Err(_) => return,
        },
        1 => signed(br#"{"alg":"EdDSA","kid":"fuzz","typ":"at+jwt"}"#, rest),
        _ => {
            let split = rest.iter().position(|b| *b == 0xFF).unwrap_or(rest.len());
            let claims = rest.get(split + 1..).unwrap_or_default();
            signed(&rest[..split], claims)
        }
    };
    for validator in &FIXTURE.validators {
        let result = validate(validator, &token);
        if mode % 3 == 0 {
            assert!(
                result.is_err(),
                "a token the fuzzer made up validated: {token}"
            );
        }
        if let Ok(valid) = result {
            // Whatever validated carries the configured issuer and audience.
            assert_eq!(valid.raw["iss"], "https://issuer.fuzz");
        }
    }
});
