//! What an admin does to someone's account from the command line: set their password,
//! disable it, enable it again, lift a lockout. Each change is one transaction with everything that
//! must go with it (sessions ended, tokens revoked, the audit event, the mail), so a
//! failure leaves the account as it was.

pub mod people;

use super::{
    Accounts, identity,
    policy::{PasswordRefusal, Personal},
};
use crate::{
    audit::{Actor, Event, EventKind},
    crypto::{PasswordError, Secret},
    mail::{MailError, Message},
    storage::{StorageError, StoredUser},
};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no account has the username `{0}`")]
    NotFound(String),
    #[error("`{0}` is a deleted account; it cannot be changed")]
    Deleted(String),
    #[error("password refused: {0}")]
    Refused(PasswordRefusal),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    People(#[from] people::PeopleError),
}

impl AdminError {
    /// Whether the admin's input was at fault (rather than the database or the host).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::NotFound(_)
                | Self::Deleted(_)
                | Self::Refused(_)
                | Self::People(
                    people::PeopleError::Invalid { .. }
                        | people::PeopleError::Taken(_)
                        | people::PeopleError::Protected(_)
                        | people::PeopleError::NotFound
                        | people::PeopleError::Deleted
                )
        )
    }
}

/// What an enable or disable did.
#[derive(Clone, Debug)]
pub struct StateChange {
    pub user: StoredUser,
    /// False when the account already was that way: nothing was written.
    pub changed: bool,
    /// Browser sessions ended.
    pub sessions_ended: u64,
}

/// `text` with its control characters escaped: what an admin typed goes back to their
/// terminal, and an escape sequence in it must not drive that terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl Accounts {
    /// The person whose username is `username` once case and Unicode forms are folded
    /// (`identity::username_key`); an email address does not stand in for it here, so
    /// an admin's change lands on exactly the account named.
    pub async fn find_by_username(
        &self,
        username: &str,
    ) -> Result<Option<StoredUser>, StorageError> {
        self.users
            .find_by_keys(&identity::username_key(username), None)
            .await
    }

    /// An account an admin may change: it exists and is not a tombstone.
    pub(crate) async fn changeable(&self, username: &str) -> Result<StoredUser, AdminError> {
        let user = self
            .find_by_username(username)
            .await?
            .ok_or_else(|| AdminError::NotFound(printable(username.trim())))?;
        if user.deleted_at.is_some() {
            return Err(AdminError::Deleted(user.username));
        }
        Ok(user)
    }

    /// Sets `username`'s password after the policy allows it; in one transaction ends
    /// every session of theirs, revokes every token their apps hold, records
    /// `PasswordSetByAdmin` and queues the "your password changed" mail.
    pub async fn set_password_by_admin(
        &self,
        username: &str,
        password: Secret,
    ) -> Result<(StoredUser, u64), AdminError> {
        let user = self.changeable(username).await?;
        self.password_policy()
            .check(
                password.expose(),
                Personal {
                    username: &user.username,
                    email: &user.email,
                    display_name: user.display_name.as_deref(),
                },
            )
            .map_err(AdminError::Refused)?;
        let hash = self.hasher.hash(password).await?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        self.users
            .set_password_hash_in(&mut tx, user.id, &hash, now)
            .await?;
        let ended = self.end_everything_in(&mut tx, user.id, None, now).await?;
        let event = Event::new(EventKind::PasswordSetByAdmin, Actor::Cli)
            .about(user.id)
            .with("sessions_ended", ended);
        self.audit.record_in(&mut tx, event, now).await?;
        let mail = Message::PasswordChanged {
            name: Self::salutation(&user),
        };
        self.mailer
            .queue_in(&mut tx, &user.email, &mail, now)
            .await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok((user, ended))
    }

    /// Disables (`disabled`) or enables `username`'s account. Disabling also ends
    /// every session of theirs and revokes every token their apps hold, in the same
    /// transaction as the change and its audit event.
    pub async fn set_disabled_by_admin(
        &self,
        username: &str,
        disabled: bool,
    ) -> Result<StateChange, AdminError> {
        let user = self.changeable(username).await?;
        Ok(self.set_disabled_as(&Actor::Cli, user, disabled).await?)
    }
}

impl Accounts {
    /// Lifts `username`'s lockout and forgets their failed attempts, with
    /// `AccountUnlocked` when a lock was in force. Returns the person and whether one was.
    pub async fn unlock_by_admin(&self, username: &str) -> Result<(StoredUser, bool), AdminError> {
        let user = self.changeable(username).await?;
        let unlocked = self.unlock_as(&Actor::Cli, user.id).await?;
        Ok((user, unlocked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_username_is_told_back_without_its_control_characters() {
        let e = AdminError::NotFound(printable("ada\u{1b}[2J"));
        assert_eq!(e.to_string(), "no account has the username `ada\\u{1b}[2J`");
        assert!(e.is_bad_input());
    }
}
