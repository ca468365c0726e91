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
    optional(d, |raw| {
        if raw.len() < 16 {
            Err("must be at least 16 characters (`openssl rand -hex 32`)".to_owned())
        } else {
            Ok(Secret::new(raw))
        }
    })
}
