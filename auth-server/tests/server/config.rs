//! The `server_auth` section from the environment: strings stay strings, secrets stay out of
//! errors.

// figment's `Jail` closures return `figment::Error`, which is large; that is its API.
#![allow(clippy::result_large_err)]

use auth_server::{ServerConfig, figment_from, figment_from_optional};
use figment::Jail;

#[test]
fn a_numeric_admin_password_from_the_environment_stays_text() {
    Jail::expect_with(|jail| {
        jail.set_env("SERVER_AUTH__AUDIENCE", "2024");
        jail.set_env("SERVER_AUTH__AUTO_CREATE_ADMIN", "true");
        jail.set_env("SERVER_AUTH__ADMIN_EMAIL", "admin@example.com");
        jail.set_env("SERVER_AUTH__ADMIN_PASSWORD", "0031415926535");
        jail.set_env("SERVER_AUTH__ACCESS_TOKEN_EXPIRE_MINUTES", "5");
        let config = ServerConfig::from_figment(&figment_from_optional("absent.yaml"))
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(config.audience(), "2024");
        assert_eq!(config.access_token_ttl().as_secs(), 300);
        assert!(config.admin().is_some());
        Ok(())
    });
}

#[test]
fn a_bad_admin_password_setting_is_named_but_never_printed() {
    Jail::expect_with(|jail| {
        // In YAML an unquoted number is a number, not the text the password should be.
        jail.create_file(
            "auth.yaml",
            "server_auth:\n  audience: api\n  admin_password: 31415926535\n",
        )?;
        let err = ServerConfig::from_figment(&figment_from("auth.yaml"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("31415926535"), "{err}");
        assert!(
            err.contains("`server_auth.admin_password` must be a string, not an integer"),
            "{err}"
        );
        assert!(err.contains("auth.yaml"), "{err}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        // From the environment the same text is taken as written, brackets included.
        jail.set_env("SERVER_AUTH__AUDIENCE", "api");
        jail.set_env("SERVER_AUTH__AUTO_CREATE_ADMIN", "true");
        jail.set_env("SERVER_AUTH__ADMIN_EMAIL", "admin@example.com");
        jail.set_env("SERVER_AUTH__ADMIN_PASSWORD", "[correct, horse]");
        let config = ServerConfig::from_figment(&figment_from_optional("absent.yaml")).unwrap();
        assert!(
            config
                .admin()
                .expect("password login on")
                .verifies("[correct, horse]")
        );
        Ok(())
    });
}

#[test]
fn the_runtime_figment_leaves_server_auth_variables_to_auth_server() {
    Jail::expect_with(|jail| {
        jail.set_env("SERVER_AUTH__AUDIENCE", "only-for-the-issuer");
        let runtime = auth_runtime::figment_from_optional("absent.yaml");
        assert!(runtime.find_value("server_auth.audience").is_err());
        let server = figment_from_optional("absent.yaml");
        assert_eq!(
            server.extract_inner::<String>("server_auth.audience")?,
            "only-for-the-issuer"
        );
        Ok(())
    });
}

#[test]
fn the_store_url_password_never_shows_and_only_postgres_urls_are_taken() {
    Jail::expect_with(|jail| {
        jail.set_env("SERVER_AUTH__AUDIENCE", "api");
        jail.set_env(
            "SERVER_AUTH__STORE_URL",
            "postgres://auth:db-pass-123@db.internal:5432/auth",
        );
        jail.set_env("SERVER_AUTH__SESSION_MAX_DAYS", "14");
        let config = ServerConfig::from_figment(&figment_from_optional("absent.yaml"))
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            config.store_url(),
            Some("postgres://auth:db-pass-123@db.internal:5432/auth")
        );
        assert_eq!(config.session_max().as_secs(), 14 * 86_400);
        let shown = format!("{config:?}");
        assert!(!shown.contains("db-pass-123"), "{shown}");
        assert!(
            shown.contains("postgres://auth:<redacted>@db.internal:5432/auth"),
            "{shown}"
        );

        jail.set_env(
            "SERVER_AUTH__STORE_URL",
            "postgres://db.internal/auth?user=auth&password=db-pass-123&sslmode=disable",
        );
        let config = ServerConfig::from_figment(&figment_from_optional("absent.yaml"))
            .unwrap_or_else(|err| panic!("{err}"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("db-pass-123"), "{shown}");
        assert!(
            shown.contains("password=<redacted>&sslmode=disable"),
            "{shown}"
        );

        jail.set_env("SERVER_AUTH__STORE_URL", "redis://:db-pass-123@cache/0");
        let err = ServerConfig::from_figment(&figment_from_optional("absent.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server_auth.store_url"), "{err}");
        assert!(!err.contains("db-pass-123"), "{err}");

        for (key, value) in [
            ("SESSION_MAX_DAYS", "0"),
            ("MAX_SESSIONS", "0"),
            ("LOGIN_FAILURES_PER_CLIENT", "0"),
        ] {
            jail.set_env("SERVER_AUTH__STORE_URL", "");
            jail.set_env(format!("SERVER_AUTH__{key}"), value);
            let err = ServerConfig::from_figment(&figment_from_optional("absent.yaml"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("server_auth.{}", key.to_lowercase())),
                "{err}"
            );
            jail.set_env(format!("SERVER_AUTH__{key}"), "1");
        }
        Ok(())
    });
}

#[test]
fn a_misspelled_server_section_is_reported_with_the_right_name() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "server_ath:\n  issuer: https://id.example\n  audience: api\n",
        )?;
        let err = ServerConfig::from_figment(&figment_from("auth.yaml")).unwrap_err();
        assert!(err.message().contains("`server_ath`"), "{err}");
        assert!(
            err.message().contains("did you mean `server_auth`"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn a_named_file_that_does_not_exist_is_an_error_for_the_issuer_too() {
    Jail::expect_with(|_| {
        let err = ServerConfig::from_figment(&figment_from("server.yml")).unwrap_err();
        assert!(
            err.message().contains("`server.yml` does not exist"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn trusted_proxies_are_addresses_or_networks_and_an_entry_that_is_neither_is_named() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "server_auth:\n  audience: api\n  trusted_proxies:\n    - 10.0.0.5\n    - 10.0.0.0/8\n    \
             - \"fd00::/8\"\n    - \" ::1 \"\n    - \"::ffff:192.0.2.0/120\"\n",
        )?;
        let config = ServerConfig::from_figment(&figment_from("auth.yaml"))
            .unwrap_or_else(|err| panic!("{err}"));
        let listed: Vec<String> = config
            .trusted_proxies()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            listed,
            [
                "10.0.0.5/32",
                "10.0.0.0/8",
                "fd00::/8",
                "::1/128",
                "::ffff:192.0.2.0/120"
            ]
        );
        for (entry, why) in [
            (
                "proxy.example.com",
                "is neither an IP address nor a network",
            ),
            ("10.0.0.0/", "is neither an IP address nor a network"),
            ("/8", "is neither an IP address nor a network"),
            ("10.0.0.0/8/8", "is neither an IP address nor a network"),
            ("10.0.0.0/+8", "is neither an IP address nor a network"),
            ("10.0.0.0/33", "has a prefix length over 32"),
            ("fd00::/129", "has a prefix length over 128"),
            (
                "10.0.0.1/8",
                "has address bits set past its prefix; write 10.0.0.0/8",
            ),
            (
                "fd00::1/8",
                "has address bits set past its prefix; write fd00::/8",
            ),
        ] {
            jail.create_file(
                "auth.yaml",
                &format!(
                    "server_auth:\n  audience: api\n  trusted_proxies: [10.0.0.5, \"{entry}\"]\n"
                ),
            )?;
            let err = ServerConfig::from_figment(&figment_from("auth.yaml"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("server_auth.trusted_proxies[1] (`{entry}`) {why}")),
                "{err}"
            );
        }
        Ok(())
    });
}

#[test]
fn refresh_reuse_grace_seconds_is_off_by_default_settable_and_at_most_300() {
    Jail::expect_with(|jail| {
        jail.set_env("SERVER_AUTH__AUDIENCE", "api");
        let config = ServerConfig::from_figment(&figment_from_optional("absent.yaml")).unwrap();
        assert_eq!(config.refresh_reuse_grace(), std::time::Duration::ZERO);
        jail.set_env("SERVER_AUTH__REFRESH_REUSE_GRACE_SECONDS", "300");
        let config = ServerConfig::from_figment(&figment_from_optional("absent.yaml")).unwrap();
        assert_eq!(config.refresh_reuse_grace().as_secs(), 300);
        jail.set_env("SERVER_AUTH__REFRESH_REUSE_GRACE_SECONDS", "301");
        let err = ServerConfig::from_figment(&figment_from_optional("absent.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server_auth.refresh_reuse_grace_seconds must be at most 300"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn dpop_settings_are_read_from_the_environment_and_checked() {
    Jail::expect_with(|jail| {
        jail.set_env("SERVER_AUTH__AUDIENCE", "api");
        jail.set_env("SERVER_AUTH__ISSUER", "https://api.example.com");
        jail.set_env("SERVER_AUTH__DPOP", "required");
        jail.set_env("SERVER_AUTH__DPOP_ALGORITHMS", "[EdDSA, ES256, EdDSA]");
        jail.set_env("SERVER_AUTH__DPOP_MAX_AGE_SECONDS", "30");
        let config = ServerConfig::from_figment(&figment_from_optional("absent.yaml"))
            .unwrap_or_else(|err| panic!("{err}"));
        let dpop = config.dpop();
        assert_eq!(dpop.mode(), auth_runtime::DpopMode::Required);
        assert_eq!(
            dpop.algorithms(),
            [
                auth_runtime::Algorithm::EdDSA,
                auth_runtime::Algorithm::ES256
            ]
        );
        assert_eq!(dpop.max_age().as_secs(), 30);
        assert_eq!(dpop.replay_max_entries(), 100_000);
        Ok(())
    });
    let base = || auth_server::RawServerConfig {
        issuer: "https://api.example.com".into(),
        audience: "api".into(),
        ..auth_server::RawServerConfig::default()
    };
    for (raw, expected) in [
        (
            auth_server::RawServerConfig {
                dpop_algorithms: vec!["HS256".into()],
                ..base()
            },
            "server_auth.dpop_algorithms: `HS256` is not a public-key algorithm",
        ),
        (
            auth_server::RawServerConfig {
                dpop_algorithms: Vec::new(),
                ..base()
            },
            "server_auth.dpop_algorithms is empty",
        ),
        (
            auth_server::RawServerConfig {
                dpop_max_age_seconds: 0,
                ..base()
            },
            "server_auth.dpop_max_age_seconds is 0: give 1 to 3600",
        ),
        (
            auth_server::RawServerConfig {
                dpop_replay_max_entries: 10,
                ..base()
            },
            "server_auth.dpop_replay_max_entries is 10: give at least 1000",
        ),
        (
            auth_server::RawServerConfig {
                issuer: "urn:example:issuer".into(),
                ..base()
            },
            "server_auth.issuer (`urn:example:issuer`) is not an http(s) URL",
        ),
    ] {
        let err = raw.validate().unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
    // With DPoP off, any issuer and no proof algorithm.
    let off = auth_server::RawServerConfig {
        issuer: "urn:example:issuer".into(),
        dpop: auth_runtime::DpopMode::Off,
        dpop_algorithms: Vec::new(),
        ..base()
    };
    assert!(off.validate().is_ok());
}
