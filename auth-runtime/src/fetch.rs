//! How anything the validator trusts is fetched: key sets, discovery documents and revocation
//! lists all follow these rules.
//!
//! - A URL is https, or plain http to a loopback host only: a document fetched in clear text
//!   can be swapped by anyone on the path, and with it every identity.
//! - Only https may go through a proxy (the environment's, unless `use_env_proxy` is off);
//!   TLS keeps such a proxy from changing what is fetched. Plain http never does.
//! - No redirects, a timeout on connecting and on the whole exchange, and a cap on what is
//!   read.
//! - A URL is shown (in errors and logs) without any user name or password in it.

use std::fmt;
use std::time::Duration;

use crate::config_error::{ConfigError, ConfigErrorKind};

/// A URL keys (or a document naming them) are fetched from, parsed once: the same parsed
/// form decides on a proxy and is fetched. Plain http is refused unless the host is
/// loopback. `key` names the setting the URL comes from, `what` what it points at.
pub(crate) fn check_fetch_url(
    url: &str,
    key: &str,
    what: &str,
) -> Result<reqwest::Url, ConfigError> {
    let shown = redacted_text(url);
    let parsed = reqwest::Url::parse(url).map_err(|err| {
        ConfigError::at(
            key,
            ConfigErrorKind::InvalidUrl,
            format!(
                "{key}: the {what} URL `{shown}` is not a valid URL ({err}); give an absolute \
                 https:// URL"
            ),
        )
    })?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(ConfigError::at(
            key,
            ConfigErrorKind::InsecureUrl,
            format!(
                "{key}: the {what} URL `{shown}` uses plain http to a non-loopback host; use \
                 https (plain http is allowed only for localhost, 127.0.0.1 and ::1)"
            ),
        )),
        other => Err(ConfigError::at(
            key,
            ConfigErrorKind::InsecureUrl,
            format!("{key}: the {what} URL `{shown}` has scheme `{other}`; use https://"),
        )),
    }
}

/// A URL as it may be shown in errors and logs: a user name or password in it is replaced.
pub(crate) fn redacted(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() || shown.password().is_some() {
        // Both setters only fail for URLs that cannot carry credentials at all.
        let _ = shown.set_username("redacted");
        let _ = shown.set_password(None);
    }
    shown.to_string()
}

/// [`redacted`] for text that may not even parse.
pub(crate) fn redacted_text(url: &str) -> String {
    redact_url(url, false)
}

/// `url` as it may be shown in errors and logs; every URL this workspace shows goes through
/// here.
///
/// - `keep_user: false` (key sets, discovery documents, revocation lists): a URL that parses
///   is shown as parsed, with the user name `redacted` and no password, whatever slashes it
///   was written with; text that does not parse loses everything up to the last `@` of what
///   would be its authority.
/// - `keep_user: true` (database URLs, whose user helps and is no secret): everything from
///   the user name's end to the last `@` before the query becomes `:<redacted>`, so a
///   password holding an unencoded `/` or `#` is hidden too, and so is the value of a
///   `password` query parameter.
pub(crate) fn redact_url(url: &str, keep_user: bool) -> String {
    if keep_user {
        return redact_keeping_user(url);
    }
    if let Ok(parsed) = reqwest::Url::parse(url) {
        return redacted(&parsed);
    }
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://redacted@{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

fn redact_keeping_user(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut shown = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &base[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!(
                "{}{user}:<redacted>{}",
                &base[..scheme_end + 3],
                &base[at..]
            )
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                    format!("{key}=<redacted>")
                }
                _ => parameter.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&parameters.join("&"));
    }
    shown
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// One client for https (through the environment's proxy unless that is off), one that
/// never uses a proxy, for everything else.
pub(crate) struct Clients {
    https: reqwest::Client,
    direct: reqwest::Client,
}

impl Clients {
    /// The clients for fetches that time out after `timeout`; `use_env_proxy`: whether https
    /// fetches follow the environment's proxy.
    pub(crate) fn new(timeout: Duration, use_env_proxy: bool) -> Result<Clients, ConfigError> {
        let direct = client(false, timeout)?;
        let https = if use_env_proxy {
            client(true, timeout)?
        } else {
            direct.clone()
        };
        Ok(Clients { https, direct })
    }

    /// The client for `url`: only https may go through a proxy.
    pub(crate) fn for_url(&self, url: &reqwest::Url) -> &reqwest::Client {
        if url.scheme() == "https" {
            &self.https
        } else {
            &self.direct
        }
    }
}

/// An HTTP client that fetches documents; `proxied` only for https URLs.
///
/// Only an https URL may go through a proxy: the environment's (`HTTPS_PROXY`, `ALL_PROXY`,
/// `NO_PROXY`), unless `use_env_proxy` is off. Anything else is fetched directly, never
/// through a proxy: a proxy named in the environment would otherwise see and answer a
/// plain-http request, and could hand over keys of its own.
fn client(proxied: bool, timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // The sources are shared by every actix worker, each with its own runtime; a pooled
        // connection belongs to the runtime that opened it, so none is kept. Fetches are
        // rare enough that this costs nothing.
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("auth-runtime/", env!("CARGO_PKG_VERSION")));
    if !proxied {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|err| {
        ConfigError::new(
            ConfigErrorKind::HttpClient,
            format!("cannot build the HTTP client for the JWKS: {err}"),
        )
    })
}

/// GETs `url` as JSON with `client`, reading at most `max_bytes`.
pub(crate) async fn read_capped(
    client: &reqwest::Client,
    url: &reqwest::Url,
    max_bytes: usize,
) -> Result<Vec<u8>, FetchError> {
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(FetchError::Request)?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status()));
    }
    let too_large = FetchError::TooLarge(max_bytes);
    if response
        .content_length()
        .is_some_and(|len| len > max_bytes as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(FetchError::Read)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why one GET failed; logged, never shown to a caller.
#[derive(Debug)]
pub(crate) enum FetchError {
    Request(reqwest::Error),
    Status(reqwest::StatusCode),
    TooLarge(usize),
    Read(reqwest::Error),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Request(err) => write!(f, "request failed: {err}"),
            FetchError::Status(status) => write!(f, "answered {status}"),
            FetchError::TooLarge(max) => write!(f, "response larger than {max} bytes"),
            FetchError::Read(err) => write!(f, "reading the response failed: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_jwks_url_for_test(url: &str) -> Result<reqwest::Url, ConfigError> {
        check_fetch_url(url, "auth_client.jwks_endpoint", "JWKS")
    }

    #[test]
    fn plain_http_is_refused_unless_loopback() {
        let err = check_jwks_url_for_test("http://id.example/jwks").unwrap_err();
        assert!(err.message().contains("plain http"), "{err}");
        for ok in [
            "http://localhost:8100",
            "http://127.0.0.1:1",
            "http://[::1]:9",
        ] {
            check_jwks_url_for_test(ok).unwrap();
        }
        assert!(check_jwks_url_for_test("ftp://id.example").is_err());
    }

    #[test]
    fn credentials_in_a_jwks_url_are_never_shown() {
        let err = check_jwks_url_for_test("http://client:hunter2@id.example/jwks").unwrap_err();
        assert!(!err.message().contains("hunter2"), "{err}");
        assert!(!err.message().contains("client:"), "{err}");
        let err = check_jwks_url_for_test("https://client:hunter2@id example/jwks").unwrap_err();
        assert!(!err.message().contains("hunter2"), "{err}");
    }

    #[test]
    fn one_redactor_for_every_url_shown() {
        let cases = [
            ("https://id.example/jwks", false, "https://id.example/jwks"),
            (
                "https://client:hunter2@id.example/jwks",
                false,
                "https://redacted@id.example/jwks",
            ),
            // Parsed first: odd slashes still carry credentials to the parser.
            (
                "https:/u:pw@keys.example/jwks",
                false,
                "https://redacted@keys.example/jwks",
            ),
            (
                "https:u:pw@keys.example/jwks",
                false,
                "https://redacted@keys.example/jwks",
            ),
            (
                "http:\\\\u:pw@keys.example/jwks",
                false,
                "http://redacted@keys.example/jwks",
            ),
            ("https://u:p@bad host/", false, "https://redacted@bad host/"),
            ("not a url", false, "not a url"),
            (
                "postgres://auth:secret@db:5432/auth?password=x&sslmode=disable",
                true,
                "postgres://auth:<redacted>@db:5432/auth?password=<redacted>&sslmode=disable",
            ),
            // An unencoded `/` or `#` in a database password is hidden with it.
            (
                "postgres://auth:Ab3/xY==@db/auth",
                true,
                "postgres://auth:<redacted>@db/auth",
            ),
            (
                "postgres://auth:a#b@db/auth",
                true,
                "postgres://auth:<redacted>@db/auth",
            ),
        ];
        for (url, keep_user, shown) in cases {
            assert_eq!(redact_url(url, keep_user), shown, "{url}");
        }
    }
}
