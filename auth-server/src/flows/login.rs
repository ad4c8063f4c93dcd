//! The bootstrap admin's password login: throttled (see [`LoginGuard`](crate::throttle::LoginGuard)),
//! with the argon2id check run on the blocking pool.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{Map, json};
use subtle::ConstantTimeEq as _;
use tokio::sync::OwnedSemaphorePermit;

use super::{ProofHeader, TokenPair, required};
use crate::config::AdminAccount;
use crate::dpop::TokenEndpoint;
use crate::error::ServerError;
use crate::metrics;
use crate::server::AuthServer;

/// The body of `POST /login`.
#[derive(Deserialize)]
pub(crate) struct LoginRequest {
    email: Option<String>,
    password: Option<String>,
}

impl AuthServer {
    /// Signs the admin in from `client` and starts a session, bound to the key of the DPoP
    /// proof in `proof` if there is one; counted in `auth_server_logins_total`.
    pub(crate) async fn login(
        &self,
        request: LoginRequest,
        proof: ProofHeader,
        client: IpAddr,
    ) -> Result<TokenPair, ServerError> {
        let result = self.try_login(request, proof, client).await;
        metrics::login(metrics::outcome(&result));
        result
    }

    async fn try_login(
        &self,
        request: LoginRequest,
        proof: ProofHeader,
        client: IpAddr,
    ) -> Result<TokenPair, ServerError> {
        let Some(admin) = &self.state.config.admin else {
            return Err(ServerError::LoginDisabled);
        };
        let (Some(email), Some(password)) = (required(request.email), request.password) else {
            return Err(ServerError::MissingFields("email and password"));
        };
        let guard = &self.state.login;
        let clock = &self.state.clock;
        let for_admin = email.trim().eq_ignore_ascii_case(admin.email());
        // The throttle first: a throttled client's proof is neither verified nor spent.
        let attempt = guard.begin(client, for_admin, clock.now())?;
        // Before the password: a refused proof costs no hash, and counts as a failed login.
        let dpop_jkt = self
            .proof_key(proof, TokenEndpoint::Login)?
            .map(|proved| proved.jkt);
        let verified = match guard.hashing_slot().await {
            Ok(slot) => verify(admin, &email, password, slot).await,
            Err(busy) => Err(busy),
        };
        match verified {
            Ok(true) => guard.refund(attempt, clock.now()),
            Ok(false) => {
                tracing::info!("admin login refused");
                return Err(ServerError::InvalidCredentials);
            }
            Err(busy) => {
                guard.refund(attempt, clock.now());
                return Err(busy);
            }
        }
        let mut identity = Map::new();
        identity.insert("sub".into(), json!(admin.email()));
        identity.insert("email".into(), json!(admin.email()));
        identity.insert("role".into(), json!("admin"));
        // The admin's sessions never meet `max_sessions`: a flood of wallet sign-ins cannot
        // lock the admin out (login itself is throttled).
        self.start_session(identity, false, dpop_jkt).await
    }
}

/// Whether `email` and `password` are the admin's. The argon2id check runs on the blocking
/// pool, holding `slot`, so request workers keep serving.
async fn verify(
    admin: &AdminAccount,
    email: &str,
    password: String,
    slot: OwnedSemaphorePermit,
) -> Result<bool, ServerError> {
    // Both checks always run, so the answer time does not tell which one failed.
    let email_ok = bool::from(
        email
            .trim()
            .to_ascii_lowercase()
            .as_bytes()
            .ct_eq(admin.email().to_ascii_lowercase().as_bytes()),
    );
    let account = admin.clone();
    // The slot travels with the hash: a cancelled request frees it only when the hash it
    // started is done.
    let password_ok = actix_web::web::block(move || {
        let _slot = slot;
        account.verifies(&password)
    })
    .await
    .map_err(|_| ServerError::Internal)?;
    Ok(email_ok && password_ok)
}
