//! Lockout: consecutive failed sign-in attempts on one account (wrong passwords, wrong
//! second-factor codes) lock it for a while, the same for every instance (the counters
//! are in the database).
//!
//! After `security.lockout_threshold` failures in a row the account is locked for a
//! minute; each next lock in the same streak lasts twice as long as the last, up to
//! `security.lockout_max`. While locked, sign-in does not check the password at all
//! (so the answer cannot say whether it was right, and a locked account costs an
//! attacker's guesses no hashing) and attempts do not count. A complete sign-in ends the
//! streak; a password reset or `portcullis user unlock` also lifts a lock. Anyone who
//! knows a username can lock it, which is why locks are short and a reset lifts them.

use std::time::Duration;

use uuid::Uuid;

use super::Accounts;
use crate::{
    audit::{Actor, Event, EventKind, Origin},
    mail::{MailError, Message},
    storage::StorageError,
};

/// The first lock's length; each next one doubles it.
const FIRST_LOCK: Duration = Duration::from_secs(60);

/// Failures in a row, over every lock of a streak, after which the lock lasts until a
/// password reset or an admin's unlock: NIST SP 800-63B section 5.2.2 allows no more
/// than 100 consecutive failed attempts on one account.
pub const STREAK_LIMIT: i64 = 100;

/// How far ahead a lock "until reset" is set.
const UNTIL_RESET: i64 = 100 * 365 * 86_400;

/// Whether a lock with `wait` seconds left is one that only a reset or an unlock ends.
pub fn until_reset(wait: i64) -> bool {
    wait > UNTIL_RESET / 2
}

/// What a locked account is told, in plain words, with `wait` seconds left.
pub fn locked_sentence(wait: i64) -> String {
    if until_reset(wait) {
        "Too many attempts. The account stays locked until its password is reset: \
         reset your password to get in."
            .to_owned()
    } else {
        format!(
            "Too many attempts. Try again in {}, or reset your password.",
            minutes_words(wait)
        )
    }
}

/// How long the lock after `locks_before` earlier ones in the streak lasts.
fn lock_length(locks_before: i64, max: Duration) -> i64 {
    let doublings = u32::try_from(locks_before.clamp(0, 30)).unwrap_or(30);
    let length = FIRST_LOCK.saturating_mul(1 << doublings).min(max);
    crate::storage::secs(length)
}

/// "N minutes" (rounded up), for the page and the mail.
pub fn minutes_words(seconds: i64) -> String {
    match (seconds.max(1) + 59) / 60 {
        1 => "1 minute".to_owned(),
        n => format!("{n} minutes"),
    }
}

impl Accounts {
    /// Until when (unix seconds) `user` is locked, if they are now.
    pub async fn locked_until(&self, user: Uuid) -> Result<Option<i64>, StorageError> {
        self.store
            .lockouts
            .locked_until(user, self.clock.now())
            .await
    }

    /// Counts a failed attempt on `user` (a wrong password or second-factor code);
    /// returns until when the account is now locked, if this attempt locked it or it
    /// already was. The attempt that locks it also records `AccountLocked` and, the
    /// first time in a streak, queues a mail to the owner, in the same transaction.
    pub async fn count_failure(
        &self,
        user: Uuid,
        origin: &Origin,
    ) -> Result<Option<i64>, StorageError> {
        let now = self.clock.now();
        let lockouts = &self.store.lockouts;
        let mut tx = self.store.db.begin_write().await?;
        let state = lockouts.count_failure_in(&mut tx, user, now).await?;
        if state.is_locked(now) {
            tx.commit().await?;
            return Ok(state.locked_until);
        }
        let threshold = i64::from(self.config.security.lockout_threshold);
        if state.failures < threshold {
            tx.commit().await?;
            return Ok(None);
        }
        let in_streak = state.locks.saturating_mul(threshold) + state.failures;
        let length = if in_streak >= STREAK_LIMIT {
            UNTIL_RESET
        } else {
            lock_length(state.locks, self.config.security.lockout_max)
        };
        let until = now + length;
        lockouts.lock_in(&mut tx, user, until, now).await?;
        let event = Event::new(EventKind::AccountLocked, Actor::System)
            .about(user)
            .from(origin)
            .with("failures", state.failures)
            .with("lock", state.locks + 1)
            .with("seconds", length)
            .with("until_reset", in_streak >= STREAK_LIMIT);
        self.audit.record_in(&mut tx, event, now).await?;
        let first = state.locks == 0;
        let mail = match self.users.find_by_id(user).await? {
            Some(u) if first && !u.email.is_empty() && u.deleted_at.is_none() => {
                let message = Message::AccountLocked {
                    name: Self::salutation(&u),
                    locked_for: minutes_words(length),
                    reset_link: self.config.issuer.endpoint("/reset-password"),
                };
                match self.mailer.queue_in(&mut tx, &u.email, &message, now).await {
                    Ok(()) => true,
                    Err(MailError::Storage(e)) => return Err(e),
                    Err(e) => {
                        // A mail that cannot be rendered must not undo the lock.
                        tracing::error!(error = %e, "could not queue the account-locked mail");
                        false
                    }
                }
            }
            _ => false,
        };
        tx.commit().await?;
        metrics::counter!("portcullis_lockouts_total").increment(1);
        if mail {
            self.mailer.wake();
        }
        Ok(Some(until))
    }

    /// A complete sign-in: the failure count starts again. A lock in force stays
    /// (only time, a reset or an admin lifts it).
    pub async fn count_success(&self, user: Uuid) -> Result<(), StorageError> {
        self.store
            .lockouts
            .clear_unless_locked(user, self.clock.now())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_start_at_a_minute_and_double_up_to_the_maximum() {
        let hour = Duration::from_secs(3600);
        let lengths: Vec<i64> = (0..9).map(|n| lock_length(n, hour)).collect();
        assert_eq!(lengths, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(lock_length(i64::MAX, hour), 3600);
        assert_eq!(lock_length(-1, hour), 60);
    }

    #[test]
    fn waits_are_told_in_whole_minutes_rounded_up() {
        assert_eq!(minutes_words(1), "1 minute");
        assert_eq!(minutes_words(60), "1 minute");
        assert_eq!(minutes_words(61), "2 minutes");
        assert_eq!(minutes_words(3600), "60 minutes");
        assert_eq!(minutes_words(-5), "1 minute");
    }
}
