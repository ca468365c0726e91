//! The `clients` table, the apps registered to sign people in, and `client_origins`, the
//! origins of their redirect URIs (for CORS, looked up by index instead of a scan).

use sqlx::types::Json;

use super::{Db, Result, StorageError, WriteTx, on_db, on_tx, unique_violation};

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
    /// The methods it may authenticate with at the token endpoint (RFC 7591 section 2).
    pub token_endpoint_auth_methods: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub first_party: bool,
    /// Audiences it serves as a resource server: it may introspect their tokens.
    pub resource_audiences: Vec<String>,
    pub created_at: i64,
    /// Everyone who signs in to it must pass a second factor.
    pub require_second_factor: bool,
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
    pub token_endpoint_auth_methods: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub first_party: bool,
    pub resource_audiences: Vec<String>,
    /// The web origins of its redirect URIs.
    pub origins: Vec<String>,
    pub require_second_factor: bool,
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
    /// Space-separated.
    token_endpoint_auth_method: String,
    allowed_scopes: Json<Vec<String>>,
    first_party: bool,
    resource_audiences: Json<Vec<String>>,
    created_at: i64,
    require_second_factor: bool,
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
            token_endpoint_auth_methods: r
                .token_endpoint_auth_method
                .split(' ')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            allowed_scopes: r.allowed_scopes.0,
            first_party: r.first_party,
            resource_audiences: r.resource_audiences.0,
            created_at: r.created_at,
            require_second_factor: r.require_second_factor,
        }
    }
}

const COLUMNS: &str = "client_id, secret_hash, name, redirect_uris, post_logout_redirect_uris, \
                       grant_types, public, token_endpoint_auth_method, allowed_scopes, \
                       first_party, resource_audiences, created_at, require_second_factor";

#[derive(Clone, Debug)]
pub struct ClientStore {
    db: Db,
}

impl ClientStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Registers a client and its origins, in one transaction.
    pub async fn insert(&self, new: NewClient, now: i64) -> Result<StoredClient> {
        let mut tx = self.db.begin_write().await?;
        let client = self.insert_in(&mut tx, &new, now).await?;
        tx.commit().await?;
        Ok(client)
    }

    /// Registers a client and its origins inside `tx`; a taken client_id is `Conflict`.
    pub async fn insert_in(
        &self,
        tx: &mut WriteTx,
        new: &NewClient,
        now: i64,
    ) -> Result<StoredClient> {
        let sql = format!(
            "INSERT INTO clients ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {COLUMNS}"
        );
        let row = on_tx!(tx, |conn| {
            sqlx::query_as::<_, ClientRow>(&sql)
                .bind(&new.client_id)
                .bind(&new.secret_hash)
                .bind(&new.name)
                .bind(Json(&new.redirect_uris))
                .bind(Json(&new.post_logout_redirect_uris))
                .bind(Json(&new.grant_types))
                .bind(new.public)
                .bind(new.token_endpoint_auth_methods.join(" "))
                .bind(Json(&new.allowed_scopes))
                .bind(new.first_party)
                .bind(Json(&new.resource_audiences))
                .bind(now)
                .bind(new.require_second_factor)
                .fetch_one(&mut *conn)
                .await
        });
        let client: StoredClient = match row {
            Ok(row) => row.into(),
            Err(e) if unique_violation(&e).is_some() => {
                return Err(StorageError::Conflict("client_id"));
            }
            Err(e) => return Err(e.into()),
        };
        self.add_origins_in(tx, &client.client_id, &new.origins)
            .await?;
        Ok(client)
    }

    /// Records `origins` for `client_id` (those already recorded are kept).
    pub async fn add_origins_in(
        &self,
        tx: &mut WriteTx,
        client_id: &str,
        origins: &[String],
    ) -> Result<()> {
        for origin in origins {
            on_tx!(tx, |conn| {
                sqlx::query(
                    "INSERT INTO client_origins (origin, client_id) VALUES ($1, $2) \
                     ON CONFLICT (origin, client_id) DO NOTHING",
                )
                .bind(origin)
                .bind(client_id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Whether some client registered a redirect URI at `origin`: one indexed lookup.
    pub async fn origin_is_registered(&self, origin: &str) -> Result<bool> {
        let found = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT CAST(1 AS BIGINT) FROM client_origins WHERE origin = $1 LIMIT 1",
            )
            .bind(origin)
            .fetch_optional(pool)
            .await
        })?;
        Ok(found.is_some())
    }

    /// Clients with redirect URIs but no recorded origins (registered before origins
    /// were recorded).
    pub async fn without_origins(&self) -> Result<Vec<StoredClient>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM clients c WHERE NOT EXISTS \
             (SELECT 1 FROM client_origins o WHERE o.client_id = c.client_id)"
        );
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, ClientRow>(&sql).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(StoredClient::from)
            .filter(|c| !c.redirect_uris.is_empty())
            .collect())
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
