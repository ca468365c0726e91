//! `[database]`: how Portcullis uses its database.

use serde::{Deserialize, Deserializer, de::Error as _};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// The most connections one instance keeps open; at least 1.
    #[serde(deserialize_with = "at_least_one")]
    pub max_connections: u32,
    /// How long a request waits for a database connection before it is answered 503.
    #[serde(deserialize_with = "super::values::lifetime")]
    pub acquire_timeout: std::time::Duration,
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        0 => Err(D::Error::custom("must be at least 1")),
        n => Ok(n),
    }
}
