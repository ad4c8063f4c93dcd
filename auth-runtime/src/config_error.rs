//! [`ConfigError`]: a configuration that cannot be used, with the key at fault, where it was
//! set, what is wrong with it, and the fix.

use std::fmt;

/// What is wrong with a configuration: one kind per check, so that code can tell the failures
/// apart without reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The section could not be read: an unknown key, or a value of the wrong type.
    Unreadable,
    /// A value every enabled configuration needs is not set (`issuer`, `audience`).
    Missing,
    /// A number or a list outside what the key allows.
    OutOfRange,
    /// A value of the right type that the key does not accept (a path without `/`, an empty
    /// audience).
    Invalid,
    /// An algorithm that is not supported, or refused on purpose (HS256 and the other
    /// shared-secret algorithms).
    Algorithm,
    /// Two keys that cannot both be set.
    Conflict,
    /// A URL that does not parse.
    InvalidUrl,
    /// A URL that would fetch keys or lists without TLS from another host, or with a scheme
    /// other than https.
    InsecureUrl,
    /// A key source, revocation source or validator given for an issuer that is not
    /// configured, or in a way that does not say which issuer it is for.
    UnknownIssuer,
    /// An issuer (such as an embedded one) whose tokens this configuration would refuse.
    Mismatch,
    /// The HTTP client could not be built.
    HttpClient,
    /// A section whose name is close to the one this crate reads (`auth_clinet`), with that
    /// one absent.
    Misspelled,
    /// A signing key that cannot be read, made, or used with the configured algorithm.
    SigningKey,
    /// The store named by the configuration cannot be opened.
    Store,
}

/// A configuration that cannot be used, with the key at fault and how to fix it.
///
/// [`Display`](fmt::Display) gives the message alone (which names the key and the fix), so
/// that `main` returning `Result<_, Box<dyn Error>>` prints it readably.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    key: Option<String>,
    origin: Option<String>,
    message: String,
}

impl ConfigError {
    /// An error of `kind` with `message`, which should name the key at fault and the fix.
    pub fn new(kind: ConfigErrorKind, message: impl Into<String>) -> ConfigError {
        ConfigError {
            kind,
            key: None,
            origin: None,
            message: message.into(),
        }
    }

    /// An error about the configuration key `key` (`auth_client.audience`).
    pub(crate) fn at(
        key: impl Into<String>,
        kind: ConfigErrorKind,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            key: Some(key.into()),
            ..ConfigError::new(kind, message)
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The configuration key at fault (`auth_client.issuers[1].audience`), when one is.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Where the value at fault was set, when the configuration came from a figment that
    /// knows: a file's path, or the environment variable.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The message, naming the key and the fix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Records where the value at fault was set, and says so at the end of the message.
    pub(crate) fn with_origin(mut self, origin: Option<String>) -> ConfigError {
        if let Some(origin) = &origin {
            self.message = format!("{} (set in {origin})", self.message);
        }
        self.origin = origin;
        self
    }
}

/// The message, as [`Display`](fmt::Display) gives it: what `main` returning
/// `Result<(), ConfigError>` prints, without escaped quotes. [`kind`](ConfigError::kind),
/// [`key`](ConfigError::key) and [`origin`](ConfigError::origin) give the parts.
impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}
