//! A new account, parsed once from raw input ("parse, don't validate").

use super::policy::{PasswordPolicy, PasswordRefusal, Personal};
use crate::{
    crypto::{PasswordError, PasswordHasher, Secret},
    storage::{NewUser, StorageError, StoredUser, UserStore},
};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("the {0} is already taken")]
    Taken(&'static str),
    #[error(transparent)]
    Storage(StorageError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

impl From<StorageError> for AccountError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Conflict(what) => Self::Taken(what),
            other => Self::Storage(other),
        }
    }
}

/// The most a password may be before any policy looks at it: keeps hashing bounded.
/// How short, common or guessable it may be is the policy's (`check_password`).
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// Role names as every door checks them (letters, digits, `_ - . :`, up to 64),
/// deduplicated in their first order; the message names the first bad one.
pub fn parse_roles(roles: &[String]) -> Result<Vec<String>, String> {
    let mut parsed = Vec::new();
    for role in roles {
        let ok = !role.is_empty()
            && role.len() <= 64
            && role
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
        if !ok {
            let shown: String = role
                .chars()
                .take(64)
                .flat_map(char::escape_default)
                .collect();
            return Err(format!(
                "`{shown}` is not a role name (letters, digits, _ - . : up to 64)"
            ));
        }
        if !parsed.contains(role) {
            parsed.push(role.clone());
        }
    }
    Ok(parsed)
}

#[derive(Debug)]
pub struct NewAccount {
    username: String,
    email: String,
    password: Secret,
    display_name: Option<String>,
    roles: Vec<String>,
}

impl NewAccount {
    pub fn parse(
        username: &str,
        email: &str,
        password: Secret,
        display_name: Option<&str>,
        roles: &[String],
    ) -> Result<Self, AccountError> {
        let bad = |m: &str| Err(AccountError::Invalid(m.to_owned()));
        let username = username.trim();
        if username.is_empty() || username.chars().count() > 64 {
            return bad("a username must be 1 to 64 characters");
        }
        if username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        {
            return bad("a username must not contain spaces, control characters or @");
        }
        let email = email.trim();
        let valid_email = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.contains('@')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if !valid_email || super::identity::email_key(email).is_none() {
            return bad("the email address is not valid (like name@example.com)");
        }
        let text = password.expose();
        if text.is_empty() {
            return bad("the password is empty");
        }
        if text.len() > PASSWORD_MAX_BYTES {
            return bad("the password must be at most 1024 bytes");
        }
        let parsed_roles = parse_roles(roles).map_err(AccountError::Invalid)?;
        Ok(Self {
            username: username.to_owned(),
            email: email.to_owned(),
            password,
            display_name: display_name
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            roles: parsed_roles,
        })
    }

    /// Checks the password against `policy`, with this account's own username, email
    /// and display name as what it may not be built from.
    pub fn check_password(&self, policy: &PasswordPolicy) -> Result<(), PasswordRefusal> {
        policy.check(
            self.password.expose(),
            Personal {
                username: &self.username,
                email: &self.email,
                display_name: self.display_name.as_deref(),
            },
        )
    }
}

impl NewAccount {
    /// The roles the account is to have everywhere.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// Hashes the password: the row to insert (inside the caller's transaction).
    pub async fn into_new_user(self, hasher: &PasswordHasher) -> Result<NewUser, AccountError> {
        let password_hash = hasher.hash(self.password).await?;
        Ok(NewUser {
            username_key: super::identity::username_key(&self.username),
            email_key: super::identity::email_key(&self.email).unwrap_or_default(),
            username: self.username,
            email: self.email,
            email_verified: false,
            password_hash,
            display_name: self.display_name,
            roles: self.roles,
            self_registered: false,
        })
    }
}

/// Hashes the password and stores the account.
pub async fn create_account(
    users: &UserStore,
    hasher: &PasswordHasher,
    account: NewAccount,
    now: i64,
) -> Result<StoredUser, AccountError> {
    let password_hash = hasher.hash(account.password).await?;
    Ok(users
        .insert(
            NewUser {
                username_key: super::identity::username_key(&account.username),
                email_key: super::identity::email_key(&account.email).unwrap_or_default(),
                username: account.username,
                email: account.email,
                email_verified: false,
                password_hash,
                display_name: account.display_name,
                roles: account.roles,
                self_registered: false,
            },
            now,
        )
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(u: &str, e: &str, p: &str) -> Result<NewAccount, AccountError> {
        NewAccount::parse(u, e, p.into(), None, &[])
    }

    #[test]
    fn a_well_formed_account_parses() {
        assert!(parse("ada", "ada@example.com", "correct horse").is_ok());
    }

    #[test]
    fn empty_and_oversized_passwords_are_refused() {
        assert!(parse("ada", "ada@example.com", "").is_err());
        assert!(parse("ada", "ada@example.com", &"x".repeat(1025)).is_err());
    }

    #[test]
    fn the_policy_sees_the_accounts_own_names() {
        let config = crate::config::Config::from_toml("").expect("config");
        let policy = PasswordPolicy::new(&config.accounts, "id.example.com");
        let own = parse("ada.lovelace", "ada@example.com", "adalovelace2024!").expect("parses");
        assert_eq!(
            own.check_password(&policy),
            Err(PasswordRefusal::Personal("username"))
        );
        let short = parse("ada", "ada@example.com", "short").expect("parses");
        assert_eq!(
            short.check_password(&policy),
            Err(PasswordRefusal::TooShort(10))
        );
        let good = parse("ada", "ada@example.com", "tangerine orbit whisper").expect("parses");
        assert_eq!(good.check_password(&policy), Ok(()));
    }

    #[test]
    fn malformed_usernames_and_emails_are_refused() {
        for (u, e) in [
            ("", "a@b.c"),
            ("a b", "a@b.c"),
            ("a@b", "a@b.c"),
            ("ada", "nope"),
            ("ada", "@b.c"),
            ("ada", "a@b"),
            ("ada", "a@b.c d"),
        ] {
            assert!(parse(u, e, "correct horse").is_err(), "{u} {e}");
        }
    }

    #[test]
    fn role_names_are_checked_and_deduplicated() {
        let ok = NewAccount::parse(
            "ada",
            "ada@example.com",
            "correct horse".into(),
            None,
            &["admin".into(), "admin".into()],
        )
        .expect("valid");
        assert_eq!(ok.roles, vec!["admin"]);
        assert!(
            NewAccount::parse(
                "ada",
                "ada@example.com",
                "correct horse".into(),
                None,
                &["ad min".into()]
            )
            .is_err()
        );
    }
}
