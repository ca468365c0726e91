//! The keys that make usernames and email addresses unique, computed here so that
//! SQLite and PostgreSQL agree: SQLite's `lower()` folds only ASCII, PostgreSQL's
//! follows the locale, and neither normalises Unicode.
//!
//! A username's key follows RFC 8265's UsernameCaseMapped profile: width mapping and
//! compatibility forms (NFKC), then Unicode lowercase, then NFKC again so the key is
//! stable. An email's key keys the local part the same way and turns the domain into
//! its ASCII (IDNA) form, lowercased.

use unicode_normalization::UnicodeNormalization;

use crate::storage::{StorageError, StoredUser, UserStore};

/// The uniqueness key of a username.
pub fn username_key(username: &str) -> String {
    let mapped: String = username.trim().nfkc().collect();
    mapped.to_lowercase().nfkc().collect()
}

/// The uniqueness key of an email address; `None` when it has no `@` or its domain is
/// not a valid (internationalised) domain name.
pub fn email_key(email: &str) -> Option<String> {
    let (local, domain) = email.trim().rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    let domain: String = domain.nfkc().collect();
    let domain = idna::domain_to_ascii(&domain).ok()?.to_ascii_lowercase();
    if domain.is_empty() {
        return None;
    }
    Some(format!("{}@{domain}", username_key(local)))
}

/// The longest username, in characters.
pub const USERNAME_MAX: usize = 64;
/// The longest email address (RFC 5321 section 4.5.3.1.3, as a path less its brackets).
pub const EMAIL_MAX: usize = 254;
/// The longest display, given or family name, in characters.
pub const NAME_MAX: usize = 100;

/// Characters that draw nothing or reorder text (zero-width spaces and joiners, bidi
/// controls, the BOM): they make two names look alike, so no name may hold them.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}'
            | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}')
}

/// A username as typed, checked: 1 to 64 characters, no spaces, `@`, control or
/// invisible characters. The error is what the form says next to the field.
pub fn check_username(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("Choose a username.");
    }
    if name.chars().count() > USERNAME_MAX {
        return Err("Use at most 64 characters.");
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == '@' || is_invisible(c))
    {
        return Err("Use letters, digits and punctuation, without spaces or @.");
    }
    if username_key(name).is_empty() {
        return Err("Choose a username.");
    }
    Ok(name.to_owned())
}

/// An email address as typed, checked: one `@`, a local part, and a domain with a dot
/// that is a valid (internationalised) name. Returns the address and its domain's
/// ASCII form.
pub fn check_email(raw: &str) -> Result<(String, String), &'static str> {
    let email = raw.trim();
    if email.is_empty() {
        return Err("Enter your email address.");
    }
    if email.len() > EMAIL_MAX {
        return Err("This address is too long.");
    }
    let malformed = "Enter an email address like name@example.com.";
    if email.chars().any(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(malformed);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(malformed);
    };
    if local.is_empty()
        || local.len() > 64
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || local.contains(['<', '>', '(', ')', ',', ';', ':', '\\', '"', '[', ']'])
    {
        return Err(malformed);
    }
    let Some(key) = email_key(email) else {
        return Err(malformed);
    };
    let ascii_domain = key
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .unwrap_or_default();
    Ok((email.to_owned(), ascii_domain))
}

/// An optional display, given or family name: trimmed, at most 100 characters, no
/// control or invisible characters; empty is `None`.
pub fn check_name(raw: &str) -> Result<Option<String>, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > NAME_MAX {
        return Err("Use at most 100 characters.");
    }
    if name.chars().any(is_invisible) {
        return Err("Use letters, spaces and punctuation only.");
    }
    Ok(Some(name.to_owned()))
}

/// The keys a sign-in name is looked up by: it may be a username or an email address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginKeys {
    pub username: String,
    pub email: Option<String>,
}

impl LoginKeys {
    pub fn of(login: &str) -> Self {
        Self {
            username: username_key(login),
            email: email_key(login),
        }
    }
}

/// The person whose username or email address is `login`, compared by their keys.
pub(crate) async fn find_by_login(
    users: &UserStore,
    login: &str,
) -> Result<Option<StoredUser>, StorageError> {
    let keys = LoginKeys::of(login);
    users
        .find_by_keys(&keys.username, keys.email.as_deref())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_checked_for_length_and_odd_characters() {
        assert_eq!(check_username("  ada "), Ok("ada".to_owned()));
        assert_eq!(check_username("élodie.b"), Ok("élodie.b".to_owned()));
        for bad in [
            "",
            "  ",
            "a b",
            "a@b",
            "a\0b",
            "a\u{200B}b",
            "\u{202E}ada",
            &"x".repeat(65),
        ] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
        assert!(
            check_username(&"ü".repeat(64)).is_ok(),
            "64 characters, not bytes"
        );
    }

    #[test]
    fn emails_are_checked_and_give_their_ascii_domain() {
        assert_eq!(
            check_email("Ada@Bücher.example"),
            Ok((
                "Ada@Bücher.example".to_owned(),
                "xn--bcher-kva.example".to_owned()
            ))
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@.example.com",
            "ada@example.com.",
            "a\u{200B}@example.com",
            "<ada>@example.com",
            "ada@exa mple.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
        assert!(check_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn names_are_optional_and_bounded() {
        assert_eq!(check_name("  "), Ok(None));
        assert_eq!(
            check_name(" Ada Lovelace "),
            Ok(Some("Ada Lovelace".to_owned()))
        );
        assert!(check_name(&"x".repeat(101)).is_err());
        assert!(check_name("Ada\u{0007}").is_err());
        assert!(check_name("Ada\u{2066}").is_err());
    }

    #[test]
    fn usernames_fold_case_beyond_ascii() {
        assert_eq!(username_key("Ärger"), username_key("ärger"));
        assert_eq!(username_key("ÜNÏ"), "ünï");
        assert_eq!(username_key("ADA"), "ada");
    }

    #[test]
    fn composed_and_decomposed_forms_are_one_username() {
        let composed = "\u{e9}lodie";
        let decomposed = "e\u{301}lodie";
        assert_ne!(composed, decomposed);
        assert_eq!(username_key(composed), username_key(decomposed));
    }

    #[test]
    fn fullwidth_letters_are_their_ascii_selves() {
        assert_eq!(username_key("\u{ff21}\u{ff24}\u{ff21}"), "ada");
    }

    #[test]
    fn email_domains_are_case_folded_and_idna_encoded() {
        assert_eq!(
            email_key("ÜNÏ@EXAMPLE.TEST").as_deref(),
            Some("ünï@example.test")
        );
        assert_eq!(
            email_key("ada@BÜCHER.example").as_deref(),
            Some("ada@xn--bcher-kva.example")
        );
        assert_eq!(
            email_key("ada@bücher.example"),
            email_key("ADA@BÜCHER.EXAMPLE")
        );
    }

    #[test]
    fn malformed_addresses_have_no_key() {
        assert_eq!(email_key("no-at-sign"), None);
        assert_eq!(email_key("@example.com"), None);
        assert_eq!(email_key("ada@"), None);
    }
}
