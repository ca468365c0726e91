//! `[sessions]`: browser sessions at Portcullis itself.

use std::time::Duration;

use serde::Deserialize;

use super::values::lifetime;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// How long a signed-in session lasts without being used.
    #[serde(deserialize_with = "lifetime")]
    pub ttl: Duration,
    /// How long a sign-in lasts at most, however active: counted from the sign-in.
    #[serde(deserialize_with = "lifetime")]
    pub absolute_ttl: Duration,
    /// How long a session that no one has signed in to is kept: a pending sign-in from
    /// an app, or a password waiting for its second factor.
    #[serde(deserialize_with = "lifetime")]
    pub anonymous_ttl: Duration,
}
