//! What an admin does to people in the console and the admin API: find them, look at
//! one, add one, rename one, set their roles, disable, enable, unlock, sign them out
//! everywhere, remove a second factor, send the reset mail, delete. The console, the
//! API and the CLI call these same functions, so all three refuse alike; every
//! refusal names the field it is about (as the API spells it).
//!
//! Each change is one transaction with its audit event (the admin as actor, the person
//! as subject). Nobody can lock everyone out: a change that would leave no active
//! person with the `admin` role everywhere is refused, and so is an admin taking away
//! their own admin role, or disabling or deleting themselves, by accident. The check
//! and the change share a transaction whose first statement takes the admins' rows in
//! turn (`RoleStore::lock_holders_in`), so two admins cannot each remove the other.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::StateChange;
use crate::{
    accounts::{
        AccountError, Accounts, NewAccount, identity,
        manage::{
            Activity, ConnectedApp, Field as ProfileField, ManageError, ProfileInput,
            SignedInBrowser,
        },
        new_account::parse_roles,
        second_factor::Methods,
    },
    audit::{Actor, Event, EventKind, Origin},
    crypto::{PasswordError, Secret, random},
    mail::{MailError, Message},
    storage::{
        Identity, Profile, RoleGrant, RoleHolder, StorageError, StoredPasskey, StoredUser, WriteTx,
    },
};

/// The role that opens the console and the admin API.
pub const ADMIN_ROLE: &str = "admin";

/// The longest search we take, in characters.
pub const SEARCH_MAX_CHARS: usize = 200;

/// Why an admin's change to someone did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    /// A field of the input is wrong; nothing was written.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Someone else already has this username or email address.
    #[error("the {0} is already taken by another account")]
    Taken(&'static str),
    /// The change would lock admins out, or is an admin removing themselves.
    #[error("{0}")]
    Protected(&'static str),
    #[error("there is no such account")]
    NotFound,
    #[error("the account is deleted; it cannot be changed")]
    Deleted,
    #[error("too many password checks at once; try again")]
    Busy,
    #[error(transparent)]
    Password(PasswordError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("a mail could not be queued: {0}")]
    Mail(String),
}

impl PeopleError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The field the refusal is about, if it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::Taken(field) => Some(field),
            _ => None,
        }
    }
}

impl From<PasswordError> for PeopleError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy => Self::Busy,
            other => Self::Password(other),
        }
    }
}

impl From<MailError> for PeopleError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Storage(e) => Self::Storage(e),
            MailError::Template(e) => Self::Mail(e.to_string()),
        }
    }
}

impl From<ManageError> for PeopleError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Storage(e) => Self::Storage(e),
            ManageError::Busy => Self::Busy,
            ManageError::Password(e) => Self::Password(e),
            ManageError::Inactive => Self::Deleted,
            ManageError::Mail(e) => Self::Mail(e.to_string()),
            ManageError::Refused(r) => Self::invalid("profile", r.message),
        }
    }
}

/// Text an admin typed: no control characters (NUL included) and at most `max`
/// characters after trimming.
fn plain(field: &'static str, raw: &str, max: usize) -> Result<String, PeopleError> {
    let text = raw.trim();
    if text.chars().any(char::is_control) {
        return Err(PeopleError::invalid(
            field,
            "remove the control characters from this field",
        ));
    }
    if text.chars().count() > max {
        return Err(PeopleError::invalid(
            field,
            format!("use at most {max} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// A new account as an admin fills it in.
#[derive(Clone, Debug, Default)]
pub struct NewPerson {
    pub username: String,
    pub email: String,
    /// None: the account gets a random password nobody knows, and the person the
    /// password-reset mail to choose their own (an invitation).
    pub password: Option<Secret>,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
}

/// What an admin changes about someone; `None` leaves a field as it is, an empty name
/// clears it.
#[derive(Clone, Debug, Default)]
pub struct PersonChanges {
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// Someone's roles as an admin sets them: everywhere, and per client.
#[derive(Clone, Debug, Default)]
pub struct RoleSet {
    pub everywhere: Vec<String>,
    /// client_id -> roles in that client only. A client left out keeps no roles.
    pub per_client: BTreeMap<String, Vec<String>>,
}

/// A second factor an admin may remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    Totp,
    RecoveryCodes,
    Passkey(Uuid),
}

impl Factor {
    /// `totp`, `recovery-codes` (or `recovery_codes`), or a passkey's id.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "totp" => Some(Self::Totp),
            "recovery-codes" | "recovery_codes" => Some(Self::RecoveryCodes),
            other => Uuid::parse_str(other).ok().map(Self::Passkey),
        }
    }
}

/// Everything an admin sees about one person.
#[derive(Clone, Debug)]
pub struct PersonDetail {
    pub user: StoredUser,
    pub roles: Vec<RoleGrant>,
    pub sessions: Vec<SignedInBrowser>,
    pub factors: Methods,
    pub passkeys: Vec<StoredPasskey>,
    pub apps: Vec<ConnectedApp>,
    pub activity: Vec<Activity>,
    /// When a lockout is in force, until when.
    pub locked_until: Option<i64>,
}

/// What a role change would do to the admin role of the person changed.
fn removes_admin(user: &StoredUser, after: &[String]) -> bool {
    user.roles.iter().any(|r| r == ADMIN_ROLE) && !after.iter().any(|r| r == ADMIN_ROLE)
}

impl Accounts {
    /// The person with this id, tombstones included.
    async fn person(&self, id: Uuid) -> Result<StoredUser, PeopleError> {
        self.users
            .find_by_id(id)
            .await?
            .ok_or(PeopleError::NotFound)
    }

    /// The person with this id, if they may be changed (not a tombstone).
    async fn changeable_person(&self, id: Uuid) -> Result<StoredUser, PeopleError> {
        let user = self.person(id).await?;
        if user.deleted_at.is_some() {
            return Err(PeopleError::Deleted);
        }
        Ok(user)
    }

    /// Refuses, inside `tx`, a change that takes `user`'s admin role away (a role
    /// change, a disable, a delete) when `actor` is that person, or when no other
    /// active admin would be left. The command line may (it is how a locked-out
    /// installation is mended), so `Actor::Cli` passes.
    async fn keep_an_admin_in(
        &self,
        tx: &mut WriteTx,
        actor: &Actor,
        user: &StoredUser,
        own: &'static str,
    ) -> Result<(), PeopleError> {
        if matches!(actor, Actor::Cli) || !user.roles.iter().any(|r| r == ADMIN_ROLE) {
            return Ok(());
        }
        if *actor == Actor::User(user.id) {
            return Err(PeopleError::Protected(own));
        }
        let roles = &self.store.roles;
        roles.lock_holders_in(tx, ADMIN_ROLE).await?;
        let holders = roles.active_holders_in(tx, ADMIN_ROLE).await?;
        if holders.iter().all(|id| *id == user.id) {
            return Err(PeopleError::Protected(
                "this is the last active admin; make someone else an admin first",
            ));
        }
        Ok(())
    }

    /// People whose username, email address or name contains `q` (any case); all of
    /// them when `q` is empty. A page, and how many match in all.
    pub async fn search_people(
        &self,
        q: &str,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<StoredUser>, u64), PeopleError> {
        let q = plain("q", q, SEARCH_MAX_CHARS)?.to_lowercase();
        Ok(self.users.search(&q, limit, offset).await?)
    }

    /// Everything about one person an admin looks at, from the same queries as the
    /// account page.
    pub async fn person_detail(&self, id: Uuid) -> Result<PersonDetail, PeopleError> {
        let user = self.person(id).await?;
        let now = self.clock.now();
        Ok(PersonDetail {
            roles: self.store.roles.of_user(id).await?,
            sessions: self.sessions(id, "").await?,
            factors: self.second_factors(id).await?,
            passkeys: self.store.passkeys.list_for_user(id).await?,
            apps: self.connected_apps(id).await?,
            activity: self.security_activity(id).await?,
            locked_until: self.store.lockouts.locked_until(id, now).await?,
            user,
        })
    }

    /// Who holds `role`, everywhere (`client_id` None) or in one client.
    pub async fn role_holders(
        &self,
        role: &str,
        client_id: Option<&str>,
    ) -> Result<Vec<RoleHolder>, PeopleError> {
        let roles = parse_roles(&[role.to_owned()]).map_err(|m| PeopleError::invalid("role", m))?;
        let role = roles.first().map(String::as_str).unwrap_or_default();
        Ok(self
            .store
            .roles
            .holders(role, client_id.unwrap_or_default())
            .await?)
    }

    /// Adds an account under the same rules as `portcullis user add` (and the password
    /// policy), with `user_created_by_admin`. Without a password the person is mailed
    /// the reset link to choose one.
    pub async fn create_person(
        &self,
        actor: &Actor,
        new: NewPerson,
        origin: &Origin,
    ) -> Result<StoredUser, PeopleError> {
        let invited = new.password.is_none();
        let password = new
            .password
            .unwrap_or_else(|| Secret::new(format!("{}-{}", random::secret(), random::id())));
        let display_name = new
            .display_name
            .as_deref()
            .map(|n| {
                plain(
                    "display_name",
                    n,
                    crate::accounts::manage::PROFILE_MAX_CHARS,
                )
            })
            .transpose()?;
        let account = NewAccount::parse(
            &new.username,
            &new.email,
            password,
            display_name.as_deref(),
            &new.roles,
        )
        .map_err(|e| match e {
            AccountError::Invalid(m) => PeopleError::invalid(field_of(&m), m),
            other => account_error(other),
        })?;
        if !invited {
            account
                .check_password(&self.password_policy())
                .map_err(|r| PeopleError::invalid("password", r.to_string()))?;
        }
        let row = account
            .into_new_user(&self.hasher)
            .await
            .map_err(account_error)?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        let user = self
            .users
            .insert_in(&mut tx, row, now)
            .await
            .map_err(storage_error)?;
        let event = Event::new(EventKind::UserCreatedByAdmin, actor.clone())
            .about(user.id)
            .with("roles", user.roles.join(" "))
            .with("invited", invited);
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        if invited {
            self.request_reset(&user.username, origin).await?;
        }
        Ok(user)
    }

    /// Renames someone or changes their address or names, with
    /// `user_updated_by_admin` naming the fields changed (never their values). A new
    /// address is unconfirmed unless `email_verified` says otherwise.
    pub async fn update_person(
        &self,
        actor: &Actor,
        id: Uuid,
        changes: PersonChanges,
    ) -> Result<StoredUser, PeopleError> {
        let user = self.changeable_person(id).await?;
        let mut changed: Vec<&str> = Vec::new();
        let username = match &changes.username {
            Some(raw) => {
                let name = plain("username", raw, 64)?;
                check_username(&name)?;
                name
            }
            None => user.username.clone(),
        };
        if username != user.username {
            changed.push("username");
        }
        let email = match &changes.email {
            Some(raw) => {
                let email = plain("email", raw, 254)?;
                check_email(&email)?;
                email
            }
            None => user.email.clone(),
        };
        let email_changed = email != user.email;
        if email_changed {
            changed.push("email");
        }
        let email_verified = changes
            .email_verified
            .unwrap_or(user.email_verified && !email_changed);
        if email_verified != user.email_verified {
            changed.push("email_verified");
        }
        let keep = |new: &Option<String>, old: &Option<String>| {
            new.clone()
                .unwrap_or_else(|| old.clone().unwrap_or_default())
        };
        let (display, given, family) = (
            keep(&changes.display_name, &user.display_name),
            keep(&changes.given_name, &user.given_name),
            keep(&changes.family_name, &user.family_name),
        );
        let profile = ProfileInput {
            display_name: &display,
            given_name: &given,
            family_name: &family,
        }
        .parse()
        .map_err(|r| {
            let field = match r.field {
                ProfileField::GivenName => "given_name",
                ProfileField::FamilyName => "family_name",
                _ => "display_name",
            };
            PeopleError::invalid(field, r.message)
        })?;
        let before = Profile {
            display_name: user.display_name.clone(),
            given_name: user.given_name.clone(),
            family_name: user.family_name.clone(),
        };
        for (name, new, old) in [
            ("display_name", &profile.display_name, &before.display_name),
            ("given_name", &profile.given_name, &before.given_name),
            ("family_name", &profile.family_name, &before.family_name),
        ] {
            if new != old {
                changed.push(name);
            }
        }
        if changed.is_empty() {
            return Ok(user);
        }
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        let identity = Identity {
            username_key: identity::username_key(&username),
            email_key: identity::email_key(&email).unwrap_or_default(),
            username,
            email,
            email_verified,
        };
        self.users
            .set_identity_in(&mut tx, id, &identity, now)
            .await
            .map_err(storage_error)?;
        self.users
            .set_profile_in(&mut tx, id, &profile, now)
            .await?;
        let event = Event::new(EventKind::UserUpdatedByAdmin, actor.clone())
            .about(id)
            .with("changed", changed.join(" "));
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        self.person(id).await
    }

    /// Replaces someone's roles everywhere and in every client, with `roles_changed`
    /// (before and after). Each client named must exist.
    pub async fn set_roles(
        &self,
        actor: &Actor,
        id: Uuid,
        set: RoleSet,
    ) -> Result<Vec<RoleGrant>, PeopleError> {
        let user = self.changeable_person(id).await?;
        let everywhere =
            parse_roles(&set.everywhere).map_err(|m| PeopleError::invalid("roles", m))?;
        let mut per_client = BTreeMap::new();
        for (client_id, roles) in &set.per_client {
            let roles = parse_roles(roles).map_err(|m| PeopleError::invalid("client_roles", m))?;
            let known = client_id.len() <= 255
                && !client_id.chars().any(char::is_control)
                && self
                    .store
                    .clients
                    .find_by_client_id(client_id)
                    .await?
                    .is_some();
            if !known {
                return Err(PeopleError::invalid(
                    "client_roles",
                    format!(
                        "there is no client `{}`",
                        client_id
                            .chars()
                            .take(64)
                            .flat_map(char::escape_default)
                            .collect::<String>()
                    ),
                ));
            }
            per_client.insert(client_id.clone(), roles);
        }
        let before = self.store.roles.of_user(id).await?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        if removes_admin(&user, &everywhere) {
            self.keep_an_admin_in(
                &mut tx,
                actor,
                &user,
                "you cannot take away your own admin role; ask another admin",
            )
            .await?;
        }
        let mut everywhere_sorted = everywhere.clone();
        everywhere_sorted.sort();
        crate::storage::RoleStore::set_in(&mut tx, id, "", &everywhere_sorted, now).await?;
        for grant in &before {
            if let Some(c) = &grant.client_id
                && !per_client.contains_key(c)
            {
                crate::storage::RoleStore::set_in(&mut tx, id, c, &[], now).await?;
            }
        }
        for (client_id, roles) in &per_client {
            let mut roles = roles.clone();
            roles.sort();
            crate::storage::RoleStore::set_in(&mut tx, id, client_id, &roles, now).await?;
        }
        let event = Event::new(EventKind::RolesChanged, actor.clone())
            .about(id)
            .with("before", describe_roles(&before))
            .with("after", describe_set(&everywhere_sorted, &per_client));
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(self.store.roles.of_user(id).await?)
    }

    /// Disables (ending every session and revoking every token, at once) or enables
    /// someone's account.
    pub async fn set_disabled_as(
        &self,
        actor: &Actor,
        user: StoredUser,
        disabled: bool,
    ) -> Result<StateChange, PeopleError> {
        if user.deleted_at.is_some() {
            return Err(PeopleError::Deleted);
        }
        if user.disabled == disabled {
            return Ok(StateChange {
                user,
                changed: false,
                sessions_ended: 0,
            });
        }
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        if disabled {
            self.keep_an_admin_in(&mut tx, actor, &user, "you cannot disable your own account")
                .await?;
        }
        self.users
            .set_disabled_in(&mut tx, user.id, disabled, now)
            .await?;
        let (kind, sessions_ended) = if disabled {
            let ended = self.end_everything_in(&mut tx, user.id, None, now).await?;
            (EventKind::AccountDisabled, ended)
        } else {
            (EventKind::AccountEnabled, 0)
        };
        let mut event = Event::new(kind, actor.clone()).about(user.id);
        if disabled {
            event = event.with("sessions_ended", sessions_ended);
        }
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(StateChange {
            user: StoredUser { disabled, ..user },
            changed: true,
            sessions_ended,
        })
    }

    /// `set_disabled_as` for the person with this id.
    pub async fn set_disabled_by_id(
        &self,
        actor: &Actor,
        id: Uuid,
        disabled: bool,
    ) -> Result<StateChange, PeopleError> {
        let user = self.changeable_person(id).await?;
        self.set_disabled_as(actor, user, disabled).await
    }

    /// Lifts someone's lockout, with `account_unlocked` when one was in force.
    pub async fn unlock_as(&self, actor: &Actor, id: Uuid) -> Result<bool, PeopleError> {
        let user = self.changeable_person(id).await?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        let unlocked = self.store.lockouts.clear_in(&mut tx, user.id, now).await?;
        if unlocked {
            let event = Event::new(EventKind::AccountUnlocked, actor.clone())
                .about(user.id)
                .with("by", "admin");
            self.audit.record_in(&mut tx, event, now).await?;
        }
        tx.commit().await?;
        Ok(unlocked)
    }

    /// Ends every session of someone's and revokes every token their apps hold, with
    /// `signed_out_everywhere`. Returns the sessions ended.
    pub async fn sign_out_everywhere(&self, actor: &Actor, id: Uuid) -> Result<u64, PeopleError> {
        let user = self.changeable_person(id).await?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        let ended = self.end_everything_in(&mut tx, user.id, None, now).await?;
        let event = Event::new(EventKind::SignedOutEverywhere, actor.clone())
            .about(user.id)
            .with("sessions_ended", ended);
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Removes one second factor of someone's (and tells them by mail). False when
    /// they had no such factor: nothing was written.
    pub async fn remove_factor_as(
        &self,
        actor: &Actor,
        id: Uuid,
        factor: Factor,
    ) -> Result<bool, PeopleError> {
        let user = self.changeable_person(id).await?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        let (removed, method) = match factor {
            Factor::Totp => (
                self.store.totp.remove_in(&mut tx, id).await?,
                "your authenticator app".to_owned(),
            ),
            Factor::RecoveryCodes => (
                self.store.recovery_codes.remove_in(&mut tx, id).await? > 0,
                "your recovery codes".to_owned(),
            ),
            Factor::Passkey(key) => match self.store.passkeys.delete_in(&mut tx, id, key).await? {
                Some(name) => (true, format!("your passkey “{name}”")),
                None => (false, String::new()),
            },
        };
        if !removed {
            return Ok(false);
        }
        let kind = match factor {
            Factor::Totp => "totp",
            Factor::RecoveryCodes => "recovery_codes",
            Factor::Passkey(_) => "passkey",
        };
        let event = Event::new(EventKind::SecondFactorRemovedByAdmin, actor.clone())
            .about(id)
            .with("factor", kind);
        self.audit.record_in(&mut tx, event, now).await?;
        let message = Message::SecondFactorRemoved {
            name: Self::salutation(&user),
            method: format!("{method}, by an administrator"),
        };
        self.mailer
            .queue_in(&mut tx, &user.email, &message, now)
            .await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(true)
    }

    /// Sends someone the reset flow's own mail (the same link, lifetime and pacing as
    /// "forgot password"), with `password_reset_sent_by_admin`.
    pub async fn send_reset_as(
        &self,
        actor: &Actor,
        id: Uuid,
        origin: &Origin,
    ) -> Result<(), PeopleError> {
        let user = self.changeable_person(id).await?;
        if user.disabled {
            return Err(PeopleError::Protected(
                "the account is disabled; enable it before sending a reset link",
            ));
        }
        self.request_reset(&user.username, origin).await?;
        let event = Event::new(EventKind::PasswordResetSentByAdmin, actor.clone()).about(id);
        self.audit.record(event, self.clock.now()).await;
        Ok(())
    }

    /// Deletes someone's account as the account page's delete does: everything ended,
    /// personal data wiped, a tombstone kept so the username and `sub` are never
    /// reused.
    pub async fn delete_person(&self, actor: &Actor, id: Uuid) -> Result<(), PeopleError> {
        let user = self.changeable_person(id).await?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        self.keep_an_admin_in(
            &mut tx,
            actor,
            &user,
            "you cannot delete your own account here; use your account page",
        )
        .await?;
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
        self.store
            .passkeys
            .delete_all_for_user_in(&mut tx, user.id)
            .await?;
        self.store.totp.remove_in(&mut tx, user.id).await?;
        self.store
            .recovery_codes
            .remove_in(&mut tx, user.id)
            .await?;
        self.users.tombstone_in(&mut tx, user.id, now).await?;
        let event = Event::new(EventKind::AccountDeleted, actor.clone())
            .about(user.id)
            .with("by", "admin")
            .with("sessions_ended", sessions)
            .with("consents_removed", apps);
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(())
    }
}

/// Which field `NewAccount::parse`'s message is about.
fn field_of(message: &str) -> &'static str {
    if message.contains("username") {
        "username"
    } else if message.contains("email") {
        "email"
    } else if message.contains("role") {
        "roles"
    } else {
        "password"
    }
}

fn account_error(e: AccountError) -> PeopleError {
    match e {
        AccountError::Invalid(m) => PeopleError::invalid(field_of(&m), m),
        AccountError::Taken(what) => PeopleError::Taken(what),
        AccountError::Storage(e) => PeopleError::Storage(e),
        AccountError::Password(e) => e.into(),
    }
}

fn storage_error(e: StorageError) -> PeopleError {
    match e {
        StorageError::Conflict(what) => PeopleError::Taken(what),
        other => PeopleError::Storage(other),
    }
}

fn check_username(name: &str) -> Result<(), PeopleError> {
    NewAccount::parse(name, "x@example.com", Secret::new("x"), None, &[])
        .map(|_| ())
        .map_err(|e| PeopleError::invalid("username", e.to_string()))
}

fn check_email(email: &str) -> Result<(), PeopleError> {
    NewAccount::parse("x", email, Secret::new("x"), None, &[])
        .map(|_| ())
        .map_err(|e| PeopleError::invalid("email", e.to_string()))
}

/// Roles as the audit event keeps them: `admin billing:viewer@client`.
fn describe_roles(grants: &[RoleGrant]) -> String {
    grants
        .iter()
        .map(|g| match &g.client_id {
            Some(c) => format!("{}@{c}", g.role),
            None => g.role.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe_set(everywhere: &[String], per_client: &BTreeMap<String, Vec<String>>) -> String {
    let mut all: Vec<String> = everywhere.to_vec();
    for (client, roles) in per_client {
        all.extend(roles.iter().map(|r| format!("{r}@{client}")));
    }
    all.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_are_named_by_kind_or_by_a_passkeys_id() {
        assert_eq!(Factor::parse("totp"), Some(Factor::Totp));
        assert_eq!(Factor::parse("recovery-codes"), Some(Factor::RecoveryCodes));
        let id = Uuid::new_v4();
        assert_eq!(Factor::parse(&id.to_string()), Some(Factor::Passkey(id)));
        assert_eq!(Factor::parse("sms"), None);
    }

    #[test]
    fn typed_text_with_control_characters_or_too_long_is_refused_by_its_field() {
        assert_eq!(plain("q", " ada ", 10).ok().as_deref(), Some("ada"));
        assert_eq!(
            plain("q", "a\0b", 10).err().and_then(|e| e.field()),
            Some("q")
        );
        assert!(plain("q", &"x".repeat(11), 10).is_err());
    }
}
