//! Signing up: a new unverified account, its verification mail, and what an address
//! that is already registered gets. The answer for a new address and for a registered
//! one is the same "check your mail" (the owner of the registered one is told by mail),
//! and both do the same work, so neither the page nor its timing says which it was.

use super::{Accounts, identity, policy::Personal};
use crate::{
    audit::{Actor, Event, EventKind, Origin},
    config::Registration,
    crypto::{PasswordError, Secret},
    mail::{MailError, Message},
    storage::{NewUser, StorageError, StoredUser},
};

/// What a person typed on the sign-up page.
#[derive(Debug)]
pub struct SignUp<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub password: Secret,
}

/// Which field a refusal belongs to, so the page can say it next to that field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Username,
    Email,
    DisplayName,
    Password,
}

#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    /// `accounts.registration = "closed"`.
    #[error("registration is closed")]
    Closed,
    /// What is wrong, field by field (every field is checked, so the page can say all
    /// of it at once).
    #[error("the sign-up form has mistakes")]
    Invalid(Vec<(Field, String)>),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Storage(StorageError),
    #[error(transparent)]
    Mail(MailError),
}

impl From<StorageError> for SignUpError {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

impl From<MailError> for SignUpError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Storage(s) => Self::Storage(s),
            other => Self::Mail(other),
        }
    }
}

fn invalid(field: Field, message: impl Into<String>) -> SignUpError {
    SignUpError::Invalid(vec![(field, message.into())])
}

/// What signing up did; the page is the same for both.
#[derive(Debug)]
pub enum SignedUp {
    /// A new account, waiting for its address to be confirmed.
    Created(Box<StoredUser>),
    /// The address already has an account: its owner was told by mail.
    AddressTaken,
}

impl Accounts {
    /// Whether people may sign up.
    pub fn registration_open(&self) -> bool {
        self.config.accounts.registration == Registration::Open
    }

    /// Creates an account from the sign-up form, unverified, with its verification mail
    /// and audit event in one transaction.
    pub async fn sign_up(
        &self,
        form: SignUp<'_>,
        origin: &Origin,
    ) -> Result<SignedUp, SignUpError> {
        if !self.registration_open() {
            return Err(SignUpError::Closed);
        }
        let mut wrong = Vec::new();
        let username = identity::check_username(form.username)
            .map_err(|m| wrong.push((Field::Username, m.to_owned())))
            .ok();
        let email = match identity::check_email(form.email) {
            Ok((email, domain)) if self.config.accounts.allows_domain(&domain) => Some(email),
            Ok(_) => {
                wrong.push((Field::Email, self.config.accounts.domain_refusal()));
                None
            }
            Err(m) => {
                wrong.push((Field::Email, m.to_owned()));
                None
            }
        };
        let display_name = identity::check_name(form.display_name)
            .map_err(|m| wrong.push((Field::DisplayName, m.to_owned())))
            .unwrap_or(None);
        let personal = Personal {
            username: username.as_deref().unwrap_or(form.username),
            email: email.as_deref().unwrap_or(form.email),
            display_name: display_name.as_deref(),
        };
        if let Err(refusal) = self
            .password_policy()
            .check(form.password.expose(), personal)
        {
            wrong.push((Field::Password, refusal.to_string()));
        }
        let (Some(username), Some(email), true) = (username, email, wrong.is_empty()) else {
            return Err(SignUpError::Invalid(wrong));
        };
        let username_key = identity::username_key(&username);
        let email_key = identity::email_key(&email).unwrap_or_default();
        // Hashed whether or not the address is taken, and before the transaction (which
        // holds SQLite's one writer), so both paths cost the same.
        let password_hash = self.hasher.hash(form.password).await?;
        let now = self.clock.now();
        let existing = self.users.find_by_keys("", Some(&email_key)).await?;
        let mut tx = self.store.db.begin_write().await?;
        let outcome = match existing {
            Some(owner) if owner.deleted_at.is_none() => {
                let reset_link = self.config.issuer.endpoint("/reset-password");
                let message = Message::RegistrationAttempt {
                    name: Self::salutation(&owner),
                    reset_link,
                };
                self.mailer
                    .queue_in(&mut tx, &owner.email, &message, now)
                    .await?;
                let event = Event::new(EventKind::RegistrationAttempt, Actor::Anonymous)
                    .about(owner.id)
                    .from(origin);
                self.audit.record_in(&mut tx, event, now).await?;
                SignedUp::AddressTaken
            }
            _ => {
                let new = NewUser {
                    username: username.clone(),
                    email: email.clone(),
                    username_key,
                    email_key,
                    email_verified: false,
                    password_hash,
                    display_name,
                    roles: Vec::new(),
                    self_registered: true,
                };
                let user = match self.users.insert_in(&mut tx, new, now).await {
                    Ok(user) => user,
                    Err(StorageError::Conflict("email")) => {
                        // Registered a moment ago by someone else: the same answer.
                        return Ok(SignedUp::AddressTaken);
                    }
                    Err(StorageError::Conflict(_)) => {
                        return Err(invalid(
                            Field::Username,
                            "This username is taken. Choose another one.",
                        ));
                    }
                    Err(e) => return Err(e.into()),
                };
                let event = Event::by_user(EventKind::Registered, user.id).from(origin);
                self.audit.record_in(&mut tx, event, now).await?;
                self.queue_verification_in(&mut tx, &user, &user.email, origin, now)
                    .await?;
                SignedUp::Created(Box::new(user))
            }
        };
        tx.commit().await?;
        self.mailer.wake();
        Ok(outcome)
    }
}
