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
        let figment = auth_runtime::figment_from("auth.yaml");
        let config = AuthConfig::from_figment(&figment).expect("valid");
        let one = &config.issuers()[0];
        assert_eq!(one.issuer(), "https://file.example");
        assert_eq!(one.audiences(), ["env-api"], "the environment wins");
        assert_eq!(config.public_paths(), vec!["/health".to_owned()]);
        assert_eq!(one.accepted_algorithms().len(), 2);
        assert_eq!(one.jwks_url(), "https://file.example/api/v1/auth/jwks");
        Ok(())
    });
}

#[test]
fn start_up_fails_fast_on_missing_issuer_or_audience() {
    Jail::expect_with(|jail| {
        jail.create_file("auth.yaml", "auth_client:\n  audience: api\n")?;
        let err = JwtAuth::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap_err();
        assert!(
            err.message()
                .starts_with("auth_client.issuer must be set when auth is enabled")
        );
        jail.set_env("AUTH_CLIENT__ISSUER", "https://id.example");
        jail.set_env("AUTH_CLIENT__AUDIENCE", "");
        let err = JwtAuth::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap_err();
        assert!(
            err.message()
                .starts_with("auth_client.audience must be set when auth is enabled")
        );
        Ok(())
    });
}

#[test]
fn missing_optional_file_and_no_environment_means_issuer_error() {
    Jail::expect_with(|_| {
        let err = AuthConfig::from_figment(&auth_runtime::figment_from_optional("absent.yaml"))
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
            AuthConfig::from_figment(&auth_runtime::figment_from_optional("absent.yaml")).unwrap();
        assert!(!config.enabled());
        Ok(())
    });
}

#[test]
fn wrong_type_names_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("AUTH_CLIENT__JWKS_TTL_SECONDS", "soon");
        let err = AuthConfig::from_figment(&auth_runtime::figment_from_optional("absent.yaml"))
            .unwrap_err();
        assert!(
            err.message().to_lowercase().contains("jwks_ttl_seconds"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn string_settings_from_the_environment_stay_exactly_as_written() {
    for audience in ["31415926535", "007", "1.50", "true", "-0", "1e3", "null"] {
        Jail::expect_with(|jail| {
            jail.set_env("AUTH_CLIENT__ISSUER", "https://id.example");
            jail.set_env("AUTH_CLIENT__AUDIENCE", audience);
            let figment = auth_runtime::figment_from_optional("absent.yaml");
            let config = AuthConfig::from_figment(&figment)
                .unwrap_or_else(|err| panic!("{audience}: {err}"));
            assert_eq!(config.issuers()[0].audiences(), [audience]);
            Ok(())
        });
    }
}

#[test]
fn numbers_booleans_and_lists_from_the_environment_keep_their_types() {
    Jail::expect_with(|jail| {
        jail.set_env("AUTH_CLIENT__ISSUER", "https://id.example");
        jail.set_env("AUTH_CLIENT__AUDIENCE", "api");
        jail.set_env("AUTH_CLIENT__JWKS_TTL_SECONDS", "600");
        jail.set_env("AUTH_CLIENT__USE_ENV_PROXY", "false");
        jail.set_env("AUTH_CLIENT__PUBLIC_PATHS", "[/health, '/docs']");
        jail.set_env("auth_client__leeway_seconds", "5");
        jail.set_env("AUTH_CLIENT__JWKS_URL", "https://keys.example/2024");
        let figment = auth_runtime::figment_from_optional("absent.yaml");
        let config = AuthConfig::from_figment(&figment).unwrap();
        let one = &config.issuers()[0];
        assert_eq!(one.jwks_ttl().as_secs(), 600);
        assert!(!one.use_env_proxy());
        assert_eq!(config.public_paths(), vec!["/health", "/docs"]);
        assert_eq!(one.leeway_seconds(), 5, "variable names match without case");
        assert_eq!(
            one.jwks_url(),
            "https://keys.example/2024",
            "an alias stays text"
        );
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.set_env("AUTH_CLIENT__ISSUER", "https://id.example");
        jail.set_env("AUTH_CLIENT__AUDIENCE", "api");
        jail.set_env("AUTH_CLIENT__PUBLIC_PATHS", "");
        let figment = auth_runtime::figment_from_optional("absent.yaml");
        let config = AuthConfig::from_figment(&figment).unwrap();
        assert!(
            config.public_paths().is_empty(),
            "an empty variable is an empty list"
        );
        Ok(())
    });
}

#[test]
fn a_wrong_setting_names_the_key_the_variable_and_what_is_expected() {
    Jail::expect_with(|jail| {
        jail.set_env("AUTH_CLIENT__ISSUER", "https://id.example");
        jail.set_env("AUTH_CLIENT__AUDIENCE", "api");
        jail.set_env("AUTH_CLIENT__JWKS_TTL_SECONDS", "soon");
        let figment = auth_runtime::figment_from_optional("absent.yaml");
        let err = AuthConfig::from_figment(&figment).unwrap_err().to_string();
        assert!(err.contains("`auth_client.jwks_ttl_seconds`"), "{err}");
        assert!(err.contains("AUTH_CLIENT__JWKS_TTL_SECONDS"), "{err}");
        assert!(err.contains("u64"), "{err}");
        Ok(())
    });
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "auth_client:\n  issuer: https://id.example\n  audiense: api\n",
        )?;
        let err = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`auth_client.audiense` is not a known key"),
            "{err}"
        );
        assert!(err.contains("audience"), "the known keys are listed: {err}");
        assert!(err.contains("auth.yaml"), "the file is named: {err}");
        Ok(())
    });
}

#[test]
fn errors_never_print_the_value_of_a_secret_looking_key() {
    let secret = "hunter2-do-not-print";
    let section = "vault";
    #[derive(serde::Deserialize, serde::Serialize, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Vault {
        ttl_seconds: u64,
        client_secret: Vec<u64>,
        api_token: u64,
    }
    let cases = [
        (
            "VAULT__CLIENT_SECRET",
            format!("[{secret}]"),
            "`vault.client_secret.0` must be u64",
        ),
        (
            "VAULT__API_TOKEN",
            secret.to_owned(),
            "`vault.api_token` must be u64, not a string",
        ),
        (
            "VAULT__TTL_SECONDS",
            "visible-value".to_owned(),
            "\"visible-value\"",
        ),
    ];
    for (variable, value, expected) in cases {
        Jail::expect_with(|jail| {
            jail.set_env(variable, &value);
            let figment = figment::Figment::new().merge(auth_runtime::__private::EnvSection::new(
                "VAULT",
                section,
                &Vault::default(),
            ));
            let err = figment
                .focus(section)
                .extract::<Vault>()
                .map_err(|err| auth_runtime::__private::explain(section, err))
                .err()
                .expect("a bad setting")
                .to_string();
            assert!(!err.contains(secret), "{err}");
            assert!(err.contains(expected), "{err}");
            assert!(err.contains(variable), "{err}");
            Ok(())
        });
    }
}

#[test]
fn roles_claim_comes_from_yaml_or_the_environment_and_must_not_be_blank() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "auth_client:\n  issuer: https://id.example\n  audience: api\n  roles_claim: roles\n",
        )?;
        let figment = || auth_runtime::figment_from("auth.yaml");
        assert_eq!(
            AuthConfig::from_figment(&figment())
                .expect("valid")
                .issuers()[0]
                .roles_claim(),
            "roles"
        );
        jail.set_env("AUTH_CLIENT__ROLES_CLAIM", "resource_access.my-api.roles");
        assert_eq!(
            AuthConfig::from_figment(&figment())
                .expect("valid")
                .issuers()[0]
                .roles_claim(),
            "resource_access.my-api.roles"
        );
        jail.set_env("AUTH_CLIENT__ROLES_CLAIM", "  ");
        let err = AuthConfig::from_figment(&figment()).unwrap_err();
        assert!(
            err.message()
                .starts_with("auth_client.roles_claim must name"),
            "{err}"
        );
        Ok(())
    });
    let defaults = auth_runtime::RawConfig::default();
    assert_eq!(defaults.roles_claim, "role");
}

#[test]
fn error_format_is_read_from_yaml_and_environment() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "auth_client:\n  issuer: https://id.example\n  audience: api\n  error_format: problem\n",
        )?;
        let config = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap();
        assert_eq!(config.error_format(), auth_runtime::ErrorFormat::Problem);

        jail.set_env("AUTH_CLIENT__ERROR_FORMAT", "json");
        let config = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap();
        assert_eq!(config.error_format(), auth_runtime::ErrorFormat::Json);

        jail.set_env("AUTH_CLIENT__ERROR_FORMAT", "xml");
        let err = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth_client.error_format"), "{err}");
        assert!(err.contains("json") && err.contains("problem"), "{err}");
        Ok(())
    });
}

#[test]
fn an_error_names_its_kind_its_key_and_where_the_value_was_set() {
    use auth_runtime::ConfigErrorKind;
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "auth_client:\n  issuer: https://id.example\n  audience: api\n  accepted_algorithms: [HS256]\n",
        )?;
        let figment = auth_runtime::figment_from("auth.yaml");
        let err = AuthConfig::from_figment(&figment).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Algorithm);
        assert_eq!(err.key(), Some("auth_client.accepted_algorithms"));
        let origin = err.origin().expect("set in the file");
        assert!(origin.contains("auth.yaml"), "{origin}");
        assert!(
            err.message().contains("HS256"),
            "the message is unchanged: {err}"
        );

        jail.set_env("AUTH_CLIENT__JWKS_TTL_SECONDS", "0");
        jail.set_env("AUTH_CLIENT__ACCEPTED_ALGORITHMS", "[RS256]");
        let err = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::OutOfRange);
        assert_eq!(err.key(), Some("auth_client.jwks_ttl_seconds"));
        let origin = err.origin().expect("set in the environment");
        assert!(origin.contains("AUTH_CLIENT"), "{origin}");

        jail.set_env("AUTH_CLIENT__JWKS_TTL_SECONDS", "300");
        jail.set_env(
            "AUTH_CLIENT__REVOCATION_ENDPOINT",
            "http://lists.example/revoked",
        );
        let err = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::InsecureUrl);
        assert_eq!(err.key(), Some("auth_client.revocation_endpoint"));
        Ok(())
    });
}

#[test]
fn an_error_about_a_default_has_no_origin() {
    Jail::expect_with(|jail| {
        jail.create_file("auth.yaml", "auth_client:\n  audience: api\n")?;
        let err = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap_err();
        assert_eq!(err.kind(), auth_runtime::ConfigErrorKind::Missing);
        assert_eq!(err.key(), Some("auth_client.issuer"));
        assert_eq!(err.origin(), None);
        Ok(())
    });
}

#[test]
fn a_named_file_that_does_not_exist_is_an_error_naming_it() {
    Jail::expect_with(|jail| {
        jail.set_env("AUTH_CLIENT__ISSUER", "https://id.example");
        jail.set_env("AUTH_CLIENT__AUDIENCE", "api");
        let err = AuthConfig::from_figment(&auth_runtime::figment_from("cofnig.yaml")).unwrap_err();
        assert!(err.message().contains("cofnig.yaml"), "{err}");
        assert!(err.message().contains("does not exist"), "{err}");
        assert!(err.message().contains("figment_from_optional"), "{err}");
        Ok(())
    });
}

#[test]
fn a_misspelled_section_is_reported_with_the_right_name() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "auth_clinet:\n  issuer: https://id.example\n  audience: api\n",
        )?;
        let err = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap_err();
        assert!(err.message().contains("`auth_clinet`"), "{err}");
        assert!(
            err.message().contains("did you mean `auth_client`"),
            "{err}"
        );
        assert_eq!(err.key(), Some("auth_clinet"));
        Ok(())
    });
}

#[test]
fn every_value_error_says_where_the_value_was_set_and_debug_reads_like_display() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "auth_client:\n  issuer: https://id.example\n  audience: api\n  accepted_algorithms: [HS256]\n",
        )?;
        let err = AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml")).unwrap_err();
        assert!(err.message().contains("HS256"), "{err}");
        assert!(err.message().contains("(set in "), "{err}");
        assert!(err.message().contains("auth.yaml"), "{err}");
        assert_eq!(format!("{err:?}"), format!("{err}"));
        Ok(())
    });
}

#[test]
fn a_section_with_a_similar_name_next_to_the_real_one_is_left_alone() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "auth.yaml",
            "oauth_client:\n  id: shop\nauth_client:\n  issuer: https://id.example\n  audience: api\n",
        )?;
        AuthConfig::from_figment(&auth_runtime::figment_from("auth.yaml")).expect("valid");
        Ok(())
    });
}
