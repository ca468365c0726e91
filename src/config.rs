//! Typed settings: `config/default.toml`, an optional file, then the environment,
//! validated once at start so the rest of the program only sees good values.

use std::{fmt, net::SocketAddr, path::Path, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;
use url::Url;

/// The defaults, compiled in so the binary runs from any folder.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// A setting that could not be used; `Display` is the one line printed at start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting `{key}`: {reason}")]
    Invalid { key: String, reason: String },
    #[error("cannot read config file {path}: {reason}")]
    File { path: String, reason: String },
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// The validated settings every part of Portcullis reads.
#[derive(Clone, Debug)]
pub struct Config {
    pub issuer: Issuer,
    pub bind: SocketAddr,
    pub database_url: DatabaseUrl,
    pub smtp_url: Option<Secret>,
    pub database: DatabaseSettings,
    pub keys: KeySettings,
    pub tokens: TokenSettings,
    pub sessions: SessionSettings,
    pub security: SecuritySettings,
    pub log: LogSettings,
}

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    pub max_connections: u32,
}

#[derive(Clone, Debug)]
pub struct KeySettings {
    /// AES-256 key for private keys at rest.
    pub encryption_key: Option<EncryptionKey>,
    pub reload_interval: Duration,
}

#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub code_ttl: Duration,
    pub access_token_ttl: Duration,
    pub id_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
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

#[derive(Clone, Debug)]
pub struct SessionSettings {
    pub ttl: Duration,
}

#[derive(Clone, Debug)]
pub struct SecuritySettings {
    pub password_hash_concurrency: usize,
    pub password_hash_queue: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

/// The issuer identifier: an absolute http(s) URL without query or fragment, kept
/// without a trailing slash so endpoint URLs are `issuer + path`.
#[derive(Clone, Debug, PartialEq, Eq)]
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

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The absolute URL of an endpoint of ours.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which database engine a URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// A string that never prints itself: database URLs with passwords, SMTP credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// 32 bytes for AES-256-GCM.
#[derive(Clone)]
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

/// A lifetime as written by people ("30m", "7d") or as seconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawLifetime {
    Seconds(u64),
    Text(String),
}

fn lifetime(key: &str, raw: RawLifetime) -> Result<Duration, ConfigError> {
    let d = match raw {
        RawLifetime::Seconds(s) => Duration::from_secs(s),
        RawLifetime::Text(t) => humantime::parse_duration(t.trim()).map_err(|e| {
            invalid(
                key,
                format!("`{t}` is not a lifetime like 60s, 30m, 12h or 7d ({e})"),
            )
        })?,
    };
    if d.is_zero() {
        return Err(invalid(key, "must be longer than zero"));
    }
    if d > Duration::from_secs(366 * 24 * 3600) {
        return Err(invalid(key, "must be at most a year"));
    }
    Ok(d)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    issuer: String,
    bind: String,
    database_url: String,
    smtp_url: Option<String>,
    database: RawDatabase,
    keys: RawKeys,
    tokens: RawTokens,
    sessions: RawSessions,
    security: RawSecurity,
    log: RawLog,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    max_connections: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    encryption_key: Option<String>,
    reload_interval: RawLifetime,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    code_ttl: RawLifetime,
    access_token_ttl: RawLifetime,
    id_token_ttl: RawLifetime,
    refresh_token_ttl: RawLifetime,
    access_token_audience: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSessions {
    ttl: RawLifetime,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    password_hash_concurrency: usize,
    password_hash_queue: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: String,
    filter: String,
}

/// Environment variables with our prefix that are not settings.
const NOT_SETTINGS: &[&str] = &["test_database_url", "log"];

impl Config {
    /// Loads the layers and validates them; `file` is `--config FILE`.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::File {
                    path: path.display().to_string(),
                    reason: "no such file".into(),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("PORTCULLIS_").split("__").filter(|k| {
            !NOT_SETTINGS
                .iter()
                .any(|n| k.as_str().eq_ignore_ascii_case(n))
        }));
        Self::from_figment(figment)
    }

    /// The defaults with the given TOML overlaid; no file, no environment. For tests
    /// and tools that build a configuration in code.
    pub fn from_toml(overlay: &str) -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string(overlay)))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let raw: Raw = figment.extract().map_err(|e| {
            let key = if e.path.is_empty() {
                "config".to_owned()
            } else {
                e.path.join(".")
            };
            invalid(&key, e.kind.to_string())
        })?;
        Self::validate(raw)
    }

    fn validate(raw: Raw) -> Result<Self, ConfigError> {
        let issuer = Issuer::parse(&raw.issuer).map_err(|r| invalid("issuer", r))?;
        let bind = raw.bind.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "bind",
                format!("`{}` is not an address like 127.0.0.1:8080", raw.bind),
            )
        })?;
        let database_url =
            DatabaseUrl::parse(&raw.database_url).map_err(|r| invalid("database_url", r))?;
        let smtp_url = match raw.smtp_url.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let url = Url::parse(&s).map_err(|e| invalid("smtp_url", e.to_string()))?;
                if url.scheme() != "smtp" && url.scheme() != "smtps" {
                    return Err(invalid("smtp_url", "must be an smtp:// or smtps:// URL"));
                }
                Some(Secret::new(s))
            }
        };
        if raw.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        let encryption_key = match raw.keys.encryption_key.filter(|s| !s.is_empty()) {
            None => None,
            Some(k) => {
                Some(EncryptionKey::parse(&k).map_err(|r| invalid("keys.encryption_key", r))?)
            }
        };
        let tokens = TokenSettings {
            code_ttl: lifetime("tokens.code_ttl", raw.tokens.code_ttl)?,
            access_token_ttl: lifetime("tokens.access_token_ttl", raw.tokens.access_token_ttl)?,
            id_token_ttl: lifetime("tokens.id_token_ttl", raw.tokens.id_token_ttl)?,
            refresh_token_ttl: lifetime("tokens.refresh_token_ttl", raw.tokens.refresh_token_ttl)?,
            access_token_audience: raw
                .tokens
                .access_token_audience
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| issuer.as_str().to_owned()),
        };
        if tokens.code_ttl > Duration::from_secs(600) {
            return Err(invalid(
                "tokens.code_ttl",
                "must be at most 10m (RFC 6749 section 4.1.2)",
            ));
        }
        let format = match raw.log.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "log.format",
                    format!("`{other}` is neither \"text\" nor \"json\""),
                ));
            }
        };
        let password_hash_concurrency = match raw.security.password_hash_concurrency {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        Ok(Self {
            issuer,
            bind,
            database_url,
            smtp_url,
            database: DatabaseSettings {
                max_connections: raw.database.max_connections,
            },
            keys: KeySettings {
                encryption_key,
                reload_interval: lifetime("keys.reload_interval", raw.keys.reload_interval)?,
            },
            tokens,
            sessions: SessionSettings {
                ttl: lifetime("sessions.ttl", raw.sessions.ttl)?,
            },
            security: SecuritySettings {
                password_hash_concurrency,
                password_hash_queue: raw.security.password_hash_queue,
            },
            log: LogSettings {
                format,
                filter: raw.log.filter,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(toml: &str) -> String {
        match Config::from_toml(toml) {
            Ok(_) => String::from("no error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        let c = Config::from_toml("").expect("defaults load");
        assert_eq!(c.issuer.as_str(), "http://127.0.0.1:8080");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.tokens.code_ttl, Duration::from_secs(60));
        assert_eq!(c.tokens.access_token_ttl, Duration::from_secs(1800));
        assert_eq!(c.tokens.refresh_token_ttl, Duration::from_secs(7 * 86400));
        assert_eq!(c.tokens.access_token_audience, "http://127.0.0.1:8080");
        assert!(matches!(c.database_url, DatabaseUrl::Sqlite(_)));
    }

    #[test]
    fn an_issuer_with_a_query_or_fragment_is_refused() {
        assert!(error_of(r#"issuer = "https://id.example.com/?x=1""#).contains("`issuer`"));
        assert!(error_of(r#"issuer = "https://id.example.com/#f""#).contains("`issuer`"));
        assert!(error_of(r#"issuer = "id.example.com""#).contains("`issuer`"));
        assert!(error_of(r#"issuer = "ftp://id.example.com""#).contains("`issuer`"));
    }

    #[test]
    fn an_issuer_keeps_its_path_without_a_trailing_slash() {
        let c = Config::from_toml(r#"issuer = "https://example.com/auth/""#).expect("loads");
        assert_eq!(c.issuer.as_str(), "https://example.com/auth");
        assert_eq!(
            c.issuer.endpoint("/token"),
            "https://example.com/auth/token"
        );
        assert!(c.issuer.is_https());
    }

    #[test]
    fn an_unknown_database_scheme_is_refused() {
        let e = error_of(r#"database_url = "mysql://localhost/x""#);
        assert!(
            e.contains("`database_url`") && e.contains("unknown database scheme"),
            "{e}"
        );
    }

    #[test]
    fn an_unparsable_lifetime_names_the_setting() {
        let e = error_of("[tokens]\naccess_token_ttl = \"soon\"");
        assert!(e.contains("`tokens.access_token_ttl`"), "{e}");
        let e = error_of("[tokens]\ncode_ttl = \"0s\"");
        assert!(e.contains("`tokens.code_ttl`"), "{e}");
    }

    #[test]
    fn lifetimes_may_be_plain_seconds() {
        let c = Config::from_toml("[tokens]\naccess_token_ttl = 90").expect("loads");
        assert_eq!(c.tokens.access_token_ttl, Duration::from_secs(90));
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let e = error_of("[tokens]\naccess_ttl = \"5m\"");
        assert!(e.contains("access_ttl"), "{e}");
    }

    #[test]
    fn an_encryption_key_must_be_32_bytes_of_base64() {
        assert!(error_of("[keys]\nencryption_key = \"short\"").contains("`keys.encryption_key`"));
        let ok = "[keys]\nencryption_key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"";
        assert!(Config::from_toml(ok).is_ok());
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn the_environment_overrides_and_test_variables_are_not_settings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PORTCULLIS_TEST_DATABASE_URL", "postgres://x/y");
            jail.set_env("PORTCULLIS_ISSUER", "https://id.example.com");
            jail.set_env("PORTCULLIS_TOKENS__ACCESS_TOKEN_TTL", "15m");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.issuer.as_str(), "https://id.example.com");
            assert_eq!(c.tokens.access_token_ttl, Duration::from_secs(900));
            jail.set_env("PORTCULLIS_TOKENS__NOPE", "1");
            let e = Config::load(None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("nope"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Config::from_toml(r#"database_url = "postgres://u:hunter2@db/x""#).expect("loads");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
