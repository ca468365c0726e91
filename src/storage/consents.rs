//! The `consents` table: which scopes a person has granted a client.

use uuid::Uuid;

use super::{Db, Result, WriteTx, on_db, on_tx};

#[derive(Clone, Debug)]
pub struct ConsentStore {
    db: Db,
}

impl ConsentStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The scopes `user_id` has granted `client_id`, space-separated.
    pub async fn scope(&self, user_id: Uuid, client_id: &str) -> Result<Option<String>> {
        let scope = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, String>(
                "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2",
            )
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(scope)
    }

    /// Remembers that `user_id` granted `client_id` these scopes (replacing the set).
    pub async fn save_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "INSERT INTO consents (user_id, client_id, scope, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client_id) \
                 DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(scope)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }
}
