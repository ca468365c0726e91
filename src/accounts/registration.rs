//! Signing up: a new unverified account, its verification mail, and what an address
//! that is already registered gets. The answer for a new address and for a registered
//! one is the same "check your mail" (the owner of the registered one is told by mail),
//! and both do the same work, so neither the page nor its timing says which it was.

use super::{
    Accounts, identity,
    policy::{PasswordRefusal, Personal},
};
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
    #[error("{message}")]
    Invalid { field: Field, message: String },
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
    SignUpError::Invalid {
        field,
        message: message.into(),
    }
}

/// What signing up did; the page is the same for both.
#[derive(Debug)]
pub enum SignedUp {
    /// A new account, waiting for its address to be confirmed.
    Created(StoredUser),
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
        let username =
            identity::check_username(form.username).map_err(|m| invalid(Field::Username, m))?;
        let (email, domain) =
            identity::check_email(form.email).map_err(|m| invalid(Field::Email, m))?;
        if !self.config.accounts.allows_domain(&domain) {
            let allowed: Vec<String> = self
                .config
                .accounts
                .allowed_email_domains
                .iter()
                .map(|d| idna::domain_to_unicode(d).0)
                .collect();
            return Err(invalid(
                Field::Email,
                format!("Use an address at {}.", allowed.join(" or ")),
            ));
        }
        let display_name =
            identity::check_name(form.display_name).map_err(|m| invalid(Field::DisplayName, m))?;
        let personal = Personal {
            username: &username,
            email: &email,
            display_name: display_name.as_deref(),
        };
        self.password_policy()
            .check(form.password.expose(), personal)
            .map_err(|r: PasswordRefusal| invalid(Field::Password, r.to_string()))?;
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
                SignedUp::Created(user)
            }
        };
        tx.commit().await?;
        self.mailer.wake();
        Ok(outcome)
    }
}
