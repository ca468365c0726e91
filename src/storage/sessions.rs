//! The `browser_sessions` table: tower-sessions records, so a sign-in survives a restart
//! and is seen by every instance.

use super::{Db, Result, WriteTx, on_db, on_tx, on_write};

#[derive(Clone, Debug)]
pub struct SessionStore {
    db: Db,
}

impl SessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Inserts a record under a new id; false when the id is taken.
    pub async fn create(&self, id: &str, data: &[u8], expires_at: i64) -> Result<bool> {
        let inserted = on_write!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO browser_sessions (id, data, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(data)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(inserted == 1)
    }

    pub async fn save(&self, id: &str, data: &[u8], expires_at: i64) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO browser_sessions (id, data, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
            )
            .bind(id)
            .bind(data)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The record, unless it has expired by `now`.
    pub async fn load(&self, id: &str, now: i64) -> Result<Option<Vec<u8>>> {
        let data = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, Vec<u8>>(
                "SELECT data FROM browser_sessions WHERE id = $1 AND expires_at > $2",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        Ok(data)
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query("DELETE FROM browser_sessions WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn purge_expired_in(&self, tx: &mut WriteTx, now: i64) -> Result<u64> {
        let n = on_tx!(tx, |conn| {
            sqlx::query("DELETE FROM browser_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }
}
