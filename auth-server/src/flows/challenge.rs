//! A challenge for a wallet address. Nothing is stored.

use std::time::Duration;

use serde::Deserialize;

use super::{MAX_ADDRESS_HEX, normalise_address, required};
use crate::clock::{later, random_bytes};
use crate::error::ServerError;
use crate::hex::from_hex;
use crate::server::AuthServer;

/// The body of `POST /challenge`.
#[derive(Deserialize)]
pub(crate) struct ChallengeRequest {
    address: Option<String>,
}

/// A challenge and how long it is valid.
#[derive(Debug)]
pub(crate) struct IssuedChallenge {
    pub(crate) challenge: String,
    pub(crate) ttl: Duration,
}

impl AuthServer {
    /// A new challenge for the wallet `request` names, valid for `challenge_ttl`.
    pub(crate) fn challenge(
        &self,
        request: ChallengeRequest,
    ) -> Result<IssuedChallenge, ServerError> {
        let address = required(request.address).ok_or(ServerError::MissingFields("address"))?;
        let address = normalise_address(&address);
        if address.len() > MAX_ADDRESS_HEX || from_hex(&address).is_none() {
            return Err(ServerError::InvalidAddress);
        }
        let ttl = self.state.config.challenge_ttl;
        let expires_at = later(self.state.clock.now(), ttl);
        let challenge = self
            .state
            .challenges
            .issue(&address, expires_at, random_bytes()?);
        Ok(IssuedChallenge { challenge, ttl })
    }
}
