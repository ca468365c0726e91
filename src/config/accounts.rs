//! `[accounts]`: who may sign up, the password policy, and how long mailed links live;
//! `[mail]`: who mail comes from and where it goes without SMTP; `[audit]`: how long
//! security events are kept.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Deserializer, de::Error as _};

use super::values::{lifetime, retention};

/// Whether people may create their own accounts at `/register`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    Open,
    Closed,
}

/// Who must pass a second factor at sign-in, whatever the app (a client can ask for it
/// too, with its own flag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequireSecondFactor {
    #[default]
    Never,
    /// People whose roles include "admin".
    Admins,
    Everyone,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    pub registration: Registration,
    /// Lower-case domains (IDNA A-labels) an address must be at; empty: any.
    #[serde(deserialize_with = "domains")]
    pub allowed_email_domains: Vec<String>,
    pub require_verified_email: bool,
    #[serde(deserialize_with = "min_length")]
    pub password_min_length: usize,
    #[serde(deserialize_with = "min_score")]
    pub password_min_score: u8,
    #[serde(deserialize_with = "lifetime")]
    pub verification_ttl: Duration,
    #[serde(deserialize_with = "lifetime")]
    pub reset_ttl: Duration,
    #[serde(default)]
    pub require_second_factor: RequireSecondFactor,
}

impl AccountSettings {
    /// Whether an address at `domain` (already IDNA-mapped, lower case) may register.
    pub fn allows_domain(&self, domain: &str) -> bool {
        self.allowed_email_domains.is_empty()
            || self.allowed_email_domains.iter().any(|d| d == domain)
    }
}

impl AccountSettings {
    /// What a form says to an address at another domain: the allowed ones, readable.
    pub fn domain_refusal(&self) -> String {
        let allowed: Vec<String> = self
            .allowed_email_domains
            .iter()
            .map(|d| idna::domain_to_unicode(d).0)
            .collect();
        format!("Use an address at {}.", allowed.join(" or "))
    }
}

fn domains<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.into_iter()
        .map(|name| {
            let trimmed = name.trim().trim_start_matches('@');
            match idna::domain_to_ascii(trimmed) {
                Ok(ascii) if !ascii.is_empty() && ascii.contains('.') => Ok(ascii),
                _ => Err(D::Error::custom(format!(
                    "`{name}` is not a domain like example.com"
                ))),
            }
        })
        .collect()
}

fn min_length<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    // NIST SP 800-63B section 3.1.1.2: at least 8; at most what we accept at all.
    if !(8..=64).contains(&n) {
        return Err(D::Error::custom(format!(
            "{n} is outside 8..=64 (NIST SP 800-63B asks for at least 8)"
        )));
    }
    Ok(n)
}

fn min_score<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let n = u8::deserialize(d)?;
    if n > 4 {
        return Err(D::Error::custom(format!(
            "{n} is not a zxcvbn score (0 to 4)"
        )));
    }
    Ok(n)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `Display Name <address@example.com>`, checked at start.
    #[serde(deserialize_with = "mailbox")]
    pub from: String,
    /// Where messages are written as `.eml` files when no SMTP server is configured.
    pub outbox_dir: PathBuf,
}

fn mailbox<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    let ok = raw
        .rsplit_once('<')
        .and_then(|(_, rest)| rest.strip_suffix('>'))
        .or(Some(raw.as_str()))
        .is_some_and(|addr| {
            addr.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !addr.contains(' '))
        });
    if !ok || raw.chars().any(char::is_control) {
        return Err(D::Error::custom(format!(
            "`{raw}` is not an address like \"Portcullis <no-reply@example.com>\""
        )));
    }
    Ok(raw)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// How long security events are kept before the background job deletes them.
    #[serde(deserialize_with = "retention")]
    pub retention: Duration,
}
