//! The `account_lockouts` table: each account's consecutive failed sign-in attempts
//! and how long it is locked, shared by every instance.
//!
//! Counting is one `INSERT … ON CONFLICT DO UPDATE … RETURNING` inside the caller's
//! write transaction: on PostgreSQL the row stays locked until that transaction ends,
//! so a parallel failure on another connection waits and then counts on top of this
//! one; on SQLite the transaction holds the one writer. Either way no failure is lost
//! and exactly one caller sees the count reach the threshold.

use uuid::Uuid;

use super::{Db, Result, WriteTx, on_db, on_tx, on_write};

/// An account's lockout state after a counted failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutState {
    /// Failures since the last lock or complete sign-in.
    pub failures: i64,
    /// Locks so far in this streak (since the last complete sign-in, reset or unlock).
    pub locks: i64,
    /// Until when (unix seconds) the account is locked; `None` or past: not locked.
    pub locked_until: Option<i64>,
}

impl LockoutState {
    /// Whether the account is locked at `now`.
    pub fn is_locked(&self, now: i64) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

#[derive(Clone, Debug)]
pub struct LockoutStore {
    db: Db,
}

impl LockoutStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Until when `user_id` is locked, if that is after `now`.
    pub async fn locked_until(&self, user_id: Uuid, now: i64) -> Result<Option<i64>> {
        let until = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT locked_until FROM account_lockouts \
                 WHERE user_id = $1 AND locked_until > $2",
            )
            .bind(user_id)
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        Ok(until)
    }

    /// Inside `tx`: counts one failure on `user_id`, unless the account is locked at
    /// `now` (attempts while locked are refused unchecked, so they do not count), and
    /// returns the state after it.
    pub async fn count_failure_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        now: i64,
    ) -> Result<LockoutState> {
        let (failures, locks, locked_until) = on_tx!(tx, |conn| {
            sqlx::query_as::<_, (i64, i64, Option<i64>)>(
                "INSERT INTO account_lockouts (user_id, failures, locks, locked_until, updated_at) \
                 VALUES ($1, 1, 0, NULL, $2) ON CONFLICT (user_id) DO UPDATE SET \
                 failures = CASE WHEN account_lockouts.locked_until > $2 \
                     THEN account_lockouts.failures ELSE account_lockouts.failures + 1 END, \
                 updated_at = $2 \
                 RETURNING failures, locks, locked_until",
            )
            .bind(user_id)
            .bind(now)
            .fetch_one(&mut *conn)
            .await
        })?;
        Ok(LockoutState {
            failures,
            locks,
            locked_until,
        })
    }

    /// Inside `tx`, after `count_failure_in` reached the threshold: locks `user_id`
    /// until `until`, starts the failure count again and counts the lock.
    pub async fn lock_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        until: i64,
        now: i64,
    ) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE account_lockouts SET failures = 0, locks = locks + 1, \
                 locked_until = $2, updated_at = $3 WHERE user_id = $1",
            )
            .bind(user_id)
            .bind(until)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Forgets `user_id`'s failures and locks unless the account is locked at `now`:
    /// a complete sign-in ends the streak, but only time, a reset or an admin lifts a
    /// lock.
    pub async fn clear_unless_locked(&self, user_id: Uuid, now: i64) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query(
                "DELETE FROM account_lockouts WHERE user_id = $1 \
                 AND (locked_until IS NULL OR locked_until <= $2)",
            )
            .bind(user_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Inside `tx`: forgets `user_id`'s failures and locks (a reset or an unlock).
    /// Returns whether the account was locked at `now`.
    pub async fn clear_in(&self, tx: &mut WriteTx, user_id: Uuid, now: i64) -> Result<bool> {
        let until = on_tx!(tx, |conn| {
            sqlx::query_scalar::<_, Option<i64>>(
                "DELETE FROM account_lockouts WHERE user_id = $1 RETURNING locked_until",
            )
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await
        })?;
        Ok(until.flatten().is_some_and(|until| until > now))
    }
}
