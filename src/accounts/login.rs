//! Password sign-in. The pipeline is: first factor (`login`), then — when the user has
//! one — a second factor, then `AuthenticatedUser` with its `amr`. What comes next is
//! decided by `steps::next_step`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    crypto::{PasswordError, PasswordHasher, Secret, random},
    storage::{StorageError, StoredUser, UserStore},
};

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password: deliberately one error.
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("this account is disabled")]
    Disabled,
    /// Too many failed attempts (`lockout`): refused without looking at the password,
    /// so the answer is the same whether or not it was right.
    #[error("the account is locked for now")]
    Locked { user: Uuid, until: i64 },
    /// The password is right, but the person signed up and has not yet confirmed
    /// their address (`accounts.require_verified_email`).
    #[error("the email address is not confirmed yet")]
    EmailNotVerified(StoredUser),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A person who has proved who they are: what the browser session remembers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticatedUser {
    pub user_id: Uuid,
    pub auth_time: i64,
    /// Authentication methods references (RFC 8176): "pwd", later "otp", "mfa".
    pub amr: Vec<String>,
    /// This sign-in's session id: the `sid` claim of ID tokens (OIDC Front-Channel
    /// Logout section 2) and what logout ends.
    pub sid: String,
}

/// Checks a username-or-email and password. An unknown user costs the same argon2 work
/// as a known one, so timing does not say which names exist.
pub async fn login(
    users: &UserStore,
    hasher: &PasswordHasher,
    login: &str,
    password: Secret,
    require_verified_email: bool,
    now: i64,
) -> Result<AuthenticatedUser, LoginError> {
    let user = find_account(users, login).await?;
    check_password(hasher, user, password, require_verified_email, now).await
}

/// The account a sign-in names by username or email address, if it may sign in at
/// all: a deleted account's tombstone keeps its username but never signs in.
pub async fn find_account(
    users: &UserStore,
    login: &str,
) -> Result<Option<StoredUser>, StorageError> {
    let login = login.trim();
    if login.is_empty() || login.len() > 254 {
        return Ok(None);
    }
    Ok(super::identity::find_by_login(users, login)
        .await?
        .filter(|u| u.deleted_at.is_none()))
}

/// Checks `password` against `user` (found by `find_account`); no one found costs the
/// same argon2 work.
pub async fn check_password(
    hasher: &PasswordHasher,
    user: Option<StoredUser>,
    password: Secret,
    require_verified_email: bool,
    now: i64,
) -> Result<AuthenticatedUser, LoginError> {
    let ok = hasher
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    let user = match user {
        Some(u) if ok => u,
        _ => return Err(LoginError::InvalidCredentials),
    };
    if user.disabled {
        return Err(LoginError::Disabled);
    }
    // Admin-added accounts may sign in before their address is confirmed: the admin
    // vouched for the person (their `email_verified` claim stays false meanwhile).
    if require_verified_email && user.self_registered && !user.email_verified {
        return Err(LoginError::EmailNotVerified(user));
    }
    Ok(AuthenticatedUser::by_password(user.id, now))
}

/// A right password: who it was, and whether a second factor must still be given
/// before they are signed in (answered once, where the password was checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordAccepted {
    pub who: AuthenticatedUser,
    pub second_factor_due: bool,
}

impl AuthenticatedUser {
    /// A fresh sign-in with a password, under a new session id.
    pub fn by_password(user_id: Uuid, now: i64) -> Self {
        Self {
            user_id,
            auth_time: now,
            amr: vec!["pwd".to_owned()],
            sid: random::id(),
        }
    }
}

/// Counts a sign-in attempt in `portcullis_sign_ins_total`: `method` is `password`,
/// `passkey` or `second_factor`, `outcome` a fixed word (`success`, `failure`,
/// `locked`, ...), never anything the person typed.
pub(crate) fn count_sign_in(method: &'static str, outcome: &'static str) {
    metrics::counter!("portcullis_sign_ins_total", "method" => method, "outcome" => outcome)
        .increment(1);
}

impl LoginError {
    /// The outcome a refused password sign-in is counted under in the metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "failure",
            other => other.reason(),
        }
    }

    /// The reason an audit event records for a refused sign-in.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::Disabled => "disabled",
            Self::Locked { .. } => "locked",
            Self::EmailNotVerified(_) => "email_not_verified",
            Self::Password(_) => "busy",
            Self::Storage(_) => "storage",
        }
    }
}
