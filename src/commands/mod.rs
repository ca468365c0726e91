//! What the CLI's commands do and what they print. `main.rs` only parses the command
//! line and calls the printing form (`client::add`, `user::add`, ...); tests and tools
//! call the forms that return data (`client_add`, `user_add`, ...).
//!
//! The printed text is a contract: scripts read it, so change it only on purpose.

pub mod backup;
pub mod client;
pub mod config;
pub mod health;
pub mod keys;
pub mod serve;
pub mod user;

use std::fmt;

use crate::{
    accounts::{AccountError, admin::AdminError, policy::PasswordRefusal},
    app::StartError,
    config::Config,
    crypto::KeyError,
    oidc::clients::RegistrationError,
    storage::{Db, StorageError, Store},
};

pub use backup::backup_to;
pub use client::{client_add, client_list};
pub use keys::{keys_list, keys_rotate, keys_rotate_now, keys_schedule};
pub use user::{user_add, user_list};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Account(#[from] AccountError),
    #[error("password refused: {0}")]
    PasswordRefused(PasswordRefusal),
    #[error("{0}")]
    Admin(#[from] AdminError),
    #[error("{0}")]
    Registration(#[from] RegistrationError),
    #[error("database: {0}")]
    Storage(#[from] StorageError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot read the password from standard input: {0}")]
    Stdin(std::io::Error),
    #[error("{0}")]
    Start(#[from] StartError),
    #[error("unhealthy: {0}")]
    Unhealthy(String),
}

impl CommandError {
    /// The process's exit code: 2 when the input was at fault (as for a bad setting or
    /// a bad command line), 1 when something else failed (the database, the host).
    pub fn exit_code(&self) -> u8 {
        let bad_input = match self {
            Self::Account(e) => matches!(e, AccountError::Invalid(_) | AccountError::Taken(_)),
            Self::Admin(e) => e.is_bad_input(),
            // Standard input that cannot be read is not UTF-8, or not there.
            Self::PasswordRefused(_) | Self::Registration(_) | Self::Usage(_) | Self::Stdin(_) => {
                true
            }
            Self::Storage(_) | Self::Keys(_) | Self::Start(_) | Self::Unhealthy(_) => false,
        };
        if bad_input { 2 } else { 1 }
    }
}

/// The one line a failed command leaves on standard error.
pub fn print_error(error: impl fmt::Display) {
    eprintln!("portcullis: {error}");
}

/// Connects and migrates: every command works on an up-to-date schema.
pub async fn open_store(config: &Config) -> Result<Store, CommandError> {
    let db = Db::connect_with(
        &config.database_url,
        config.database.max_connections,
        config.database.acquire_timeout,
    )
    .await?;
    db.migrate(crate::clock::Clock::system().now()).await?;
    Ok(Store::new(db))
}

/// `portcullis migrate`
pub async fn migrate(config: &Config) -> Result<(), CommandError> {
    open_store(config).await?;
    println!("migrations applied");
    Ok(())
}
