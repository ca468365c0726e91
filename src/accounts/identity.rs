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
