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
    /// Which forwarding header those proxies write; the other one is never read.
    pub client_ip_header: ClientIpHeader,
    /// How long a client may take to send a request's headers.
    #[serde(deserialize_with = "lifetime")]
    pub header_read_timeout: Duration,
    /// How long one request may take, from its headers to the end of its answer.
    #[serde(deserialize_with = "lifetime")]
    pub request_timeout: Duration,
    /// How long an idle keep-alive connection is kept open.
    #[serde(deserialize_with = "lifetime")]
    pub keep_alive_timeout: Duration,
    /// How long, after SIGTERM, `/readyz` says 503 while connections are still taken.
    #[serde(deserialize_with = "delay")]
    pub shutdown_delay: Duration,
    /// How long the requests in flight may take to finish once SIGTERM came.
    #[serde(deserialize_with = "lifetime")]
    pub shutdown_timeout: Duration,
    /// The most connections served at once; more wait in the kernel's accept queue.
    #[serde(deserialize_with = "at_least_one")]
    pub max_connections: usize,
}

/// The header a trusted proxy names the client in. Only one is read: a proxy that
/// writes one passes the other through as the client sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum ClientIpHeader {
    /// `X-Forwarded-For: client, proxy1, …`, what most proxies and load balancers write.
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    #[serde(rename = "forwarded")]
    Forwarded,
}

/// A wait that may be zero ("0s": none), at most five minutes, as "5s" or seconds.
fn delay<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    let d = match Raw::deserialize(d)? {
        Raw::Seconds(s) => Duration::from_secs(s),
        Raw::Text(t) => humantime::parse_duration(t.trim()).map_err(|e| {
            D::Error::custom(format!("`{t}` is not a duration like 0s or 5s ({e})"))
        })?,
    };
    if d > Duration::from_secs(300) {
        return Err(D::Error::custom("must be at most 5m"));
    }
    Ok(d)
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

#[cfg(test)]
mod tests {
    use crate::config::{ClientIpHeader, Config};

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn trusted_proxies_come_from_the_environment_as_a_toml_list() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "PORTCULLIS_HTTP__TRUSTED_PROXIES",
                r#"["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]"#,
            );
            jail.set_env("PORTCULLIS_HTTP__CLIENT_IP_HEADER", "forwarded");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            let got: Vec<String> = c
                .http
                .trusted_proxies
                .iter()
                .map(|n| n.to_string())
                .collect();
            assert_eq!(got, ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1/32"]);
            assert_eq!(c.http.client_ip_header, ClientIpHeader::Forwarded);
            jail.set_env("PORTCULLIS_HTTP__TRUSTED_PROXIES", r#"["everywhere"]"#);
            let e = Config::load(None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains("http.trusted_proxies") && e.contains("everywhere"),
                "{e}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_shutdown_delay_may_be_zero_but_not_long() {
        let c = Config::from_toml("").expect("defaults");
        assert!(c.http.shutdown_delay.is_zero());
        let c = Config::from_toml("[http]\nshutdown_delay = \"5s\"").expect("5s");
        assert_eq!(c.http.shutdown_delay, std::time::Duration::from_secs(5));
        let e = Config::from_toml("[http]\nshutdown_delay = \"1h\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            e,
            "invalid setting `http.shutdown_delay`: must be at most 5m"
        );
        assert!(Config::from_toml("[http]\nshutdown_delay = \"soon\"").is_err());
    }

    #[test]
    fn by_default_no_proxy_is_trusted_and_x_forwarded_for_is_the_header() {
        let c = Config::from_toml("").expect("defaults");
        assert!(c.http.trusted_proxies.is_empty());
        assert_eq!(c.http.client_ip_header, ClientIpHeader::XForwardedFor);
        assert!(Config::from_toml("[http]\nclient_ip_header = \"x-real-ip\"").is_err());
    }
}
