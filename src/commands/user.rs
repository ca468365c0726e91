//! `portcullis user ...`: people.

use std::io::BufRead;

use super::{CommandError, open_store};
use crate::{
    accounts::{self, AccountError, NewAccount},
    clock::Clock,
    config::Config,
    crypto::{PasswordHasher, Secret},
    storage::StoredUser,
};

/// `portcullis user add`: adds a user and returns it.
pub async fn user_add(
    config: &Config,
    username: &str,
    email: &str,
    password: Secret,
    roles: &[String],
) -> Result<StoredUser, CommandError> {
    let account = NewAccount::parse(username, email, password, None, roles)?;
    let store = open_store(config).await?;
    let hasher = PasswordHasher::new(1, 0).map_err(AccountError::from)?;
    let user =
        accounts::create_account(&store.users, &hasher, account, Clock::system().now()).await?;
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
