//! Settings from the environment, and errors that say which setting is wrong without
//! repeating a secret.
//!
//! A variable `PREFIX__KEY=value` sets `section.key`; every further `__` is one level of
//! nesting. Unlike a plain figment `Env`, a setting keeps the type the section gives it: a
//! string setting stays the exact text (`AUTH_CLIENT__AUDIENCE=31415926535` is the audience
//! `"31415926535"`, `007` stays `007`), a list setting takes `[a, b]` (or one bare value) and
//! holds strings, and only number and boolean settings are parsed.

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};
use serde::Serialize;

use super::{ConfigError, ConfigErrorKind};

/// The environment variables of one configuration section, typed like the section.
///
/// ```
/// use auth_runtime::{RawConfig, __private::EnvSection};
///
/// let figment = figment::Figment::new()
///     .merge(EnvSection::new("AUTH_CLIENT", "auth_client", &RawConfig::default()));
/// # let _ = figment;
/// ```
#[derive(Debug, Clone)]
pub struct EnvSection {
    prefix: String,
    section: String,
    /// The section's defaults, serialised: their shapes say which settings are strings.
    shapes: Value,
}

impl EnvSection {
    /// The variables `PREFIX__*` (matched without regard to case), read into `section`, typed
    /// like the fields of `defaults` (the section's `Default`, serialised once).
    pub fn new<T: Serialize>(prefix: &str, section: &str, defaults: &T) -> EnvSection {
        EnvSection {
            prefix: prefix.to_ascii_uppercase(),
            section: section.to_owned(),
            shapes: Value::serialize(defaults).unwrap_or_else(|_| Value::from(Dict::new())),
        }
    }

    /// The value a variable's text stands for, given the shape of the setting's default.
    fn typed(&self, keys: &[String], text: &str) -> Value {
        let mut shape = Some(&self.shapes);
        for key in keys {
            shape = shape.and_then(|s| s.as_dict()).and_then(|d| d.get(key));
        }
        match shape {
            Some(Value::String(..)) => Value::from(text.to_owned()),
            Some(Value::Array(..)) => Value::from(list(text)),
            // Numbers, booleans and optional settings.
            Some(_) => text
                .parse()
                .unwrap_or_else(|_| Value::from(text.to_owned())),
            // Aliases (`jwks_url`) and unknown keys, which the section then refuses by name.
            None => Value::from(text.to_owned()),
        }
    }
}

/// `[a, b]` (items trimmed, quotes around an item removed) or one bare item.
fn list(text: &str) -> Vec<String> {
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
        return vec![text.to_owned()];
    };
    inner
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| item.strip_prefix(*q).and_then(|i| i.strip_suffix(*q)));
            unquoted.unwrap_or(item).to_owned()
        })
        .collect()
}

impl Provider for EnvSection {
    fn metadata(&self) -> Metadata {
        let prefix = self.prefix.clone();
        let section = self.section.clone();
        Metadata::named(format!("{}__* environment variables", self.prefix)).interpolater(
            move |_profile: &Profile, keys: &[&str]| {
                let mut keys = match keys.split_first() {
                    Some((first, rest)) if *first == section => rest,
                    _ => keys,
                };
                // An item of a list comes from the list's variable.
                while let Some((last, rest)) = keys.split_last()
                    && last.bytes().all(|b| b.is_ascii_digit())
                {
                    keys = rest;
                }
                format!("{prefix}__{}", keys.join("__").to_ascii_uppercase())
            },
        )
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let wanted = format!("{}__", self.prefix);
        let mut section = Dict::new();
        // `vars_os`: a variable that is not Unicode is skipped, not a panic.
        for (name, value) in std::env::vars_os() {
            let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
                continue;
            };
            let Some(rest) = name
                .get(..wanted.len())
                .filter(|head| head.eq_ignore_ascii_case(&wanted))
                .map(|_| &name[wanted.len()..])
            else {
                continue;
            };
            let keys: Vec<String> = rest
                .split("__")
                .filter(|key| !key.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
            if keys.is_empty() {
                continue;
            }
            insert(&mut section, &keys, self.typed(&keys, value));
        }
        let mut root = Dict::new();
        root.insert(self.section.clone(), Value::from(section));
        Ok(Profile::Default.collect(root))
    }
}

fn insert(dict: &mut Dict, keys: &[String], value: Value) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut current = dict;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| Value::from(Dict::new()));
        if entry.as_dict().is_none() {
            *entry = Value::from(Dict::new());
        }
        let Value::Dict(_, next) = entry else {
            return;
        };
        current = next;
    }
    current.insert(last.clone(), value);
}

/// Whether a setting's value must never appear in an error or a log: its name contains one of
/// these words, in any case and as any part of the name (`admin_password`, `clientSecret`,
/// `api_keys`, `signing_key_path`, ...). Some harmless names match too; they lose only the
/// echo of their value.
pub fn is_secret_key(key: &str) -> bool {
    const WORDS: [&str; 9] = [
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "key",
        "credential",
        "private",
    ];
    let key = key.to_ascii_lowercase();
    WORDS.iter().any(|word| key.contains(word))
}

/// A figment extraction error of `section` as a [`ConfigError`]: every problem with the full
/// key, where it was set (file or variable) and what is expected; the offending value only
/// when the key does not look secret.
pub fn explain(section: &str, err: Error) -> ConfigError {
    let problems: Vec<String> = err.into_iter().map(|e| problem(section, &e)).collect();
    ConfigError::new(
        ConfigErrorKind::Unreadable,
        format!("invalid `{section}` configuration: {}", problems.join("; ")),
    )
}

fn problem(section: &str, err: &Error) -> String {
    use figment::error::Kind;
    // A provider's own error (a named file that does not exist) says everything already.
    if let (Kind::Message(message), true) = (&err.kind, err.path.is_empty()) {
        return message.clone();
    }
    let mut path: Vec<&str> = vec![section];
    path.extend(
        err.path
            .iter()
            .map(String::as_str)
            .filter(|k| *k != section),
    );
    let (what, key_path) = match &err.kind {
        Kind::UnknownField(field, expected) => {
            let mut full = path.clone();
            if full.last() != Some(&field.as_str()) {
                full.push(field);
            }
            (
                format!(
                    "is not a known key (known keys: {}); check its spelling",
                    expected.join(", ")
                ),
                full,
            )
        }
        Kind::MissingField(field) => {
            let mut full = path.clone();
            if full.last() != Some(&field.as_ref()) {
                full.push(field);
            }
            ("must be set".to_owned(), full)
        }
        kind => {
            // `client_secret.0` is an item of a secret list.
            let secret = path.iter().any(|key| is_secret_key(key));
            let what = match kind {
                Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                    if secret {
                        format!("must be {}, not {}", expected, kind_of(actual))
                    } else {
                        format!("must be {expected}, not {actual}")
                    }
                }
                Kind::InvalidLength(len, expected) => {
                    format!("must have {expected}, not {len} items")
                }
                _ if secret => "has a value that cannot be used".to_owned(),
                other => other.to_string(),
            };
            (what, path)
        }
    };
    let key = key_path.join(".");
    let source = err.metadata.as_ref().map(|meta| {
        let keys: Vec<&str> = key_path.iter().skip(1).copied().collect();
        let profile = err.profile.clone().unwrap_or_default();
        match &meta.source {
            Some(source) => format!("{source}"),
            None => meta.interpolate(&profile, &keys),
        }
    });
    match source {
        Some(source) => format!("`{key}` {what} (set in {source})"),
        None => format!("`{key}` {what}"),
    }
}

/// What kind of value was found, without the value.
fn kind_of(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "a list",
        Actual::Map => "a map",
        Actual::Unit | Actual::Option => "empty",
        _ => "another kind of value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_take_brackets_quotes_or_one_bare_item() {
        assert_eq!(list("[RS256, ES256]"), vec!["RS256", "ES256"]);
        assert_eq!(list("['/a', \"/b\"]"), vec!["/a", "/b"]);
        assert_eq!(list("[]"), Vec::<String>::new());
        assert_eq!(list("RS256"), vec!["RS256"]);
        assert_eq!(list(""), Vec::<String>::new());
        assert_eq!(list("[007, 1.50]"), vec!["007", "1.50"]);
    }

    #[test]
    fn secret_looking_keys() {
        for key in [
            "admin_password",
            "client_secret",
            "signing_key_path",
            "api_token",
            "api_keys",
            "clientSecret",
            "secrets",
            "apikey",
            "db_pwd",
            "passphrase",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["audience", "issuer", "jwks_endpoint", "leeway_seconds"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
