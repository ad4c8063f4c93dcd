//! A frozen database never holds a route that needs none: with a token, the issuer's own
//! anonymous routes answer as fast as without one, and only a protected route waits for the
//! revocation list, then answers by its staleness rule.

use std::time::{Duration, Instant};

use auth_server::{AuthServer, WalletAlgorithm};
use figment::providers::Serialized;

use crate::pg::Cluster;
use crate::support::{Wallet, field, get, profile_status, raw_config, serve, sign_in, temp_dir};

#[actix_web::test]
async fn a_frozen_database_never_holds_an_anonymous_route() {
    let cluster = Cluster::start();
    let url = cluster.create_database();
    let dir = temp_dir();
    let figment = figment::Figment::new()
        .merge(Serialized::defaults(raw_config(&dir)).key("server_auth"))
        .merge(Serialized::default("server_auth.store_url", &url));
    let issuer = AuthServer::connect(&figment).await.expect("issuer");
    let client = auth_runtime::RawConfig {
        issuer: issuer.config().issuer().to_owned(),
        audience: issuer.config().audience().into(),
        accepted_algorithms: issuer.algorithms().iter().map(|a| a.to_string()).collect(),
        revocation_poll_seconds: 1,
        revocation_max_staleness_seconds: 2,
        jwks_timeout_seconds: 5,
        ..auth_runtime::RawConfig::default()
    }
    .validate()
    .expect("client config");
    let server = serve(&issuer, issuer.jwt_auth(client).expect("validator"));
    let (status, signed) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
    assert_eq!(status, 200, "{signed}");
    let token = field(&signed, "access_token");
    assert_eq!(profile_status(&server, &token).await.0, 200);

    cluster.freeze();
    // The list held is now older than its staleness allows.
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    let started = Instant::now();
    let (status, _) = get(&server, "/api/v1/auth/jwks", None).await;
    let without = started.elapsed();
    assert_eq!(status, 200);
    let started = Instant::now();
    let (status, _) = get(&server, "/api/v1/auth/jwks", Some(&token)).await;
    let with = started.elapsed();
    assert_eq!(status, 200);
    assert!(with < Duration::from_secs(1), "{with:?}");
    eprintln!("database frozen: /jwks {without:?} without a token, {with:?} with");

    // A protected route waits for the list, then answers by the staleness rule.
    let (status, detail) = profile_status(&server, &token).await;
    assert_eq!(status, 503, "{detail}");
    cluster.thaw();
}
