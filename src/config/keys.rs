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
    /// How often an instance checks whether the key ring changed (one cheap query).
    #[serde(deserialize_with = "lifetime")]
    pub reload_interval: Duration,
    /// How long relying parties may cache the JWKS (its `Cache-Control: max-age`).
    #[serde(deserialize_with = "lifetime")]
    pub jwks_max_age: Duration,
    /// How long a new key is published before it signs.
    #[serde(deserialize_with = "lifetime")]
    pub publish_ahead: Duration,
    /// How often the signing key is replaced automatically.
    #[serde(deserialize_with = "lifetime")]
    pub rotate_every: Duration,
}

fn encryption_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EncryptionKey>, D::Error> {
    optional(d, EncryptionKey::try_from)
}
