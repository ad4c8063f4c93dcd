//! What a restart of an issuer keeps: with the same key file and configuration, a new
//! instance refuses the tokens revoked before, and lists them; the memory store through its
//! revocation file, the PostgreSQL store through its database.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use auth_server::{AuthServer, RawServerConfig, WalletAlgorithm};
use serde_json::{Value, json};

use crate::support::{
    Backend, Server, TestClock, Wallet, admin_token, claims, field, get, profile_status,
    raw_config, refresh, revoke, revoked, sign_in, sign_out, temp_dir,
};

#[actix_web::test]
async fn a_token_revoked_before_a_restart_is_refused_and_listed_after_it() {
    let raw = raw_config(&temp_dir());
    let (issuer, server) = Backend::Memory.embedded(raw.clone()).await;
    let admin = admin_token(&server).await;
    let wallet = Wallet::new(WalletAlgorithm::Ed25519);
    let (_, by_admin) = sign_in(&server, &wallet).await;
    let by_admin = field(&by_admin, "access_token");
    let (_, signed_out) = sign_in(&server, &wallet).await;
    let (_, kept) = sign_in(&server, &wallet).await;
    let kept_refresh = field(&kept, "refresh_token");
    let kept = field(&kept, "access_token");

    let jti = claims(&by_admin)["jti"].clone();
    let (status, _) = revoke(&server, Some(&admin), json!({ "jti": jti })).await;
    assert_eq!(status, 200);
    assert_eq!(
        sign_out(&server, &field(&signed_out, "refresh_token")).await,
        204
    );
    let signed_out = field(&signed_out, "access_token");
    assert_eq!(profile_status(&server, &by_admin).await, revoked());
    server.stop().await;
    drop(issuer);

    let (_issuer, server) = Backend::Memory.embedded(raw).await;
    assert_eq!(profile_status(&server, &by_admin).await, revoked());
    assert_eq!(profile_status(&server, &signed_out).await, revoked());
    assert_eq!(profile_status(&server, &kept).await.0, 200);
    // Sessions are not kept: the restart ended them all.
    assert_eq!(refresh(&server, &kept_refresh).await.0, 401);
    let (status, list) = get(&server, "/api/v1/auth/revoked-jtis", None).await;
    assert_eq!(status, 200);
    // The token by its `jti`, the signed-out session by its `sid`, until the last token it
    // issued expires.
    assert_eq!(list["revoked"][0], entry(&by_admin));
    let session = &list["revoked"][1];
    assert_eq!(session["sid"], claims(&signed_out)["sid"]);
    assert!(session["exp"].as_u64() >= claims(&signed_out)["exp"].as_u64());
    assert_eq!(list["revoked"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["full"], json!(true));
}

/// The revocation file of an issuer configured by `raw_config(dir)`.
fn revocation_file(dir: &Path) -> PathBuf {
    dir.join("revoked-jtis.jsonl")
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("revocation file")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

fn entry(token: &str) -> Value {
    json!({"jti": claims(token)["jti"], "exp": claims(token)["exp"]})
}

/// Signs in a new wallet and has the admin revoke its access token; the token.
async fn revoked_token(server: &Server, admin: &str) -> String {
    let (_, answer) = sign_in(server, &Wallet::new(WalletAlgorithm::Ed25519)).await;
    let token = field(&answer, "access_token");
    let body = json!({ "jti": claims(&token)["jti"] });
    assert_eq!(revoke(server, Some(admin), body).await.0, 200);
    token
}

fn start_up_error(raw: RawServerConfig) -> String {
    let config = raw.validate().expect("valid server config");
    AuthServer::new(config)
        .expect_err("start-up must fail")
        .to_string()
}

/// The permission bits of `path`.
#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[actix_web::test]
async fn each_revocation_is_one_line_of_the_file_beside_the_signing_key() {
    let dir = temp_dir();
    let (_issuer, server) = Backend::Memory.embedded(raw_config(&dir)).await;
    assert_eq!(std::fs::read(revocation_file(&dir)).unwrap(), b"");
    #[cfg(unix)]
    assert_eq!(mode(&revocation_file(&dir)), 0o600);
    let admin = admin_token(&server).await;
    let first = revoked_token(&server, &admin).await;
    let second = revoked_token(&server, &admin).await;
    assert_eq!(
        lines(&revocation_file(&dir)),
        vec![entry(&first), entry(&second)]
    );
}

#[cfg(unix)]
#[test]
fn a_revocation_file_readable_by_others_is_owner_only_after_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir();
    let path = revocation_file(&dir);
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _issuer = crate::support::issuer(raw_config(&dir));
    assert_eq!(mode(&path), 0o600);
}

#[actix_web::test]
async fn entries_past_the_listing_margin_are_dropped_and_the_file_rewritten_at_start() {
    let dir = temp_dir();
    let clock = TestClock::default();
    let (issuer, server) = Backend::Memory
        .embedded_with_clock(raw_config(&dir), clock.clock())
        .await;
    // The validator reads the system clock: the admin's token is taken before the issuer's
    // clock moves on.
    let admin = admin_token(&server).await;
    let old = revoked_token(&server, &admin).await;
    // 15-minute tokens: the first is listed until an hour past its expiry, 75 minutes on.
    clock.set(3000);
    let recent = revoked_token(&server, &admin).await;
    server.stop().await;
    drop(issuer);
    assert_eq!(lines(&revocation_file(&dir)).len(), 2);

    clock.set(4600);
    let (_issuer, server) = Backend::Memory
        .embedded_with_clock(raw_config(&dir), clock.clock())
        .await;
    let (_, list) = get(&server, "/api/v1/auth/revoked-jtis", None).await;
    assert_eq!(
        list["revoked"],
        json!([entry(&recent)]),
        "not {}",
        entry(&old)
    );
    assert_eq!(lines(&revocation_file(&dir)), vec![entry(&recent)]);
}

#[actix_web::test]
async fn a_cut_short_last_line_is_skipped_and_the_rest_replayed() {
    let dir = temp_dir();
    let (issuer, server) = Backend::Memory.embedded(raw_config(&dir)).await;
    let token = revoked_token(&server, &admin_token(&server).await).await;
    server.stop().await;
    drop(issuer);
    // A crash in the middle of writing the next line.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(revocation_file(&dir))
        .unwrap();
    file.write_all(br#"{"jti":"cut-sh"#).unwrap();
    drop(file);

    let (_issuer, server) = Backend::Memory.embedded(raw_config(&dir)).await;
    assert_eq!(profile_status(&server, &token).await, revoked());
    assert_eq!(lines(&revocation_file(&dir)), vec![entry(&token)]);
    // The next revocation starts a line of its own.
    let next = revoked_token(&server, &admin_token(&server).await).await;
    assert_eq!(
        lines(&revocation_file(&dir)),
        vec![entry(&token), entry(&next)]
    );
}

#[test]
fn an_unreadable_line_before_the_last_stops_start_up_naming_the_file_and_line() {
    let dir = temp_dir();
    let path = revocation_file(&dir);
    std::fs::write(
        &path,
        "{\"jti\":\"a\",\"exp\":99999999999}\nnot json\n{\"jti\":\"b\",\"exp\":99999999999}\n",
    )
    .unwrap();
    let err = start_up_error(raw_config(&dir));
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("line 2"), "{err}");
    // Start-up changed nothing: the operator decides what the line was.
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
}

#[test]
fn a_revocation_file_that_cannot_be_read_or_written_stops_start_up_naming_it() {
    let dir = temp_dir();
    // A folder where the file should be: it cannot be read.
    std::fs::create_dir_all(revocation_file(&dir)).unwrap();
    let err = start_up_error(raw_config(&dir));
    assert!(
        err.contains(&revocation_file(&dir).display().to_string()),
        "{err}"
    );

    // A file where its folder should be: it cannot be created.
    let dir = temp_dir();
    std::fs::write(dir.join("not-a-folder"), "").unwrap();
    let path = dir.join("not-a-folder").join("revoked.jsonl");
    let err = start_up_error(RawServerConfig {
        revocations_path: path.clone(),
        ..raw_config(&dir)
    });
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("revocations_path"), "{err}");
}

#[actix_web::test]
async fn revocations_path_puts_the_file_elsewhere_and_its_folder_is_created() {
    let dir = temp_dir();
    let path = temp_dir().join("state").join("revoked.jsonl");
    let raw = RawServerConfig {
        revocations_path: path.clone(),
        ..raw_config(&dir)
    };
    let (issuer, server) = Backend::Memory.embedded(raw.clone()).await;
    assert_eq!(issuer.config().revocations_path(), path);
    let token = revoked_token(&server, &admin_token(&server).await).await;
    assert_eq!(lines(&path), vec![entry(&token)]);
    assert!(!revocation_file(&dir).exists());
    server.stop().await;
    drop(issuer);

    let (_issuer, server) = Backend::Memory.embedded(raw).await;
    assert_eq!(profile_status(&server, &token).await, revoked());
}

#[actix_web::test]
async fn rotating_the_key_within_its_folder_keeps_the_revocations() {
    let dir = temp_dir();
    let (issuer, server) = Backend::Memory.embedded(raw_config(&dir)).await;
    let token = revoked_token(&server, &admin_token(&server).await).await;
    server.stop().await;
    drop(issuer);

    let rotated = RawServerConfig {
        signing_key_path: dir.join("signing-key-2.pem"),
        retiring_key_paths: vec![dir.join("signing-key.pem")],
        ..raw_config(&dir)
    };
    let (_issuer, server) = Backend::Memory.embedded(rotated).await;
    assert_eq!(profile_status(&server, &token).await, revoked());
}

#[test]
fn revocations_path_is_refused_with_postgres_and_when_it_names_a_key() {
    let dir = temp_dir();
    let with_postgres = RawServerConfig {
        store_url: "postgres://auth@127.0.0.1/auth".into(),
        revocations_path: dir.join("revoked.jsonl"),
        ..raw_config(&dir)
    };
    let err = with_postgres.validate().unwrap_err().to_string();
    assert!(err.contains("server_auth.revocations_path"), "{err}");
    assert!(err.contains("store_url"), "{err}");

    for key in ["signing-key.pem", "old-key.pem"] {
        let on_a_key = RawServerConfig {
            revocations_path: dir.join(key),
            retiring_key_paths: vec![dir.join("old-key.pem")],
            ..raw_config(&dir)
        };
        let err = on_a_key.validate().unwrap_err().to_string();
        assert!(err.contains("names a signing key"), "{err}");
    }
}

#[cfg(feature = "postgres")]
#[actix_web::test]
async fn with_postgres_a_restarted_instance_refuses_and_lists_the_revoked_token() {
    let url = crate::pg::fresh_database();
    let dir = temp_dir();
    let start = || async {
        let config = raw_config(&dir).validate().unwrap();
        let store = auth_server::store::PgStore::connect(&url, 2, config.max_sessions())
            .await
            .unwrap();
        let issuer = AuthServer::with_store(config, store).unwrap();
        let server = crate::support::serve(&issuer, crate::support::validator_for(&issuer));
        (issuer, server)
    };
    let (issuer, server) = start().await;
    let token = revoked_token(&server, &admin_token(&server).await).await;
    server.stop().await;
    drop(issuer);

    let (_issuer, server) = start().await;
    assert_eq!(profile_status(&server, &token).await, revoked());
    let (_, list) = get(&server, "/api/v1/auth/revoked-jtis", None).await;
    assert_eq!(list["revoked"], json!([entry(&token)]));
    // The database keeps them: no file.
    assert!(!revocation_file(&dir).exists());
}
