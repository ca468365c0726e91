//! The application state every handler shares: settings, the clock, the stores, the
//! key ring and the domain services, each built once at start.

use std::sync::Arc;

use crate::{
    accounts::{Accounts, second_factor::passkeys::Passkeys},
    audit::Audit,
    clock::Clock,
    config::Config,
    crypto::{KeyError, KeyRing, PasswordError, PasswordHasher},
    jobs::Jobs,
    mail::Mailer,
    observe::Metrics,
    oidc::{access::AccessTokens, grant::Grants},
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
    /// Codes, the token endpoint's grants, revocation and introspection.
    pub grants: Grants,
    /// Access-token validation for userinfo, introspection and the admin API.
    pub access_tokens: AccessTokens,
    /// Sign-in, consents, the sign-in steps, and people managing their accounts.
    pub accounts: Accounts,
    /// Passkeys (WebAuthn): the relying party, built once from the issuer.
    pub passkeys: Passkeys,
    /// The security event trail.
    pub audit: Audit,
    /// Queues mail in the outbox.
    pub mailer: Mailer,
    /// Scheduled work, one instance at a time per job (`jobs`).
    pub jobs: Jobs,
    /// The process's metrics recorder, rendered at `/metrics`.
    pub metrics: Metrics,
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
    #[error("mail: {0}")]
    Mail(#[from] crate::mail::worker::TransportError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("tls: {0}")]
    Tls(#[from] crate::http::TlsError),
}

impl AppState {
    /// Connects to the database, migrates it and loads (or creates) the signing keys.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        Self::start_with_clock(config, Clock::system()).await
    }

    /// As `start`, reading time from `clock` (tests pass `Clock::test()`).
    pub async fn start_with_clock(config: Config, clock: Clock) -> Result<Self, StartError> {
        let db = Db::connect_with(
            &config.database_url,
            config.database.max_connections,
            config.database.acquire_timeout,
        )
        .await?;
        db.migrate(clock.now()).await?;
        Self::with_db(config, db, clock).await
    }

    /// As `start`, over a database that is already connected and migrated.
    pub async fn with_db(config: Config, db: Db, clock: Clock) -> Result<Self, StartError> {
        let metrics = Metrics::install();
        let store = Store::new(db);
        let keys = KeyRing::open(
            store.keys.clone(),
            config.keys.encryption_key.clone(),
            clock.clone(),
        )
        .await?;
        keys.spawn_reloader(config.keys.reload_interval);
        let hasher = PasswordHasher::new(
            config.security.password_hash_concurrency,
            config.security.password_hash_queue,
        )?;
        let config = Arc::new(config);
        let access_tokens = AccessTokens::new(
            keys.clone(),
            config.clone(),
            store.grants.clone(),
            clock.clone(),
        );
        let grants = Grants::new(
            store.clone(),
            keys.clone(),
            config.clone(),
            access_tokens.clone(),
            clock.clone(),
        );
        let audit = Audit::new(store.audit.clone());
        let mailer = Mailer::new(store.outbox.clone(), config.issuer.host());
        let accounts = Accounts::new(
            store.clone(),
            hasher.clone(),
            clock.clone(),
            config.clone(),
            audit.clone(),
            mailer.clone(),
        );
        let passkeys = Passkeys::new(
            &config.issuer,
            accounts.clone(),
            store.clone(),
            audit.clone(),
            mailer.clone(),
            clock.clone(),
        );
        let jobs = Jobs::new(store.leases.clone(), clock.clone());
        accounts.backfill_identity_keys().await?;
        crate::oidc::clients::backfill_origins(&store.clients, &store.db).await?;
        Ok(Self {
            config,
            clock,
            store,
            keys,
            hasher,
            grants,
            access_tokens,
            accounts,
            passkeys,
            audit,
            mailer,
            jobs,
            metrics,
        })
    }
}

impl AppState {
    /// Starts this instance's mail delivery worker.
    pub fn spawn_mail_worker(&self) -> Result<(), StartError> {
        let transport = crate::mail::worker::Transport::from_config(&self.config)?;
        crate::mail::worker::spawn(
            self.store.outbox.clone(),
            transport,
            &self.config.mail.from,
            self.clock.clone(),
            self.mailer.wakeup(),
        )?;
        Ok(())
    }
}
