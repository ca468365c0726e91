//! `[webhooks]`: delivering audit events to the endpoints admins register.

use std::time::Duration;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// How long one delivery attempt may take before it counts as failed.
    #[serde(deserialize_with = "super::values::lifetime")]
    pub timeout: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
}
