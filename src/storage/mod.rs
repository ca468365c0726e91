//! Persistence, and nothing else: one store per table family, each query written once
//! and run on SQLite (embedded default) or PostgreSQL (scale-out). Row structs stay here.
//!
//! Queries use `$1` placeholders, which both engines accept, and portable SQL
//! (`RETURNING`, `ON CONFLICT`, `lower()`). `on_db!`, `on_write!` and `on_tx!` compile
//! each query body once per engine, so the Rust types bound and read are checked
//! against both drivers at compile time; the SQL text itself is checked only when it
//! runs, which is why every store test runs on both engines.
//!
//! Nothing here reads the clock: every method that needs the time is given `now`.

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::config::DatabaseUrl;

pub mod account_tokens;
pub mod audit;
pub mod authorization_posts;
pub mod backup;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod grants;
pub mod keys;
pub mod leases;
pub mod lockout;
pub mod migrate;
pub mod outbox;
pub mod passkeys;
pub mod purge;
pub mod recovery_codes;
pub mod registrations;
pub mod roles;
pub mod sessions;
pub mod totp;
pub mod users;
pub mod versions;

pub use account_tokens::{AccountTokenStore, Purpose, StoredAccountToken, TokenUse};
pub use audit::{ActivityCounts, AuditListed, AuditQuery, AuditRecord, AuditStore};
pub use authorization_posts::AuthorizationPostStore;
pub use clients::{ClientStore, NewClient, StoredClient};
pub use codes::{CodeStore, CodeUse, NewCode, StoredCode};
pub use consents::{ConsentStore, UserConsent};
pub use grants::{GrantStore, IssuedTokens, NewGrant, RefreshUse, StoredGrant};
pub use keys::{KeyStore, StoredKey};
pub use leases::LeaseStore;
pub use lockout::{LockoutState, LockoutStore};
pub use outbox::{OutboxEntry, OutboxStore, OutboxSummary, QueuedMail};
pub use passkeys::{NewPasskey, PasskeyStore, StoredPasskey};
pub use purge::{PurgeTable, Retention};
pub use recovery_codes::RecoveryCodeStore;
pub use registrations::{
    NewInitialToken, RegistrationStore, StoredInitialToken, StoredRegistration,
};
pub use roles::{RoleGrant, RoleHolder, RoleStore};
pub use sessions::{LoadedSession, SessionInfo, SessionMeta, SessionStore};
pub use totp::{StoredTotp, TotpStore};
pub use users::{Identity, NewUser, Profile, StoredUser, UserStore};

/// Runs a read: `$body` with `$pool` bound to the engine's pool. The body is compiled
/// once per engine (its Rust types checked against each driver); one SQL text serves
/// both.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::storage::Db::Sqlite { reads: $pool, .. } => $body,
            $crate::storage::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// Runs a write (or a read that must see the latest write): on SQLite through the one
/// writer connection, so writers queue in the pool instead of colliding on SQLite's
/// write lock and sleeping in its busy handler.
macro_rules! on_write {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::storage::Db::Sqlite { writes: $pool, .. } => $body,
            $crate::storage::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_write;

/// Runs statements inside a `WriteTx`: `$body` with `$conn` bound to the engine's
/// connection (`&mut SqliteConnection` or `&mut PgConnection`), compiled once per engine.
/// Use `&mut *$conn` as the executor of each statement.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::storage::WriteTx::Sqlite(tx) => {
                let $conn: &mut sqlx::SqliteConnection = &mut **tx;
                $body
            }
            $crate::storage::WriteTx::Postgres(tx) => {
                let $conn: &mut sqlx::PgConnection = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// One write transaction on either engine, which any store's `*_in` methods join, so
/// a change that touches several stores commits or rolls back as one. Dropped without
/// `commit`, it rolls back. On SQLite it holds the one writer connection: keep it short
/// and never sign or hash inside it.
#[derive(Debug)]
pub enum WriteTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl WriteTx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Self::Sqlite(tx) => tx.commit().await?,
            Self::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Connection pools to one of the two engines.
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite allows one writer at a time: `writes` has one connection, `reads` the rest.
    Sqlite {
        reads: SqlitePool,
        writes: SqlitePool,
    },
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

/// What `database.acquire_timeout` defaults to (config/default.toml says the same).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

pub fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Db {
    /// Connects with the default `database.acquire_timeout` (for tests and tools).
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Self> {
        Self::connect_with(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// Connects; for SQLite, creates the file and its folder, and turns on WAL and
    /// foreign keys. `acquire_timeout` bounds how long a caller waits for a connection,
    /// opening a new one included: with the database gone, each request fails after
    /// that long (and is answered 503) instead of queueing behind the outage.
    pub async fn connect_with(
        url: &DatabaseUrl,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self> {
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
                // A local file has no dropped connections to detect, so the ping sqlx
                // sends before handing out a connection is pure cost on the hot path.
                let writes = SqlitePoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .acquire_timeout(acquire_timeout)
                    .connect_with(opts.clone())
                    .await?;
                let reads = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .test_before_acquire(false)
                    .acquire_timeout(acquire_timeout)
                    .connect_with(opts)
                    .await?;
                Ok(Self::Sqlite { reads, writes })
            }
            DatabaseUrl::Postgres(raw) => {
                // A connection the database (or a proxy) dropped is found by the ping
                // sqlx sends before handing out an idle one, and replaced; so after an
                // outage the pool heals by itself, one acquire at a time, with no
                // restart. Idle connections are closed after a minute and every one
                // after half an hour, so none outlives a failover for long.
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .min_connections(0)
                    .acquire_timeout(acquire_timeout)
                    .test_before_acquire(true)
                    .idle_timeout(Some(Duration::from_secs(60)))
                    .max_lifetime(Some(Duration::from_secs(30 * 60)))
                    .connect(raw.expose())
                    .await?;
                Ok(Self::Postgres(pool))
            }
        }
    }

    /// Applies the engine's migrations; safe to run from several instances at once.
    /// `now` (unix seconds) only dates the lock row of engines without advisory locks
    /// (`storage::migrate`).
    pub async fn migrate(&self, now: i64) -> Result<()> {
        match self {
            Self::Sqlite { writes, .. } => {
                sqlx::migrate!("./migrations/sqlite").run(writes).await?;
                Ok(())
            }
            Self::Postgres(pool) => migrate::postgres(pool, now).await,
        }
    }

    /// Starts a write transaction (on SQLite, on the writer connection).
    pub async fn begin_write(&self) -> Result<WriteTx> {
        Ok(match self {
            Self::Sqlite { writes, .. } => WriteTx::Sqlite(writes.begin().await?),
            Self::Postgres(pool) => WriteTx::Postgres(pool.begin().await?),
        })
    }

    /// A round trip to the database, for readiness checks, given up after `within`
    /// (waiting for a connection included) whatever the pool's own acquire timeout: a
    /// probe must be answered before its caller stops waiting (Kubernetes: 1 s).
    pub async fn ping(&self, within: Duration) -> Result<()> {
        let round_trip = async {
            on_db!(self, |pool| sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map(|_| ()))
        };
        match tokio::time::timeout(within, round_trip).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(StorageError::Database(sqlx::Error::PoolTimedOut)),
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite { reads, writes } => {
                reads.close().await;
                writes.close().await;
            }
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// Every store over one pool.
#[derive(Clone, Debug)]
pub struct Store {
    pub db: Db,
    pub users: UserStore,
    pub clients: ClientStore,
    pub keys: KeyStore,
    pub leases: LeaseStore,
    pub codes: CodeStore,
    pub grants: GrantStore,
    pub consents: ConsentStore,
    pub sessions: SessionStore,
    pub authorization_posts: AuthorizationPostStore,
    pub account_tokens: AccountTokenStore,
    pub audit: AuditStore,
    pub outbox: OutboxStore,
    pub lockouts: LockoutStore,
    pub passkeys: PasskeyStore,
    pub totp: TotpStore,
    pub recovery_codes: RecoveryCodeStore,
    pub roles: RoleStore,
    pub registrations: RegistrationStore,
}

impl Store {
    pub fn new(db: Db) -> Self {
        Self {
            users: UserStore::new(db.clone()),
            clients: ClientStore::new(db.clone()),
            keys: KeyStore::new(db.clone()),
            leases: LeaseStore::new(db.clone()),
            codes: CodeStore::new(db.clone()),
            grants: GrantStore::new(db.clone()),
            consents: ConsentStore::new(db.clone()),
            sessions: SessionStore::new(db.clone()),
            authorization_posts: AuthorizationPostStore::new(db.clone()),
            account_tokens: AccountTokenStore::new(db.clone()),
            audit: AuditStore::new(db.clone()),
            outbox: OutboxStore::new(db.clone()),
            lockouts: LockoutStore::new(db.clone()),
            passkeys: PasskeyStore::new(db.clone()),
            totp: TotpStore::new(db.clone()),
            recovery_codes: RecoveryCodeStore::new(db.clone()),
            roles: RoleStore::new(db.clone()),
            registrations: RegistrationStore::new(db.clone()),
            db,
        }
    }
}
