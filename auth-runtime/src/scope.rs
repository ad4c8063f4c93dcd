//! OAuth scopes: where a token carries them and when one satisfies another.
//!
//! # Where scopes are read
//!
//! From the `scope` claim, or from `scp` when the token has no usable `scope`. Either may be
//! a space-delimited string (RFC 8693 section 4.2, RFC 9068, Keycloak, Auth0, Entra ID's
//! `scp`) or an array of strings (Okta's `scp`). Array items that are not strings, empty
//! words and claims of any other type grant nothing.
//!
//! # When a granted scope satisfies a required one
//!
//! Scopes are compared exactly and case-sensitively (RFC 6749 section 3.3), with one
//! wildcard: a scope ending in `:*` stands for every scope under that prefix, at any depth.
//!
//! | required | granted | satisfied |
//! |---|---|---|
//! | `articles:write` | `articles:write` | yes |
//! | `articles:write` | `articles:read` | no |
//! | `articles:write` | `Articles:write` | no |
//! | `articles:write` | `articles:*` | yes |
//! | `articles:write:draft` | `articles:*` | yes |
//! | `articles` | `articles:*` | **no** |
//! | `articles:write` | `articles:write:*` | no |
//! | `articles:*` | `articles:write` | yes |
//! | `articles:*` | `articles:write:draft` | yes |
//! | `articles:*` | `articles:*` | yes |
//! | `articles:*` | `articles` | **no** |
//! | `articles:*` | `articlesx:write` | no |
//! | `articles:write` | `*` | no: `*` alone is an ordinary scope |
//!
//! A pattern `p:*` never matches `p` itself, in either direction: a scope under `articles` is
//! not the scope `articles`.

use serde_json::Value;

use crate::claims::RawClaims;

/// Whether the `granted` scope satisfies the `required` one (see the [module](self) table).
///
/// ```
/// use auth_runtime::scope::satisfies;
///
/// assert!(satisfies("articles:*", "articles:write"));
/// assert!(satisfies("articles:write", "articles:*"));
/// assert!(!satisfies("articles:*", "articles"));
/// ```
pub fn satisfies(granted: &str, required: &str) -> bool {
    granted == required || covers(granted, required) || covers(required, granted)
}

/// Whether `pattern` ends in `:*` and `scope` lies strictly under its prefix.
fn covers(pattern: &str, scope: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) if prefix.ends_with(':') => {
            scope.len() > prefix.len() && scope.starts_with(prefix)
        }
        _ => false,
    }
}

/// The scopes a token grants, in the order it lists them. Borrowed from the claims: reading
/// them allocates nothing.
#[derive(Debug, Clone)]
pub struct Scopes<'a> {
    inner: Source<'a>,
}

/// Where the scopes come from: a space-delimited string, an array, or nothing.
#[derive(Debug, Clone)]
enum Source<'a> {
    Words(std::str::Split<'a, char>),
    List(std::slice::Iter<'a, Value>),
    Nothing,
}

impl<'a> Scopes<'a> {
    /// The scopes of `claims`: `scope`, else `scp`.
    pub fn of(claims: &'a RawClaims) -> Scopes<'a> {
        let claim = ["scope", "scp"]
            .into_iter()
            .filter_map(|name| claims.get(name))
            .find(|value| value.is_string() || value.is_array());
        let inner = match claim {
            Some(Value::String(words)) => Source::Words(words.split(' ')),
            Some(Value::Array(items)) => Source::List(items.iter()),
            _ => Source::Nothing,
        };
        Scopes { inner }
    }
}

impl<'a> Iterator for Scopes<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match &mut self.inner {
            Source::Words(words) => words.find(|word| !word.is_empty()),
            Source::List(items) => {
                items.find_map(|item| item.as_str().filter(|scope| !scope.is_empty()))
            }
            Source::Nothing => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> RawClaims {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn exact_scopes_match_exactly() {
        assert!(satisfies("articles:write", "articles:write"));
        assert!(!satisfies("articles:read", "articles:write"));
        assert!(
            !satisfies("Articles:write", "articles:write"),
            "case-sensitive"
        );
        assert!(!satisfies("articles:write ", "articles:write"));
        assert!(!satisfies("articles", "articles:write"));
        assert!(!satisfies("articles:write", "articles"));
        assert!(!satisfies("", "articles"));
    }

    #[test]
    fn a_granted_wildcard_covers_every_level_below_its_prefix() {
        assert!(satisfies("articles:*", "articles:write"));
        assert!(satisfies("articles:*", "articles:write:draft"));
        assert!(satisfies("articles:*", "articles:*"));
        assert!(satisfies("a:b:*", "a:b:c"));
        assert!(satisfies("a:b:*", "a:b:c:d"));
    }

    #[test]
    fn a_wildcard_never_matches_its_own_prefix() {
        assert!(!satisfies("articles:*", "articles"));
        assert!(!satisfies("articles:*", "articles:"));
        assert!(!satisfies("a:b:*", "a:b"));
        assert!(!satisfies("articles", "articles:*"));
        assert!(!satisfies("articles:", "articles:*"));
        assert!(!satisfies("a:b", "a:b:*"));
    }

    #[test]
    fn a_wildcard_stays_inside_its_prefix() {
        assert!(!satisfies("articles:*", "articlesx:write"));
        assert!(!satisfies("articles:*", "comments:write"));
        assert!(!satisfies("a:b:*", "a:c"));
        assert!(!satisfies("a:b:*", "a:bc:d"));
        // A deeper wildcard grants less than the level above it.
        assert!(!satisfies("articles:write:*", "articles:write"));
        assert!(!satisfies("articles:write:*", "articles:read"));
    }

    #[test]
    fn a_required_wildcard_is_met_by_any_scope_under_its_prefix() {
        assert!(satisfies("articles:write", "articles:*"));
        assert!(satisfies("articles:write:draft", "articles:*"));
        assert!(satisfies("articles:write:*", "articles:*"));
        assert!(!satisfies("articlesx:write", "articles:*"));
        assert!(!satisfies("comments:write", "articles:*"));
    }

    #[test]
    fn only_a_trailing_colon_star_is_a_wildcard() {
        assert!(
            !satisfies("*", "articles:write"),
            "`*` alone is a plain scope"
        );
        assert!(!satisfies("articles*", "articles:write"));
        assert!(!satisfies("articles*", "articlesx"));
        assert!(!satisfies("articles:*:write", "articles:x:write"));
        assert!(satisfies("*", "*"));
        assert!(satisfies("articles*", "articles*"));
    }

    #[test]
    fn scopes_come_from_a_space_delimited_scope_claim() {
        let raw = claims(json!({"scope": "openid  articles:read articles:write "}));
        let scopes: Vec<&str> = Scopes::of(&raw).collect();
        assert_eq!(scopes, ["openid", "articles:read", "articles:write"]);
    }

    #[test]
    fn scopes_come_from_scp_as_an_array_or_a_string() {
        let raw = claims(json!({"scp": ["articles:read", 7, "", "articles:write"]}));
        assert_eq!(
            Scopes::of(&raw).collect::<Vec<_>>(),
            ["articles:read", "articles:write"]
        );
        let raw = claims(json!({"scp": "User.Read articles:write"}));
        assert_eq!(
            Scopes::of(&raw).collect::<Vec<_>>(),
            ["User.Read", "articles:write"]
        );
    }

    #[test]
    fn scope_wins_over_scp_unless_it_is_unusable() {
        let raw = claims(json!({"scope": "a", "scp": ["b"]}));
        assert_eq!(Scopes::of(&raw).collect::<Vec<_>>(), ["a"]);
        let raw = claims(json!({"scope": 7, "scp": ["b"]}));
        assert_eq!(Scopes::of(&raw).collect::<Vec<_>>(), ["b"]);
        let raw = claims(json!({"scope": {"a": true}}));
        assert_eq!(Scopes::of(&raw).count(), 0);
        assert_eq!(Scopes::of(&RawClaims::new()).count(), 0);
    }
}
