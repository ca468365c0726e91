//! A consistent copy of a SQLite database while it serves: `VACUUM INTO` reads one
//! snapshot (WAL readers never block the writer) and writes a compact, self-contained
//! database file, with no `-wal` beside it. PostgreSQL has its own tools (`pg_dump`,
//! base backups with WAL archiving), which Portcullis does not imitate.

use std::str::FromStr;

use sqlx::{ConnectOptions, Connection, sqlite::SqliteConnectOptions};

use super::Result;

/// Copies the SQLite database at `url` (it must exist: a backup never creates one) to
/// `dest`, which must not exist yet (SQLite itself refuses to write into a file that
/// has content, so two backups racing for one name cannot both win).
pub async fn sqlite_into(url: &str, dest: &str) -> Result<()> {
    let opts = SqliteConnectOptions::from_str(url)?
        .create_if_missing(false)
        .read_only(true);
    let mut conn = opts.connect().await?;
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(dest)
        .execute(&mut conn)
        .await;
    conn.close().await?;
    copied?;
    Ok(())
}
