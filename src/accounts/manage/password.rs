//! Changing the password, which needs the current one (NIST SP 800-63B section
//! 6.1.2.1: the new one is checked like any other). Every other browser is signed out
//! and every app's tokens are revoked, as after a reset: a changed password is often a
//! suspected compromise, and a stolen refresh token must not outlive it (OWASP Session
//! Management: renew and invalidate on credential change). Consents stay, so the apps
//! need only a new sign-in, not a new "allow".

use uuid::Uuid;

use super::{Field, ManageError, Refusal};
use crate::{
    accounts::{
        Accounts,
        policy::{PASSWORD_MAX_CHARS, Personal},
    },
    audit::{Event, EventKind, Origin},
    crypto::Secret,
    mail::Message,
};

/// What the password form carried.
#[derive(Clone, Copy, Debug)]
pub struct PasswordChange<'a> {
    pub current: &'a str,
    pub new: &'a str,
    pub confirm: &'a str,
}

impl Accounts {
    /// Changes the password of the person signed in as `keep_sid`, whose session stays;
    /// returns how many other sessions were signed out.
    pub async fn change_password(
        &self,
        user_id: Uuid,
        change: PasswordChange<'_>,
        keep_sid: &str,
        origin: &Origin,
    ) -> Result<u64, ManageError> {
        let user = self.active_user(user_id).await?;
        // Cheap checks first, so a typo costs no argon2 work.
        if change.new.is_empty() {
            return Err(Refusal::new(Field::NewPassword, "Enter a new password.").into());
        }
        if change.new.chars().count() <= PASSWORD_MAX_CHARS && change.new != change.confirm {
            return Err(Refusal::new(
                Field::ConfirmPassword,
                "The two new passwords are not the same. Type it again in both fields.",
            )
            .into());
        }
        self.password_policy()
            .check(
                change.new,
                Personal {
                    username: &user.username,
                    email: &user.email,
                    display_name: user.display_name.as_deref(),
                },
            )
            .map_err(|refusal| Refusal::new(Field::NewPassword, refusal.to_string()))?;
        if let Err(e) = self
            .check_current_password(&user, change.current, Field::CurrentPassword)
            .await
        {
            if matches!(e, ManageError::Refused(_)) && !change.current.is_empty() {
                let event = Event::by_user(EventKind::PasswordChanged, user.id)
                    .from(origin)
                    .failed()
                    .with("reason", "wrong current password");
                self.audit.record(event, self.clock.now()).await;
            }
            return Err(e);
        }
        if change.new == change.current {
            return Err(Refusal::new(
                Field::NewPassword,
                "This is your current password. Choose a new one.",
            )
            .into());
        }
        let hash = self.hasher.hash(Secret::new(change.new)).await?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        self.users
            .set_password_hash_in(&mut tx, user.id, &hash, now)
            .await?;
        let ended = self
            .end_everything_in(&mut tx, user.id, Some(keep_sid), now)
            .await?;
        let event = Event::by_user(EventKind::PasswordChanged, user.id)
            .from(origin)
            .with("sessions_ended", ended);
        self.audit.record_in(&mut tx, event, now).await?;
        let message = Message::PasswordChanged {
            name: Self::salutation(&user),
        };
        self.mailer
            .queue_in(&mut tx, &user.email, &message, now)
            .await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(ended)
    }
}
