//! `[sessions]`: browser sessions at Portcullis itself.

use std::time::Duration;

use serde::Deserialize;

use super::values::lifetime;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    #[serde(deserialize_with = "lifetime")]
    pub ttl: Duration,
}
