//! DPoP (RFC 9449) at the token endpoints: the URL each one is reached at, under the issuer's
//! public URL, and the proofs spent. The proof itself is checked by `auth_runtime`, as the
//! validator checks the proofs that come with access tokens.

use auth_runtime::__private::{ProofReplay, normalise_url};

/// How far a proof's `iat` may lie past the age limit or in the future: clients' clocks
/// differ from the issuer's.
pub(crate) const LEEWAY_SECONDS: u64 = 30;

/// The endpoints that issue tokens, and so take a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenEndpoint {
    SignIn,
    Login,
    Refresh,
}

/// `issuer` without its trailing `/`, when it is an absolute `http(s)` URL without query or
/// fragment: what the endpoints' URLs are formed under (as validators form the JWKS URL).
pub(crate) fn endpoint_base(issuer: &str) -> Option<&str> {
    let issuer = issuer.trim();
    if issuer.contains(['?', '#']) {
        return None;
    }
    normalise_url(issuer)?;
    Some(issuer.trim_end_matches('/'))
}

/// The path of the issuer's URL without its trailing `/` (empty for a URL without one), as
/// RFC 8414 section 3 appends it to the metadata's well-known path; `None` when the issuer is
/// no `http(s)` URL.
pub(crate) fn issuer_path(issuer: &str) -> Option<String> {
    let normalised = normalise_url(endpoint_base(issuer)?)?;
    let (_, rest) = normalised.split_once("://")?;
    let path = rest.find('/').map_or("", |slash| &rest[slash..]);
    Some(path.trim_end_matches('/').to_owned())
}

/// The URLs proofs must name, one per token endpoint, and the proofs already spent.
pub(crate) struct TokenEndpointProofs {
    sign_in: String,
    login: String,
    refresh: String,
    replay: ProofReplay,
}

impl TokenEndpointProofs {
    /// The endpoints under `base` (the issuer's URL and the endpoints' path prefix), with a
    /// replay record of `replay_max_entries` proofs.
    pub(crate) fn new(base: &str, replay_max_entries: usize) -> TokenEndpointProofs {
        TokenEndpointProofs {
            sign_in: format!("{base}/sign-in"),
            login: format!("{base}/login"),
            refresh: format!("{base}/refresh"),
            replay: ProofReplay::new(replay_max_entries),
        }
    }

    /// The URL a proof for `endpoint` names.
    pub(crate) fn url(&self, endpoint: TokenEndpoint) -> &str {
        match endpoint {
            TokenEndpoint::SignIn => &self.sign_in,
            TokenEndpoint::Login => &self.login,
            TokenEndpoint::Refresh => &self.refresh,
        }
    }

    /// The proofs spent at this instance.
    pub(crate) fn replay(&self) -> &ProofReplay {
        &self.replay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_formed_under_an_http_issuer_only() {
        assert_eq!(
            endpoint_base("https://api.example.com/"),
            Some("https://api.example.com")
        );
        assert_eq!(
            endpoint_base(" http://127.0.0.1:8100 "),
            Some("http://127.0.0.1:8100")
        );
        for issuer in [
            "my-issuer",
            "urn:example:issuer",
            "https://a.example/?x=1",
            "ftp://a/",
        ] {
            assert_eq!(endpoint_base(issuer), None, "{issuer}");
        }
    }

    #[test]
    fn the_issuers_path_is_appended_to_the_well_known_path() {
        assert_eq!(issuer_path("https://api.example.com").as_deref(), Some(""));
        assert_eq!(issuer_path("https://api.example.com/").as_deref(), Some(""));
        assert_eq!(
            issuer_path("https://api.example.com/tenant/").as_deref(),
            Some("/tenant")
        );
        assert_eq!(issuer_path("my-issuer"), None);
    }
}
