//! Scopes we know, the claims they release (OIDC Core section 5.4), and how the consent
//! page describes them.

use serde::{Deserialize, Serialize};

use crate::storage::StoredClient;

/// Scopes about the person, which a token for a client alone can never carry.
pub const PERSONAL: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The scope of tokens that may call the admin API. A client gets it only when an admin
/// added it to the client's allowed scopes; a person's token with it works at the API
/// only while the person is an admin.
pub const ADMIN_SCOPE: &str = "portcullis:admin";

/// The scope that releases the person's roles: `roles` (their roles everywhere) and
/// `client_roles` (their roles in the token's own client only).
pub const ROLES_SCOPE: &str = "roles";

/// Scopes listed in discovery.
pub const SUPPORTED: &[&str] = &["openid", "profile", "email", "offline_access", ROLES_SCOPE];

/// Claims we can put in ID tokens and userinfo.
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "amr",
    "acr",
    "sid",
    "at_hash",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
    "roles",
    "client_roles",
];

/// What a client may ask for when registration names no scopes. `offline_access`
/// (OIDC Core section 11) is accepted so that clients asking for it by habit work;
/// refresh tokens go to every client registered for the refresh_token grant.
pub const DEFAULT_ALLOWED: &[&str] = PERSONAL;

/// A scope in plain words for the consent page: (title, detail).
pub fn describe(scope: &str) -> (String, String) {
    match scope {
        "openid" => (
            "Know who you are".into(),
            "Your account identifier at this site.".into(),
        ),
        "profile" => ("See your profile".into(), "Your name and username.".into()),
        "email" => (
            "See your email address".into(),
            "Your email address and whether it is verified.".into(),
        ),
        ROLES_SCOPE => (
            "See your roles".into(),
            "The roles you have at this site, and the ones you have in this app.".into(),
        ),
        ADMIN_SCOPE => (
            "Administer this server".into(),
            "Act as you in the admin console's API: manage clients, people and keys.".into(),
        ),
        other => (
            format!("Access “{other}”"),
            "A permission defined by this app.".into(),
        ),
    }
}

/// A set of scope tokens in their first order (RFC 6749 section 3.3), parsed once at
/// the edge. Serialised as a list, shown as the space-separated string.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(Vec<String>);

/// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl Scopes {
    /// Parses a space-separated scope string into distinct tokens; `None` when a token
    /// has a byte the grammar forbids.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut out = Self::default();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if !is_scope_token(token) {
                return None;
            }
            out.insert(token);
        }
        Some(out)
    }

    /// Scopes we stored ourselves (already parsed once).
    pub fn from_stored(joined: &str) -> Self {
        let mut out = Self::default();
        for token in joined.split(' ').filter(|t| !t.is_empty()) {
            out.insert(token);
        }
        out
    }

    /// The scopes a client is registered for.
    pub fn of_client(client: &StoredClient) -> Self {
        let mut out = Self::default();
        for s in &client.allowed_scopes {
            out.insert(s);
        }
        out
    }

    fn insert(&mut self, token: &str) {
        if !self.contains(token) {
            self.0.push(token.to_owned());
        }
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn has_openid(&self) -> bool {
        self.contains("openid")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether every scope of `wanted` is in this set.
    pub fn covers(&self, wanted: &Scopes) -> bool {
        wanted.iter().all(|w| self.contains(w))
    }

    /// This set with `other`'s scopes added after its own.
    pub fn union(&self, other: &Scopes) -> Self {
        let mut out = self.clone();
        for s in other.iter() {
            out.insert(s);
        }
        out
    }

    /// This set less the scopes about a person (for client_credentials).
    pub fn without_personal(&self) -> Self {
        Self(
            self.0
                .iter()
                .filter(|s| !PERSONAL.contains(&s.as_str()))
                .cloned()
                .collect(),
        )
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(raw: &str) -> Scopes {
        Scopes::parse(raw).expect("valid")
    }

    #[test]
    fn scopes_parse_into_distinct_tokens_and_reject_bad_bytes() {
        assert_eq!(scopes("openid  email openid").to_string(), "openid email");
        assert!(Scopes::parse("open\"id").is_none());
        assert!(Scopes::parse("a\\b").is_none());
        assert!(Scopes::parse("caf\u{e9}").is_none());
        assert!(Scopes::parse("a\u{0}b").is_none());
        assert!(scopes("").is_empty());
    }

    #[test]
    fn coverage_is_by_whole_tokens() {
        assert!(scopes("openid email").covers(&scopes("email")));
        assert!(!scopes("openid emails").covers(&scopes("email")));
        assert!(!scopes("openid").covers(&scopes("openid profile")));
        assert!(scopes("openid").covers(&scopes("")));
    }

    #[test]
    fn a_union_keeps_the_first_order_and_adds_only_new_scopes() {
        let u = scopes("openid email").union(&scopes("profile email"));
        assert_eq!(u.to_string(), "openid email profile");
    }

    #[test]
    fn personal_scopes_are_dropped_for_a_client_alone() {
        assert_eq!(
            scopes("openid api:read email offline_access")
                .without_personal()
                .to_string(),
            "api:read"
        );
    }

    #[test]
    fn scopes_serialise_as_a_list_like_before() {
        let json = serde_json::to_string(&scopes("openid email")).expect("json");
        assert_eq!(json, r#"["openid","email"]"#);
    }
}
