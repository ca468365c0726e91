//! tower-sessions records kept in our database, so sign-ins survive restarts and are
//! shared by every instance.

use async_trait::async_trait;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store::{Error, Result},
};

use crate::{accounts::AuthenticatedUser, clock::Clock, storage, storage::SessionMeta};

/// The session key under which sign-in records the browser it happened in.
pub(super) const DEVICE: &str = "device";

/// The browser a sign-in happened in, as the account page shows it.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Device {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

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

impl DbSessions {
    /// The columns kept beside the record: whose session it is and from where.
    fn meta(&self, record: &Record) -> SessionMeta {
        let who: Option<AuthenticatedUser> = record
            .data
            .get(super::flow::AUTH)
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let device: Device = record
            .data
            .get(DEVICE)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        SessionMeta {
            user_id: who.as_ref().map(|w| w.user_id),
            sid: who.as_ref().map(|w| w.sid.clone()),
            signed_in_at: who.as_ref().map(|w| w.auth_time),
            user_agent: who.as_ref().and(device.user_agent),
            ip: who.as_ref().and(device.ip),
            last_seen_at: self.clock.now(),
        }
    }
}

#[async_trait]
impl SessionStore for DbSessions {
    async fn create(&self, record: &mut Record) -> Result<()> {
        loop {
            let data = encode(record)?;
            let expires = record.expiry_date.unix_timestamp();
            if self
                .store
                .create(&record.id.to_string(), &data, expires, &self.meta(record))
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
        // A session ended elsewhere (from the account page, say) stays ended.
        self.store
            .save(
                &record.id.to_string(),
                &data,
                record.expiry_date.unix_timestamp(),
                &self.meta(record),
            )
            .await
            .map(|_| ())
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
