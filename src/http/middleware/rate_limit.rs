//! Rate limits per client IP (and, at the machine endpoints, per client), with
//! `governor`'s GCRA in memory on each instance. They run before any handler, so a
//! refused request costs no password hash, no database read and no session.
//!
//! Which requests are counted, and against what:
//! - `/authorize` (GET or POST): `authorize`, as each may keep a pending sign-in for a
//!   visitor without a session. A refusal is the 429 page.
//! - `POST /login`: `sign_in`; POSTs under `/login/` (second factor, passkeys):
//!   `second_factor`; POSTs of `/register`, `/reset-password*`, `/verify-email*`:
//!   `account_mail`. A refusal is the 429 page.
//! - `/token`, `/revoke`, `/introspect`: `token_per_ip`, then `token_per_client` by the
//!   client_id the request names (Basic credentials, else the form), each endpoint its
//!   own budget. A refusal is the RFC 6749 JSON error `temporarily_unavailable` with
//!   429: the request was fine and will work later, which `invalid_request` would deny
//!   and `slow_down` (RFC 8628, device-code polling) does not mean.
//!
//! An IPv6 client is counted by its /64, the least a host is given, so one host cannot
//! take a fresh budget from each of its addresses. Keys whose budget is whole again are
//! dropped every minute, which bounds memory by the clients seen in the last minute.

use std::{
    hash::Hash,
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};

use crate::{
    config::{RateLimit, RateLimitSettings},
    http::{
        client_ip::ClientIp,
        extract::{basic_credentials, is_form, parse_form},
        middleware::body_limit::MAX_BODY_BYTES,
        page::PageError,
        paths,
    },
    oidc::{
        error::{ErrorCode, OAuthError},
        values::ClientId,
    },
};

/// How often keys back at a full budget are swept out.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The machine endpoints, each with its own budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Endpoint {
    Token,
    Revoke,
    Introspect,
}

/// What a request is counted against.
enum Counted<'a> {
    Person(&'a DefaultKeyedRateLimiter<IpAddr>),
    Machine(Endpoint),
}

/// Every limiter of one instance; built once per router.
#[derive(Debug)]
pub(crate) struct RateLimits {
    authorize: DefaultKeyedRateLimiter<IpAddr>,
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    second_factor: DefaultKeyedRateLimiter<IpAddr>,
    account_mail: DefaultKeyedRateLimiter<IpAddr>,
    token_per_ip: DefaultKeyedRateLimiter<(Endpoint, IpAddr)>,
    token_per_client: DefaultKeyedRateLimiter<(Endpoint, String)>,
    started: Instant,
    /// Seconds after `started` of the last sweep.
    swept: AtomicU64,
}

fn quota(limit: &RateLimit) -> Quota {
    Quota::with_period(limit.interval())
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(limit.burst)
}

/// The key a client IP is counted under: itself, or for IPv6 its /64 network.
fn key_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

impl RateLimits {
    pub(crate) fn new(settings: &RateLimitSettings) -> Self {
        Self {
            authorize: RateLimiter::keyed(quota(&settings.authorize)),
            sign_in: RateLimiter::keyed(quota(&settings.sign_in)),
            second_factor: RateLimiter::keyed(quota(&settings.second_factor)),
            account_mail: RateLimiter::keyed(quota(&settings.account_mail)),
            token_per_ip: RateLimiter::keyed(quota(&settings.token_per_ip)),
            token_per_client: RateLimiter::keyed(quota(&settings.token_per_client)),
            started: Instant::now(),
            swept: AtomicU64::new(0),
        }
    }

    /// Drops the keys whose budget is whole again, at most once a `SWEEP_EVERY`.
    fn sweep(&self) {
        let now = self.started.elapsed().as_secs();
        let last = self.swept.load(Ordering::Relaxed);
        if now < last + SWEEP_EVERY.as_secs()
            || self
                .swept
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.authorize.retain_recent();
        self.sign_in.retain_recent();
        self.second_factor.retain_recent();
        self.account_mail.retain_recent();
        self.token_per_ip.retain_recent();
        self.token_per_client.retain_recent();
        self.authorize.shrink_to_fit();
        self.sign_in.shrink_to_fit();
        self.second_factor.shrink_to_fit();
        self.account_mail.shrink_to_fit();
        self.token_per_ip.shrink_to_fit();
        self.token_per_client.shrink_to_fit();
    }

    /// How many keys are held now, over every limiter.
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.authorize.len()
            + self.sign_in.len()
            + self.second_factor.len()
            + self.account_mail.len()
            + self.token_per_ip.len()
            + self.token_per_client.len()
    }

    /// What a request is counted against: authorization requests, and otherwise only
    /// POSTs, so neither a page view nor a CORS preflight spends anyone's budget.
    fn counted(&self, method: &Method, path: &str) -> Option<Counted<'_>> {
        if path == paths::AUTHORIZE && (method == Method::GET || method == Method::POST) {
            return Some(Counted::Person(&self.authorize));
        }
        if method != Method::POST {
            return None;
        }
        let endpoint = match path {
            paths::TOKEN => Some(Endpoint::Token),
            paths::REVOKE => Some(Endpoint::Revoke),
            paths::INTROSPECT => Some(Endpoint::Introspect),
            _ => None,
        };
        if let Some(endpoint) = endpoint {
            return Some(Counted::Machine(endpoint));
        }
        let limiter = if path == paths::LOGIN {
            &self.sign_in
        } else if path.starts_with("/login/") {
            &self.second_factor
        } else if path == paths::REGISTER
            || under(path, paths::RESET_PASSWORD)
            || under(path, paths::VERIFY_EMAIL)
        {
            &self.account_mail
        } else {
            return None;
        };
        Some(Counted::Person(limiter))
    }
}

/// Whether `path` is `base` or below it.
fn under(path: &str, base: &str) -> bool {
    path.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The wait a refused check asks for, in whole seconds (at least one).
fn wait_of<K: Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Option<u64> {
    match limiter.check_key(key) {
        Ok(()) => None,
        Err(not_until) => {
            let wait = not_until.wait_time_from(limiter.clock().now());
            Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).map(|s| s.max(1))
        }
    }
}

/// The client_id a machine request names: its Basic credentials, else a single
/// `client_id` in its form body. `None` when it names none that could be one.
fn named_client(headers: &axum::http::HeaderMap, body: &[u8]) -> Option<ClientId> {
    if let Ok(Some((id, _))) = basic_credentials(headers) {
        return ClientId::parse(&id);
    }
    if !is_form(headers) {
        return None;
    }
    let params = parse_form(body).ok()?;
    ClientId::parse(params.one("client_id").ok()??)
}

/// Counts the request against its limits and refuses it with 429 when one is spent.
/// Runs inside `body_limit`, so the body is already read and bounded.
pub(crate) async fn limit(
    State(limits): State<Arc<RateLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(counted) = limits.counted(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    limits.sweep();
    let Some(ClientIp(ip)) = request.extensions().get::<ClientIp>().copied() else {
        return next.run(request).await;
    };
    let ip = key_of(ip);
    match counted {
        Counted::Person(limiter) => match wait_of(limiter, &ip) {
            Some(wait) => person_refused(wait),
            None => next.run(request).await,
        },
        Counted::Machine(endpoint) => {
            if let Some(wait) = wait_of(&limits.token_per_ip, &(endpoint, ip)) {
                return machine_refused(wait, "from this address");
            }
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
                return OAuthError::invalid_request("the request body could not be read")
                    .into_response();
            };
            if let Some(client) = named_client(&parts.headers, &bytes) {
                let key = (endpoint, client.as_str().to_owned());
                if let Some(wait) = wait_of(&limits.token_per_client, &key) {
                    return machine_refused(wait, "for this client");
                }
            }
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

fn retry_after(response: &mut Response, wait: u64) {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
}

/// The 429 page: what happened and how long to wait, in plain words.
fn person_refused(wait: u64) -> Response {
    let when = match wait {
        1 => "a second".to_owned(),
        2..=90 => format!("{wait} seconds"),
        _ => format!("{} minutes", wait.div_ceil(60)),
    };
    let mut response = PageError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        format!(
            "Too many requests came from your network in a short time. Wait {when}, \
             then go back and try again."
        ),
    )
    .into_response();
    retry_after(&mut response, wait);
    response
}

/// The 429 RFC 6749 section 5.2 error for an app.
fn machine_refused(wait: u64, whose: &str) -> Response {
    let mut response = OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        format!("too many requests {whose}; retry after {wait} seconds"),
    )
    .into_response();
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    retry_after(&mut response, wait);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(toml: &str) -> RateLimits {
        let config = crate::config::Config::from_toml(toml).expect("config");
        RateLimits::new(&config.security.rate_limits)
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(key_of(a), key_of(b));
        assert_ne!(key_of(a), key_of(c));
        let v4: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(key_of(v4), v4);
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().expect("ip");
        assert_eq!(key_of(mapped), v4);
    }

    #[test]
    fn a_spent_budget_asks_for_a_wait_of_whole_seconds() {
        let l = limits("[security.rate_limits]\nsign_in = \"2/min\"");
        let ip: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(wait_of(&l.sign_in, &ip), None);
        assert_eq!(wait_of(&l.sign_in, &ip), None);
        let wait = wait_of(&l.sign_in, &ip).expect("refused");
        assert!((29..=30).contains(&wait), "{wait}");
        let other: IpAddr = "203.0.113.10".parse().expect("ip");
        assert_eq!(wait_of(&l.sign_in, &other), None, "budgets are per address");
    }

    #[test]
    fn keys_back_at_a_full_budget_are_swept_out() {
        let l = limits("[security.rate_limits]\nsign_in = \"1000/s\"");
        for i in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert_eq!(wait_of(&l.sign_in, &ip), None);
        }
        assert_eq!(l.keys(), 1000);
        // governor keeps its own clock: a millisecond refills one request's allowance.
        std::thread::sleep(Duration::from_millis(20));
        l.swept.store(0, Ordering::Relaxed);
        l.sign_in.retain_recent();
        assert_eq!(l.keys(), 0);
    }

    #[test]
    fn only_the_named_requests_are_counted() {
        let l = limits("");
        let counted = |m: Method, p: &str| l.counted(&m, p).is_some();
        assert!(counted(Method::POST, "/login"));
        assert!(counted(Method::POST, "/login/second-factor"));
        assert!(counted(Method::POST, "/register"));
        assert!(counted(Method::POST, "/reset-password"));
        assert!(counted(Method::POST, "/reset-password/new"));
        assert!(counted(Method::POST, "/verify-email/resend"));
        assert!(counted(Method::POST, "/token"));
        assert!(counted(Method::POST, "/introspect"));
        assert!(!counted(Method::GET, "/login"));
        assert!(!counted(Method::POST, "/reset-passwordx"));
        assert!(!counted(Method::POST, "/consent"));
        assert!(!counted(Method::GET, "/userinfo"));
        assert!(!counted(Method::OPTIONS, "/token"), "a CORS preflight");
    }
}
