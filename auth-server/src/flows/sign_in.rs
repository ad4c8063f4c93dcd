//! A wallet signs a challenge and gets a session.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{Map, json};

use super::{ProofHeader, TokenPair, normalise_address, required};
use crate::dpop::TokenEndpoint;
use crate::error::ServerError;
use crate::hex::{from_hex, to_hex};
use crate::metrics;
use crate::server::AuthServer;
use crate::store::SignInOutcome;
use crate::wallet::{WalletAlgorithm, WalletError};

/// The body of `POST /sign-in`: hex public key, signature and address, the challenge signed,
/// and the wallet algorithm's name.
#[derive(Deserialize)]
pub(crate) struct SignInRequest {
    address: Option<String>,
    public_key: Option<String>,
    signature: Option<String>,
    challenge: Option<String>,
    algorithm: Option<String>,
}

/// A wallet signed in: its session's first tokens.
#[derive(Debug)]
pub(crate) struct SignedIn {
    pub(crate) tokens: TokenPair,
    /// The wallet address, normalised.
    pub(crate) address: String,
    pub(crate) algorithm: WalletAlgorithm,
}

impl AuthServer {
    /// Checks the signature of a challenge by the wallet from `client` and starts its session,
    /// bound to the key of the DPoP proof in `proof` if there is one; counted in
    /// `auth_server_sign_ins_total`.
    pub(crate) async fn sign_in(
        &self,
        request: SignInRequest,
        proof: ProofHeader,
        client: IpAddr,
    ) -> Result<SignedIn, ServerError> {
        let algorithm = request
            .algorithm
            .as_deref()
            .and_then(WalletAlgorithm::from_name)
            .filter(|alg| self.state.config.wallet_algorithms.contains(alg))
            .map_or("unsupported", WalletAlgorithm::as_str);
        let result = self.try_sign_in(request, proof, client).await;
        metrics::sign_in(algorithm, metrics::outcome(&result));
        result
    }

    async fn try_sign_in(
        &self,
        request: SignInRequest,
        proof: ProofHeader,
        client: IpAddr,
    ) -> Result<SignedIn, ServerError> {
        let (Some(address), Some(public_key), Some(signature), Some(challenge)) = (
            required(request.address),
            required(request.public_key),
            required(request.signature),
            required(request.challenge),
        ) else {
            return Err(ServerError::MissingFields(
                "address, public_key, signature, and challenge",
            ));
        };
        let supported = &self.state.config.wallet_algorithms;
        let algorithm = request
            .algorithm
            .as_deref()
            .and_then(WalletAlgorithm::from_name)
            .filter(|alg| supported.contains(alg))
            .ok_or_else(|| ServerError::UnsupportedAlgorithm {
                given: request.algorithm.clone().unwrap_or_default(),
                supported: supported.iter().map(|alg| alg.as_str()).collect(),
            })?;
        let (Some(public_key), Some(signature)) = (from_hex(&public_key), from_hex(&signature))
        else {
            return Err(ServerError::InvalidHex);
        };
        let address = normalise_address(&address);
        if address != to_hex(&public_key) {
            return Err(ServerError::AddressMismatch);
        }
        if let Err(WalletError::Malformed(why)) = algorithm.check_shape(&public_key, &signature) {
            return Err(ServerError::MalformedKeyOrSignature(why));
        }
        let now = self.state.clock.now();
        let Some(valid) = self.state.challenges.check(&address, &challenge, now) else {
            return Err(ServerError::InvalidChallenge);
        };
        // Each attempt that costs a signature check (and may store a spent challenge and a
        // session) counts against the client's address.
        self.state.sign_ins.take(client, now)?;
        // Before the challenge is spent: a refused proof leaves it for a retry.
        let dpop_jkt = self
            .proof_key(proof, TokenEndpoint::SignIn)?
            .map(|proved| proved.jkt);
        let outcome = match algorithm.verify(&public_key, challenge.as_bytes(), &signature) {
            Ok(()) => SignInOutcome::Verified,
            Err(WalletError::Malformed(why)) => {
                return Err(ServerError::MalformedKeyOrSignature(why));
            }
            Err(WalletError::BadSignature) => SignInOutcome::Failed,
        };
        // Single use: spent now, whatever the outcome.
        let first_use = self
            .state
            .store
            .spend_challenge(valid.id, valid.expires_at, outcome, now)
            .await?;
        if outcome == SignInOutcome::Failed {
            return Err(ServerError::BadSignature);
        }
        if !first_use {
            return Err(ServerError::InvalidChallenge);
        }
        let mut identity = Map::new();
        identity.insert("sub".into(), json!(address));
        identity.insert("role".into(), json!("wallet"));
        identity.insert("algorithm".into(), json!(algorithm.as_str()));
        identity.insert("wallet_address".into(), json!(address));
        let tokens = self.start_session(identity, true, dpop_jkt).await?;
        Ok(SignedIn {
            tokens,
            address,
            algorithm,
        })
    }
}
