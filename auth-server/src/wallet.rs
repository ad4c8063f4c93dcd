//! Wallet signature checks: Ed25519, secp256k1 (ECDSA-SHA256, DER, low-S) and ML-DSA-65.
//!
//! The signed message is the challenge string's UTF-8 bytes. Every malformed input is a
//! [`WalletError::Malformed`] (400); only a well-formed signature that does not verify is a
//! [`WalletError::BadSignature`] (401).

use aws_lc_rs::signature::{
    ECDSA_P256K1_SHA256_ASN1, ED25519, ML_DSA_65, UnparsedPublicKey, VerificationAlgorithm,
};
use serde::{Deserialize, Serialize};

/// A wallet signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WalletAlgorithm {
    /// ML-DSA-65 (FIPS 204): raw 1952-byte public key, 3309-byte signature.
    #[serde(rename = "ML-DSA-65")]
    MlDsa65,
    /// Ed25519: raw 32-byte public key, 64-byte signature.
    Ed25519,
    /// ECDSA over secp256k1 with SHA-256: uncompressed SEC1 public key (65 bytes, `04 || x ||
    /// y`), DER signature with a low S.
    #[serde(rename = "secp256k1")]
    Secp256k1,
}

/// Why a wallet signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletError {
    /// The key or signature is not of the algorithm's shape. The text says what is wrong.
    Malformed(String),
    /// Well-formed, but it does not verify.
    BadSignature,
}

const ML_DSA_65_PUBLIC_KEY_LEN: usize = 1952;
const ML_DSA_65_SIGNATURE_LEN: usize = 3309;

/// Half the order of secp256k1, big-endian: a signature's S above it is the malleable twin.
const SECP256K1_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

impl WalletAlgorithm {
    /// Every algorithm, in upstream's order.
    pub const ALL: [WalletAlgorithm; 3] = [
        WalletAlgorithm::MlDsa65,
        WalletAlgorithm::Ed25519,
        WalletAlgorithm::Secp256k1,
    ];

    /// The wire name: `ML-DSA-65`, `Ed25519`, `secp256k1`.
    pub fn as_str(self) -> &'static str {
        match self {
            WalletAlgorithm::MlDsa65 => "ML-DSA-65",
            WalletAlgorithm::Ed25519 => "Ed25519",
            WalletAlgorithm::Secp256k1 => "secp256k1",
        }
    }

    /// Parses a wire name (exact spelling).
    pub fn from_name(name: &str) -> Option<WalletAlgorithm> {
        WalletAlgorithm::ALL
            .into_iter()
            .find(|alg| alg.as_str() == name)
    }

    /// Checks `signature` by `public_key` over `message` (after [`check_shape`]).
    ///
    /// [`check_shape`]: WalletAlgorithm::check_shape
    pub fn verify(
        self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), WalletError> {
        let algorithm = self.check_shape(public_key, signature)?;
        UnparsedPublicKey::new(algorithm, public_key)
            .verify(message, signature)
            .map_err(|_| WalletError::BadSignature)
    }

    /// Checks that the key and signature have this algorithm's shape (lengths, encodings),
    /// without any cryptography: a [`WalletError::Malformed`] here is a client error, not a
    /// forgery. A secp256k1 signature with a high S is well-formed and fails as
    /// [`WalletError::BadSignature`], here and in [`verify`](WalletAlgorithm::verify).
    pub fn check_shape(
        self,
        public_key: &[u8],
        signature: &[u8],
    ) -> Result<&'static dyn VerificationAlgorithm, WalletError> {
        Ok(match self {
            WalletAlgorithm::Ed25519 => {
                expect_len(self, "public key", public_key, 32)?;
                expect_len(self, "signature", signature, 64)?;
                if ed25519_small_order(public_key) {
                    return Err(WalletError::Malformed(
                        "Ed25519 public key is a point of small order, which anyone can sign for"
                            .to_owned(),
                    ));
                }
                &ED25519
            }
            WalletAlgorithm::MlDsa65 => {
                expect_len(self, "public key", public_key, ML_DSA_65_PUBLIC_KEY_LEN)?;
                expect_len(self, "signature", signature, ML_DSA_65_SIGNATURE_LEN)?;
                &ML_DSA_65
            }
            WalletAlgorithm::Secp256k1 => {
                expect_len(self, "public key", public_key, 65)?;
                if public_key[0] != 0x04 {
                    return Err(WalletError::Malformed(
                        "secp256k1 public key must be an uncompressed SEC1 point (65 bytes \
                         starting with 04)"
                            .to_owned(),
                    ));
                }
                check_low_s(signature)?;
                &ECDSA_P256K1_SHA256_ASN1
            }
        })
    }
}

/// Encodings (sign bit aside) of the Ed25519 points of order 1, 2, 4 and 8, canonical or not:
/// a signature "by" such a key verifies for a share of all messages without any secret, so
/// such a key identifies nobody.
const ED25519_SMALL_ORDER: [[u8; 32]; 7] = [
    // 0 (order 4)
    [0; 32],
    // 1 (order 1)
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    // order 8
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    // order 8
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // p - 1 (order 2)
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // p, a non-canonical 0 (order 4)
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // p + 1, a non-canonical 1 (order 1)
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

fn ed25519_small_order(public_key: &[u8]) -> bool {
    ED25519_SMALL_ORDER.iter().any(|bad| {
        public_key.len() == 32 && public_key[..31] == bad[..31] && public_key[31] & 0x7f == bad[31]
    })
}

fn expect_len(
    alg: WalletAlgorithm,
    what: &str,
    bytes: &[u8],
    expected: usize,
) -> Result<(), WalletError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(WalletError::Malformed(format!(
            "{} {what} must be {expected} bytes, got {}",
            alg.as_str(),
            bytes.len()
        )))
    }
}

/// Parses a DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` strictly (malformed
/// DER is [`WalletError::Malformed`]) and refuses an S in the upper half of the group order,
/// the malleable form of the same signature, as [`WalletError::BadSignature`].
fn check_low_s(der: &[u8]) -> Result<(), WalletError> {
    let malformed = || WalletError::Malformed("secp256k1 signature must be DER encoded".to_owned());
    let (body, rest) = der_element(der, 0x30).ok_or_else(malformed)?;
    if !rest.is_empty() {
        return Err(malformed());
    }
    let (_r, rest) = der_integer(body).ok_or_else(malformed)?;
    let (s, rest) = der_integer(rest).ok_or_else(malformed)?;
    if !rest.is_empty() {
        return Err(malformed());
    }
    let mut padded = [0u8; 32];
    padded[32 - s.len()..].copy_from_slice(s);
    if padded > SECP256K1_HALF_ORDER {
        // The malleable twin of a valid signature is refused as a failed signature, as the
        // original does: well-formed, but not accepted.
        return Err(WalletError::BadSignature);
    }
    Ok(())
}

/// One DER element with tag `tag` and a short-form length: `(contents, rest)`.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, input) = input.split_first()?;
    let (&len, input) = input.split_first()?;
    if found != tag || len >= 0x80 || input.len() < len as usize {
        return None;
    }
    Some(input.split_at(len as usize))
}

/// A positive, minimally encoded INTEGER of at most 32 bytes (after the sign byte).
fn der_integer(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (value, rest) = der_element(input, 0x02)?;
    let (&first, tail) = value.split_first()?;
    if first & 0x80 != 0 {
        return None; // negative
    }
    let magnitude = if first == 0 {
        // A leading zero is only allowed to keep the next byte's top bit from reading as a sign.
        if tail.first().is_none_or(|next| next & 0x80 == 0) {
            return None;
        }
        tail
    } else {
        value
    };
    if magnitude.is_empty() || magnitude.len() > 32 {
        return None;
    }
    Some((magnitude, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_ed25519_keys_are_refused_and_really_are_forgeable() {
        use aws_lc_rs::signature::UnparsedPublicKey;
        // With R = the identity and S = 0, a signature "verifies" whenever the message hash
        // times the key is the identity: for some of 200 messages with each listed key that
        // is a point, and never with a real key.
        let mut signature = [0u8; 64];
        signature[0] = 1;
        let forgeable = |key: &[u8]| {
            (0..200u32).any(|n| {
                UnparsedPublicKey::new(&ED25519, key)
                    .verify(&n.to_be_bytes(), &signature)
                    .is_ok()
            })
        };
        let mut points = 0;
        for bad in ED25519_SMALL_ORDER {
            for sign in [0, 0x80] {
                let mut key = bad;
                key[31] |= sign;
                assert!(ed25519_small_order(&key));
                assert!(matches!(
                    WalletAlgorithm::Ed25519.check_shape(&key, &[0; 64]),
                    Err(WalletError::Malformed(_))
                ));
                points += usize::from(forgeable(&key));
            }
        }
        assert!(points >= 8, "{points} of the listed encodings forgeable");
        let real = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
        let real = aws_lc_rs::signature::KeyPair::public_key(&real)
            .as_ref()
            .to_vec();
        assert!(!ed25519_small_order(&real));
        assert!(!forgeable(&real));
    }

    #[test]
    fn der_integers_must_be_minimal_and_positive() {
        assert_eq!(
            der_integer(&[0x02, 0x01, 0x05]),
            Some((&[5u8][..], &[][..]))
        );
        assert_eq!(
            der_integer(&[0x02, 0x02, 0x00, 0x80]),
            Some((&[0x80u8][..], &[][..]))
        );
        assert_eq!(
            der_integer(&[0x02, 0x02, 0x00, 0x05]),
            None,
            "needless leading zero"
        );
        assert_eq!(der_integer(&[0x02, 0x01, 0x80]), None, "negative");
        assert_eq!(der_integer(&[0x02, 0x00]), None, "empty");
    }

    #[test]
    fn wrong_lengths_are_malformed_not_bad_signatures() {
        for alg in WalletAlgorithm::ALL {
            let err = alg.verify(&[1, 2, 3], b"msg", &[4, 5, 6]).unwrap_err();
            assert!(matches!(err, WalletError::Malformed(_)), "{alg:?}: {err:?}");
        }
    }
}
