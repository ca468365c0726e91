//! `[admin]`: the admin console at `/admin` and the admin API at `/admin/api/v1`.

use std::time::Duration;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Sensitive actions (rotating a secret, deleting, changing roles) need a sign-in
    /// at most this old; an older one signs in again first.
    #[serde(deserialize_with = "super::values::lifetime")]
    pub reauth_after: Duration,
}
