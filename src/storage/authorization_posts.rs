//! The `authorization_posts` table: authorization requests that arrived as a POST, kept
//! for a moment under a random id so the browser can be sent on with a GET. A
//! cross-site POST carries no SameSite=Lax cookie, so answering it directly would start
//! a new session over the person's own; the GET carries their cookie.

use sqlx::types::Json;

use super::{Db, Result, WriteTx, on_write};

#[derive(Clone, Debug)]
pub struct AuthorizationPostStore {
    db: Db,
}

impl AuthorizationPostStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(
        &self,
        id: &str,
        params: &[(String, String)],
        expires_at: i64,
    ) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO authorization_posts (id, params, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(Json(params))
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Takes the request stored under `id`, once, unless it has expired by `now`.
    pub async fn take(&self, id: &str, now: i64) -> Result<Option<Vec<(String, String)>>> {
        let params = on_write!(&self.db, |pool| {
            sqlx::query_scalar::<_, Json<Vec<(String, String)>>>(
                "DELETE FROM authorization_posts WHERE id = $1 AND expires_at > $2 \
                 RETURNING params",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        Ok(params.map(|p| p.0))
    }

    /// Deletes at most `limit` posted requests that expired by `now`.
    pub async fn purge_expired_in(&self, tx: &mut WriteTx, now: i64, limit: i64) -> Result<u64> {
        super::purge::delete_expired_in(tx, "authorization_posts", "id", now, limit).await
    }
}
