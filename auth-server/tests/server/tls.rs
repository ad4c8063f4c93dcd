//! TLS to the PostgreSQL store: `sslmode` and `sslrootcert` in `store_url`, against a throwaway
//! cluster with `ssl = on`, a certificate made here, and a `pg_hba.conf` that takes TCP
//! connections over TLS only.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use auth_server::WalletAlgorithm;
use auth_server::store::PgStore;
use figment::providers::Serialized;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

use crate::pg::{Cluster, PASSWORD};
use crate::support::{Wallet, raw_config, serve, sign_in, temp_dir, validator_for};

/// A CA of the test's own, the server certificate it signed (for `localhost` and 127.0.0.1),
/// and an unrelated CA.
struct Pki {
    ca_file: PathBuf,
    other_ca_file: PathBuf,
    server_cert: String,
    server_key: String,
}

fn make_ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

fn make_pki(dir: &Path) -> Pki {
    let (ca_params, ca_key, ca_pem) = make_ca("auth-server test CA");
    let (_, _, other_pem) = make_ca("someone else's CA");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_key = KeyPair::generate().unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_cert = params.signed_by(&server_key, &issuer).unwrap().pem();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let other_ca_file = dir.join("other-ca.pem");
    std::fs::write(&other_ca_file, other_pem).unwrap();
    Pki {
        ca_file,
        other_ca_file,
        server_cert,
        server_key: server_key.serialize_pem(),
    }
}

/// The TLS cluster all tests here share: `ssl = on`, TCP over TLS only (`hostssl`), plain
/// connections over the Unix socket for the test's own queries.
fn tls_cluster() -> &'static (Cluster, Pki) {
    static CLUSTER: LazyLock<(Cluster, Pki)> = LazyLock::new(|| {
        let pki = make_pki(&temp_dir());
        let mut cluster = Cluster::start();
        cluster.write_file("server.crt", pki.server_cert.as_bytes(), 0o644);
        cluster.write_file("server.key", pki.server_key.as_bytes(), 0o600);
        cluster.write_file(
            "pg_hba.conf",
            b"local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
            0o600,
        );
        cluster.configure(
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             password_encryption = 'scram-sha-256'",
        );
        cluster.stop();
        cluster.resume();
        (cluster, pki)
    });
    &CLUSTER
}

async fn store(url: &str) -> Result<PgStore, String> {
    PgStore::connect(url, 2, 1000)
        .await
        .map_err(|err| err.to_string())
}

/// The store's connections as the server sees them: how many use TLS, how many do not.
fn store_connections(cluster: &Cluster) -> (u32, u32) {
    let answer = cluster.sql(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'auth-server'",
    );
    let (tls, plain) = answer.split_once('|').expect("two counts");
    (tls.parse().unwrap(), plain.parse().unwrap())
}

#[actix_web::test]
async fn sslmode_require_signs_in_over_tls_and_the_server_sees_only_tls() {
    let (cluster, _) = tls_cluster();
    let url = format!("{}?sslmode=require", cluster.create_database());
    let dir = temp_dir();
    let figment = figment::Figment::new()
        .merge(Serialized::defaults(raw_config(&dir)).key("server_auth"))
        .merge(Serialized::default("server_auth.store_url", &url));
    let issuer = auth_server::AuthServer::connect(&figment)
        .await
        .expect("connects over TLS");
    let server = serve(&issuer, validator_for(&issuer));
    let (status, body) = sign_in(&server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
    assert_eq!(status, 200, "{body}");
    let (tls, plain) = store_connections(cluster);
    assert!(tls >= 1, "no TLS connection from the store");
    assert_eq!(plain, 0, "the store connected without TLS");
}

#[actix_web::test]
async fn the_default_prefer_uses_tls_when_offered_and_disable_is_refused_by_hostssl() {
    let (cluster, _) = tls_cluster();
    let url = cluster.create_database();
    store(&url).await.expect("prefer takes the offered TLS");
    let err = store(&format!("{url}?sslmode=disable")).await.unwrap_err();
    assert!(err.contains("no encryption"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}

#[actix_web::test]
async fn verify_full_with_the_right_ca_connects_by_address_and_by_name() {
    let (cluster, pki) = tls_cluster();
    let url = cluster.create_database();
    let ca = pki.ca_file.display();
    store(&format!("{url}?sslmode=verify-full&sslrootcert={ca}"))
        .await
        .expect("127.0.0.1 is in the certificate");
    let by_name = url.replace("@127.0.0.1:", "@localhost:");
    store(&format!(
        "{by_name}?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}"
    ))
    .await
    .expect("localhost is in the certificate");
}

#[actix_web::test]
async fn verify_full_refuses_a_wrong_host_name_and_verify_ca_does_not_check_it() {
    let (cluster, pki) = tls_cluster();
    let url = cluster
        .create_database()
        .replace("@127.0.0.1:", "@db.wrong.test:");
    let ca = pki.ca_file.display();
    let err = store(&format!(
        "{url}?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}"
    ))
    .await
    .unwrap_err();
    assert!(err.contains("sslmode=verify-full"), "{err}");
    assert!(err.contains("db.wrong.test"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    store(&format!(
        "{url}?hostaddr=127.0.0.1&sslmode=verify-ca&sslrootcert={ca}"
    ))
    .await
    .expect("verify-ca checks the chain only");
}

#[actix_web::test]
async fn a_certificate_from_another_ca_is_refused_whenever_a_ca_is_given() {
    let (cluster, pki) = tls_cluster();
    let url = cluster.create_database();
    let other = pki.other_ca_file.display();
    for mode in ["verify-full", "verify-ca", "require"] {
        let err = store(&format!("{url}?sslmode={mode}&sslrootcert={other}"))
            .await
            .unwrap_err();
        assert!(err.contains(&format!("sslmode={mode}")), "{err}");
        assert!(err.contains(&format!("sslrootcert={other}")), "{err}");
        assert!(err.contains("UnknownIssuer"), "{err}");
        assert!(!err.contains(PASSWORD), "{err}");
    }
}

#[actix_web::test]
async fn verify_full_without_a_ca_checks_the_system_roots() {
    let (cluster, _) = tls_cluster();
    let url = cluster.create_database();
    let err = store(&format!("{url}?sslmode=verify-full"))
        .await
        .unwrap_err();
    assert!(err.contains("sslmode=verify-full"), "{err}");
    assert!(err.contains("system"), "{err}");
}

#[actix_web::test]
async fn sslmode_require_never_falls_back_to_a_plain_connection() {
    // The shared cluster runs without TLS.
    let url = crate::pg::fresh_database();
    let ca = temp_dir().join("ca.pem");
    std::fs::write(&ca, make_ca("unused").2).unwrap();
    for query in [
        "sslmode=require".to_owned(),
        format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    ] {
        let err = store(&format!("{url}?{query}")).await.unwrap_err();
        assert!(err.contains("server does not support TLS"), "{err}");
        assert!(err.contains("sslmode="), "{err}");
    }
    store(&url).await.expect("prefer goes on without TLS");
}

#[actix_web::test]
async fn tls_settings_that_cannot_be_honoured_are_refused_naming_the_setting() {
    let url = "postgres://auth:s3cret-pw@127.0.0.1:1/auth";
    let missing = temp_dir().join("absent.pem");
    let empty = temp_dir().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for (query, named) in [
        ("sslmode=allow".to_owned(), "sslmode"),
        ("sslmode=verify".to_owned(), "sslmode"),
        (format!("sslrootcert={}", empty.display()), "sslrootcert"),
        (
            format!("sslmode=disable&sslrootcert={}", empty.display()),
            "sslrootcert",
        ),
        (
            format!("sslmode=verify-full&sslrootcert={}", missing.display()),
            "sslrootcert",
        ),
        (
            format!("sslmode=verify-ca&sslrootcert={}", empty.display()),
            "sslrootcert",
        ),
        // The system's CAs sign certificates for anyone's names: without the host name
        // checked they would accept any of them.
        ("sslmode=verify-ca".to_owned(), "sslrootcert"),
        (
            "sslmode=verify-ca&sslrootcert=system".to_owned(),
            "sslrootcert=system",
        ),
        (
            "sslmode=require&sslrootcert=system".to_owned(),
            "sslrootcert=system",
        ),
    ] {
        let err = store(&format!("{url}?{query}")).await.unwrap_err();
        assert!(err.contains(named), "{query}: {err}");
        assert!(!err.contains("s3cret-pw"), "{err}");
        assert!(
            !err.contains("error connecting"),
            "{query} was refused before connecting: {err}"
        );
    }
}

#[actix_web::test]
async fn channel_binding_is_not_offered_so_requiring_it_fails() {
    let (cluster, _) = tls_cluster();
    let url = cluster.create_database();
    let err = store(&format!("{url}?sslmode=require&channel_binding=require"))
        .await
        .unwrap_err();
    assert!(err.contains("channel binding"), "{err}");
    store(&format!("{url}?sslmode=require&channel_binding=prefer"))
        .await
        .expect("SCRAM without channel binding");
}
