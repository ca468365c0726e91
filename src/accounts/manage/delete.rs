//! Deleting an account: after the password again, everything the person had is ended
//! (sessions, apps' tokens, consents, mailed links) and their personal data is wiped,
//! in one transaction. The row stays as a tombstone (`UserStore::tombstone_in`), so the
//! username and the `sub` are never given to anyone else and the audit trail still
//! names whom its events were about.

use uuid::Uuid;

use super::{Field, ManageError, Refusal};
use crate::{
    accounts::Accounts,
    audit::{Event, EventKind, Origin},
    mail::Message,
};

impl Accounts {
    /// Deletes the account once `password` is right and `confirmed` is ticked.
    pub async fn delete_account(
        &self,
        user_id: Uuid,
        password: &str,
        confirmed: bool,
        origin: &Origin,
    ) -> Result<(), ManageError> {
        let user = self.active_user(user_id).await?;
        if let Err(e) = self
            .check_current_password(&user, password, Field::CurrentPassword)
            .await
        {
            if matches!(e, ManageError::Refused(_)) && !password.is_empty() {
                let event = Event::by_user(EventKind::AccountDeleted, user.id)
                    .from(origin)
                    .failed()
                    .with("reason", "wrong password");
                self.audit.record(event, self.clock.now()).await;
            }
            return Err(e);
        }
        if !confirmed {
            return Err(Refusal::new(
                Field::ConfirmDelete,
                "Tick the box to confirm that you want to delete your account.",
            )
            .into());
        }
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        // The mail is rendered and queued while the address is still known.
        let message = Message::AccountDeleted {
            name: Self::salutation(&user),
        };
        self.mailer
            .queue_in(&mut tx, &user.email, &message, now)
            .await?;
        let sessions = self.end_everything_in(&mut tx, user.id, None, now).await?;
        let apps = self
            .consents
            .delete_all_for_user_in(&mut tx, user.id)
            .await?;
        self.store
            .account_tokens
            .end_all_in(&mut tx, user.id, now)
            .await?;
        // A tombstone never signs in, and its passkeys are personal data.
        self.store
            .passkeys
            .delete_all_for_user_in(&mut tx, user.id)
            .await?;
        self.users.tombstone_in(&mut tx, user.id, now).await?;
        let event = Event::by_user(EventKind::AccountDeleted, user.id)
            .from(origin)
            .with("sessions_ended", sessions)
            .with("consents_removed", apps);
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(())
    }
}
