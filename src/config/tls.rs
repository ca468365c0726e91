//! `[tls]`: serving https directly, without a proxy in front.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The certificate chain, PEM, leaf first.
    #[serde(default, deserialize_with = "path")]
    pub cert_file: Option<PathBuf>,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    #[serde(default, deserialize_with = "path")]
    pub key_file: Option<PathBuf>,
}

/// Both files, when https is served directly.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TlsSettings {
    /// The two files, or none: one without the other is a mistake, named by the one
    /// that is missing.
    pub fn files(&self) -> Option<TlsFiles> {
        match (&self.cert_file, &self.key_file) {
            (Some(cert_file), Some(key_file)) => Some(TlsFiles {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
            }),
            _ => None,
        }
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let missing = match (&self.cert_file, &self.key_file) {
            (Some(_), None) => "tls.key_file",
            (None, Some(_)) => "tls.cert_file",
            _ => return Ok(()),
        };
        Err(ConfigError::Invalid {
            key: missing.to_owned(),
            reason: "must be set too: https needs both tls.cert_file and tls.key_file".to_owned(),
        })
    }
}

/// An empty path (`PORTCULLIS_TLS__CERT_FILE=`) is unset, as for other optional settings.
fn path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    super::values::optional(d, |raw| Ok(PathBuf::from(raw)))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn error_of(toml: &str) -> String {
        Config::from_toml(toml)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_certificate_without_its_key_is_refused_naming_the_missing_one() {
        assert_eq!(
            error_of("[tls]\ncert_file = \"/c.pem\""),
            "invalid setting `tls.key_file`: must be set too: https needs both tls.cert_file and tls.key_file"
        );
        assert!(error_of("[tls]\nkey_file = \"/k.pem\"").contains("`tls.cert_file`"));
    }

    #[test]
    fn both_files_or_neither_are_fine() {
        let c = Config::from_toml("").expect("defaults");
        assert!(c.tls.files().is_none());
        let c = Config::from_toml("[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"")
            .expect("both");
        assert!(c.tls.files().is_some());
        let c = Config::from_toml("[tls]\ncert_file = \"\"\nkey_file = \"\"").expect("empty");
        assert!(c.tls.files().is_none());
    }
}
