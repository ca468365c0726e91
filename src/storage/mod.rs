//! Persistence, and nothing else: one store per table family, each query written once
//! and run on SQLite (embedded default) or PostgreSQL (scale-out). Row structs stay here.
//!
//! Queries use `$1` placeholders, which both engines accept, and portable SQL
//! (`RETURNING`, `ON CONFLICT`, `lower()`). `on_db!` type-checks each query against both
//! drivers, so a query that does not fit one of them does not compile.

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::config::DatabaseUrl;

pub mod clients;
pub mod grants;
pub mod keys;
pub mod sessions;
pub mod users;

pub use clients::{ClientStore, NewClient, StoredClient};
pub use grants::{GrantStore, NewCode, NewGrant, StoredCode, StoredGrant};
pub use keys::{KeyStore, StoredKey};
pub use sessions::SessionStore;
pub use users::{NewUser, StoredUser, UserStore};

/// Runs `$body` with `$pool` bound to the engine's pool; the body is compiled once per
/// engine, so one query text serves both.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::storage::Db::Sqlite($pool) => $body,
            $crate::storage::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// A connection pool to one of the two engines.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A unique key is taken; names which.
    #[error("{0} is already taken")]
    Conflict(&'static str),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The name of the unique index a write ran into, if that is why it failed.
pub(crate) fn unique_violation(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => Some(
            db.constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned()),
        ),
        _ => None,
    }
}

/// Seconds since the Unix epoch: how every time is stored.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Db {
    /// Connects; for SQLite, creates the file and its folder, and turns on WAL and
    /// foreign keys.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Self> {
        match url {
            DatabaseUrl::Sqlite(raw) => {
                let opts = SqliteConnectOptions::from_str(raw.expose())?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let path = opts.get_filename();
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        sqlx::Error::Configuration(
                            format!("cannot create folder {}: {e}", parent.display()).into(),
                        )
                    })?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await?;
                Ok(Self::Sqlite(pool))
            }
            DatabaseUrl::Postgres(raw) => {
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(raw.expose())
                    .await?;
                Ok(Self::Postgres(pool))
            }
        }
    }

    /// Applies the engine's migrations; safe to run from several instances at once.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Self::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Self::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        on_db!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on_db!(self, |pool| pool.close().await)
    }
}

/// Every store over one pool.
#[derive(Clone, Debug)]
pub struct Store {
    pub db: Db,
    pub users: UserStore,
    pub clients: ClientStore,
    pub keys: KeyStore,
    pub grants: GrantStore,
    pub sessions: SessionStore,
}

impl Store {
    pub fn new(db: Db) -> Self {
        Self {
            users: UserStore::new(db.clone()),
            clients: ClientStore::new(db.clone()),
            keys: KeyStore::new(db.clone()),
            grants: GrantStore::new(db.clone()),
            sessions: SessionStore::new(db.clone()),
            db,
        }
    }

    /// Deletes what has expired: codes, tokens, browser sessions. Returns rows deleted.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = now();
        Ok(self.grants.purge_expired(now).await? + self.sessions.purge_expired(now).await?)
    }
}
