//! `portcullis user ...`: people.

use std::{
    io::BufRead,
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

use serde_json::{Value, json};

use super::{CommandError, open_store};
use crate::{
    accounts::{
        self, AccountError, Accounts, NewAccount, admin::StateChange, policy::PasswordPolicy,
    },
    audit::Audit,
    clock::Clock,
    config::Config,
    crypto::{PasswordHasher, Secret},
    mail::Mailer,
    storage::{Store, StoredUser},
};

/// The password policy the server applies, from the same settings.
fn policy(config: &Config) -> PasswordPolicy {
    PasswordPolicy::new(&config.accounts, &config.issuer.host())
}

/// One hashing slot and no queue: a command hashes one password.
fn hasher() -> Result<PasswordHasher, CommandError> {
    Ok(PasswordHasher::new(1, 0).map_err(AccountError::from)?)
}

/// The accounts service over a freshly opened store, built as the server builds it.
async fn open_accounts(config: &Config) -> Result<(Store, Accounts), CommandError> {
    let store = open_store(config).await?;
    let config = Arc::new(config.clone());
    let mailer = Mailer::new(store.outbox.clone(), config.issuer.host());
    let accounts = Accounts::new(
        store.clone(),
        hasher()?,
        Clock::system(),
        config,
        Audit::new(store.audit.clone()),
        mailer,
    );
    Ok((store, accounts))
}

/// `portcullis user add`: adds a user and returns it. The password must pass the same
/// policy as at registration.
pub async fn user_add(
    config: &Config,
    username: &str,
    email: &str,
    password: Secret,
    roles: &[String],
) -> Result<StoredUser, CommandError> {
    let account = NewAccount::parse(username, email, password, None, roles)?;
    account
        .check_password(&policy(config))
        .map_err(CommandError::PasswordRefused)?;
    let store = open_store(config).await?;
    let user =
        accounts::create_account(&store.users, &hasher()?, account, Clock::system().now()).await?;
    store.db.close().await;
    Ok(user)
}

/// `portcullis user add`, as the CLI runs it: the password is the first line of
/// standard input.
pub async fn add(
    config: &Config,
    username: &str,
    email: &str,
    roles: &[String],
) -> Result<(), CommandError> {
    let password = read_password()?;
    let user = user_add(config, username, email, password, roles).await?;
    println!("added user {} ({})", user.username, user.id);
    Ok(())
}

/// `portcullis user list`: every account, tombstones included, by username.
pub async fn user_list(config: &Config) -> Result<Vec<StoredUser>, CommandError> {
    let store = open_store(config).await?;
    let users = store.users.list().await?;
    store.db.close().await;
    Ok(users)
}

/// `portcullis user list`, as the CLI runs it: a line per account, or with `json` an
/// array of objects. Never a password hash.
pub async fn list(config: &Config, json: bool) -> Result<(), CommandError> {
    let users = user_list(config).await?;
    if json {
        let list: Vec<Value> = users.iter().map(user_json).collect();
        println!("{}", Value::Array(list));
    } else if users.is_empty() {
        println!("no users yet: add one with `portcullis user add`");
    } else {
        for u in &users {
            let email = if u.email.is_empty() { "-" } else { &u.email };
            let verified = if u.email_verified {
                "email verified"
            } else {
                "email not verified"
            };
            let roles = if u.roles.is_empty() {
                "no roles".to_owned()
            } else {
                format!("roles: {}", u.roles.join(", "))
            };
            println!(
                "{}  {email}  ({}; {verified}; {roles})  created {}",
                u.username,
                state(u),
                timestamp(u.created_at)
            );
        }
    }
    Ok(())
}

/// `active`, `disabled` or `deleted` (a tombstone is disabled too; deleted says more).
fn state(user: &StoredUser) -> &'static str {
    if user.deleted_at.is_some() {
        "deleted"
    } else if user.disabled {
        "disabled"
    } else {
        "active"
    }
}

/// Seconds since the epoch as RFC 3339, in UTC.
fn timestamp(secs: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

fn user_json(u: &StoredUser) -> Value {
    json!({
        "id": u.id.to_string(),
        "username": u.username,
        "email": if u.email.is_empty() { Value::Null } else { Value::from(u.email.as_str()) },
        "email_verified": u.email_verified,
        "state": state(u),
        "roles": u.roles,
        "self_registered": u.self_registered,
        "created_at": timestamp(u.created_at),
        "deleted_at": u.deleted_at.map(timestamp),
    })
}

/// `portcullis user set-password`: sets the password after the policy allows it,
/// signs the person out everywhere and revokes their apps' tokens. Returns the person
/// and how many sessions ended.
pub async fn user_set_password(
    config: &Config,
    username: &str,
    password: Secret,
) -> Result<(StoredUser, u64), CommandError> {
    let (store, accounts) = open_accounts(config).await?;
    let done = accounts.set_password_by_admin(username, password).await;
    store.db.close().await;
    Ok(done?)
}

/// `portcullis user set-password`, as the CLI runs it: the password is the first line
/// of standard input.
pub async fn set_password(config: &Config, username: &str) -> Result<(), CommandError> {
    let password = read_password()?;
    let (user, ended) = user_set_password(config, username, password).await?;
    println!(
        "set the password of {}; signed out {} and revoked every app's tokens",
        user.username,
        sessions(ended)
    );
    Ok(())
}

/// `portcullis user disable` (`disabled`) and `enable`.
pub async fn user_set_disabled(
    config: &Config,
    username: &str,
    disabled: bool,
) -> Result<StateChange, CommandError> {
    let (store, accounts) = open_accounts(config).await?;
    let done = accounts.set_disabled_by_admin(username, disabled).await;
    store.db.close().await;
    Ok(done?)
}

/// `portcullis user disable`, as the CLI runs it.
pub async fn disable(config: &Config, username: &str) -> Result<(), CommandError> {
    let change = user_set_disabled(config, username, true).await?;
    if change.changed {
        println!(
            "disabled {}; signed out {} and revoked every app's tokens",
            change.user.username,
            sessions(change.sessions_ended)
        );
    } else {
        println!("{} was already disabled", change.user.username);
    }
    Ok(())
}

/// `portcullis user reset-second-factor`: removes the authenticator app and recovery
/// codes of someone who lost both. Returns the person and whether anything was removed.
pub async fn user_reset_second_factor(
    config: &Config,
    username: &str,
) -> Result<(StoredUser, bool), CommandError> {
    let (store, accounts) = open_accounts(config).await?;
    let done = accounts.reset_second_factor_by_admin(username).await;
    store.db.close().await;
    Ok(done?)
}

/// `portcullis user reset-second-factor`, as the CLI runs it.
pub async fn reset_second_factor(config: &Config, username: &str) -> Result<(), CommandError> {
    let (user, removed) = user_reset_second_factor(config, username).await?;
    if removed {
        println!(
            "removed the authenticator app and recovery codes of {}; they sign in with \
             their password and can set up a new app",
            user.username
        );
    } else {
        println!(
            "{} had no authenticator app or recovery codes",
            user.username
        );
    }
    Ok(())
}

/// `portcullis user enable`, as the CLI runs it.
pub async fn enable(config: &Config, username: &str) -> Result<(), CommandError> {
    let change = user_set_disabled(config, username, false).await?;
    if change.changed {
        println!("enabled {}", change.user.username);
    } else {
        println!("{} was already enabled", change.user.username);
    }
    Ok(())
}

/// `portcullis user unlock`: lifts the lockout. Returns the person and whether they
/// were locked.
pub async fn user_unlock(
    config: &Config,
    username: &str,
) -> Result<(StoredUser, bool), CommandError> {
    let (store, accounts) = open_accounts(config).await?;
    let done = accounts.unlock_by_admin(username).await;
    store.db.close().await;
    Ok(done?)
}

/// `portcullis user unlock`, as the CLI runs it.
pub async fn unlock(config: &Config, username: &str) -> Result<(), CommandError> {
    let (user, was_locked) = user_unlock(config, username).await?;
    if was_locked {
        println!("unlocked {}; they may sign in again", user.username);
    } else {
        println!(
            "{} was not locked; their count of failed sign-ins starts again",
            user.username
        );
    }
    Ok(())
}

fn sessions(n: u64) -> String {
    match n {
        1 => "1 session".to_owned(),
        n => format!("{n} sessions"),
    }
}

/// The first line of standard input, without its line ending.
fn read_password() -> Result<Secret, CommandError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(CommandError::Stdin)?;
    let password = Secret::new(line.trim_end_matches(['\n', '\r']));
    if password.expose().is_empty() {
        return Err(CommandError::Usage(
            "the password is empty (give it on standard input)".into(),
        ));
    }
    Ok(password)
}
