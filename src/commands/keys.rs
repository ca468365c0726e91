//! `portcullis keys ...`: the signing keys.

use super::{CommandError, open_store};
use crate::{clock::Clock, config::Config, crypto};

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

/// `portcullis keys rotate`, as the CLI runs it.
pub async fn rotate(config: &Config) -> Result<(), CommandError> {
    let kid = keys_rotate(config).await?;
    println!(
        "new signing key {kid}; running servers use it within {}",
        humantime::format_duration(config.keys.reload_interval)
    );
    Ok(())
}
