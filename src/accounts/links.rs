//! Single-use links sent by mail: a 256-bit random token in the URL, only its SHA-256
//! in the database, bound to a person, a purpose and the address it was sent to.

use std::time::Duration;

use uuid::Uuid;

use crate::{
    crypto::{Secret, random, sha256_b64url},
    storage::{AccountTokenStore, Purpose, Result, TokenUse, WriteTx, secs},
};

/// Links of one purpose one person may be sent in an hour, and the least time between
/// two: each is a mail to an address, so they are bounded.
pub const PER_HOUR: i64 = 5;
pub const GAP: i64 = 60;

/// Whether another link may be sent now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    Free,
    /// One went out less than `GAP` seconds ago.
    TooSoon,
    /// `PER_HOUR` went out in the last hour.
    TooMany,
}

/// How `user_id`'s links for `purpose` are paced at `now`: one query, the same work
/// whatever the answer (reset relies on that for its timing).
pub async fn pace(
    tokens: &AccountTokenStore,
    user_id: Uuid,
    purpose: Purpose,
    now: i64,
) -> Result<Pace> {
    let (last_gap, last_hour) = tokens
        .sent_since(user_id, purpose, now - GAP, now - 3600)
        .await?;
    Ok(if last_gap > 0 {
        Pace::TooSoon
    } else if last_hour >= PER_HOUR {
        Pace::TooMany
    } else {
        Pace::Free
    })
}

/// The longest token we look up; anything longer is not one of ours.
const TOKEN_MAX: usize = 64;

/// Stores a new link for `user_id` (ending earlier ones for `purpose`) and returns its
/// token, which goes only into the mail.
pub async fn issue_in(
    tokens: &AccountTokenStore,
    tx: &mut WriteTx,
    purpose: Purpose,
    user_id: Uuid,
    email: &str,
    ttl: Duration,
    now: i64,
) -> Result<Secret> {
    let token = random::secret();
    tokens
        .issue_in(
            tx,
            purpose,
            &sha256_b64url(token.as_bytes()),
            user_id,
            email,
            now,
            now.saturating_add(secs(ttl)),
        )
        .await?;
    Ok(Secret::new(token))
}

/// The stored form of a presented token, or `None` when it cannot be one of ours.
pub fn hash_of(token: &str) -> Option<String> {
    let plausible = !token.is_empty()
        && token.len() <= TOKEN_MAX
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plausible.then(|| sha256_b64url(token.as_bytes()))
}

/// Spends a presented link inside `tx`.
pub async fn consume_in(
    tokens: &AccountTokenStore,
    tx: &mut WriteTx,
    purpose: Purpose,
    token: &str,
    now: i64,
) -> Result<TokenUse> {
    match hash_of(token) {
        Some(hash) => tokens.consume_in(tx, purpose, &hash, now).await,
        None => Ok(TokenUse::Unknown),
    }
}

/// Looks at a presented link without spending it.
pub async fn peek(
    tokens: &AccountTokenStore,
    purpose: Purpose,
    token: &str,
    now: i64,
) -> Result<TokenUse> {
    match hash_of(token) {
        Some(hash) => tokens.peek(purpose, &hash, now).await,
        None => Ok(TokenUse::Unknown),
    }
}

/// "24 hours", "30 minutes": how a mail says how long its link works.
pub fn duration_words(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s.is_multiple_of(86400) && s >= 86400 * 2 {
        (s / 86400, "days")
    } else if s.is_multiple_of(3600) && s >= 3600 {
        (s / 3600, "hours")
    } else if s >= 60 {
        (s.div_ceil(60), "minutes")
    } else {
        (s, "seconds")
    };
    match (n, unit) {
        (1, "hours") => "1 hour".to_owned(),
        (1, "minutes") => "1 minute".to_owned(),
        (1, "seconds") => "1 second".to_owned(),
        _ => format!("{n} {unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_tokens_are_looked_up() {
        assert!(hash_of(&random::secret()).is_some());
        for bad in ["", "a b", "a\0b", "ä", &"a".repeat(65), "a/b", "a+b="] {
            assert!(hash_of(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(duration_words(Duration::from_secs(86400)), "24 hours");
        assert_eq!(duration_words(Duration::from_secs(1800)), "30 minutes");
        assert_eq!(duration_words(Duration::from_secs(3600)), "1 hour");
        assert_eq!(duration_words(Duration::from_secs(7 * 86400)), "7 days");
        assert_eq!(duration_words(Duration::from_secs(90)), "2 minutes");
    }
}
