//! Who the client is: the TCP peer, or — only when that peer is one of
//! `http.trusted_proxies` — the address the proxies name in `http.client_ip_header`.
//! The rate limits, audit events and the account page's sessions all read this one
//! answer (`ClientIp`, put in each request's extensions by `attach`).
//!
//! Each proxy appends the address it received the request from, so the list reads
//! client-first and everything left of what our own proxies wrote is whatever the
//! client sent. The client is therefore the right-most address that is not a trusted
//! proxy; a header that cannot be read there is ignored, and the peer stands.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::Response,
};
use ipnet::IpNet;

use crate::config::{ClientIpHeader, HttpSettings};

/// The most hops read from the right of a forwarding header; a longer chain of our
/// own proxies is not a deployment anyone runs.
const MAX_HOPS: usize = 32;

/// The client's address as this request is served: set by `attach`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ClientIp(pub IpAddr);

/// What `attach` needs, built once from `[http]`.
#[derive(Clone, Debug)]
pub(super) struct Proxies {
    trusted: Arc<[IpNet]>,
    header: ClientIpHeader,
}

impl Proxies {
    pub(super) fn new(http: &HttpSettings) -> Self {
        Self {
            trusted: http.trusted_proxies.clone().into(),
            header: http.client_ip_header,
        }
    }

    /// Whether `ip` (canonical: IPv4-mapped addresses as IPv4) is one of our proxies.
    pub(super) fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` carrying `headers`.
    pub(super) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops = match self.header {
            ClientIpHeader::XForwardedFor => hops(
                headers,
                &header::HeaderName::from_static("x-forwarded-for"),
                xff_hop,
            ),
            ClientIpHeader::Forwarded => hops(headers, &header::FORWARDED, forwarded_hop),
        };
        let Some(hops) = hops else {
            return peer;
        };
        let mut leftmost = None;
        for hop in hops.iter().rev().take(MAX_HOPS) {
            match hop {
                Some(ip) if self.trusts(*ip) => leftmost = Some(*ip),
                Some(ip) => return *ip,
                // Unreadable where it matters: believe none of it.
                None => return peer,
            }
        }
        // Every hop is one of our proxies: the first of them sent the request.
        leftmost.unwrap_or(peer)
    }
}

/// Every element of every `name` header, in order, each read by `hop`; `None` when
/// there is no such header or one is not text.
fn hops(
    headers: &HeaderMap,
    name: &header::HeaderName,
    hop: fn(&str) -> Option<IpAddr>,
) -> Option<Vec<Option<IpAddr>>> {
    let mut out = Vec::new();
    for value in headers.get_all(name) {
        let value = value.to_str().ok()?;
        out.extend(split_outside_quotes(value, ',').map(|e| hop(e.trim())));
    }
    (!out.is_empty()).then_some(out)
}

/// `text` split at `sep`, except inside a quoted string (RFC 9110 section 5.6.4).
fn split_outside_quotes(text: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter()
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:80`,
/// `[2001:db8::1]:80`).
fn xff_hop(entry: &str) -> Option<IpAddr> {
    address(entry)
}

/// One `Forwarded` element's `for=` (RFC 7239 sections 4 and 6): a token or quoted
/// string holding an IPv4 address or a bracketed IPv6 one, each perhaps with a port.
/// `unknown` and obfuscated names (`_hidden`) name no address.
fn forwarded_hop(element: &str) -> Option<IpAddr> {
    let value = split_outside_quotes(element, ';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim())
    })?;
    let value = match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => value,
    };
    address(value)
}

/// An address as proxies write it: bare, `v4:port`, `[v6]` or `[v6]:port`.
fn address(text: &str) -> Option<IpAddr> {
    let ip = if let Ok(ip) = text.parse::<IpAddr>() {
        ip
    } else if let Ok(sock) = text.parse::<SocketAddr>() {
        sock.ip()
    } else {
        text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?
    };
    Some(ip.to_canonical())
}

/// Puts the request's `ClientIp` in its extensions, for the rate limits and
/// `RequestOrigin`. A request without `ConnectInfo` (none is served so) gets none.
pub(super) async fn attach(
    State(proxies): State<Proxies>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let ip = proxies.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientIp(ip));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(trusted: &[&str], header: ClientIpHeader) -> Proxies {
        Proxies {
            trusted: trusted
                .iter()
                .map(|t| t.parse().expect("cidr"))
                .collect::<Vec<IpNet>>()
                .into(),
            header,
        }
    }

    fn with(name: &str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    const XFF: ClientIpHeader = ClientIpHeader::XForwardedFor;
    const FWD: ClientIpHeader = ClientIpHeader::Forwarded;

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let p = proxies(&["10.0.0.0/8"], XFF);
        let h = with("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(p.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        let p = proxies(&[], XFF);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8"], XFF);
        let h = with("x-forwarded-for", &["1.1.1.1, 203.0.113.9, 10.0.0.2"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        // Split over several header lines, with ports.
        let h = with(
            "x-forwarded-for",
            &["1.1.1.1", "203.0.113.9:4711", "10.0.0.2"],
        );
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        let h = with("x-forwarded-for", &["[2001:db8::7]:80, 10.0.0.2"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("2001:db8::7"));
    }

    #[test]
    fn garbage_where_the_client_should_be_is_ignored() {
        let p = proxies(&["10.0.0.0/8"], XFF);
        for bad in [
            "nonsense",
            "",
            "1.2.3.4.5",
            "unknown",
            "203.0.113.9 junk, 10.0.0.2",
        ] {
            let h = with("x-forwarded-for", &[bad]);
            assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"), "{bad}");
        }
        // Garbage left of the client is the client's own writing and does not matter.
        let h = with("x-forwarded-for", &["<script>, 203.0.113.9"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let p = proxies(&["10.0.0.0/8"], XFF);
        let h = with("forwarded", &["for=203.0.113.9"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
        let p = proxies(&["10.0.0.0/8"], FWD);
        let h = with("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_reads_rfc_7239_for_parameters() {
        let p = proxies(&["10.0.0.0/8"], FWD);
        let cases = [
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            ("For=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("for=\"192.0.2.60:8080\"", "192.0.2.60"),
            ("for=198.51.100.1, for=192.0.2.60;proto=https", "192.0.2.60"),
            ("for=192.0.2.60, for=10.0.0.5", "192.0.2.60"),
        ];
        for (value, want) in cases {
            let h = with("forwarded", &[value]);
            assert_eq!(p.client(ip("10.0.0.1"), &h), ip(want), "{value}");
        }
        for bad in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=\"[::1\"",
            "for=",
        ] {
            let h = with("forwarded", &[bad]);
            assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"), "{bad}");
        }
    }

    #[test]
    fn a_chain_of_only_our_proxies_names_the_first_of_them() {
        let p = proxies(&["10.0.0.0/8"], XFF);
        let h = with("x-forwarded-for", &["10.0.0.9, 10.0.0.2"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.9"));
    }

    #[test]
    fn ipv4_mapped_addresses_are_plain_ipv4() {
        let p = proxies(&["10.0.0.0/8"], XFF);
        let h = with("x-forwarded-for", &["::ffff:203.0.113.9"]);
        assert_eq!(p.client(ip("::ffff:10.0.0.1"), &h), ip("203.0.113.9"));
    }
}
