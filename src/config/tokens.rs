//! `[tokens]`: the lifetimes of codes and tokens, and the audience of access tokens.

use std::time::Duration;

use serde::{Deserialize, Deserializer, de::Error as _};

use super::values::lifetime;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    #[serde(deserialize_with = "code_ttl")]
    pub code_ttl: Duration,
    #[serde(deserialize_with = "lifetime")]
    pub access_token_ttl: Duration,
    #[serde(deserialize_with = "lifetime")]
    pub id_token_ttl: Duration,
    #[serde(deserialize_with = "lifetime")]
    pub refresh_token_ttl: Duration,
    /// Left out or "": `Config` sets it to the issuer once it knows it.
    #[serde(default)]
    pub access_token_audience: String,
}

impl TokenSettings {
    /// How long a retired signing key must stay published: the longest a token it
    /// signed can live.
    pub fn longest_token_ttl(&self) -> Duration {
        self.access_token_ttl
            .max(self.id_token_ttl)
            .max(self.refresh_token_ttl)
    }
}

fn code_ttl<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let ttl = lifetime(d)?;
    if ttl > Duration::from_secs(600) {
        return Err(D::Error::custom(
            "must be at most 10m (RFC 6749 section 4.1.2)",
        ));
    }
    Ok(ttl)
}
