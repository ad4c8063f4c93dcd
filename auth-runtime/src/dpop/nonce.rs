//! Server nonces (RFC 9449 section 8 and 9), stateless: a nonce is a time window and a MAC of
//! it, so that every instance sharing the secret accepts the others' nonces, and none keeps
//! a record of the nonces it gave out.

use std::sync::Arc;

use actix_web::http::header::HeaderValue;
use arc_swap::ArcSwap;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Bytes of the MAC kept in a nonce.
const TAG_BYTES: usize = 16;

/// The nonces of one app: a nonce made in window `w` is accepted in `w` and `w + 1`, so a
/// client holding the newest one has at least one full window to use it.
pub(crate) struct Nonces {
    key: hmac::Key,
    window_seconds: u64,
    /// The nonce of the current window, made once per window.
    current: ArcSwap<(u64, HeaderValue)>,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("window_seconds", &self.window_seconds)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    /// Nonces under `secret` (shared by every instance), or under a random one of this
    /// process when `None`; each window `window_seconds` long.
    pub(crate) fn new(secret: Option<&[u8]>, window_seconds: u64, now: u64) -> Nonces {
        let key = match secret {
            Some(secret) => hmac::Key::new(hmac::HMAC_SHA256, secret),
            None => {
                let mut random = [0u8; 32];
                // The system's random source does not fail on the platforms aws-lc supports;
                // if it ever did, nonces would be made under a fixed key, which only makes
                // them predictable: they are freshness hints, not secrets or credentials.
                let _ = SystemRandom::new().fill(&mut random);
                hmac::Key::new(hmac::HMAC_SHA256, &random)
            }
        };
        let window_seconds = window_seconds.max(1);
        let window = now / window_seconds;
        let first = make(&key, window);
        Nonces {
            key,
            window_seconds,
            current: ArcSwap::from_pointee((window, first)),
        }
    }

    /// The nonce to hand out at `now`.
    pub(crate) fn current(&self, now: u64) -> HeaderValue {
        let window = now / self.window_seconds;
        let held = self.current.load();
        if held.0 == window {
            return held.1.clone();
        }
        let fresh = make(&self.key, window);
        self.current.store(Arc::new((window, fresh.clone())));
        fresh
    }

    /// Whether `nonce` was made here (or by an instance with the same secret) in the current
    /// window or the one before.
    pub(crate) fn accepts(&self, nonce: &str, now: u64) -> bool {
        let mut bytes = [0u8; 8 + TAG_BYTES];
        let Ok(len) = URL_SAFE_NO_PAD.decode_slice(nonce, &mut bytes) else {
            return false;
        };
        if len != bytes.len() || nonce.len() > 64 {
            return false;
        }
        let mut window = [0u8; 8];
        window.copy_from_slice(&bytes[..8]);
        let window = u64::from_be_bytes(window);
        let current = now / self.window_seconds;
        if window != current && window.saturating_add(1) != current {
            return false;
        }
        let tag = hmac::sign(&self.key, &window.to_be_bytes());
        // A MAC is compared in constant time.
        aws_lc_rs::constant_time::verify_slices_are_equal(&tag.as_ref()[..TAG_BYTES], &bytes[8..])
            .is_ok()
    }
}

/// The nonce of `window`: the window and its MAC, base64url.
fn make(key: &hmac::Key, window: u64) -> HeaderValue {
    let tag = hmac::sign(key, &window.to_be_bytes());
    let mut bytes = [0u8; 8 + TAG_BYTES];
    bytes[..8].copy_from_slice(&window.to_be_bytes());
    bytes[8..].copy_from_slice(&tag.as_ref()[..TAG_BYTES]);
    // Base64url is always a valid header value.
    HeaderValue::from_str(&URL_SAFE_NO_PAD.encode(bytes))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_lives_for_its_window_and_the_next() {
        let nonces = Nonces::new(Some(b"0123456789abcdef0123456789abcdef"), 60, 6_000);
        let nonce = nonces.current(6_000);
        let nonce = nonce.to_str().unwrap();
        assert!(nonces.accepts(nonce, 6_000));
        assert!(nonces.accepts(nonce, 6_119));
        assert!(!nonces.accepts(nonce, 6_120));
        assert!(!nonces.accepts(nonce, 5_999));
        assert_ne!(nonces.current(6_060).to_str().unwrap(), nonce);
    }

    #[test]
    fn only_the_same_secret_makes_acceptable_nonces() {
        let one = Nonces::new(Some(b"0123456789abcdef0123456789abcdef"), 60, 0);
        let same = Nonces::new(Some(b"0123456789abcdef0123456789abcdef"), 60, 0);
        let other = Nonces::new(None, 60, 0);
        let nonce = one.current(10);
        let nonce = nonce.to_str().unwrap();
        assert!(same.accepts(nonce, 10));
        assert!(!other.accepts(nonce, 10));
        for forged in ["", "AAAA", &nonce[..nonce.len() - 1], &format!("{nonce}A")] {
            assert!(!one.accepts(forged, 10), "{forged}");
        }
    }
}
