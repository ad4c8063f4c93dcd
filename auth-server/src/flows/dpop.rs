//! A DPoP proof (RFC 9449) sent to a token endpoint: checked, spent, and its key's thumbprint
//! handed to the flow, which binds what it issues to that key.

use auth_runtime::__private::check_token_endpoint_proof;
use auth_runtime::{DpopMode, DpopReason};

use crate::clock::unix_seconds;
use crate::dpop::{LEEWAY_SECONDS, TokenEndpoint};
use crate::error::ServerError;
use crate::server::AuthServer;

/// The `DPoP` header of a request, as the endpoint read it: none, one proof, or why it is
/// unusable (several headers, bytes that are not text).
pub(crate) type ProofHeader = Result<Option<String>, DpopReason>;

/// A proof that passed at a token endpoint.
pub(crate) struct Proved {
    /// The thumbprint of its key: what the tokens issued are bound to.
    pub(crate) jkt: String,
    /// Its identity, for a bound session to know it again on another instance.
    pub(crate) proof: [u8; 16],
}

impl AuthServer {
    /// The proof `header` holds for `endpoint` (its key's thumbprint and its identity), once
    /// it is checked and spent; `None` without a proof, where none is needed. A proof that
    /// does not pass is refused, never ignored.
    pub(crate) fn proof_key(
        &self,
        header: ProofHeader,
        endpoint: TokenEndpoint,
    ) -> Result<Option<Proved>, ServerError> {
        let settings = &self.state.config.dpop;
        let proof = header.map_err(ServerError::InvalidDpopProof)?;
        let proof = match (proof, settings.mode) {
            (None, DpopMode::Required) => {
                return Err(ServerError::InvalidDpopProof(DpopReason::Missing));
            }
            (None, _) => return Ok(None),
            (Some(_), DpopMode::Off) => return Err(ServerError::DpopNotAccepted),
            (Some(proof), _) => proof,
        };
        let proofs = &self.state.proofs;
        let now = unix_seconds(self.state.clock.now());
        let checked = check_token_endpoint_proof(
            &proof,
            "POST",
            proofs.url(endpoint),
            &settings.algorithms,
            settings.max_age.as_secs(),
            LEEWAY_SECONDS,
            now,
        )
        .map_err(ServerError::InvalidDpopProof)?;
        proofs
            .replay()
            .spend(&checked, now)
            .map_err(ServerError::InvalidDpopProof)?;
        Ok(Some(Proved {
            proof: checked.id(),
            jkt: checked.thumbprint,
        }))
    }
}
