//! What the endpoints do, as methods of [`AuthServer`](crate::AuthServer): each flow takes a
//! parsed request, checks it, talks to the store and hands back a value for the endpoint to
//! render. One module per flow; `issue` mints the tokens they hand out.

mod challenge;
mod dpop;
mod issue;
mod login;
mod refresh;
mod revocation;
mod sign_in;

pub(crate) use challenge::ChallengeRequest;
pub(crate) use dpop::ProofHeader;
pub(crate) use issue::TokenPair;
pub(crate) use login::LoginRequest;
pub(crate) use refresh::RefreshRequest;
pub(crate) use revocation::{RevokeRequest, SignOutRequest};
pub(crate) use sign_in::SignInRequest;

/// Longest wallet address accepted: the hex of an ML-DSA-65 public key.
const MAX_ADDRESS_HEX: usize = 2 * 1952;

/// Wallet addresses are compared as lower-case hex without `0x`.
fn normalise_address(address: &str) -> String {
    address
        .strip_prefix("0x")
        .unwrap_or(address)
        .to_ascii_lowercase()
}

/// A field that is present and not blank.
fn required(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}
