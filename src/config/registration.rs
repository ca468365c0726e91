//! `[registration]`: dynamic client registration (RFC 7591, RFC 7592) and Client ID
//! Metadata Documents.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

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
    /// The grant types a self-registered client may ask for.
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    /// The scopes a self-registered client may get; it asks for a subset with `scope`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The `token_endpoint_auth_method` values a self-registered client may choose.
    #[serde(default = "default_auth_methods")]
    pub token_endpoint_auth_methods: Vec<String>,
    /// How long a self-registered client's secret lives (`client_secret_expires_at`);
    /// `None` (written 0) for never.
    #[serde(
        default = "default_secret_lifetime",
        deserialize_with = "secret_lifetime"
    )]
    pub client_secret_lifetime: Option<Duration>,
}

fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".into(), "refresh_token".into()]
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}

fn default_auth_methods() -> Vec<String> {
    vec![
        "none".into(),
        "client_secret_basic".into(),
        "client_secret_post".into(),
    ]
}

fn default_secret_lifetime() -> Option<Duration> {
    None
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSecretLifetime {
    Seconds(u64),
    Text(String),
}

/// 0 (or "0") is never; else a lifetime like "90d", at most ten years.
fn secret_lifetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let lifetime = match RawSecretLifetime::deserialize(d)? {
        RawSecretLifetime::Seconds(s) => Duration::from_secs(s),
        RawSecretLifetime::Text(t) if t.trim() == "0" => Duration::ZERO,
        RawSecretLifetime::Text(t) => humantime::parse_duration(t.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{t}` is not a lifetime like 90d, or 0 for never ({e})"
            ))
        })?,
    };
    if lifetime > Duration::from_secs(3653 * 24 * 3600) {
        return Err(serde::de::Error::custom("must be at most ten years"));
    }
    Ok((!lifetime.is_zero()).then_some(lifetime))
}
