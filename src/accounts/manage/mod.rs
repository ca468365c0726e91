//! What a signed-in person does to their own account: profile, email change, password
//! change, sessions, connected apps, security activity, and deletion.
//!
//! Each change is one transaction with its audit event and its mail; passwords are
//! checked and hashed before the transaction opens (argon2 never runs inside one).
//! Every action first loads the person and refuses one who is disabled or deleted, so a
//! session that outlived its account changes nothing.

mod activity;
mod apps;
mod delete;
mod device;
mod email;
mod password;
mod profile;
mod sessions;

use uuid::Uuid;

pub use activity::Activity;
pub use apps::ConnectedApp;
pub use device::describe_device;
pub use password::PasswordChange;
pub use profile::{PROFILE_MAX_CHARS, ProfileInput};
pub use sessions::{EndedSession, SignedInBrowser};

use super::Accounts;

/// What a locked account is told where it is asked for its password or a code.
pub(crate) const LOCKED: &str =
    "Too many wrong attempts. Try again later, or reset your password to get in at once.";
use crate::{
    crypto::PasswordError,
    mail::MailError,
    storage::{StorageError, StoredUser},
};

/// The form field a refusal is about, so the page can say it next to that field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    DisplayName,
    GivenName,
    FamilyName,
    Email,
    CurrentPassword,
    NewPassword,
    ConfirmPassword,
    /// The "yes, delete my account" checkbox.
    ConfirmDelete,
    /// A code from an authenticator app, when setting it up.
    TotpCode,
    /// The password or a current code, before a second factor is removed.
    PasswordOrCode,
}

/// Why a change was refused, in plain words, and which field it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub field: Field,
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(field: Field, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Why an account change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The input is wrong; nothing was written.
    #[error("{}", .0.message)]
    Refused(Refusal),
    /// The account was deleted or disabled since this session signed in.
    #[error("the account is no longer active")]
    Inactive,
    /// Every password-hashing slot is busy.
    #[error("too many password checks at once")]
    Busy,
    #[error(transparent)]
    Password(PasswordError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("a mail template failed: {0}")]
    Mail(askama::Error),
}

impl From<Refusal> for ManageError {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

impl From<PasswordError> for ManageError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy => Self::Busy,
            other => Self::Password(other),
        }
    }
}

impl From<MailError> for ManageError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Storage(e) => Self::Storage(e),
            MailError::Template(e) => Self::Mail(e),
        }
    }
}

impl Accounts {
    /// The person behind a signed-in session, if they may still use the account page.
    pub async fn active_user(&self, id: Uuid) -> Result<StoredUser, ManageError> {
        match self.users.find_by_id(id).await? {
            Some(u) if !u.disabled && u.deleted_at.is_none() => Ok(u),
            _ => Err(ManageError::Inactive),
        }
    }

    /// Checks `password` against the person's own; a refusal on `field` when wrong.
    pub(crate) async fn check_current_password(
        &self,
        user: &StoredUser,
        password: &str,
        field: Field,
    ) -> Result<(), ManageError> {
        if password.is_empty() {
            return Err(Refusal::new(field, "Enter your current password.").into());
        }
        // A session is not a licence to guess: wrong passwords typed here count
        // towards the same lockout as those at sign-in, and a locked account's
        // password is not checked here either.
        if self.locked_until(user.id).await?.is_some() {
            return Err(Refusal::new(field, LOCKED).into());
        }
        if password.len() > super::new_account::PASSWORD_MAX_BYTES {
            return Err(Refusal::new(field, "That password is not right.").into());
        }
        let ok = self
            .hasher
            .verify(
                crate::crypto::Secret::new(password),
                Some(user.password_hash.clone()),
            )
            .await?;
        if ok {
            Ok(())
        } else if self
            .count_failure(user.id, &crate::audit::Origin::default())
            .await?
            .is_some()
        {
            Err(Refusal::new(field, LOCKED).into())
        } else {
            Err(Refusal::new(field, "That password is not right.").into())
        }
    }
}
