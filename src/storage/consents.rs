//! The `consents` table: which scopes a person has granted a client.

use uuid::Uuid;

use super::{Db, Result, WriteTx, on_db, on_tx};

/// A consent as the account page lists it: the app by name, what it was allowed, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserConsent {
    pub client_id: String,
    pub client_name: String,
    /// Space-separated, every scope granted.
    pub scope: String,
    pub updated_at: i64,
}

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

    /// Every app `user_id` has consented to, with its name, most recent first.
    pub async fn list_for_user(&self, user_id: Uuid) -> Result<Vec<UserConsent>> {
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, (String, String, String, i64)>(
                "SELECT c.client_id, cl.name, c.scope, c.updated_at FROM consents c \
                 JOIN clients cl ON cl.client_id = c.client_id WHERE c.user_id = $1 \
                 ORDER BY c.updated_at DESC, cl.name, c.client_id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(client_id, client_name, scope, updated_at)| UserConsent {
                client_id,
                client_name,
                scope,
                updated_at,
            })
            .collect())
    }

    /// Forgets what `user_id` granted `client_id`, inside `tx`; false when there was
    /// nothing to forget.
    pub async fn delete_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        client_id: &str,
    ) -> Result<bool> {
        let n = on_tx!(tx, |conn| {
            sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Forgets every consent of `user_id`, inside `tx` (the account is being deleted).
    pub async fn delete_all_for_user_in(&self, tx: &mut WriteTx, user_id: Uuid) -> Result<u64> {
        let n = on_tx!(tx, |conn| {
            sqlx::query("DELETE FROM consents WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }
}
