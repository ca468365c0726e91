//! `portcullis backup FILE`: a consistent copy of the SQLite database, taken while the
//! server runs. For PostgreSQL it says what to use instead and touches nothing.

use std::path::Path;

use super::CommandError;
use crate::{
    config::{Config, DatabaseUrl},
    storage,
};

/// What to use on PostgreSQL, where a copy belongs to the database's own tools.
const POSTGRES_ADVICE: &str = "`portcullis backup` copies SQLite databases only; this one \
     is PostgreSQL. Use `pg_dump --format=custom` for a logical copy (restore it with \
     `pg_restore`), or base backups with WAL archiving (`pg_basebackup`, or your \
     provider's snapshots) for point-in-time recovery. Nothing was written.";

/// Copies the database to `dest`, which must not exist yet.
pub async fn backup_to(config: &Config, dest: &Path) -> Result<(), CommandError> {
    let raw = match &config.database_url {
        DatabaseUrl::Sqlite(raw) => raw,
        DatabaseUrl::Postgres(_) => return Err(CommandError::Usage(POSTGRES_ADVICE.into())),
    };
    if dest.as_os_str().is_empty() {
        return Err(CommandError::Usage(
            "name the file to write the backup to: portcullis backup FILE".into(),
        ));
    }
    // symlink_metadata: a dangling link is there too, and is not written through.
    if std::fs::symlink_metadata(dest).is_ok() {
        return Err(CommandError::Usage(format!(
            "{} already exists; a backup never overwrites a file. Choose a new name, or \
             move the old file away first.",
            dest.display()
        )));
    }
    match dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(folder) if !folder.is_dir() => {
            return Err(CommandError::Usage(format!(
                "there is no folder {} to write the backup in",
                folder.display()
            )));
        }
        _ => {}
    }
    let Some(name) = dest.to_str() else {
        return Err(CommandError::Usage(format!(
            "the file name {} is not UTF-8; choose another",
            dest.display()
        )));
    };
    storage::backup::sqlite_into(raw.expose(), name).await?;
    Ok(())
}

/// `portcullis backup FILE`, as the CLI runs it.
pub async fn backup(config: &Config, dest: &Path) -> Result<(), CommandError> {
    backup_to(config, dest).await?;
    let size = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up the database to {} ({size} bytes); it opens as it is, no -wal file needed",
        dest.display()
    );
    Ok(())
}
