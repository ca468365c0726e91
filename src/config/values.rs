//! The checked types settings are read into. Each is parsed once, while the settings
//! are deserialized: a bad value fails there, under the name of its setting.

use std::{fmt, time::Duration};

use serde::{Deserialize, Deserializer, de::Error as _};
use url::Url;

use crate::crypto::Secret;

/// The issuer identifier: an absolute http(s) URL without query or fragment, kept
/// without a trailing slash so endpoint URLs are `issuer + path`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|e| format!("not an absolute URL ({e})"))?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err("must be an http or https URL".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or a fragment".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        if raw.contains('?') || raw.contains('#') {
            return Err("must not have a query or a fragment".into());
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host people know this service by (`id.example.com`), for mail and pages.
    pub fn host(&self) -> String {
        url::Url::parse(&self.0)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(match u.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                })
            })
            .unwrap_or_else(|| self.0.clone())
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// Whether the issuer names this machine (localhost, 127.0.0.0/8, ::1): a
    /// developer's setup, where plain http is expected.
    pub fn is_loopback(&self) -> bool {
        match url::Url::parse(&self.0)
            .ok()
            .and_then(|u| u.host().map(|h| h.to_owned()))
        {
            Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
    }

    /// The absolute URL of an endpoint of ours.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl TryFrom<String> for Issuer {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which database engine a URL names.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum DatabaseUrl {
    Sqlite(Secret),
    Postgres(Secret),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.starts_with("sqlite:") {
            Ok(Self::Sqlite(Secret::new(raw)))
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Url::parse(raw).map_err(|e| format!("not a valid postgres URL ({e})"))?;
            Ok(Self::Postgres(Secret::new(raw)))
        } else {
            Err("unknown database scheme: use sqlite://PATH or postgres://…".into())
        }
    }

    pub fn expose(&self) -> &str {
        match self {
            Self::Sqlite(s) | Self::Postgres(s) => s.expose(),
        }
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

/// 32 bytes for AES-256-GCM.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct EncryptionKey(pub [u8; 32]);

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

impl EncryptionKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw.trim())
            .map_err(|_| "must be base64 (try `openssl rand -base64 32`)".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "must decode to exactly 32 bytes (`openssl rand -base64 32`)")?;
        Ok(Self(key))
    }
}

impl TryFrom<String> for EncryptionKey {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

/// An outgoing mail server: an smtp:// or smtps:// URL, which may hold a password.
pub(super) fn smtp_url(raw: String) -> Result<Secret, String> {
    let url = Url::parse(&raw).map_err(|e| e.to_string())?;
    if url.scheme() != "smtp" && url.scheme() != "smtps" {
        return Err("must be an smtp:// or smtps:// URL".into());
    }
    crate::mail::SmtpUrl::check(&raw)?;
    Ok(Secret::new(raw))
}

/// A lifetime as written by people ("30m", "7d") or as seconds: longer than zero and
/// at most a year.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawLifetime")]
pub(super) struct Lifetime(Duration);

#[derive(Deserialize)]
#[serde(untagged)]
enum RawLifetime {
    Seconds(u64),
    Text(String),
}

impl TryFrom<RawLifetime> for Lifetime {
    type Error = String;
    fn try_from(raw: RawLifetime) -> Result<Self, String> {
        bounded(raw, 366, "a year").map(Self)
    }
}

/// A lifetime longer than zero and at most `max_days`.
fn bounded(raw: RawLifetime, max_days: u64, max_words: &str) -> Result<Duration, String> {
    {
        let d = match raw {
            RawLifetime::Seconds(s) => Duration::from_secs(s),
            RawLifetime::Text(t) => humantime::parse_duration(t.trim())
                .map_err(|e| format!("`{t}` is not a lifetime like 60s, 30m, 12h or 7d ({e})"))?,
        };
        if d.is_zero() {
            return Err("must be longer than zero".into());
        }
        if d > Duration::from_secs(max_days * 24 * 3600) {
            return Err(format!("must be at most {max_words}"));
        }
        Ok(d)
    }
}

/// For `#[serde(deserialize_with)]`: a `Duration` field read as a `Lifetime`.
pub(super) fn lifetime<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Lifetime::deserialize(d).map(|l| l.0)
}

/// For `#[serde(deserialize_with)]`: a `Duration` of at most ten years, for how long
/// records are kept.
pub(super) fn retention<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    bounded(RawLifetime::deserialize(d)?, 3653, "ten years").map_err(serde::de::Error::custom)
}

/// A setting that may be left out or set to "" to mean unset; otherwise `parse` checks it.
pub(super) fn optional<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl FnOnce(String) -> Result<T, String>,
) -> Result<Option<T>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(raw) if !raw.is_empty() => parse(raw).map(Some).map_err(D::Error::custom),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifetime_of(raw: RawLifetime) -> Result<Duration, String> {
        Lifetime::try_from(raw).map(|l| l.0)
    }

    #[test]
    fn an_issuer_with_a_query_is_refused() {
        let e = Issuer::try_from("https://id.example.com/?x=1".to_owned());
        assert_eq!(e, Err("must not have a query or a fragment".into()));
    }

    #[test]
    fn an_issuer_with_an_empty_query_or_fragment_is_refused() {
        for raw in ["https://id.example.com/?", "https://id.example.com/#"] {
            let e = Issuer::try_from(raw.to_owned());
            assert_eq!(
                e,
                Err("must not have a query or a fragment".into()),
                "{raw}"
            );
        }
    }

    #[test]
    fn an_issuer_with_a_fragment_is_refused() {
        let e = Issuer::try_from("https://id.example.com/#f".to_owned());
        assert_eq!(e, Err("must not have a query or a fragment".into()));
    }

    #[test]
    fn an_issuer_must_be_an_absolute_http_url() {
        let e = Issuer::try_from("id.example.com".to_owned()).unwrap_err();
        assert!(e.starts_with("not an absolute URL"), "{e}");
        let e = Issuer::try_from("ftp://id.example.com".to_owned());
        assert_eq!(e, Err("must be an http or https URL".into()));
    }

    #[test]
    fn an_issuer_with_credentials_is_refused() {
        let e = Issuer::try_from("https://u:p@id.example.com".to_owned());
        assert_eq!(e, Err("must not carry credentials".into()));
    }

    #[test]
    fn an_issuer_loses_its_trailing_slash() {
        let i = Issuer::try_from("https://example.com/".to_owned()).expect("valid");
        assert_eq!(i.as_str(), "https://example.com");
        assert_eq!(i.to_string(), "https://example.com");
    }

    #[test]
    fn a_database_url_names_its_engine() {
        let sqlite = DatabaseUrl::try_from("sqlite://data/x.db".to_owned()).expect("sqlite");
        assert!(matches!(sqlite, DatabaseUrl::Sqlite(_)));
        assert_eq!(sqlite.expose(), "sqlite://data/x.db");
        for raw in ["postgres://u:p@db/x", "postgresql://db/x"] {
            let pg = DatabaseUrl::try_from(raw.to_owned()).expect("postgres");
            assert!(matches!(pg, DatabaseUrl::Postgres(_)), "{raw}");
        }
    }

    #[test]
    fn a_database_url_of_another_engine_is_refused() {
        let e = DatabaseUrl::try_from("mysql://localhost/x".to_owned()).unwrap_err();
        assert!(e.starts_with("unknown database scheme"), "{e}");
    }

    #[test]
    fn a_database_url_keeps_its_password_out_of_debug_output() {
        let url = DatabaseUrl::try_from("postgres://u:hunter2@db/x".to_owned()).expect("valid");
        assert_eq!(format!("{url:?}"), "Postgres([redacted])");
    }

    #[test]
    fn an_encryption_key_must_be_base64_of_32_bytes() {
        let e = EncryptionKey::try_from("not base64!".to_owned()).unwrap_err();
        assert!(e.starts_with("must be base64"), "{e}");
        let e = EncryptionKey::try_from("c2hvcnQ=".to_owned()).unwrap_err();
        assert!(e.starts_with("must decode to exactly 32 bytes"), "{e}");
        let key = EncryptionKey::try_from(format!(" {}\n", "A".repeat(43) + "=")).expect("ok");
        assert_eq!(key.0, [0; 32]);
        assert_eq!(format!("{key:?}"), "EncryptionKey([redacted])");
    }

    #[test]
    fn an_smtp_url_must_be_smtp_or_smtps() {
        assert!(smtp_url("smtps://u:p@mail.example.com".into()).is_ok());
        let e = smtp_url("https://mail.example.com".into());
        assert_eq!(e, Err("must be an smtp:// or smtps:// URL".into()));
        assert!(smtp_url("mail.example.com".into()).is_err());
        let e = smtp_url("smtp://u:hunter2@mail.example.com?tls=bogus".into()).unwrap_err();
        assert!(e.contains("tls=bogus") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn a_lifetime_is_read_from_text_or_seconds() {
        let text = lifetime_of(RawLifetime::Text(" 30m ".into()));
        assert_eq!(text, Ok(Duration::from_secs(1800)));
        assert_eq!(
            lifetime_of(RawLifetime::Seconds(90)),
            Ok(Duration::from_secs(90))
        );
    }

    #[test]
    fn a_lifetime_that_is_not_one_is_refused() {
        let e = lifetime_of(RawLifetime::Text("soon".into())).unwrap_err();
        assert!(e.starts_with("`soon` is not a lifetime like 60s"), "{e}");
    }

    #[test]
    fn a_zero_lifetime_is_refused() {
        let e = lifetime_of(RawLifetime::Seconds(0));
        assert_eq!(e, Err("must be longer than zero".into()));
        let e = lifetime_of(RawLifetime::Text("0s".into()));
        assert_eq!(e, Err("must be longer than zero".into()));
    }

    #[test]
    fn a_lifetime_longer_than_a_year_is_refused() {
        assert!(lifetime_of(RawLifetime::Text("366d".into())).is_ok());
        let e = lifetime_of(RawLifetime::Text("367d".into()));
        assert_eq!(e, Err("must be at most a year".into()));
    }
}
