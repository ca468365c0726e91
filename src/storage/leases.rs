//! The `leases` table: which instance runs each piece of scheduled work.
//!
//! Taking a lease is one `INSERT … ON CONFLICT DO UPDATE … WHERE`: it succeeds when
//! the row is new, expired, or already ours, and only then does it change a row. Of
//! instances racing for one lease, the database lets exactly one statement win.

use super::{Db, Result, on_write};

#[derive(Clone, Debug)]
pub struct LeaseStore {
    db: Db,
}

impl LeaseStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Takes or renews the lease `name` for `holder` until `expires_at`, if nobody else
    /// holds it at `now`. True when `holder` holds it after this call.
    pub async fn acquire(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool> {
        let n = on_write!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
            )
            .bind(name)
            .bind(holder)
            .bind(expires_at)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Gives up the lease `name` if `holder` holds it (at shutdown, so another
    /// instance need not wait for it to expire).
    pub async fn release(&self, name: &str, holder: &str) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Who holds `name` at `now`, if anyone.
    pub async fn holder(&self, name: &str, now: i64) -> Result<Option<String>> {
        let holder = super::on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, String>(
                "SELECT holder FROM leases WHERE name = $1 AND expires_at > $2",
            )
            .bind(name)
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        Ok(holder)
    }
}
