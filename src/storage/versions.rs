//! The `change_versions` table: one counter per cached family of rows (the key ring
//! today; client caches can add theirs), bumped in the same transaction as every change
//! to that family. An instance polls its counter (one indexed row) and reloads the
//! family only when the counter moved: cheap enough to do every second, and it works on
//! every engine we run on (no LISTEN/NOTIFY).

use super::{Db, Result, on_db};

/// The key ring's counter.
pub(crate) const KEYS: &str = "keys";

/// Bumps the counter `$1`, creating it if it is new. Run it inside the transaction that
/// makes the change, so a reader never sees the new counter without the change.
pub(crate) const BUMP: &str = "INSERT INTO change_versions (name, version) VALUES ($1, 1) \
     ON CONFLICT (name) DO UPDATE SET version = change_versions.version + 1";

/// The counter `name`: 0 when nothing has bumped it yet.
pub(crate) async fn current(db: &Db, name: &str) -> Result<i64> {
    let row = on_db!(db, |pool| {
        sqlx::query_as::<_, (i64,)>("SELECT version FROM change_versions WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await
    })?;
    Ok(row.map_or(0, |(v,)| v))
}
