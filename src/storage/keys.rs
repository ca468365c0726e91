//! The `signing_keys` table: the key ring every instance loads.

use sqlx::types::Json;

use crate::crypto::Secret;

use super::{Db, Result, on_db, on_write, unique_violation};

#[derive(Clone, Debug)]
pub struct StoredKey {
    pub kid: String,
    /// PKCS#8 PEM, or sealed with `keys.encryption_key`; never logged.
    pub private_key: Secret,
    pub public_jwk: serde_json::Value,
    pub created_at: i64,
    pub retire_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    private_key: String,
    public_jwk: Json<serde_json::Value>,
    created_at: i64,
    retire_at: Option<i64>,
}

impl From<KeyRow> for StoredKey {
    fn from(r: KeyRow) -> Self {
        Self {
            kid: r.kid,
            private_key: Secret::new(r.private_key),
            public_jwk: r.public_jwk.0,
            created_at: r.created_at,
            retire_at: r.retire_at,
        }
    }
}

#[derive(Clone, Debug)]
pub struct KeyStore {
    db: Db,
}

const INSERT: &str =
    "INSERT INTO signing_keys (kid, private_key, public_jwk, created_at) VALUES ($1, $2, $3, $4)";

impl KeyStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The keys still published at `now`, newest first; the first one that is not
    /// retiring is the one that signs.
    pub async fn published(&self, now: i64) -> Result<Vec<StoredKey>> {
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, KeyRow>(
                "SELECT kid, private_key, public_jwk, created_at, retire_at FROM signing_keys \
                 WHERE retire_at IS NULL OR retire_at > $1 ORDER BY created_at DESC, kid",
            )
            .bind(now)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Adds a key that signs from now on.
    /// Every stored key whose private half does not start with `prefix`: (kid, key).
    pub async fn private_keys_without(&self, prefix: &str) -> Result<Vec<(String, Secret)>> {
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, (String, String)>(
                "SELECT kid, private_key FROM signing_keys WHERE private_key NOT LIKE $1",
            )
            .bind(format!("{prefix}%"))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(|(k, p)| (k, Secret::new(p))).collect())
    }

    /// Replaces a key's private half if it is still `old` (so that two instances sealing
    /// at once do not seal twice); true when this call replaced it.
    pub async fn replace_private_key(&self, kid: &str, old: &Secret, new: &Secret) -> Result<bool> {
        let n = on_write!(&self.db, |pool| {
            sqlx::query(
                "UPDATE signing_keys SET private_key = $2 WHERE kid = $1 AND private_key = $3",
            )
            .bind(kid)
            .bind(new.expose())
            .bind(old.expose())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Inserts `key` as the first signing key, unless one already signs: a unique index
    /// allows one signing key, so of instances starting together exactly one wins. True
    /// when this insert won.
    pub async fn insert_first(&self, key: &StoredKey) -> Result<bool> {
        let inserted = on_write!(&self.db, |pool| {
            sqlx::query(INSERT)
                .bind(&key.kid)
                .bind(key.private_key.expose())
                .bind(Json(&key.public_jwk))
                .bind(key.created_at)
                .execute(pool)
                .await
                .map(|_| ())
        });
        match inserted {
            Ok(()) => Ok(true),
            Err(e) if unique_violation(&e).is_some() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Adds `key` as the signing key and schedules every other signing key to leave the
    /// JWKS at `retire_at`, in one transaction.
    pub async fn rotate(&self, key: &StoredKey, retire_at: i64) -> Result<()> {
        on_write!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE signing_keys SET retire_at = $1 WHERE retire_at IS NULL")
                .bind(retire_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT)
                .bind(&key.kid)
                .bind(key.private_key.expose())
                .bind(Json(&key.public_jwk))
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Deletes keys whose publication ended before `now`.
    pub async fn delete_retired(&self, now: i64) -> Result<u64> {
        let done = on_write!(&self.db, |pool| {
            sqlx::query("DELETE FROM signing_keys WHERE retire_at IS NOT NULL AND retire_at <= $1")
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done)
    }
}
