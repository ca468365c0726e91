//! tower-sessions records kept in our database, so sign-ins survive restarts and are
//! shared by every instance.
//!
//! Their lifetime is ours, from `AppState.clock` (tower-sessions' own expiry follows the
//! wall clock and is ignored): a session no one has signed in to lives
//! `sessions.anonymous_ttl`; a signed-in one `sessions.ttl` from its last use, and never
//! past `sessions.absolute_ttl` after its sign-in, however active. A session that ended
//! (signed out, ended from the account page) is never written back: `save` only
//! updates. Nothing is written for a visitor with nothing to keep: tower-sessions stores
//! only a modified, non-empty session, and the CSRF token of such a visitor is in a
//! cookie (`csrf`).

use async_trait::async_trait;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store::{Error, Result},
};

use crate::{
    accounts::AuthenticatedUser, audit::Origin, clock::Clock, config::SessionSettings, storage,
    storage::SessionMeta,
};

/// The largest record we store; a bigger one is a bug or an attack, refused.
/// (What grows, the pending sign-ins, is capped well below this in `flow`.)
const MAX_RECORD_BYTES: usize = 64 * 1024;

/// How often, at most, using a signed-in session moves its idle expiry (a write).
const TOUCH_EVERY: i64 = 60;

/// The session key under which sign-in records the browser it happened in.
pub(super) const DEVICE: &str = "device";

/// The browser a sign-in happened in, as the account page shows it.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Device {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// The longest user agent kept with a session: enough to tell browsers apart, and a
/// header of many kilobytes cannot bloat the record (or push it over its limit).
const USER_AGENT_MAX: usize = 256;

impl Device {
    pub(super) fn of(origin: &Origin) -> Self {
        Self {
            user_agent: origin.user_agent.as_ref().map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(USER_AGENT_MAX)
                    .collect()
            }),
            ip: origin.ip.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct DbSessions {
    store: storage::SessionStore,
    clock: Clock,
    lifetimes: Lifetimes,
}

/// `[sessions]` in seconds.
#[derive(Clone, Copy, Debug)]
struct Lifetimes {
    idle: i64,
    absolute: i64,
    anonymous: i64,
}

impl Lifetimes {
    /// When a session seen at `now` expires: signed in at `signed_in_at`, or not at all.
    fn expiry(self, signed_in_at: Option<i64>, now: i64) -> i64 {
        match signed_in_at {
            Some(at) => now
                .saturating_add(self.idle)
                .min(at.saturating_add(self.absolute)),
            None => now.saturating_add(self.anonymous),
        }
    }
}

impl DbSessions {
    pub(super) fn new(store: storage::SessionStore, clock: Clock, s: &SessionSettings) -> Self {
        let lifetimes = Lifetimes {
            idle: storage::secs(s.ttl),
            absolute: storage::secs(s.absolute_ttl),
            anonymous: storage::secs(s.anonymous_ttl),
        };
        Self {
            store,
            clock,
            lifetimes,
        }
    }
}

fn backend(e: storage::StorageError) -> Error {
    Error::Backend(e.to_string())
}

fn encode(record: &Record) -> Result<Vec<u8>> {
    let data = serde_json::to_vec(record).map_err(|e| Error::Encode(e.to_string()))?;
    if data.len() > MAX_RECORD_BYTES {
        return Err(Error::Encode(format!(
            "a session record of {} bytes is over the limit of {MAX_RECORD_BYTES}",
            data.len()
        )));
    }
    Ok(data)
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

    fn expires_at(&self, meta: &SessionMeta) -> i64 {
        let signed_in_at = meta.user_id.and(meta.signed_in_at);
        self.lifetimes.expiry(signed_in_at, meta.last_seen_at)
    }
}

#[async_trait]
impl SessionStore for DbSessions {
    async fn create(&self, record: &mut Record) -> Result<()> {
        loop {
            let data = encode(record)?;
            let meta = self.meta(record);
            if self
                .store
                .create(&record.id.to_string(), &data, self.expires_at(&meta), &meta)
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
        let meta = self.meta(record);
        // A session ended elsewhere (signed out, or from the account page) stays ended.
        self.store
            .save(&record.id.to_string(), &data, self.expires_at(&meta), &meta)
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let now = self.clock.now();
        let id = id.to_string();
        let Some(loaded) = self.store.load(&id, now).await.map_err(backend)? else {
            return Ok(None);
        };
        if let Some(at) = loaded.signed_in_at {
            let expires_at = self.lifetimes.expiry(Some(at), now);
            if expires_at <= now {
                // Past its absolute lifetime, however active: over.
                return Ok(None);
            }
            if now - loaded.last_seen_at >= TOUCH_EVERY {
                // In use: its idle time starts again (a read alone would not save it).
                self.store
                    .touch(&id, expires_at, now)
                    .await
                    .map_err(backend)?;
            }
        }
        // A record we cannot read is treated as no session, never as an error page.
        Ok(serde_json::from_slice(&loaded.data).ok())
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.store.delete(&id.to_string()).await.map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Lifetimes = Lifetimes {
        idle: 3600,
        absolute: 7 * 86400,
        anonymous: 1800,
    };

    #[test]
    fn a_session_no_one_signed_in_to_lives_the_short_lifetime() {
        assert_eq!(L.expiry(None, 1000), 2800);
    }

    #[test]
    fn a_signed_in_session_lives_its_idle_time_from_its_last_use() {
        assert_eq!(L.expiry(Some(0), 1000), 4600);
    }

    #[test]
    fn a_signed_in_session_never_outlives_its_absolute_lifetime() {
        let end = 7 * 86400;
        assert_eq!(L.expiry(Some(0), end - 60), end);
        // Past it, the expiry is in the past: `load` treats the session as over.
        assert_eq!(L.expiry(Some(0), end + 1), end);
    }

    #[test]
    fn lifetimes_at_the_ends_of_time_do_not_overflow() {
        assert_eq!(L.expiry(Some(i64::MAX), i64::MAX), i64::MAX);
        assert_eq!(L.expiry(None, i64::MAX), i64::MAX);
    }
}
