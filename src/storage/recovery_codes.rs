//! The `recovery_codes` table: each person's single-use recovery codes, by hash.

use uuid::Uuid;

use super::{Db, Result, WriteTx, on_db, on_tx};

#[derive(Clone, Debug)]
pub struct RecoveryCodeStore {
    db: Db,
}

impl RecoveryCodeStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// How many of `user_id`'s codes are not yet used.
    pub async fn count_left(&self, user_id: Uuid) -> Result<u32> {
        let n = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(user_id)
            .fetch_one(pool)
            .await
        })?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The same, seen inside `tx`.
    pub async fn count_left_in(&self, tx: &mut WriteTx, user_id: Uuid) -> Result<u32> {
        let n = on_tx!(tx, |conn| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await
        })?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Whether `user_id` has any codes, used or not, seen inside `tx`.
    pub async fn any_in(&self, tx: &mut WriteTx, user_id: Uuid) -> Result<bool> {
        let n = on_tx!(tx, |conn| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&mut *conn)
                .await
        })?;
        Ok(n > 0)
    }

    /// Replaces every code of `user_id` with `hashes`.
    pub async fn replace_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        hashes: &[String],
        now: i64,
    ) -> Result<()> {
        self.remove_in(tx, user_id).await?;
        for hash in hashes {
            on_tx!(tx, |conn| {
                sqlx::query(
                    "INSERT INTO recovery_codes (code_hash, user_id, created_at, used_at) \
                     VALUES ($1, $2, $3, NULL)",
                )
                .bind(hash)
                .bind(user_id)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Marks the code `hash` of `user_id` used, if it is theirs and unused, in one
    /// statement (two requests with the same code cannot both pass).
    pub async fn consume_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        hash: &str,
        now: i64,
    ) -> Result<bool> {
        let done = on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE recovery_codes SET used_at = $3 \
                 WHERE code_hash = $1 AND user_id = $2 AND used_at IS NULL",
            )
            .bind(hash)
            .bind(user_id)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done == 1)
    }

    /// Removes every code of `user_id`.
    pub async fn remove_in(&self, tx: &mut WriteTx, user_id: Uuid) -> Result<u64> {
        let done = on_tx!(tx, |conn| {
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done)
    }
}
