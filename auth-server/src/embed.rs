//! The issuer and its validator in one process: [`embed`] reads both sections of one figment,
//! and [`AuthServer::jwt_auth`] hands the issuer's keys and revocation list to a validator
//! directly (no HTTP call to itself).

use std::sync::{Arc, Weak};

use auth_runtime::{AuthConfig, ConfigError, ConfigErrorKind, JwtAuth};
use auth_runtime::{RevocationFetchError, RevocationPage, RevocationSource};
use figment::Figment;
use figment::providers::Serialized;

use crate::server::{AuthServer, IssuerState};

/// Reads `server_auth` and `auth_client` from one figment, opens the store `server_auth`
/// names, and returns the issuer and a validator that trusts it directly (no HTTP call to
/// itself). `auth_client.issuer` and `auth_client.audience` default to the `server_auth` ones;
/// when set, they must agree. With `auth_client.issuers`, one entry must be this issuer; the
/// others are fetched from as usual. `auth_client.public_url`, the URL DPoP proofs name,
/// defaults to the origin of `server_auth.issuer` when the issuer has no path: the app serves
/// the issuer's endpoints, so clients reach it there.
pub async fn embed(figment: &Figment) -> Result<(AuthServer, JwtAuth), ConfigError> {
    let server = AuthServer::connect(figment).await?;
    let listed = figment
        .find_value("auth_client.issuers")
        .is_ok_and(|issuers| issuers.as_array().is_some_and(|list| !list.is_empty()));
    let mut figment = figment.clone();
    if let Some(origin) = origin_of(&server.config().issuer) {
        figment = figment.join(Serialized::default("auth_client.public_url", origin));
    }
    let client_figment = if listed {
        figment
    } else {
        figment
            .join(Serialized::default(
                "auth_client.issuer",
                &server.config().issuer,
            ))
            .join(Serialized::default(
                "auth_client.audience",
                &server.config().audience,
            ))
    };
    let auth = server.jwt_auth(AuthConfig::from_figment(&client_figment)?)?;
    Ok((server, auth))
}

/// `issuer` without its trailing `/` when it is an http(s) URL without a path: the origin the
/// app is reached at.
fn origin_of(issuer: &str) -> Option<String> {
    let normalised = auth_runtime::__private::normalise_url(issuer)?;
    let origin = normalised.strip_suffix('/')?;
    let after_scheme = origin.find("://")? + 3;
    (!origin[after_scheme..].contains('/')).then(|| issuer.trim_end_matches('/').to_owned())
}

impl AuthServer {
    /// The [`JwtAuth`] middleware for `client`, taking this issuer's keys and revocation list
    /// straight from it (no HTTP call to itself). `client` must trust this issuer (its only one, or one entry of
    /// `auth_client.issuers`) with an audience that includes the one tokens are issued for;
    /// other issuers keep their own key sources.
    pub fn jwt_auth(&self, client: AuthConfig) -> Result<JwtAuth, ConfigError> {
        let ours = &self.state.config;
        let Some(entry) = client.find_issuer(&ours.issuer) else {
            let trusted: Vec<&str> = client.issuers().iter().map(|i| i.issuer()).collect();
            return Err(ConfigError::new(
                ConfigErrorKind::Mismatch,
                format!(
                    "auth_client.issuer ({}) differs from server_auth.issuer (`{}`): the tokens \
                 issued here would be refused; trust `{}` in auth_client (issuer, or an entry \
                 of issuers)",
                    trusted.join(", "),
                    ours.issuer,
                    ours.issuer
                ),
            ));
        };
        if !entry.audiences().contains(&ours.audience) {
            return Err(ConfigError::new(
                ConfigErrorKind::Mismatch,
                format!(
                    "{}.audience ({}) differs from server_auth.audience (`{}`): the tokens issued \
                 here would be refused; set both to the same value",
                    entry.config_key(),
                    entry.audiences().join(", "),
                    ours.audience
                ),
            ));
        }
        let missing: Vec<&str> = self
            .state
            .keys
            .algorithms
            .iter()
            .filter(|alg| !entry.accepted_algorithms().contains(alg))
            .map(|alg| alg.as_str())
            .collect();
        if !missing.is_empty() {
            let accepted: Vec<&str> = entry
                .accepted_algorithms()
                .iter()
                .map(|alg| alg.as_str())
                .collect();
            return Err(ConfigError::new(
                ConfigErrorKind::Mismatch,
                format!(
                    "{}.accepted_algorithms ({}) lacks {}, which the keys of server_auth sign \
                 with (signing_algorithm and retiring_key_paths): the tokens issued here would \
                 be refused; add {} to it",
                    entry.config_key(),
                    accepted.join(", "),
                    missing.join(", "),
                    missing.join(", ")
                ),
            ));
        }
        let issuer = ours.issuer.clone();
        let auth = JwtAuth::builder(client)
            .issuer_key_source(&issuer, self.key_source())
            .issuer_revocation_source(
                &issuer,
                StoreRevocations {
                    server: Arc::downgrade(&self.state),
                },
            )
            .build()?;
        if let Some(list) = auth.revocation_list(&issuer) {
            self.watch_revocations(list.clone());
        }
        Ok(auth)
    }
}

/// The revocation list of an issuer in the same process, read from its store: no HTTP. Holds
/// the issuer weakly, so that the validator does not keep it alive.
struct StoreRevocations {
    server: Weak<IssuerState>,
}

impl RevocationSource for StoreRevocations {
    fn fetch<'a>(
        &'a self,
        since: Option<&'a str>,
    ) -> auth_runtime::BoxFuture<'a, Result<RevocationPage, RevocationFetchError>> {
        Box::pin(async move {
            let state = self
                .server
                .upgrade()
                .ok_or_else(|| RevocationFetchError::new("the embedded issuer is gone"))?;
            AuthServer { state }
                .revocation_page(since)
                .await
                .map_err(|err| RevocationFetchError::new(err.to_string()))
        })
    }
}
