//! `[security]`: limits that keep password hashing from exhausting the machine, the
//! per-account lockout, and the per-client-IP rate limits.

use std::{num::NonZeroU32, time::Duration};

use serde::{Deserialize, Deserializer, de::Error as _};

use super::values::lifetime;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Hashes that run at once; written as 0 for one per CPU core, never 0 here.
    #[serde(deserialize_with = "concurrency")]
    pub password_hash_concurrency: usize,
    pub password_hash_queue: usize,
    /// Consecutive failed attempts (passwords, second-factor codes) that lock an account.
    #[serde(deserialize_with = "threshold")]
    pub lockout_threshold: u32,
    /// The longest a lock lasts: the first is a minute, each next one twice as long.
    #[serde(deserialize_with = "lockout_max")]
    pub lockout_max: Duration,
    pub rate_limits: RateLimitSettings,
}

/// Requests allowed per client IP (and, at the machine endpoints, per client), in
/// memory on each instance.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// `/authorize`, GET or POST: each may keep a pending sign-in for a visitor.
    pub authorize: RateLimit,
    /// `POST /login`.
    pub sign_in: RateLimit,
    /// POSTs under `/login/` (the second factor and passkey sign-in).
    pub second_factor: RateLimit,
    /// POSTs of `/register`, `/reset-password*` and `/verify-email*`.
    pub account_mail: RateLimit,
    /// `/token`, `/revoke` and `/introspect`, each its own budget, per client IP.
    pub token_per_ip: RateLimit,
    /// The same endpoints per client_id (from Basic credentials or the form).
    pub token_per_client: RateLimit,
}

/// `count` requests per `period`, up to `burst` at once: a GCRA quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub count: NonZeroU32,
    pub period: Duration,
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// Reads `"10/min"`, `"10/min, burst 20"`, `"5/s"` or `"100/h"`; the burst is the
    /// count unless given.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{raw}` is not a rate like \"10/min\" or \"10/min, burst 20\" \
                 (per s, min or h; at least 1)"
            )
        };
        let (rate, burst) = match raw.split_once(',') {
            Some((rate, rest)) => {
                let burst = rest.trim().strip_prefix("burst").ok_or_else(bad)?;
                (rate, Some(burst.trim()))
            }
            None => (raw, None),
        };
        let (count, per) = rate.split_once('/').ok_or_else(bad)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| bad())?;
        let period = match per.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let burst = match burst {
            Some(b) => b.parse().map_err(|_| bad())?,
            None => count,
        };
        Ok(Self {
            count,
            period,
            burst,
        })
    }

    /// The time one request's allowance takes to come back.
    pub fn interval(&self) -> Duration {
        self.period / self.count.get()
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(D::Error::custom)
    }
}

fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(match usize::deserialize(d)? {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    })
}

fn threshold<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        n @ 1..=100 => Ok(n),
        _ => Err(D::Error::custom("must be from 1 to 100")),
    }
}

fn lockout_max<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let max = lifetime(d)?;
    if max < Duration::from_secs(60) || max > Duration::from_secs(86_400) {
        return Err(D::Error::custom("must be from 1m to 24h"));
    }
    Ok(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("not zero")
    }

    #[test]
    fn a_rate_reads_with_and_without_its_burst() {
        let r = RateLimit::parse("10/min").expect("reads");
        assert_eq!((r.count, r.burst), (nz(10), nz(10)));
        assert_eq!(r.interval(), Duration::from_secs(6));
        let r = RateLimit::parse(" 10 / min , burst 20 ").expect("reads");
        assert_eq!((r.count, r.burst), (nz(10), nz(20)));
        let r = RateLimit::parse("5/s").expect("reads");
        assert_eq!(r.interval(), Duration::from_millis(200));
        assert_eq!(
            RateLimit::parse("100/h").expect("reads").period,
            Duration::from_secs(3600)
        );
    }

    fn error_of(toml: &str) -> String {
        crate::config::Config::from_toml(toml)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn the_defaults_lock_after_five_for_at_most_an_hour_and_limit_sign_in() {
        let c = crate::config::Config::from_toml("").expect("defaults");
        assert_eq!(c.security.lockout_threshold, 5);
        assert_eq!(c.security.lockout_max, Duration::from_secs(3600));
        let sign_in = c.security.rate_limits.sign_in;
        assert_eq!((sign_in.count, sign_in.burst), (nz(10), nz(20)));
        assert_eq!(sign_in.period, Duration::from_secs(60));
    }

    #[test]
    fn bad_lockout_and_rate_settings_name_themselves() {
        assert_eq!(
            error_of("[security]\nlockout_threshold = 0"),
            "invalid setting `security.lockout_threshold`: must be from 1 to 100"
        );
        assert_eq!(
            error_of("[security]\nlockout_max = \"30s\""),
            "invalid setting `security.lockout_max`: must be from 1m to 24h"
        );
        assert_eq!(
            error_of("[security]\nlockout_max = \"2d\""),
            "invalid setting `security.lockout_max`: must be from 1m to 24h"
        );
        let e = error_of("[security.rate_limits]\nsign_in = \"lots\"");
        assert!(
            e.starts_with("invalid setting `security.rate_limits.sign_in`"),
            "{e}"
        );
        let e = error_of("[security.rate_limits]\nlogin = \"1/s\"");
        assert!(
            e.contains("login"),
            "an unknown limit is refused by name: {e}"
        );
    }

    #[test]
    fn a_rate_that_is_not_one_is_refused() {
        for bad in [
            "",
            "10",
            "0/min",
            "10/day",
            "-1/min",
            "10/min, 20",
            "10/min, burst 0",
            "x/min",
            "10/min burst 20",
        ] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }
}
