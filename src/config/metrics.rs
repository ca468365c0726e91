//! `[metrics]`: where Prometheus scrapes `/metrics`.

use std::net::SocketAddr;

use serde::{Deserialize, Deserializer};

use super::{Secret, values::optional};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// A listener of its own for `/metrics` (and nothing else); unset: none.
    #[serde(default, deserialize_with = "bind")]
    pub bind: Option<SocketAddr>,
    /// When set, `/metrics` is also served on the main port to requests bearing it.
    #[serde(default, deserialize_with = "token")]
    pub token: Option<Secret>,
}

fn bind<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    optional(d, |raw| {
        raw.parse()
            .map_err(|_| format!("`{raw}` is not an address like 127.0.0.1:9090"))
    })
}

fn token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    optional(d, check_token)
}

/// A token Prometheus can send as `Authorization: Bearer <token>`: long enough not to
/// be guessed, and of the characters a bearer token may have (RFC 6750 section 2.1), so
/// that one which could never match is refused at start, not by every scrape.
fn check_token(raw: String) -> Result<Secret, String> {
    let bearer_char = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if raw.len() < 16 {
        Err("must be at least 16 characters (`openssl rand -hex 32`)".to_owned())
    } else if !raw.chars().all(bearer_char) {
        Err("may hold only letters, digits and - . _ ~ + / = (`openssl rand -hex 32`)".to_owned())
    } else {
        Ok(Secret::new(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_long_and_made_of_bearer_characters() {
        assert!(check_token("0123456789abcdef".to_owned()).is_ok());
        assert!(check_token("a-b.c_d~e+f/g=0123".to_owned()).is_ok());
        let short = check_token("0123456789abcde".to_owned()).map(|_| ());
        assert_eq!(
            short,
            Err("must be at least 16 characters (`openssl rand -hex 32`)".into())
        );
        for bad in [
            "0123456789abcdef 0",
            "0123456789abcdef\0",
            "0123456789abcdef\u{e9}",
        ] {
            assert!(check_token(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
