//! `[keys]`: the signing keys at rest and how often instances reload them.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::values::{EncryptionKey, lifetime, optional};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// AES-256 key for private keys at rest.
    #[serde(default, deserialize_with = "encryption_key")]
    pub encryption_key: Option<EncryptionKey>,
    #[serde(deserialize_with = "lifetime")]
    pub reload_interval: Duration,
}

fn encryption_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EncryptionKey>, D::Error> {
    optional(d, EncryptionKey::try_from)
}
