//! `[http]`: what the listener allows a connection, and which peers are proxies whose
//! forwarding headers we believe.

use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, de::Error as _};

use super::values::lifetime;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Peers (CIDRs) whose `Forwarded` / `X-Forwarded-For` name the real client.
    #[serde(deserialize_with = "cidrs")]
    pub trusted_proxies: Vec<IpNet>,
    /// How long a client may take to send a request's headers.
    #[serde(deserialize_with = "lifetime")]
    pub header_read_timeout: Duration,
    /// How long one request may take, from its headers to the end of its answer.
    #[serde(deserialize_with = "lifetime")]
    pub request_timeout: Duration,
    /// How long an idle keep-alive connection is kept open.
    #[serde(deserialize_with = "lifetime")]
    pub keep_alive_timeout: Duration,
    /// The most connections served at once; more wait in the kernel's accept queue.
    #[serde(deserialize_with = "at_least_one")]
    pub max_connections: usize,
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match usize::deserialize(d)? {
        0 => Err(D::Error::custom(
            "must be at least 1: with 0 no connection could be served",
        )),
        n => Ok(n),
    }
}

fn cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.iter()
        .map(|s| {
            let s = s.trim();
            // A bare address is a network of one.
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    D::Error::custom(format!(
                        "`{s}` is not an address or network like 10.0.0.0/8 or ::1"
                    ))
                })
        })
        .collect()
}
