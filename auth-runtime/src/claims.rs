//! The claims of a validated token: all of them as JSON, and the ones every application reads.

use serde_json::Value;

/// All claims of a validated token, as JSON.
pub type RawClaims = serde_json::Map<String, Value>;

/// The claims every application reads, pulled out of a validated token. A claim that is
/// missing (or not a string) is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenClaims {
    /// `sub`: who the token is about.
    pub sub: String,
    /// `email`.
    pub email: String,
    /// The claim named `role`, as written, whatever `roles_claim` says. The roles in effect
    /// are [`Principal::roles`](crate::Principal::roles): read from `roles_claim` (`role` by
    /// default, so then the same) or by a custom resolver.
    pub role: String,
    /// `org_id`.
    pub org_id: String,
    /// `jti`: the token's id.
    pub jti: String,
    /// `groups`: an array of strings (a single string counts as one group).
    pub groups: Vec<String>,
}

impl TokenClaims {
    /// Reads the well-known claims out of the raw claims.
    pub fn from_raw(raw: &RawClaims) -> TokenClaims {
        let text = |name: &str| match raw.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let groups = match raw.get("groups") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        TokenClaims {
            sub: text("sub"),
            email: text("email"),
            role: text("role"),
            org_id: text("org_id"),
            jti: text("jti"),
            groups,
        }
    }
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidToken {
    /// The well-known claims.
    pub claims: TokenClaims,
    /// Every claim, for role resolvers and application code.
    pub raw: RawClaims,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_claims_become_empty_strings() {
        let raw = json!({"sub": "u1", "groups": "ops"});
        let c = TokenClaims::from_raw(raw.as_object().unwrap());
        assert_eq!(c.sub, "u1");
        assert_eq!(c.email, "");
        assert_eq!(c.groups, vec!["ops".to_owned()]);
    }
}
