//! Append-only security events: what happened to whose account, from where, and how it
//! ended. An event is written in the same transaction as the change it records
//! (`Audit::record_in`), or alone when nothing else changed (`Audit::record`). Never a
//! password, code, token or link goes into an event.

pub mod admin;
pub mod export;
pub mod filter;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::storage::{AuditRecord, AuditStore, Result, WriteTx};

/// What happened. The names are stable: they are what log collectors and the account
/// page read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    SignIn,
    SignOut,
    Registered,
    RegistrationAttempt,
    EmailVerificationSent,
    EmailVerified,
    EmailChangeRequested,
    EmailChanged,
    PasswordResetRequested,
    PasswordReset,
    PasswordChanged,
    /// An admin set the password at the command line (`portcullis user set-password`).
    PasswordSetByAdmin,
    SessionRevoked,
    ConsentGiven,
    ConsentRemoved,
    AccountDeleted,
    AccountDisabled,
    AccountEnabled,
    ProfileUpdated,
    CodeReplay,
    RefreshTokenReuse,
    TotpEnabled,
    TotpRemoved,
    RecoveryCodesGenerated,
    RecoveryCodeUsed,
    PasskeyAdded,
    PasskeyRemoved,
    SecondFactorFailed,
    AccountLocked,
    AccountUnlocked,
    /// The password was right and the second step was asked for: not yet a sign-in.
    PasswordAccepted,
    /// A new signing key was scheduled (by the CLI, or by the automatic rotation).
    KeyRotationScheduled,
    /// The emergency rotation: a new key signs at once, every other key removed.
    KeysReplaced,
    // Users and roles: what an admin does to someone's account in the console or API.
    /// An admin added an account.
    UserCreatedByAdmin,
    /// An admin changed someone's username, email address or profile.
    UserUpdatedByAdmin,
    /// Someone's roles (everywhere or in a client) were replaced.
    RolesChanged,
    /// Every session of someone's was ended and every token of theirs revoked.
    SignedOutEverywhere,
    /// An admin removed someone's authenticator app, a passkey or the recovery codes.
    SecondFactorRemovedByAdmin,
    /// An admin sent someone the password-reset mail.
    PasswordResetSentByAdmin,
    // Dynamic client registration (RFC 7591, RFC 7592) and its initial access tokens.
    ClientRegistered,
    ClientRegistrationUpdated,
    ClientRegistrationDeleted,
    InitialAccessTokenCreated,
    InitialAccessTokenRevoked,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignOut => "sign_out",
            Self::Registered => "registered",
            Self::RegistrationAttempt => "registration_attempt",
            Self::EmailVerificationSent => "email_verification_sent",
            Self::EmailVerified => "email_verified",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::PasswordSetByAdmin => "password_set_by_admin",
            Self::SessionRevoked => "session_revoked",
            Self::ConsentGiven => "consent_given",
            Self::ConsentRemoved => "consent_removed",
            Self::AccountDeleted => "account_deleted",
            Self::AccountDisabled => "account_disabled",
            Self::AccountEnabled => "account_enabled",
            Self::ProfileUpdated => "profile_updated",
            Self::CodeReplay => "code_replay",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::TotpEnabled => "totp_enabled",
            Self::TotpRemoved => "totp_removed",
            Self::RecoveryCodesGenerated => "recovery_codes_generated",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
            Self::SecondFactorFailed => "second_factor_failed",
            Self::AccountLocked => "account_locked",
            Self::AccountUnlocked => "account_unlocked",
            Self::PasswordAccepted => "password_accepted",
            Self::KeyRotationScheduled => "key_rotation_scheduled",
            Self::KeysReplaced => "keys_replaced",
            // Users and roles.
            Self::UserCreatedByAdmin => "user_created_by_admin",
            Self::UserUpdatedByAdmin => "user_updated_by_admin",
            Self::RolesChanged => "roles_changed",
            Self::SignedOutEverywhere => "signed_out_everywhere",
            Self::SecondFactorRemovedByAdmin => "second_factor_removed_by_admin",
            Self::PasswordResetSentByAdmin => "password_reset_sent_by_admin",
            // Dynamic client registration.
            Self::ClientRegistered => "client_registered",
            Self::ClientRegistrationUpdated => "client_registration_updated",
            Self::ClientRegistrationDeleted => "client_registration_deleted",
            Self::InitialAccessTokenCreated => "initial_access_token_created",
            Self::InitialAccessTokenRevoked => "initial_access_token_revoked",
        }
    }

    /// How the account page says it, in plain words.
    pub fn describe(name: &str) -> &'static str {
        match name {
            "sign_in" => "Signed in",
            "sign_out" => "Signed out",
            "registered" => "Account created",
            "registration_attempt" => "Someone tried to register with your address",
            "email_verification_sent" => "Verification email sent",
            "email_verified" => "Email address confirmed",
            "email_change_requested" => "Email change asked for",
            "email_changed" => "Email address changed",
            "password_reset_requested" => "Password reset asked for",
            "password_reset" => "Password reset",
            "password_changed" => "Password changed",
            "password_set_by_admin" => "Password set by an administrator",
            "session_revoked" => "Signed out a session",
            "consent_given" => "Gave an app access",
            "consent_removed" => "Removed an app's access",
            "account_deleted" => "Account deleted",
            "account_disabled" => "Account disabled",
            "account_enabled" => "Account enabled",
            "profile_updated" => "Profile updated",
            "code_replay" => "A sign-in code was used twice",
            "refresh_token_reuse" => "An app's old token was used again",
            "totp_enabled" => "Authenticator app turned on",
            "totp_removed" => "Authenticator app removed",
            "recovery_codes_generated" => "New recovery codes made",
            "recovery_code_used" => "Signed in with a recovery code",
            "passkey_added" => "Passkey added",
            "passkey_removed" => "Passkey removed",
            "second_factor_failed" => "A wrong second-factor code was entered",
            "account_locked" => "Account locked after too many attempts",
            "account_unlocked" => "Account unlocked",
            "password_accepted" => "Password accepted, second step asked for",
            "key_rotation_scheduled" => "A new signing key was scheduled",
            "keys_replaced" => "Every signing key was replaced at once",
            // Users and roles.
            "user_created_by_admin" => "Account created by an administrator",
            "user_updated_by_admin" => "Account details changed by an administrator",
            "roles_changed" => "Roles changed",
            "signed_out_everywhere" => "Signed out everywhere by an administrator",
            "second_factor_removed_by_admin" => "Second factor removed by an administrator",
            "password_reset_sent_by_admin" => "Password reset link sent by an administrator",
            // Dynamic client registration.
            "client_registered" => "An app registered itself",
            "client_registration_updated" => "An app changed its registration",
            "client_registration_deleted" => "An app deleted its registration",
            "initial_access_token_created" => "A client registration token was made",
            "initial_access_token_revoked" => "A client registration token was revoked",
            _ => "Security event",
        }
    }
}

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The person themselves (or someone with their session), or an admin acting in the
    /// console or with their own token at the admin API.
    User(Uuid),
    /// A client acting with its own token (the admin API under client_credentials).
    Client(String),
    /// An admin at the command line.
    Cli,
    /// Portcullis itself (a detected replay, say).
    System,
    /// Someone not signed in (a failed sign-in, a reset asked for).
    Anonymous,
}

impl Actor {
    fn to_stored(&self) -> String {
        match self {
            Self::User(id) => format!("user:{id}"),
            Self::Client(id) => format!("client:{id}"),
            Self::Cli => "cli".into(),
            Self::System => "system".into(),
            Self::Anonymous => "anonymous".into(),
        }
    }
}

/// Where a request came from, as the HTTP layer saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The longest user agent kept; the rest is cut.
const USER_AGENT_MAX: usize = 256;

/// One event, built up and then recorded.
#[derive(Clone, Debug)]
pub struct Event {
    kind: EventKind,
    success: bool,
    actor: Actor,
    user_id: Option<Uuid>,
    client_id: Option<String>,
    origin: Origin,
    detail: Map<String, Value>,
}

impl Event {
    /// A successful event by `actor`.
    pub fn new(kind: EventKind, actor: Actor) -> Self {
        let user_id = match actor {
            Actor::User(id) => Some(id),
            _ => None,
        };
        Self {
            kind,
            success: true,
            actor,
            user_id,
            client_id: None,
            origin: Origin::default(),
            detail: Map::new(),
        }
    }

    /// An event a person did to their own account.
    pub fn by_user(kind: EventKind, user: Uuid) -> Self {
        Self::new(kind, Actor::User(user))
    }

    pub fn failed(mut self) -> Self {
        self.success = false;
        self
    }

    /// The person it is about (when not the actor).
    pub fn about(mut self, user: Uuid) -> Self {
        self.user_id = Some(user);
        self
    }

    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    pub fn from(mut self, origin: &Origin) -> Self {
        self.origin = origin.clone();
        self
    }

    /// Adds a small fact (a reason, a scope); never a secret.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }

    pub fn kind(&self) -> EventKind {
        self.kind
    }

    fn into_record(self, now: i64) -> AuditRecord {
        let user_agent = self.origin.user_agent.map(|ua| {
            let clean: String = ua.chars().filter(|c| !c.is_control()).collect();
            clean.chars().take(USER_AGENT_MAX).collect()
        });
        AuditRecord {
            id: Uuid::now_v7(),
            at: now,
            event: self.kind.as_str().to_owned(),
            outcome: if self.success { "success" } else { "failure" }.to_owned(),
            actor: self.actor.to_stored(),
            user_id: self.user_id,
            client_id: self.client_id,
            ip: self.origin.ip,
            user_agent,
            detail: Value::Object(self.detail),
        }
    }
}

/// The audit trail: writes events, reads a person's own.
#[derive(Clone, Debug)]
pub struct Audit {
    store: AuditStore,
}

impl Audit {
    pub fn new(store: AuditStore) -> Self {
        Self { store }
    }

    /// Records `event` inside `tx`, with the change it records.
    pub async fn record_in(&self, tx: &mut WriteTx, event: Event, now: i64) -> Result<()> {
        self.store.insert_in(tx, &event.into_record(now)).await
    }

    /// Records `event` on its own. A failure is logged, not returned: an event that
    /// records nothing else must not turn a refusal into an error page.
    pub async fn record(&self, event: Event, now: i64) {
        let kind = event.kind;
        if let Err(e) = self.store.insert(&event.into_record(now)).await {
            tracing::error!(error = %e, event = kind.as_str(), "could not record an audit event");
        }
    }

    /// The newest events about `user`, newest first.
    pub async fn for_user(&self, user: Uuid, limit: i64) -> Result<Vec<AuditRecord>> {
        self.store.for_user(user, limit).await
    }

    /// The newest events of every kind, newest first.
    pub async fn recent(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        self.store.recent(limit).await
    }
}
