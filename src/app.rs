//! The application state every handler shares, and the server loop.

use std::{sync::Arc, time::Duration};

use tokio::net::TcpListener;

use crate::{
    clock::Clock,
    config::Config,
    crypto::{KeyError, KeyRing, PasswordError, PasswordHasher},
    storage::{Db, StorageError, Store},
};

/// Cheap to clone: every field is a handle.
#[derive(Clone, Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    /// Where every `now` comes from.
    pub clock: Clock,
    pub store: Store,
    pub keys: Arc<KeyRing>,
    pub hasher: PasswordHasher,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Storage(#[from] StorageError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("password hashing: {0}")]
    Password(#[from] PasswordError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

impl AppState {
    /// Connects to the database, migrates it and loads (or creates) the signing keys.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        Self::start_with_clock(config, Clock::system()).await
    }

    /// As `start`, reading time from `clock` (tests pass `Clock::test()`).
    pub async fn start_with_clock(config: Config, clock: Clock) -> Result<Self, StartError> {
        let db = Db::connect(&config.database_url, config.database.max_connections).await?;
        db.migrate().await?;
        Self::with_db(config, db, clock).await
    }

    /// As `start`, over a database that is already connected and migrated.
    pub async fn with_db(config: Config, db: Db, clock: Clock) -> Result<Self, StartError> {
        let store = Store::new(db);
        let keys = KeyRing::open(store.keys.clone(), config.keys.encryption_key.clone()).await?;
        keys.spawn_reloader(config.keys.reload_interval);
        let hasher = PasswordHasher::new(
            config.security.password_hash_concurrency,
            config.security.password_hash_queue,
        )?;
        Ok(Self {
            config: Arc::new(config),
            clock,
            store,
            keys,
            hasher,
        })
    }
}

/// Deletes expired rows once a minute until the process ends.
fn spawn_purger(store: Store) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match store.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(rows = n, "purged expired rows"),
                Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
            }
        }
    });
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    spawn_purger(state.store.clone());
    let db = state.store.db.clone();
    let app = crate::build_router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    db.close().await;
    Ok(())
}
