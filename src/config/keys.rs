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

impl KeySettings {
    /// The rules between the timings, which no single value can check: a new key must
    /// be published long enough before it signs for every relying party's cached JWKS
    /// (`jwks_max_age`) and every instance (`reload_interval`) to have it, and a key must
    /// sign longer than that lead. `Err((setting, reason))`.
    pub(super) fn check_timings(&self) -> Result<(), (&'static str, String)> {
        let words = |d: Duration| humantime::format_duration(d).to_string();
        let lead = self.jwks_max_age + self.reload_interval;
        if self.publish_ahead < lead {
            return Err((
                "keys.publish_ahead",
                format!(
                    "must be at least keys.jwks_max_age plus keys.reload_interval ({}), or relying parties meet tokens signed by a key their cached JWKS lacks",
                    words(lead)
                ),
            ));
        }
        if self.rotate_every <= self.publish_ahead {
            return Err((
                "keys.rotate_every",
                format!(
                    "must be longer than keys.publish_ahead ({})",
                    words(self.publish_ahead)
                ),
            ));
        }
        Ok(())
    }
}

fn encryption_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EncryptionKey>, D::Error> {
    optional(d, EncryptionKey::try_from)
}
