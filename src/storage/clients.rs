//! The `clients` table: the apps registered to sign people in.

use sqlx::types::Json;

use super::{Db, Result, StorageError, on_db, on_write, unique_violation};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredClient {
    pub client_id: String,
    /// SHA-256 of the secret, base64url; `None` for public clients.
    pub secret_hash: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub public: bool,
    pub token_endpoint_auth_method: String,
    pub allowed_scopes: Vec<String>,
    pub first_party: bool,
    pub created_at: i64,
}

#[derive(Debug)]
pub struct NewClient {
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub public: bool,
    pub token_endpoint_auth_method: String,
    pub allowed_scopes: Vec<String>,
    pub first_party: bool,
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    secret_hash: Option<String>,
    name: String,
    redirect_uris: Json<Vec<String>>,
    post_logout_redirect_uris: Json<Vec<String>>,
    grant_types: Json<Vec<String>>,
    public: bool,
    token_endpoint_auth_method: String,
    allowed_scopes: Json<Vec<String>>,
    first_party: bool,
    created_at: i64,
}

impl From<ClientRow> for StoredClient {
    fn from(r: ClientRow) -> Self {
        Self {
            client_id: r.client_id,
            secret_hash: r.secret_hash,
            name: r.name,
            redirect_uris: r.redirect_uris.0,
            post_logout_redirect_uris: r.post_logout_redirect_uris.0,
            grant_types: r.grant_types.0,
            public: r.public,
            token_endpoint_auth_method: r.token_endpoint_auth_method,
            allowed_scopes: r.allowed_scopes.0,
            first_party: r.first_party,
            created_at: r.created_at,
        }
    }
}

const COLUMNS: &str = "client_id, secret_hash, name, redirect_uris, post_logout_redirect_uris, \
                       grant_types, public, token_endpoint_auth_method, allowed_scopes, \
                       first_party, created_at";

#[derive(Clone, Debug)]
pub struct ClientStore {
    db: Db,
}

impl ClientStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(&self, new: NewClient, now: i64) -> Result<StoredClient> {
        let sql = format!(
            "INSERT INTO clients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             RETURNING {COLUMNS}"
        );
        let row = on_write!(&self.db, |pool| {
            sqlx::query_as::<_, ClientRow>(&sql)
                .bind(&new.client_id)
                .bind(&new.secret_hash)
                .bind(&new.name)
                .bind(Json(&new.redirect_uris))
                .bind(Json(&new.post_logout_redirect_uris))
                .bind(Json(&new.grant_types))
                .bind(new.public)
                .bind(&new.token_endpoint_auth_method)
                .bind(Json(&new.allowed_scopes))
                .bind(new.first_party)
                .bind(now)
                .fetch_one(pool)
                .await
        });
        match row {
            Ok(row) => Ok(row.into()),
            Err(e) if unique_violation(&e).is_some() => Err(StorageError::Conflict("client_id")),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn find_by_client_id(&self, client_id: &str) -> Result<Option<StoredClient>> {
        let sql = format!("SELECT {COLUMNS} FROM clients WHERE client_id = $1");
        let row = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, ClientRow>(&sql)
                .bind(client_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(Into::into))
    }

    /// How many registered clients there are, without loading them.
    pub async fn count(&self) -> Result<u64> {
        let n = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM clients")
                .fetch_one(pool)
                .await
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub async fn list(&self) -> Result<Vec<StoredClient>> {
        let sql = format!("SELECT {COLUMNS} FROM clients ORDER BY created_at, client_id");
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, ClientRow>(&sql).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
