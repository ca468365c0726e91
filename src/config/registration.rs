//! `[registration]`: dynamic client registration (RFC 7591, RFC 7592) and Client ID
//! Metadata Documents.

use serde::Deserialize;

/// Who may register a client at the registration endpoint.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    /// No registration endpoint: admins register clients.
    Closed,
    /// A registration request must carry an initial access token (RFC 7591 section 3).
    InitialToken,
    /// Anyone may register, within the policy.
    Open,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSettings {
    pub mode: RegistrationMode,
    /// Hosts a Client ID Metadata Document may be fetched from even though they resolve
    /// to a private, loopback or link-local address.
    #[serde(default)]
    pub cimd_allow_hosts: Vec<String>,
}
