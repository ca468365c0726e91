//! The `user_totp` table: each person's authenticator-app key, pending until confirmed
//! with a code, and the time step of the last code accepted.

use uuid::Uuid;

use super::{Db, Result, WriteTx, on_db, on_tx, on_write};

/// A person's authenticator-app key as stored (sealed or not: `accounts` decides).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTotp {
    pub secret: String,
    pub created_at: i64,
    /// `None` while enrolment waits for its first code.
    pub confirmed_at: Option<i64>,
    /// The RFC 6238 time step of the last code accepted.
    pub last_step: i64,
}

type Row = (String, i64, Option<i64>, i64);

fn from_row((secret, created_at, confirmed_at, last_step): Row) -> StoredTotp {
    StoredTotp {
        secret,
        created_at,
        confirmed_at,
        last_step,
    }
}

#[derive(Clone, Debug)]
pub struct TotpStore {
    db: Db,
}

impl TotpStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The key of `user_id`, confirmed or pending.
    pub async fn find(&self, user_id: Uuid) -> Result<Option<StoredTotp>> {
        let row = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, Row>(
                "SELECT secret, created_at, confirmed_at, last_step FROM user_totp \
                 WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(from_row))
    }

    /// Whether `user_id` has a confirmed key.
    pub async fn is_confirmed(&self, user_id: Uuid) -> Result<bool> {
        let n = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL",
            )
            .bind(user_id)
            .fetch_one(pool)
            .await
        })?;
        Ok(n > 0)
    }

    /// Starts an enrolment with `secret`, replacing a pending one; a confirmed key is
    /// left alone. Returns whether the pending key was written.
    pub async fn start(&self, user_id: Uuid, secret: &str, now: i64) -> Result<bool> {
        let done = on_write!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO user_totp (user_id, secret, created_at, confirmed_at, last_step) \
                 VALUES ($1, $2, $3, NULL, 0) ON CONFLICT (user_id) DO UPDATE \
                 SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0 \
                 WHERE user_totp.confirmed_at IS NULL",
            )
            .bind(user_id)
            .bind(secret)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done == 1)
    }

    /// Switches on the pending key `secret` (the one the person was shown), with the
    /// step of the code that confirmed it. `false` if it is no longer the pending key.
    pub async fn confirm_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        secret: &str,
        step: i64,
        now: i64,
    ) -> Result<bool> {
        let done = on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE user_totp SET confirmed_at = $3, last_step = $4 \
                 WHERE user_id = $1 AND secret = $2 AND confirmed_at IS NULL",
            )
            .bind(user_id)
            .bind(secret)
            .bind(now)
            .bind(step)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done == 1)
    }

    /// Records `step` as used if it is later than every step used before, in one
    /// statement, so two requests with the same code cannot both pass. `false`: the
    /// step (or a later one) was already used, or there is no confirmed key.
    pub async fn use_step(&self, user_id: Uuid, step: i64) -> Result<bool> {
        let done = on_write!(&self.db, |pool| {
            sqlx::query(
                "UPDATE user_totp SET last_step = $2 \
                 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
            )
            .bind(user_id)
            .bind(step)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done == 1)
    }

    /// Removes the key of `user_id`, confirmed or pending; returns whether one was there.
    pub async fn remove_in(&self, tx: &mut WriteTx, user_id: Uuid) -> Result<bool> {
        let done = on_tx!(tx, |conn| {
            sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }
}
