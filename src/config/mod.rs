//! Typed settings: `config/default.toml`, an optional file, then the environment,
//! validated once at start so the rest of the program only sees good values.
//!
//! Each value is checked as it is deserialized (the types in `values`, the rules beside
//! each section), so a bad one fails under the name of its setting.

mod accounts;
mod admin;
mod database;
mod http;
mod jobs;
mod keys;
mod log;
mod metrics;
mod redact;
pub mod reference;
mod registration;
mod security;
mod sessions;
mod tls;
mod tokens;
mod values;
mod webhooks;

use std::{net::SocketAddr, path::Path};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::{Deserialize, Deserializer, de::Error as _};

pub use self::{
    accounts::{AccountSettings, AuditSettings, MailSettings, Registration, RequireSecondFactor},
    admin::AdminSettings,
    database::DatabaseSettings,
    http::{ClientIpHeader, HttpSettings},
    jobs::JobSettings,
    keys::KeySettings,
    log::{LogFormat, LogSettings},
    metrics::MetricsSettings,
    registration::{RegistrationMode, RegistrationSettings},
    security::{RateLimit, RateLimitSettings, SecuritySettings},
    sessions::SessionSettings,
    tls::{TlsFiles, TlsSettings},
    tokens::TokenSettings,
    values::{DatabaseUrl, EncryptionKey, Issuer},
    webhooks::WebhookSettings,
};
pub use crate::crypto::Secret;

/// The defaults, compiled in so the binary runs from any folder.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// A setting that could not be used; `Display` is the one line printed at start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting `{key}`: {reason}")]
    Invalid { key: String, reason: String },
    #[error("cannot read config file {path}: {reason}")]
    File { path: String, reason: String },
}

/// The validated settings every part of Portcullis reads.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub issuer: Issuer,
    #[serde(deserialize_with = "bind")]
    pub bind: SocketAddr,
    pub database_url: DatabaseUrl,
    #[serde(default, deserialize_with = "smtp_url")]
    pub smtp_url: Option<Secret>,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub keys: KeySettings,
    pub tokens: TokenSettings,
    pub sessions: SessionSettings,
    pub security: SecuritySettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub tls: TlsSettings,
    pub accounts: AccountSettings,
    pub mail: MailSettings,
    pub audit: AuditSettings,
    pub jobs: JobSettings,
    pub admin: AdminSettings,
    pub registration: RegistrationSettings,
    pub webhooks: WebhookSettings,
    /// Top-level `PORTCULLIS_*` variables that are not settings (Kubernetes gives every
    /// pod `PORTCULLIS_PORT=tcp://…` and the like for a Service named portcullis): not
    /// refused, but named once in the log at start.
    #[serde(skip)]
    pub ignored_environment: Vec<String>,
}

fn bind<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let raw = String::deserialize(d)?;
    raw.parse()
        .map_err(|_| D::Error::custom(format!("`{raw}` is not an address like 127.0.0.1:8080")))
}

fn smtp_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    values::optional(d, values::smtp_url)
}

/// Environment variables with our prefix that are not settings.
const NOT_SETTINGS: &[&str] = &["test_database_url", "log"];

const PREFIX: &str = "PORTCULLIS_";

/// The settings that stand at the top level, outside any section.
const TOP_LEVEL: &[&str] = &["issuer", "bind", "database_url", "smtp_url"];

/// The `PORTCULLIS_*` variables among `names` that are neither a top-level setting nor
/// a `PORTCULLIS_<SECTION>__<KEY>` (which must be a real setting: a misspelt one is
/// still refused), nor one of ours that is not a setting.
fn ignored_environment(names: impl Iterator<Item = std::ffi::OsString>) -> Vec<String> {
    let mut out: Vec<String> = names
        // As figment reads them: a name that is not UTF-8 is not refused for it.
        .map(|n| n.to_string_lossy().into_owned())
        // Bytes, not `str` slicing: a name with a multi-byte character near the start
        // must not panic.
        .filter(|n| {
            n.len() > PREFIX.len()
                && n.as_bytes()[..PREFIX.len()].eq_ignore_ascii_case(PREFIX.as_bytes())
        })
        .filter(|n| {
            // The first PREFIX.len() bytes are ASCII, so this is a char boundary.
            let key = n.get(PREFIX.len()..).unwrap_or_default();
            !key.contains("__")
                && !TOP_LEVEL.iter().any(|t| key.eq_ignore_ascii_case(t))
                && !NOT_SETTINGS.iter().any(|t| key.eq_ignore_ascii_case(t))
        })
        .collect();
    out.sort();
    out
}

/// The defaults, `file`, then the environment, and the `PORTCULLIS_*` variables left
/// out because they are not settings.
fn layers(file: Option<&Path>) -> Result<(Figment, Vec<String>), ConfigError> {
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
    let ignored = ignored_environment(std::env::vars_os().map(|(k, _)| k));
    let skip = ignored.clone();
    figment = figment.merge(Env::prefixed(PREFIX).split("__").filter(move |k| {
        let key = k.as_str();
        !NOT_SETTINGS.iter().any(|n| key.eq_ignore_ascii_case(n))
            && !skip
                .iter()
                .any(|s| s[PREFIX.len()..].eq_ignore_ascii_case(key))
    }));
    Ok((figment, ignored))
}

impl Config {
    /// Loads the layers and validates them; `file` is `--config FILE`.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_effective(file).map(|(config, _)| config)
    }

    /// As `load`, with the merged layers as TOML, secrets redacted: what
    /// `portcullis config check` prints.
    pub fn load_effective(file: Option<&Path>) -> Result<(Self, String), ConfigError> {
        let (figment, ignored) = layers(file)?;
        let mut config = Self::from_figment(figment.clone())?;
        config.ignored_environment = ignored;
        let mut table: toml::Table = figment.extract().map_err(|e| ConfigError::Invalid {
            key: "config".to_owned(),
            reason: e.kind.to_string(),
        })?;
        redact::table(&mut table);
        let shown = toml::to_string(&table).map_err(|e| ConfigError::Invalid {
            key: "config".to_owned(),
            reason: e.to_string(),
        })?;
        Ok((config, shown))
    }

    /// The defaults with the given TOML overlaid; no file, no environment. For tests
    /// and tools that build a configuration in code.
    pub fn from_toml(overlay: &str) -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(DEFAULT_TOML)).merge(Toml::string(overlay)))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let mut config: Self = figment.extract().map_err(|e| ConfigError::Invalid {
            key: if e.path.is_empty() {
                "config".to_owned()
            } else {
                e.path.join(".")
            },
            reason: e.kind.to_string(),
        })?;
        config.tls.check()?;
        config
            .keys
            .check_timings()
            .map_err(|(key, reason)| ConfigError::Invalid {
                key: key.to_owned(),
                reason,
            })?;
        if config.tokens.access_token_audience.is_empty() {
            config.tokens.access_token_audience = config.issuer.as_str().to_owned();
        }
        Ok(config)
    }
}

impl Config {
    /// What an operator should look at twice, though it may be right: said in the log
    /// at start and by `portcullis config check`. Valid proxy setups are not refused.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let https = self.issuer.is_https();
        let tls = self.tls.files().is_some();
        if tls && !https {
            out.push(format!(
                "https is served (tls.cert_file), but the issuer {} is http: discovery, \
                 tokens and redirects name http URLs and cookies are not Secure; set \
                 issuer to the https URL people reach",
                self.issuer
            ));
        }
        if https && !tls && self.http.trusted_proxies.is_empty() {
            out.push(
                "the issuer is https but this instance serves plain http and trusts no \
                 proxy: if a proxy terminates TLS in front, set http.trusted_proxies to \
                 its address, or every client looks like the proxy to rate limits and the \
                 audit log"
                    .to_owned(),
            );
        }
        if !https && !self.issuer.is_loopback() {
            out.push(format!(
                "the issuer {} is http on a host other than this machine: use https in \
                 production (tls.cert_file, or a proxy that terminates TLS)",
                self.issuer
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
    fn a_bad_value_is_one_line_naming_its_setting() {
        let cases = [
            (
                r#"issuer = "https://id.example.com/?x=1""#,
                "invalid setting `issuer`: must not have a query or a fragment",
            ),
            (
                r#"bind = "everywhere""#,
                "invalid setting `bind`: `everywhere` is not an address like 127.0.0.1:8080",
            ),
            (
                r#"database_url = "mysql://db/x""#,
                "invalid setting `database_url`: unknown database scheme: use sqlite://PATH or postgres://…",
            ),
            (
                r#"smtp_url = "https://mail.example.com""#,
                "invalid setting `smtp_url`: must be an smtp:// or smtps:// URL",
            ),
            (
                "[database]\nmax_connections = 0",
                "invalid setting `database.max_connections`: must be at least 1",
            ),
            (
                "[jobs]\npurge_batch_size = 0",
                "invalid setting `jobs.purge_batch_size`: must be from 1 to 100000",
            ),
            (
                "[jobs]\npurge_batches_per_run = 5000",
                "invalid setting `jobs.purge_batches_per_run`: must be from 1 to 1000",
            ),
            (
                "[keys]\nencryption_key = \"c2hvcnQ=\"",
                "invalid setting `keys.encryption_key`: must decode to exactly 32 bytes (`openssl rand -base64 32`)",
            ),
            (
                "[keys]\nreload_interval = 0",
                "invalid setting `keys.reload_interval`: must be longer than zero",
            ),
            (
                "[keys]\npublish_ahead = \"5m\"",
                "invalid setting `keys.publish_ahead`: must be at least keys.jwks_max_age plus keys.reload_interval (5m 1s), or relying parties meet tokens signed by a key their cached JWKS lacks",
            ),
            (
                "[keys]\njwks_max_age = \"2h\"",
                "invalid setting `keys.publish_ahead`: must be at least keys.jwks_max_age plus keys.reload_interval (2h 1s), or relying parties meet tokens signed by a key their cached JWKS lacks",
            ),
            (
                "[keys]\nrotate_every = \"1h\"",
                "invalid setting `keys.rotate_every`: must be longer than keys.publish_ahead (1h)",
            ),
            (
                "[tokens]\ncode_ttl = \"11m\"",
                "invalid setting `tokens.code_ttl`: must be at most 10m (RFC 6749 section 4.1.2)",
            ),
            (
                "[tokens]\nrefresh_token_ttl = \"2years\"",
                "invalid setting `tokens.refresh_token_ttl`: must be at most a year",
            ),
            (
                "[sessions]\nttl = \"0s\"",
                "invalid setting `sessions.ttl`: must be longer than zero",
            ),
            (
                "[log]\nformat = \"xml\"",
                "invalid setting `log.format`: `xml` is neither \"text\" nor \"json\"",
            ),
        ];
        for (toml, expected) in cases {
            assert_eq!(error_of(toml), expected, "{toml}");
        }
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
    fn kubernetes_service_variables_are_not_settings() {
        let names = [
            "PORTCULLIS_PORT",
            "PORTCULLIS_SERVICE_HOST",
            "PORTCULLIS_PORT_8080_TCP_ADDR",
            "PORTCULLIS_ISSUER",
            "PORTCULLIS_TOKENS__CODE_TTL",
            "PORTCULLIS_TOKENS__CODE_TLL",
            "PORTCULLIS_TEST_DATABASE_URL",
            "HOME",
        ];
        let ignored = ignored_environment(names.iter().map(std::ffi::OsString::from));
        assert_eq!(
            ignored,
            vec![
                "PORTCULLIS_PORT",
                "PORTCULLIS_PORT_8080_TCP_ADDR",
                "PORTCULLIS_SERVICE_HOST"
            ],
            "settings, misspelt section keys and our own test variables are not ignored"
        );
    }

    #[test]
    fn odd_variable_names_are_ignored_without_a_panic() {
        use std::os::unix::ffi::OsStringExt;
        let names = vec![
            std::ffi::OsString::from("PORTCULLIé_X"),
            std::ffi::OsString::from("PORTCULLIS_é"),
            std::ffi::OsString::from("PORTCULLIS"),
            std::ffi::OsString::from_vec(b"PORTCULLIS_\xffX".to_vec()),
        ];
        let ignored = ignored_environment(names.into_iter());
        assert_eq!(ignored, vec!["PORTCULLIS_é", "PORTCULLIS_\u{fffd}X"]);
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn a_pod_environment_loads_and_names_each_variable_once() {
        figment::Jail::expect_with(|jail| {
            for (k, v) in [
                ("PORTCULLIS_PORT", "tcp://10.0.0.1:8080"),
                ("PORTCULLIS_PORT_8080_TCP_PROTO", "tcp"),
                ("PORTCULLIS_SERVICE_PORT_HTTP", "8080"),
                ("PORTCULLIS_METRICS_SERVICE_HOST", "10.0.0.2"),
                ("PORTCULLIS_DB_PORT", "tcp://10.0.0.3:5432"),
            ] {
                jail.set_env(k, v);
            }
            let c = Config::load(None).map_err(|e| e.to_string())?;
            for name in [
                "PORTCULLIS_PORT",
                "PORTCULLIS_PORT_8080_TCP_PROTO",
                "PORTCULLIS_SERVICE_PORT_HTTP",
                "PORTCULLIS_METRICS_SERVICE_HOST",
                "PORTCULLIS_DB_PORT",
            ] {
                let seen = c.ignored_environment.iter().filter(|n| *n == name).count();
                assert_eq!(seen, 1, "{name}: {:?}", c.ignored_environment);
            }
            jail.set_env("PORTCULLIS_TOKENS__ACESS_TOKEN_TTL", "15m");
            let e = Config::load(None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("acess_token_ttl"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn warnings_name_what_an_operator_should_look_at() {
        let quiet = Config::from_toml("").expect("defaults");
        assert!(quiet.warnings().is_empty(), "{:?}", quiet.warnings());
        let proxied = Config::from_toml(
            "issuer = \"https://id.example.com\"\n[http]\ntrusted_proxies = [\"10.0.0.0/8\"]",
        )
        .expect("loads");
        assert!(proxied.warnings().is_empty(), "a proxy setup is fine");
        let bare = Config::from_toml("issuer = \"https://id.example.com\"").expect("loads");
        assert!(bare.warnings()[0].contains("trusts no proxy"));
        let tls_http = Config::from_toml(
            "issuer = \"http://id.example.com\"\n[tls]\ncert_file = \"/c\"\nkey_file = \"/k\"",
        )
        .expect("loads");
        let w = tls_http.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("https is served"), "{w:?}");
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
    fn empty_optional_settings_are_unset() {
        let c = Config::from_toml(
            "smtp_url = \"\"\n[keys]\nencryption_key = \"\"\n[tokens]\naccess_token_audience = \"\"",
        )
        .expect("loads");
        assert!(c.smtp_url.is_none());
        assert!(c.keys.encryption_key.is_none());
        assert_eq!(c.tokens.access_token_audience, "http://127.0.0.1:8080");
        let c = Config::from_toml("[tokens]\naccess_token_audience = \"https://api.example.com\"")
            .expect("loads");
        assert_eq!(c.tokens.access_token_audience, "https://api.example.com");
    }

    #[test]
    fn zero_password_hash_concurrency_means_one_per_core() {
        let c = Config::from_toml("").expect("loads");
        assert!(c.security.password_hash_concurrency >= 1);
        let c = Config::from_toml("[security]\npassword_hash_concurrency = 3").expect("loads");
        assert_eq!(c.security.password_hash_concurrency, 3);
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
        let c = Config::from_toml(
            "database_url = \"postgres://u:hunter2@db/x\"\nsmtp_url = \"smtps://u:hunter2@mail.example.com\"",
        )
        .expect("loads");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
