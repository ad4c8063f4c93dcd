//! The `server_auth` section, read through figment like `auth_client` (environment:
//! `SERVER_AUTH__ADMIN_PASSWORD=...`): as written ([`RawServerConfig`]), checked
//! ([`ServerConfig`], built only by the check in `check`), and the admin account.

mod admin;
mod check;
mod checked;
mod raw;

use std::path::Path;

use auth_runtime::__private::EnvSection;
use figment::Figment;

pub use admin::AdminAccount;
pub use checked::{DpopSettings, LoginLimits, ServerConfig};
pub use raw::RawServerConfig;

/// The figment section this crate reads.
pub(crate) const SECTION: &str = "server_auth";

/// The standard figment of an app that embeds the issuer: the YAML file at `yaml_path`
/// (which must exist; see [`figment_from_optional`]), then the `AUTH_CLIENT__*` and `SERVER_AUTH__*`
/// environment variables on top. String settings stay exactly as written
/// (`SERVER_AUTH__ADMIN_PASSWORD=123456` is the text `123456`), and an error never repeats the
/// value of a secret-looking key such as `admin_password`.
///
/// ```no_run
/// # async fn run() -> Result<(), auth_runtime::ConfigError> {
/// let figment = auth_server::figment_from("config.yaml");
/// let (issuer, auth) = auth_server::embed(&figment).await?;
/// # Ok(())
/// # }
/// ```
pub fn figment_from(yaml_path: impl AsRef<Path>) -> Figment {
    auth_runtime::figment_from(yaml_path).merge(EnvSection::new(
        "SERVER_AUTH",
        SECTION,
        &RawServerConfig::default(),
    ))
}

/// [`figment_from`], for a YAML file that may be absent: then the environment alone.
pub fn figment_from_optional(yaml_path: impl AsRef<Path>) -> Figment {
    auth_runtime::figment_from_optional(yaml_path).merge(EnvSection::new(
        "SERVER_AUTH",
        SECTION,
        &RawServerConfig::default(),
    ))
}

/// `url` without its password (in the authority or as a `password=` parameter), for logs
/// and `Debug`.
fn redacted_url(url: &str) -> String {
    auth_runtime::__private::redact_url(url, true)
}
