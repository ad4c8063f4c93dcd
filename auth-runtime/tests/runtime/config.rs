//! Configuration through figment: YAML file, environment on top, start-up failures.

// figment's `Jail` closures return `figment::Error`, which is large; that is its API.
#![allow(clippy::result_large_err)]

use auth_runtime::{AuthConfig, JwtAuth};
use figment::Jail;

#[test]
fn yaml_file_then_environment_with_double_underscore() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "auth_client:\n  issuer: https://file.example\n  audience: file-api\n  public_paths: [/health]\n",
        )?;
        jail.set_env("AUTH_CLIENT__AUDIENCE", "env-api");
        jail.set_env("AUTH_CLIENT__ACCEPTED_ALGORITHMS", "[RS256, ES256]");
        jail.set_env("UNRELATED__AUDIENCE", "ignored");
        let figment = auth_runtime::config::figment_from("auth.yaml");
        let config = AuthConfig::from_figment(&figment).expect("valid");
        assert_eq!(config.issuer, "https://file.example");
        assert_eq!(config.audience, "env-api", "the environment wins");
        assert_eq!(config.public_paths, vec!["/health".to_owned()]);
        assert_eq!(config.accepted_algorithms.len(), 2);
        assert_eq!(
            config.jwks_endpoint,
            "https://file.example/api/v1/auth/jwks"
        );
        Ok(())
    });
}

#[test]
fn start_up_fails_fast_on_missing_issuer_or_audience() {
    Jail::expect_with(|jail| {
        jail.create_file("auth.yaml", "auth_client:\n  audience: api\n")?;
        let err =
            JwtAuth::from_figment(&auth_runtime::config::figment_from("auth.yaml")).unwrap_err();
        assert!(
            err.message()
                .starts_with("auth_client.issuer must be set when auth is enabled")
        );
        jail.set_env("AUTH_CLIENT__ISSUER", "https://id.example");
        jail.set_env("AUTH_CLIENT__AUDIENCE", "");
        let err =
            JwtAuth::from_figment(&auth_runtime::config::figment_from("auth.yaml")).unwrap_err();
        assert!(
            err.message()
                .starts_with("auth_client.audience must be set when auth is enabled")
        );
        Ok(())
    });
}

#[test]
fn missing_file_and_no_environment_means_issuer_error() {
    Jail::expect_with(|_| {
        let err = AuthConfig::from_figment(&auth_runtime::config::figment_from("absent.yaml"))
            .unwrap_err();
        assert!(
            err.message().contains("auth_client.issuer must be set"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn disabled_from_the_environment() {
    Jail::expect_with(|jail| {
        jail.set_env("AUTH_CLIENT__ENABLED", "false");
        let config =
            AuthConfig::from_figment(&auth_runtime::config::figment_from("absent.yaml")).unwrap();
        assert!(!config.enabled);
        Ok(())
    });
}

#[test]
fn wrong_type_names_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("AUTH_CLIENT__JWKS_TTL_SECONDS", "soon");
        let err = AuthConfig::from_figment(&auth_runtime::config::figment_from("absent.yaml"))
            .unwrap_err();
        assert!(
            err.message().to_lowercase().contains("jwks_ttl_seconds"),
            "{err}"
        );
        Ok(())
    });
}
