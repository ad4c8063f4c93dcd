//! Wallet challenges that need no storage until spent: 32 bytes (64 hex characters) holding
//! the expiry, a random nonce and a MAC over both and the wallet address, under a key derived
//! from the store's secret. Anyone may ask for challenges for any address; none of them
//! replaces or burns another, and asking costs the server no memory.

use std::time::SystemTime;

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq as _;

use crate::clock::{from_unix_seconds, unix_seconds};
use crate::hex::{from_hex, to_hex};
use crate::store::ChallengeId;

const TAG_LEN: usize = 16;

/// Issues and checks challenges.
pub(crate) struct ChallengeKey {
    key: hmac::Key,
}

/// A challenge that passed [`ChallengeKey::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValidChallenge {
    pub(crate) id: ChallengeId,
    pub(crate) expires_at: SystemTime,
}

impl ChallengeKey {
    pub(crate) fn new(secret: &[u8; 32]) -> ChallengeKey {
        ChallengeKey {
            key: derive(secret, b"auth-server wallet challenge v1"),
        }
    }

    fn tag(&self, id: &ChallengeId, address: &str) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(id);
        context.update(address.as_bytes());
        context.sign()
    }

    /// A challenge for `address` (normalised lower-case hex) expiring at `expires_at`.
    pub(crate) fn issue(&self, address: &str, expires_at: SystemTime, nonce: [u8; 8]) -> String {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&unix_seconds(expires_at).to_be_bytes());
        id[8..].copy_from_slice(&nonce);
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(&id);
        bytes[16..].copy_from_slice(&self.tag(&id, address).as_ref()[..TAG_LEN]);
        to_hex(&bytes)
    }

    /// The challenge's identity when it was issued here for `address` and has not expired.
    pub(crate) fn check(
        &self,
        address: &str,
        challenge: &str,
        now: SystemTime,
    ) -> Option<ValidChallenge> {
        if challenge.len() != 64 || challenge.starts_with("0x") {
            return None;
        }
        let bytes = from_hex(challenge)?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[..16]);
        let expected = self.tag(&id, address);
        if !bool::from(expected.as_ref()[..TAG_LEN].ct_eq(&bytes[16..])) {
            return None;
        }
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&id[..8]);
        let expires_at = from_unix_seconds(u64::from_be_bytes(expiry));
        (expires_at > now).then_some(ValidChallenge { id, expires_at })
    }
}

/// A key for one purpose, derived from the store's secret.
pub(crate) fn derive(secret: &[u8; 32], purpose: &[u8]) -> hmac::Key {
    let master = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&master, purpose).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_challenge_holds_only_for_its_address_its_key_and_its_time() {
        let key = ChallengeKey::new(&[7; 32]);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let expires = now + Duration::from_secs(120);
        let challenge = key.issue("ab12", expires, [1; 8]);
        assert_eq!(challenge.len(), 64);
        let valid = key.check("ab12", &challenge, now).expect("valid");
        assert_eq!(valid.expires_at, expires);
        assert_eq!(
            key.check("AB12".to_lowercase().as_str(), &challenge, now),
            Some(valid)
        );
        assert_eq!(key.check("ab13", &challenge, now), None);
        assert_eq!(
            ChallengeKey::new(&[8; 32]).check("ab12", &challenge, now),
            None
        );
        assert_eq!(key.check("ab12", &challenge, expires), None);
        assert_eq!(
            key.check("ab12", &challenge.to_uppercase(), now),
            Some(valid)
        );
        for forged in [
            format!("{}0", &challenge[..63]),
            format!("0x{}", &challenge[2..]),
            challenge[..62].to_owned(),
            "z".repeat(64),
        ] {
            if forged != challenge {
                assert_eq!(key.check("ab12", &forged, now), None, "{forged}");
            }
        }
        assert_ne!(key.issue("ab12", expires, [2; 8]), challenge);
    }
}
