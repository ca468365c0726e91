//! What the CLI's commands do, apart from parsing arguments and printing: `main.rs`
//! calls these, and tests can too.

use crate::{
    accounts::{self, AccountError, NewAccount},
    clock::Clock,
    config::Config,
    crypto::{self, KeyError, PasswordHasher},
    oidc::clients::{ClientRegistration, RegistrationError},
    storage::{Db, StorageError, Store, StoredClient, StoredUser},
};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Account(#[from] AccountError),
    #[error("{0}")]
    Registration(#[from] RegistrationError),
    #[error("database: {0}")]
    Storage(#[from] StorageError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("{0}")]
    Usage(String),
}

/// Connects and migrates: every command works on an up-to-date schema.
pub async fn open_store(config: &Config) -> Result<Store, CommandError> {
    let db = Db::connect(&config.database_url, config.database.max_connections).await?;
    db.migrate().await?;
    Ok(Store::new(db))
}

/// `portcullis user add`
pub async fn user_add(
    config: &Config,
    username: &str,
    email: &str,
    password: String,
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

/// `portcullis client add`: the stored client and its secret, shown this once.
pub async fn client_add(
    config: &Config,
    registration: ClientRegistration,
) -> Result<(StoredClient, Option<String>), CommandError> {
    let registered = registration.register()?;
    let store = open_store(config).await?;
    let client = store
        .clients
        .insert(registered.client, Clock::system().now())
        .await?;
    store.db.close().await;
    Ok((client, registered.secret))
}

/// `portcullis client list`
pub async fn client_list(config: &Config) -> Result<Vec<StoredClient>, CommandError> {
    let store = open_store(config).await?;
    let clients = store.clients.list().await?;
    store.db.close().await;
    Ok(clients)
}

/// `portcullis keys rotate`: the new signing key's `kid`. Running servers pick it up
/// within `keys.reload_interval`.
pub async fn keys_rotate(config: &Config) -> Result<String, CommandError> {
    let store = open_store(config).await?;
    let kid = crypto::keys::rotate(
        &store.keys,
        config.keys.encryption_key.as_ref(),
        config.tokens.longest_token_ttl(),
        Clock::system().now(),
    )
    .await?;
    store.db.close().await;
    Ok(kid)
}
