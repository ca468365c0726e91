//! Email verification: sending a link bound to an address, confirming it, and resending
//! at a bounded rate.

use uuid::Uuid;

use super::{Accounts, identity, links};
use crate::{
    audit::{Event, EventKind, Origin},
    mail::{MailError, Message},
    storage::{Purpose, StorageError, StoredUser, TokenUse, WriteTx},
};

/// What following a verification link did.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    /// The account's address is now confirmed.
    Confirmed(Uuid),
    /// The account now has the new address, confirmed.
    Changed(Uuid),
    /// The link is past its time.
    Expired,
    /// Used already, replaced by a newer one, or not ours.
    Invalid,
    /// The address was taken by another account while the link waited.
    Taken,
}

/// Why a new verification mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum ResendError {
    #[error("wait a minute before asking again")]
    TooSoon,
    #[error("too many verification emails in the last hour")]
    TooMany,
    #[error(transparent)]
    Mail(#[from] MailError),
}

impl From<StorageError> for ResendError {
    fn from(e: StorageError) -> Self {
        Self::Mail(e.into())
    }
}

impl Accounts {
    /// Inside `tx`: issues a verification link for `email` (the account's address, or
    /// a new one it asked for) and queues the mail that carries it.
    pub async fn queue_verification_in(
        &self,
        tx: &mut WriteTx,
        user: &StoredUser,
        email: &str,
        origin: &Origin,
        now: i64,
    ) -> Result<(), MailError> {
        let ttl = self.config.accounts.verification_ttl;
        let token = links::issue_in(
            &self.store.account_tokens,
            tx,
            Purpose::VerifyEmail,
            user.id,
            email,
            ttl,
            now,
        )
        .await?;
        let link = format!(
            "{}?token={}",
            self.config.issuer.endpoint("/verify-email"),
            token.expose()
        );
        let message = Message::VerifyEmail {
            name: Self::salutation(user),
            link,
            valid_for: links::duration_words(ttl),
        };
        self.mailer.queue_in(tx, email, &message, now).await?;
        let event = Event::by_user(EventKind::EmailVerificationSent, user.id)
            .from(origin)
            .with("changing_address", email != user.email);
        self.audit.record_in(tx, event, now).await?;
        Ok(())
    }

    /// Sends a fresh verification link for the account's current address, at most
    /// once a minute and five times an hour.
    pub async fn resend_verification(
        &self,
        user: &StoredUser,
        origin: &Origin,
    ) -> Result<(), ResendError> {
        let now = self.clock.now();
        match links::pace(
            &self.store.account_tokens,
            user.id,
            Purpose::VerifyEmail,
            now,
        )
        .await?
        {
            links::Pace::Free => {}
            links::Pace::TooSoon => return Err(ResendError::TooSoon),
            links::Pace::TooMany => return Err(ResendError::TooMany),
        }
        let mut tx = self.store.db.begin_write().await?;
        self.queue_verification_in(&mut tx, user, &user.email, origin, now)
            .await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// Follows a verification link: confirms the address it was sent to, or moves the
    /// account to the new address it confirms (telling nobody else: the old address
    /// was told when the change was asked for).
    pub async fn verify_email(
        &self,
        token: &str,
        origin: &Origin,
    ) -> Result<Verified, StorageError> {
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        let link = match links::consume_in(
            &self.store.account_tokens,
            &mut tx,
            Purpose::VerifyEmail,
            token,
            now,
        )
        .await?
        {
            TokenUse::Valid(link) => link,
            TokenUse::Expired => return Ok(Verified::Expired),
            TokenUse::Used | TokenUse::Unknown => return Ok(Verified::Invalid),
        };
        let Some(user) = self.users.find_by_id(link.user_id).await? else {
            return Ok(Verified::Invalid);
        };
        if user.deleted_at.is_some() {
            return Ok(Verified::Invalid);
        }
        let outcome = if link.email == user.email {
            if !self
                .users
                .confirm_email_in(&mut tx, user.id, &link.email, now)
                .await?
            {
                return Ok(Verified::Invalid);
            }
            let event = Event::by_user(EventKind::EmailVerified, user.id).from(origin);
            self.audit.record_in(&mut tx, event, now).await?;
            Verified::Confirmed(user.id)
        } else {
            let Some(key) = identity::email_key(&link.email) else {
                return Ok(Verified::Invalid);
            };
            match self
                .users
                .change_email_in(&mut tx, user.id, &link.email, &key, now)
                .await
            {
                Ok(()) => {}
                Err(StorageError::Conflict(_)) => return Ok(Verified::Taken),
                Err(e) => return Err(e),
            }
            let event = Event::by_user(EventKind::EmailChanged, user.id).from(origin);
            self.audit.record_in(&mut tx, event, now).await?;
            Verified::Changed(user.id)
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// The new address waiting to be confirmed, if the person asked for one.
    pub async fn pending_email(&self, user: &StoredUser) -> Result<Option<String>, StorageError> {
        let now = self.clock.now();
        Ok(self
            .store
            .account_tokens
            .pending_email(user.id, now)
            .await?
            .filter(|e| *e != user.email))
    }
}
