//! Password reset: a link only to an existing, enabled account, the same answer either
//! way, and a new password that signs the person out everywhere.
//!
//! Asking (`request_reset`) looks the person up by username or email address and then
//! does the same database work whether or not it found someone: one write transaction
//! that records an audit event, and, only for an enabled account that was not sent a
//! link in the last minute (nor five in the hour), also stores the link and queues the
//! mail. The mail goes to the account's stored address and is delivered later by the
//! outbox worker, so no answer waits for SMTP and none says whether the address exists.
//!
//! The mailed link is `{issuer}/reset-password?token=…`. The pages keep only the
//! token's hash after the first request (`ResetLink`), the form the database holds, so
//! the token itself is never at rest anywhere.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Accounts, links,
    policy::{PasswordRefusal, Personal},
};
use crate::{
    audit::{Actor, Event, EventKind, Origin},
    crypto::{PasswordError, Secret},
    mail::{MailError, Message},
    storage::{Purpose, StorageError, StoredAccountToken, StoredUser, TokenUse},
};

/// The longest username or email address we look up (an address is at most 254).
pub const LOGIN_MAX_CHARS: usize = 254;
/// The page a mailed link opens (the path is a contract: ARCHITECTURE.md, "Pages").
const LINK_PATH: &str = "/reset-password";

/// A reset link someone opened, as it is kept between opening it and choosing the new
/// password: only the SHA-256 of its token, never the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetLink(String);

impl ResetLink {
    /// The link a presented token stands for; `None` when it cannot be one of ours.
    pub fn from_token(token: &str) -> Option<Self> {
        links::hash_of(token).map(Self)
    }
}

impl fmt::Debug for ResetLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetLink([redacted])")
    }
}

/// Why a reset link no longer leads anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadLink {
    /// Past `accounts.reset_ttl`.
    Expired,
    /// Used already, or replaced by a newer link.
    Used,
    /// Not one of ours, or its account is gone, disabled or has another address now.
    Unknown,
}

/// What opening a reset link found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// The link works: the form may ask for a new password for this username.
    Usable {
        username: String,
    },
    Dead(DeadLink),
}

/// Why a new password was not set. Nothing was changed and, unless the link is dead,
/// the link still works.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("the link no longer works: {0:?}")]
    Link(DeadLink),
    #[error("{0}")]
    Refused(PasswordRefusal),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Mail(#[from] MailError),
}

impl From<StorageError> for ResetError {
    fn from(e: StorageError) -> Self {
        Self::Mail(e.into())
    }
}

/// Why no mail went out, as the audit event records it (never told to the asker).
fn refusal(user: Option<&StoredUser>, paced: links::Pace) -> Option<&'static str> {
    match user {
        None => Some("no_account"),
        Some(u) if u.deleted_at.is_some() => Some("no_account"),
        Some(u) if u.disabled => Some("disabled"),
        Some(_) if paced != links::Pace::Free => Some("rate_limited"),
        Some(_) => None,
    }
}

impl Accounts {
    /// Asks for a reset link for the account whose username or email address is
    /// `login`. Succeeds the same way whether or not it sent one, and takes about the
    /// same time: see the module documentation.
    pub async fn request_reset(&self, login: &str, origin: &Origin) -> Result<(), MailError> {
        let now = self.clock.now();
        let login = login.trim();
        let user = if login.is_empty() || login.chars().count() > LOGIN_MAX_CHARS {
            None
        } else {
            self.find_by_login(login).await?
        };
        // The same two counts for someone unknown (the nil id matches nobody).
        let id = user.as_ref().map_or(Uuid::nil(), |u| u.id);
        let tokens = &self.store.account_tokens;
        let paced = links::pace(tokens, id, Purpose::ResetPassword, now).await?;
        let refused = refusal(user.as_ref(), paced);
        let ttl = self.config.accounts.reset_ttl;
        let mut event =
            Event::new(EventKind::PasswordResetRequested, Actor::Anonymous).from(origin);
        if let Some(u) = &user {
            event = event.about(u.id);
        }
        let mut tx = self.store.db.begin_write().await?;
        match (&user, refused) {
            (Some(user), None) => {
                let token = links::issue_in(
                    tokens,
                    &mut tx,
                    Purpose::ResetPassword,
                    user.id,
                    &user.email,
                    ttl,
                    now,
                )
                .await?;
                let message = Message::ResetPassword {
                    name: Self::salutation(user),
                    link: format!(
                        "{}?token={}",
                        self.config.issuer.endpoint(LINK_PATH),
                        token.expose()
                    ),
                    valid_for: links::duration_words(ttl),
                };
                self.mailer
                    .queue_in(&mut tx, &user.email, &message, now)
                    .await?;
                self.audit.record_in(&mut tx, event, now).await?;
            }
            (_, reason) => {
                // Work like the branch above, so the answer takes as long: a statement
                // on the links table (it matches nothing) and a mail rendered unsent.
                tokens.end_all_in(&mut tx, Uuid::nil(), now).await?;
                let _ = Message::ResetPassword {
                    name: login.to_owned(),
                    link: self.config.issuer.endpoint(LINK_PATH),
                    valid_for: links::duration_words(ttl),
                }
                .render(self.mailer.service())?;
                let event = event
                    .failed()
                    .with("reason", reason.unwrap_or("no_account"));
                self.audit.record_in(&mut tx, event, now).await?;
            }
        }
        tx.commit().await?;
        if refused.is_none() {
            self.mailer.wake();
        }
        Ok(())
    }

    /// Whether `link` still leads to the new-password form, and for whom.
    pub async fn reset_link_state(&self, link: &ResetLink) -> Result<LinkState, StorageError> {
        Ok(match self.live_link(link).await? {
            Ok((_, user)) => LinkState::Usable {
                username: user.username,
            },
            Err(dead) => LinkState::Dead(dead),
        })
    }

    /// The link's facts and its account, while both allow a reset.
    async fn live_link(
        &self,
        link: &ResetLink,
    ) -> Result<Result<(StoredAccountToken, StoredUser), DeadLink>, StorageError> {
        let now = self.clock.now();
        let token = match self
            .store
            .account_tokens
            .peek(Purpose::ResetPassword, &link.0, now)
            .await?
        {
            TokenUse::Valid(token) => token,
            TokenUse::Expired => return Ok(Err(DeadLink::Expired)),
            TokenUse::Used => return Ok(Err(DeadLink::Used)),
            TokenUse::Unknown => return Ok(Err(DeadLink::Unknown)),
        };
        match self.users.find_by_id(token.user_id).await? {
            Some(user)
                if user.deleted_at.is_none() && !user.disabled && user.email == token.email =>
            {
                Ok(Ok((token, user)))
            }
            _ => Ok(Err(DeadLink::Unknown)),
        }
    }

    /// Sets a new password through `link`: checks it against the policy, then in one
    /// transaction spends the link, stores the new hash, ends every session and
    /// revokes every token of the person, ends their other links, confirms the address
    /// the link was mailed to, records the event and queues the "password changed"
    /// mail. Returns the username, for the sign-in page.
    pub async fn reset_password(
        &self,
        link: &ResetLink,
        password: Secret,
        origin: &Origin,
    ) -> Result<String, ResetError> {
        let (token, user) = self.live_link(link).await?.map_err(ResetError::Link)?;
        self.password_policy()
            .check(
                password.expose(),
                Personal {
                    username: &user.username,
                    email: &user.email,
                    display_name: user.display_name.as_deref(),
                },
            )
            .map_err(ResetError::Refused)?;
        // Hashing takes a while: never inside the transaction, which on SQLite holds
        // the one writer.
        let hash = self.hasher.hash(password).await?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        match self
            .store
            .account_tokens
            .consume_in(&mut tx, Purpose::ResetPassword, &link.0, now)
            .await?
        {
            TokenUse::Valid(spent) if spent.user_id == user.id => {}
            TokenUse::Expired => return Err(ResetError::Link(DeadLink::Expired)),
            // Another request spent it between the look and now.
            _ => return Err(ResetError::Link(DeadLink::Used)),
        }
        self.users
            .set_password_hash_in(&mut tx, user.id, &hash, now)
            .await?;
        let sessions = self.end_everything_in(&mut tx, user.id, None, now).await?;
        self.store
            .account_tokens
            .end_all_in(&mut tx, user.id, now)
            .await?;
        // Whoever can read the person's mail may choose their password, so a lockout
        // has nothing left to protect: it ends, and its failure streak with it.
        let unlocked = self.store.lockouts.clear_in(&mut tx, user.id, now).await?;
        // The link went to this address and was followed: that proves it as a
        // verification link would (and the verification links just ended).
        let confirmed = !user.email_verified
            && self
                .users
                .confirm_email_in(&mut tx, user.id, &token.email, now)
                .await?;
        let event = Event::by_user(EventKind::PasswordReset, user.id)
            .from(origin)
            .with("sessions_ended", sessions);
        self.audit.record_in(&mut tx, event, now).await?;
        if unlocked {
            let event = Event::by_user(EventKind::AccountUnlocked, user.id)
                .from(origin)
                .with("by", "password_reset");
            self.audit.record_in(&mut tx, event, now).await?;
        }
        if confirmed {
            let event = Event::by_user(EventKind::EmailVerified, user.id)
                .from(origin)
                .with("by", "password_reset");
            self.audit.record_in(&mut tx, event, now).await?;
        }
        let message = Message::PasswordChanged {
            name: Self::salutation(&user),
        };
        self.mailer
            .queue_in(&mut tx, &user.email, &message, now)
            .await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(user.username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(disabled: bool, deleted: bool) -> StoredUser {
        StoredUser {
            id: Uuid::now_v7(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            password_hash: Secret::new(""),
            display_name: None,
            given_name: None,
            family_name: None,
            roles: vec![],
            disabled,
            self_registered: false,
            deleted_at: deleted.then_some(1),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn only_an_enabled_account_within_its_rate_gets_a_mail() {
        use links::Pace::{Free, TooMany, TooSoon};
        assert_eq!(refusal(None, Free), Some("no_account"));
        assert_eq!(refusal(Some(&user(false, true)), Free), Some("no_account"));
        assert_eq!(refusal(Some(&user(true, false)), Free), Some("disabled"));
        assert_eq!(
            refusal(Some(&user(false, false)), TooSoon),
            Some("rate_limited")
        );
        assert_eq!(
            refusal(Some(&user(false, false)), TooMany),
            Some("rate_limited")
        );
        assert_eq!(refusal(Some(&user(false, false)), Free), None);
    }

    #[test]
    fn a_reset_link_keeps_only_a_hash_and_never_prints_it() {
        let token = crate::crypto::random::secret();
        let link = ResetLink::from_token(&token).expect("plausible");
        assert_ne!(link.0, token);
        assert_eq!(format!("{link:?}"), "ResetLink([redacted])");
        let kept = serde_json::to_string(&link).expect("serialises");
        assert!(!kept.contains(&token));
        assert!(ResetLink::from_token("not a token").is_none());
    }
}
