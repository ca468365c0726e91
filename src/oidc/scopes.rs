//! Scopes we know, the claims they release (OIDC Core section 5.4), and how the consent
//! page describes them.

/// Scopes about the person, which a token for a client alone can never carry.
pub const PERSONAL: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Scopes listed in discovery.
pub const SUPPORTED: &[&str] = PERSONAL;

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
    "sid",
    "at_hash",
    "name",
    "preferred_username",
    "email",
    "email_verified",
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
        other => (
            format!("Access “{other}”"),
            "A permission defined by this app.".into(),
        ),
    }
}

/// A space-separated scope string parsed into distinct tokens in their first order.
/// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
pub fn parse(raw: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for token in raw.split(' ').filter(|t| !t.is_empty()) {
        let valid = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid {
            return None;
        }
        if !out.iter().any(|s| s == token) {
            out.push(token.to_owned());
        }
    }
    Some(out)
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// Whether every scope of `wanted` is in the space-separated `granted`.
pub fn covers(granted: &str, wanted: &[String]) -> bool {
    wanted.iter().all(|w| granted.split(' ').any(|g| g == w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_into_distinct_tokens_and_reject_bad_bytes() {
        assert_eq!(
            parse("openid  email openid").expect("ok"),
            vec!["openid", "email"]
        );
        assert!(parse("open\"id").is_none());
        assert!(parse("a\\b").is_none());
        assert_eq!(parse("").expect("ok"), Vec::<String>::new());
    }

    #[test]
    fn coverage_is_by_whole_tokens() {
        assert!(covers("openid email", &["email".into()]));
        assert!(!covers("openid emails", &["email".into()]));
        assert!(!covers("openid", &["openid".into(), "profile".into()]));
    }
}
