//! tower-sessions records kept in our database, so sign-ins survive restarts and are
//! shared by every instance.

use async_trait::async_trait;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store::{Error, Result},
};

use crate::{clock::Clock, storage};

#[derive(Clone, Debug)]
pub(super) struct DbSessions {
    store: storage::SessionStore,
    clock: Clock,
}

impl DbSessions {
    pub(super) fn new(store: storage::SessionStore, clock: Clock) -> Self {
        Self { store, clock }
    }
}

fn backend(e: storage::StorageError) -> Error {
    Error::Backend(e.to_string())
}

fn encode(record: &Record) -> Result<Vec<u8>> {
    serde_json::to_vec(record).map_err(|e| Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for DbSessions {
    async fn create(&self, record: &mut Record) -> Result<()> {
        loop {
            let data = encode(record)?;
            let expires = record.expiry_date.unix_timestamp();
            if self
                .store
                .create(&record.id.to_string(), &data, expires)
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let data = encode(record)?;
        self.store
            .save(
                &record.id.to_string(),
                &data,
                record.expiry_date.unix_timestamp(),
            )
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let Some(data) = self
            .store
            .load(&id.to_string(), self.clock.now())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        // A record we cannot read is treated as no session, never as an error page.
        Ok(serde_json::from_slice(&data).ok())
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.store.delete(&id.to_string()).await.map_err(backend)
    }
}
