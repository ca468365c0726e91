//! Dynamic client registration's own tables: `initial_access_tokens` (what lets someone
//! register when `registration.mode` is `initial_token`) and `client_registrations`
//! (RFC 7592's extras for a self-registered client, whose row is in `clients`).

use serde_json::Value;
use sqlx::types::Json;

use super::{Db, NewClient, Result, StorageError, WriteTx, on_db, on_tx, unique_violation};

/// An initial access token as stored: never the token, only its hash.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredInitialToken {
    pub id: String,
    pub label: String,
    /// The audit actor who made it (`user:<uuid>`, `client:<id>`, `cli`).
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// `None`: any number of registrations until it expires or is revoked.
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug)]
pub struct NewInitialToken {
    pub id: String,
    pub token_hash: String,
    pub label: String,
    pub created_by: String,
    pub expires_at: i64,
    pub max_uses: Option<i64>,
}

/// RFC 7592's record of a self-registered client.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRegistration {
    pub client_id: String,
    pub access_token_hash: String,
    /// The client metadata as registered (RFC 7591 section 3.2.1 echoes it).
    pub metadata: Value,
    pub client_id_issued_at: i64,
    /// 0: the secret never expires (or there is none).
    pub client_secret_expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct RegistrationRow {
    client_id: String,
    access_token_hash: String,
    metadata: Json<Value>,
    client_id_issued_at: i64,
    client_secret_expires_at: i64,
}

impl From<RegistrationRow> for StoredRegistration {
    fn from(r: RegistrationRow) -> Self {
        Self {
            client_id: r.client_id,
            access_token_hash: r.access_token_hash,
            metadata: r.metadata.0,
            client_id_issued_at: r.client_id_issued_at,
            client_secret_expires_at: r.client_secret_expires_at,
        }
    }
}

const TOKEN_COLUMNS: &str =
    "id, label, created_by, created_at, expires_at, max_uses, uses, revoked_at";
const REGISTRATION_COLUMNS: &str =
    "client_id, access_token_hash, metadata, client_id_issued_at, client_secret_expires_at";

#[derive(Clone, Debug)]
pub struct RegistrationStore {
    db: Db,
}

impl RegistrationStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Stores a new initial access token inside `tx` (with its audit event).
    pub async fn insert_token_in(
        &self,
        tx: &mut WriteTx,
        new: &NewInitialToken,
        now: i64,
    ) -> Result<StoredInitialToken> {
        let sql = format!(
            "INSERT INTO initial_access_tokens \
             (id, token_hash, label, created_by, created_at, expires_at, max_uses) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {TOKEN_COLUMNS}"
        );
        let row = on_tx!(tx, |conn| {
            sqlx::query_as::<_, StoredInitialToken>(&sql)
                .bind(&new.id)
                .bind(&new.token_hash)
                .bind(&new.label)
                .bind(&new.created_by)
                .bind(now)
                .bind(new.expires_at)
                .bind(new.max_uses)
                .fetch_one(&mut *conn)
                .await
        });
        match row {
            Ok(row) => Ok(row),
            Err(e) if unique_violation(&e).is_some() => Err(StorageError::Conflict("token")),
            Err(e) => Err(e.into()),
        }
    }

    /// Every initial access token, the newest first, `limit` from `offset`.
    pub async fn list_tokens(&self, limit: i64, offset: i64) -> Result<Vec<StoredInitialToken>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM initial_access_tokens \
             ORDER BY created_at DESC, id LIMIT $1 OFFSET $2"
        );
        Ok(on_db!(&self.db, |pool| {
            sqlx::query_as::<_, StoredInitialToken>(&sql)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await
        })?)
    }

    pub async fn count_tokens(&self) -> Result<i64> {
        Ok(on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM initial_access_tokens")
                .fetch_one(pool)
                .await
        })?)
    }

    /// Revokes the token `id` inside `tx`: `None` when there is no such token; an
    /// already revoked one keeps its first revocation time.
    pub async fn revoke_token_in(
        &self,
        tx: &mut WriteTx,
        id: &str,
        now: i64,
    ) -> Result<Option<StoredInitialToken>> {
        let sql = format!(
            "UPDATE initial_access_tokens SET revoked_at = COALESCE(revoked_at, $2) \
             WHERE id = $1 RETURNING {TOKEN_COLUMNS}"
        );
        Ok(on_tx!(tx, |conn| {
            sqlx::query_as::<_, StoredInitialToken>(&sql)
                .bind(id)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await
        })?)
    }

    /// Uses the token with `token_hash` once, in one statement, so two registrations
    /// racing for its last use cannot both win: its id when it was live (not expired,
    /// not revoked, uses left), else `None`.
    pub async fn use_token_in(
        &self,
        tx: &mut WriteTx,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<String>> {
        Ok(on_tx!(tx, |conn| {
            sqlx::query_scalar::<_, String>(
                "UPDATE initial_access_tokens SET uses = uses + 1 \
                 WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 \
                 AND (max_uses IS NULL OR uses < max_uses) RETURNING id",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await
        })?)
    }

    /// Records RFC 7592's extras for the client just inserted in `tx`.
    pub async fn insert_registration_in(
        &self,
        tx: &mut WriteTx,
        reg: &StoredRegistration,
        initial_token_id: Option<&str>,
    ) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "INSERT INTO client_registrations (client_id, access_token_hash, metadata, \
                 client_id_issued_at, client_secret_expires_at, initial_token_id) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&reg.client_id)
            .bind(&reg.access_token_hash)
            .bind(Json(&reg.metadata))
            .bind(reg.client_id_issued_at)
            .bind(reg.client_secret_expires_at)
            .bind(initial_token_id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn find_registration(&self, client_id: &str) -> Result<Option<StoredRegistration>> {
        let sql =
            format!("SELECT {REGISTRATION_COLUMNS} FROM client_registrations WHERE client_id = $1");
        let row = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, RegistrationRow>(&sql)
                .bind(client_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(Into::into))
    }

    /// Replaces a self-registered client's metadata (RFC 7592 section 2.2) inside `tx`:
    /// its `clients` row (the secret kept unless `new.secret_hash` is set), its origins,
    /// and its registration record with the new access token hash. `false` when the
    /// registration is gone (deleted meanwhile).
    pub async fn replace_in(
        &self,
        tx: &mut WriteTx,
        new: &NewClient,
        reg: &StoredRegistration,
    ) -> Result<bool> {
        let updated = on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE clients SET name = $2, redirect_uris = $3, \
                 post_logout_redirect_uris = $4, grant_types = $5, public = $6, \
                 token_endpoint_auth_method = $7, allowed_scopes = $8, \
                 secret_hash = CASE WHEN $6 THEN NULL ELSE COALESCE($9, secret_hash) END WHERE client_id = $1",
            )
            .bind(&new.client_id)
            .bind(&new.name)
            .bind(Json(&new.redirect_uris))
            .bind(Json(&new.post_logout_redirect_uris))
            .bind(Json(&new.grant_types))
            .bind(new.public)
            .bind(new.token_endpoint_auth_methods.join(" "))
            .bind(Json(&new.allowed_scopes))
            .bind(&new.secret_hash)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        if updated == 0 {
            return Ok(false);
        }
        on_tx!(tx, |conn| {
            sqlx::query("DELETE FROM client_origins WHERE client_id = $1")
                .bind(&new.client_id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        for origin in &new.origins {
            on_tx!(tx, |conn| {
                sqlx::query("INSERT INTO client_origins (origin, client_id) VALUES ($1, $2)")
                    .bind(origin)
                    .bind(&new.client_id)
                    .execute(&mut *conn)
                    .await
                    .map(|_| ())
            })?;
        }
        on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE client_registrations SET access_token_hash = $2, metadata = $3, \
                 client_secret_expires_at = $4 WHERE client_id = $1",
            )
            .bind(&reg.client_id)
            .bind(&reg.access_token_hash)
            .bind(Json(&reg.metadata))
            .bind(reg.client_secret_expires_at)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(true)
    }

    /// Deletes a self-registered client inside `tx` (RFC 7592 section 2.3); its codes,
    /// grants, consents, origins and registration go with it by cascade. `false` when it
    /// was already gone.
    pub async fn delete_client_in(&self, tx: &mut WriteTx, client_id: &str) -> Result<bool> {
        let done = on_tx!(tx, |conn| {
            sqlx::query(
                "DELETE FROM clients WHERE client_id = $1 AND client_id IN \
                 (SELECT client_id FROM client_registrations)",
            )
            .bind(client_id)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }
}
