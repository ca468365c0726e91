//! Applying the migrations, safely from several instances at once.
//!
//! On SQLite the one writer connection serialises them. On PostgreSQL sqlx holds
//! `pg_advisory_lock` while it migrates; PostgreSQL-compatible engines without advisory
//! locks (CockroachDB refuses the call) get the same guarantee from a lock row instead,
//! taken like a lease (`storage::leases`) in a table of its own, since the `leases`
//! table is itself made by a migration.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::Result;

/// How long a crashed migrator's lock row keeps others out.
const LOCK_HOLD: i64 = 600;
/// How long an instance waits for another's migrations before it gives up.
const LOCK_WAIT: Duration = Duration::from_secs(120);
const LOCK_POLL: Duration = Duration::from_millis(200);

/// Applies the PostgreSQL migrations: under sqlx's advisory lock where the engine has
/// advisory locks, else under the lock row. `now` is the caller's clock (unix seconds).
pub(super) async fn postgres(pool: &PgPool, now: i64) -> Result<()> {
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(pool)
        .await?;
    if version.contains("CockroachDB") {
        postgres_with_lock_row(pool, now).await
    } else {
        sqlx::migrate!("./migrations/postgres").run(pool).await?;
        Ok(())
    }
}

/// Applies the PostgreSQL migrations under the lock row rather than an advisory lock
/// (public for the test that runs this path on PostgreSQL).
pub async fn postgres_with_lock_row(pool: &PgPool, now: i64) -> Result<()> {
    let created = sqlx::query(
        "CREATE TABLE IF NOT EXISTS portcullis_migration_lock (\
         id INTEGER PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL)",
    )
    .execute(pool)
    .await;
    // Instances creating it at the same moment collide in the catalogue (PostgreSQL's
    // `IF NOT EXISTS` is not atomic): whoever lost finds the table made.
    match created {
        Ok(_) => {}
        Err(sqlx::Error::Database(e))
            if e.is_unique_violation() || e.code().as_deref() == Some("42P07") => {}
        Err(e) => return Err(e.into()),
    }
    let holder = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    loop {
        let at = now + i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX);
        let taken = sqlx::query(
            "INSERT INTO portcullis_migration_lock (id, holder, expires_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE portcullis_migration_lock.expires_at <= $3",
        )
        .bind(&holder)
        .bind(at + LOCK_HOLD)
        .bind(at)
        .execute(pool)
        .await?
        .rows_affected()
            == 1;
        if taken {
            break;
        }
        if started.elapsed() > LOCK_WAIT {
            return Err(sqlx::Error::PoolTimedOut.into());
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
    let mut migrator = sqlx::migrate!("./migrations/postgres");
    migrator.set_locking(false);
    let ran = migrator.run(pool).await;
    // Released whatever happened; a lost release only delays the next migrator.
    let _ = sqlx::query("DELETE FROM portcullis_migration_lock WHERE id = 1 AND holder = $1")
        .bind(&holder)
        .execute(pool)
        .await;
    ran?;
    Ok(())
}
