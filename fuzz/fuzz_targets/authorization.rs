//! The `Authorization` header as the middleware reads it. Lines of the input are separate
//! header values (a request may carry several).

#![no_main]

use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use auth_runtime::bearer_token;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n').take(4) {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(AUTHORIZATION, value);
        }
    }
    if let Ok(token) = bearer_token(&headers) {
        // Only one header, scheme Bearer, one non-empty token without spaces.
        assert_eq!(headers.get_all(AUTHORIZATION).count(), 1);
        assert!(!token.is_empty() && !token.contains(' '));
        let value = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            value
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
        );
    }
});
