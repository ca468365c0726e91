//! The `browser_sessions` table: tower-sessions records, so a sign-in survives a restart
//! and is seen by every instance.

use uuid::Uuid;

use super::{Db, Result, WriteTx, on_db, on_tx, on_write};

/// Who a session belongs to and from where, kept in columns beside the record so the
/// account page can list a person's sessions and end one. All `None` before sign-in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionMeta {
    pub user_id: Option<Uuid>,
    /// The sign-in's public handle (the `sid` claim); never the cookie's id.
    pub sid: Option<String>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub signed_in_at: Option<i64>,
    pub last_seen_at: i64,
}

/// A signed-in browser, as its person sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub sid: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub signed_in_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// A live session as loaded: its record, and the columns its lifetime follows from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedSession {
    pub data: Vec<u8>,
    pub signed_in_at: Option<i64>,
    pub last_seen_at: i64,
}

#[derive(Clone, Debug)]
pub struct SessionStore {
    db: Db,
}

impl SessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Inserts a record under a new id; false when the id is taken.
    pub async fn create(
        &self,
        id: &str,
        data: &[u8],
        expires_at: i64,
        meta: &SessionMeta,
    ) -> Result<bool> {
        let inserted = on_write!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO browser_sessions (id, data, expires_at, user_id, sid, user_agent, \
                 ip, signed_in_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(data)
            .bind(expires_at)
            .bind(meta.user_id)
            .bind(&meta.sid)
            .bind(&meta.user_agent)
            .bind(&meta.ip)
            .bind(meta.signed_in_at)
            .bind(meta.last_seen_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(inserted == 1)
    }

    /// Writes a record. A record that no longer exists (ended from another browser) is
    /// not brought back: false.
    pub async fn save(
        &self,
        id: &str,
        data: &[u8],
        expires_at: i64,
        meta: &SessionMeta,
    ) -> Result<bool> {
        let updated = on_write!(&self.db, |pool| {
            sqlx::query(
                "UPDATE browser_sessions SET data = $2, expires_at = $3, user_id = $4, sid = $5, \
                 user_agent = $6, ip = $7, signed_in_at = $8, last_seen_at = $9 WHERE id = $1",
            )
            .bind(id)
            .bind(data)
            .bind(expires_at)
            .bind(meta.user_id)
            .bind(&meta.sid)
            .bind(&meta.user_agent)
            .bind(&meta.ip)
            .bind(meta.signed_in_at)
            .bind(meta.last_seen_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(updated == 1)
    }

    /// The signed-in sessions of `user_id` that are live at `now`, newest first.
    pub async fn list_for_user(&self, user_id: Uuid, now: i64) -> Result<Vec<SessionInfo>> {
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, (String, Option<String>, Option<String>, i64, i64, i64)>(
                "SELECT sid, user_agent, ip, signed_in_at, last_seen_at, expires_at \
                 FROM browser_sessions WHERE user_id = $1 AND expires_at > $2 \
                 AND sid IS NOT NULL AND signed_in_at IS NOT NULL \
                 ORDER BY last_seen_at DESC, sid",
            )
            .bind(user_id)
            .bind(now)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(sid, user_agent, ip, signed_in_at, last_seen_at, expires_at)| SessionInfo {
                    sid,
                    user_agent,
                    ip,
                    signed_in_at,
                    last_seen_at,
                    expires_at,
                },
            )
            .collect())
    }

    /// Ends `user_id`'s sessions: the one with `only` as its sid, or else every one but
    /// `except`. Returns how many ended.
    pub async fn end_for_user_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        only: Option<&str>,
        except: Option<&str>,
    ) -> Result<u64> {
        let n = on_tx!(tx, |conn| {
            sqlx::query(
                "DELETE FROM browser_sessions WHERE user_id = $1 \
                 AND ($2 IS NULL OR sid = $2) AND ($3 IS NULL OR sid IS NULL OR sid <> $3)",
            )
            .bind(user_id)
            .bind(only)
            .bind(except)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// The record and when its sign-in happened and it was last seen, unless it has
    /// expired by `now`.
    pub async fn load(&self, id: &str, now: i64) -> Result<Option<LoadedSession>> {
        let row = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, (Vec<u8>, Option<i64>, i64)>(
                "SELECT data, signed_in_at, last_seen_at FROM browser_sessions \
                 WHERE id = $1 AND expires_at > $2",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|(data, signed_in_at, last_seen_at)| LoadedSession {
            data,
            signed_in_at,
            last_seen_at,
        }))
    }

    /// Moves a live session's expiry to `expires_at` and marks it seen at `now`; one
    /// that has ended or expired stays so.
    pub async fn touch(&self, id: &str, expires_at: i64, now: i64) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query(
                "UPDATE browser_sessions SET expires_at = $2, last_seen_at = $3 \
                 WHERE id = $1 AND expires_at > $3",
            )
            .bind(id)
            .bind(expires_at)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// How many session rows there are, expired or not: what a visitor costs us.
    pub async fn count(&self) -> Result<i64> {
        let n = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM browser_sessions")
                .fetch_one(pool)
                .await
        })?;
        Ok(n)
    }

    /// The stored size of session `id`'s record and its expiry, for tests and operators.
    pub async fn size_and_expiry(&self, id: &str) -> Result<Option<(i64, i64)>> {
        let row = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, (Vec<u8>, i64)>(
                "SELECT data, expires_at FROM browser_sessions WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row
            .map(|(data, expires_at)| (i64::try_from(data.len()).unwrap_or(i64::MAX), expires_at)))
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query("DELETE FROM browser_sessions WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Deletes at most `limit` sessions that expired by `now`.
    pub async fn purge_expired_in(&self, tx: &mut WriteTx, now: i64, limit: i64) -> Result<u64> {
        super::purge::delete_expired_in(tx, "browser_sessions", "id", now, limit).await
    }
}
