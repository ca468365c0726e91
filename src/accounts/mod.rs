//! People: who may sign in, the sign-in steps as a pure decision, consents, and creating
//! accounts. Knows nothing of HTTP or SQL. `Accounts` is built once in `AppState`.

pub mod admin;
pub mod identity;
pub mod links;
pub mod lockout;
pub mod login;
pub mod manage;
pub mod new_account;
pub mod policy;
pub mod registration;
pub mod reset;
pub mod second_factor;
pub mod steps;
pub mod verification;

use std::sync::Arc;

use uuid::Uuid;

pub use login::{AuthenticatedUser, LoginError, PasswordAccepted, login};
pub use new_account::{AccountError, NewAccount, create_account};

use crate::{
    audit::{Actor, Audit, Event, EventKind, Origin},
    clock::Clock,
    config::Config,
    crypto::{PasswordHasher, Secret},
    mail::Mailer,
    oidc::scopes::Scopes,
    storage::{ConsentStore, StorageError, Store, StoredUser, UserStore, WriteTx},
};

/// The accounts service: every handle it needs, cheap to clone.
#[derive(Clone, Debug)]
pub struct Accounts {
    users: UserStore,
    consents: ConsentStore,
    /// Every store, for changes that span several in one transaction.
    store: Store,
    hasher: PasswordHasher,
    clock: Clock,
    config: Arc<Config>,
    audit: Audit,
    mailer: Mailer,
}

impl Accounts {
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        clock: Clock,
        config: Arc<Config>,
        audit: Audit,
        mailer: Mailer,
    ) -> Self {
        Self {
            users: store.users.clone(),
            consents: store.consents.clone(),
            store,
            hasher,
            clock,
            config,
            audit,
            mailer,
        }
    }

    /// The password policy, from `[accounts]`.
    pub fn password_policy(&self) -> policy::PasswordPolicy {
        policy::PasswordPolicy::new(&self.config.accounts, self.mailer.service())
    }

    /// How mail and pages address `user`: their display name, else their username.
    pub fn salutation(user: &StoredUser) -> String {
        user.display_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| user.username.clone())
    }

    /// Inside `tx`: ends the person's browser sessions (every one, or every one but
    /// the sign-in `keep_sid`) and revokes every grant they gave, so no access or
    /// refresh token of theirs works any more. Returns sessions ended.
    pub async fn end_everything_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        keep_sid: Option<&str>,
        now: i64,
    ) -> Result<u64, StorageError> {
        let ended = self
            .store
            .sessions
            .end_for_user_in(tx, user_id, None, keep_sid)
            .await?;
        self.store
            .grants
            .revoke_for_user_in(tx, user_id, None, now)
            .await?;
        Ok(ended)
    }

    /// Gives users stored before uniqueness keys existed their keys; run at start.
    /// Two old accounts that now share a key keep working by id, and are logged, so
    /// an admin can rename one.
    pub async fn backfill_identity_keys(&self) -> Result<(), StorageError> {
        for (id, username, email) in self.users.without_keys().await? {
            let username_key = identity::username_key(&username);
            let email_key = identity::email_key(&email).unwrap_or_else(|| username_key.clone());
            match self.users.set_keys(id, &username_key, &email_key).await {
                Ok(()) => {}
                Err(StorageError::Conflict(_)) => tracing::warn!(
                    user_id = %id,
                    "two accounts have the same username or email once case and Unicode \
                     forms are folded; rename one"
                ),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Checks a username-or-email and password (see `login::login`) and records the
    /// outcome as an audit event: who (when known), from where, for which app, why not.
    pub async fn login(
        &self,
        name: &str,
        password: Secret,
        origin: &Origin,
        client_id: Option<&str>,
    ) -> Result<PasswordAccepted, LoginError> {
        let now = self.clock.now();
        let outcome = self.check_login(name, password, origin, now).await;
        login::count_sign_in(
            "password",
            match &outcome {
                Ok(accepted) if accepted.second_factor_due => "second_factor_due",
                Ok(_) => "success",
                Err(e) => e.outcome(),
            },
        );
        let event = match &outcome {
            Ok(PasswordAccepted {
                who,
                second_factor_due,
            }) => {
                // With a second factor to come, this is not a sign-in yet: the
                // second-factor step records that.
                let kind = if *second_factor_due {
                    EventKind::PasswordAccepted
                } else {
                    EventKind::SignIn
                };
                Some(Event::by_user(kind, who.user_id).with("amr", who.amr.clone()))
            }
            // Overload is not an attempt on the account; storage failures are logged.
            Err(LoginError::Password(_) | LoginError::Storage(_)) => None,
            Err(e) => {
                let mut event = Event::new(EventKind::SignIn, Actor::Anonymous)
                    .failed()
                    .with("reason", e.reason());
                // The account the attempt was on, when there is one; never what was
                // typed, which may be a password in the wrong field.
                let target = match e {
                    LoginError::EmailNotVerified(u) => Some(u.id),
                    LoginError::Locked { user, .. } => Some(*user),
                    _ => identity::find_by_login(&self.users, name)
                        .await
                        .ok()
                        .flatten()
                        .map(|u| u.id),
                };
                if let Some(id) = target {
                    event = event.about(id);
                }
                Some(event)
            }
        };
        if let Some(mut event) = event {
            event = event.from(origin);
            if let Some(client_id) = client_id {
                event = event.client(client_id);
            }
            self.audit.record(event, now).await;
        }
        outcome
    }

    /// The password check with the lockout around it: a locked account is refused
    /// before its password is looked at; a wrong password counts towards a lock (and
    /// the one that locks is told so at once); a right one ends the failure streak
    /// only when no second factor is still to come, or someone with the password could
    /// guess codes for ever.
    async fn check_login(
        &self,
        name: &str,
        password: Secret,
        origin: &Origin,
        now: i64,
    ) -> Result<PasswordAccepted, LoginError> {
        let user = login::find_account(&self.users, name).await?;
        let id = user.as_ref().map(|u| u.id);
        if let Some(id) = id
            && let Some(until) = self.store.lockouts.locked_until(id, now).await?
        {
            return Err(LoginError::Locked { user: id, until });
        }
        let outcome = login::check_password(
            &self.hasher,
            user,
            password,
            self.config.accounts.require_verified_email,
            now,
        )
        .await;
        match (outcome, id) {
            (Err(LoginError::InvalidCredentials), Some(id)) => {
                match self.count_failure(id, origin).await? {
                    Some(until) => Err(LoginError::Locked { user: id, until }),
                    None => Err(LoginError::InvalidCredentials),
                }
            }
            (Ok(who), _) => {
                let second_factor_due = self.second_factors(who.user_id).await?.any();
                if !second_factor_due {
                    self.count_success(who.user_id).await?;
                }
                Ok(PasswordAccepted {
                    who,
                    second_factor_due,
                })
            }
            (Err(e), _) => Err(e),
        }
    }

    /// The person whose username or email address is `login`, compared by their keys.
    pub async fn find_by_login(&self, login: &str) -> Result<Option<StoredUser>, StorageError> {
        identity::find_by_login(&self.users, login).await
    }

    /// The person, if they still exist.
    pub async fn user(&self, id: Uuid) -> Result<Option<StoredUser>, StorageError> {
        self.users.find_by_id(id).await
    }

    /// Whether the person still exists and is enabled.
    pub async fn is_active(&self, id: Uuid) -> Result<bool, StorageError> {
        Ok(self.user(id).await?.is_some_and(|u| !u.disabled))
    }

    /// The scopes this person has granted this client.
    pub async fn consented(
        &self,
        user: Uuid,
        client_id: &str,
    ) -> Result<Option<Scopes>, StorageError> {
        Ok(self
            .consents
            .scope(user, client_id)
            .await?
            .map(|s| Scopes::from_stored(&s)))
    }

    /// Adds `scopes` to what this person has granted this client, with its audit
    /// event.
    pub async fn record_consent(
        &self,
        user: Uuid,
        client_id: &str,
        scopes: &Scopes,
        origin: &Origin,
    ) -> Result<(), StorageError> {
        let now = self.clock.now();
        let granted = self
            .consented(user, client_id)
            .await?
            .unwrap_or_default()
            .union(scopes);
        let mut tx = self.store.db.begin_write().await?;
        self.consents
            .save_in(&mut tx, user, client_id, &granted.to_string(), now)
            .await?;
        let event = Event::by_user(EventKind::ConsentGiven, user)
            .client(client_id)
            .from(origin)
            .with("scope", scopes.to_string());
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await
    }

    /// Records that the person signed out of this browser.
    pub async fn record_sign_out(&self, user: Uuid, origin: &Origin, client_id: Option<&str>) {
        let mut event = Event::by_user(EventKind::SignOut, user).from(origin);
        if let Some(client_id) = client_id {
            event = event.client(client_id);
        }
        self.audit.record(event, self.clock.now()).await;
    }
}
