//! The `signing_keys` table: the key ring every instance loads.
//!
//! A key activates (starts signing) at `activate_at` and stays published until
//! `unpublish_at` (none: until a later key retires it). Every change bumps the key
//! ring's counter in `change_versions` in the same transaction, so instances notice it
//! with one cheap query. Keys are numbered by `generation` under a unique index: of
//! instances racing to add "the next key", exactly one insert can win.

use sqlx::types::Json;

use crate::crypto::Secret;

use super::{Db, Result, on_db, on_write, versions};

#[derive(Clone, Debug)]
pub struct StoredKey {
    pub kid: String,
    /// PKCS#8 PEM, or sealed with `keys.encryption_key`; never logged.
    pub private_key: Secret,
    pub public_jwk: serde_json::Value,
    pub created_at: i64,
    /// When it starts signing (if no later key has activated by then).
    pub activate_at: i64,
    /// When it leaves the JWKS; `None` while no later key has been added.
    pub unpublish_at: Option<i64>,
    /// 1 for the first key, one more for each key added after it.
    pub generation: i64,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    private_key: String,
    public_jwk: Json<serde_json::Value>,
    created_at: i64,
    activate_at: i64,
    unpublish_at: Option<i64>,
    generation: i64,
}

impl From<KeyRow> for StoredKey {
    fn from(r: KeyRow) -> Self {
        Self {
            kid: r.kid,
            private_key: Secret::new(r.private_key),
            public_jwk: r.public_jwk.0,
            created_at: r.created_at,
            activate_at: r.activate_at,
            unpublish_at: r.unpublish_at,
            generation: r.generation,
        }
    }
}

/// What a scheduled insert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduled {
    /// This insert added the key.
    Added,
    /// Another key already has this generation, or one is already waiting to activate:
    /// someone else rotated first, and nothing was written.
    Lost,
}

#[derive(Clone, Debug)]
pub struct KeyStore {
    db: Db,
}

const COLUMNS: &str =
    "kid, private_key, public_jwk, created_at, activate_at, unpublish_at, generation";

impl KeyStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The key ring's change counter: it moves whenever a key is added, retired or
    /// deleted.
    pub async fn version(&self) -> Result<i64> {
        versions::current(&self.db, versions::KEYS).await
    }

    /// Every stored key, the latest generation first (including ones whose publication
    /// has ended but that the keys job has not deleted yet).
    pub async fn all(&self) -> Result<Vec<StoredKey>> {
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, KeyRow>(&format!(
                "SELECT {COLUMNS} FROM signing_keys ORDER BY generation DESC"
            ))
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The keys still published at `now`, the latest generation first.
    pub async fn published(&self, now: i64) -> Result<Vec<StoredKey>> {
        Ok(self
            .all()
            .await?
            .into_iter()
            .filter(|k| k.unpublish_at.is_none_or(|end| end > now))
            .collect())
    }

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
    /// at once do not seal twice); true when this call replaced it. The public half and
    /// the schedule do not change, so the ring's counter does not move.
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

    /// Inserts `key` under its generation unless a key already has it: of instances
    /// starting together on an empty database, each trying generation 1, exactly one
    /// wins. True when this insert won.
    pub async fn insert_first(&self, key: &StoredKey) -> Result<bool> {
        let n = on_write!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(&format!(
                "INSERT INTO signing_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, NULL, $6) \
                 ON CONFLICT (generation) DO NOTHING"
            ))
            .bind(&key.kid)
            .bind(key.private_key.expose())
            .bind(Json(&key.public_jwk))
            .bind(key.created_at)
            .bind(key.activate_at)
            .bind(key.generation)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query(versions::BUMP)
                    .bind(versions::KEYS)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await.map(|()| n)
        })?;
        Ok(n == 1)
    }

    /// Adds `key` (to activate at its `activate_at`) as the next generation, unless a
    /// key is already waiting to activate at `now` or another insert took the
    /// generation; when added, every key without an end of publication gets
    /// `unpublish_at`. One transaction: a rotation cannot happen twice for one
    /// generation, nor half.
    pub async fn schedule(
        &self,
        key: &StoredKey,
        now: i64,
        unpublish_at: i64,
    ) -> Result<Scheduled> {
        let n = on_write!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            // The WHERE also settles SQLite's reading of `SELECT … ON CONFLICT`.
            let n = sqlx::query(&format!(
                "INSERT INTO signing_keys ({COLUMNS}) \
                 SELECT $1, $2, $3, $4, $5, NULL, $6 \
                 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE activate_at > $7) \
                 ON CONFLICT (generation) DO NOTHING"
            ))
            .bind(&key.kid)
            .bind(key.private_key.expose())
            .bind(Json(&key.public_jwk))
            .bind(key.created_at)
            .bind(key.activate_at)
            .bind(key.generation)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query(
                    "UPDATE signing_keys SET unpublish_at = $1 \
                     WHERE unpublish_at IS NULL AND generation < $2",
                )
                .bind(unpublish_at)
                .bind(key.generation)
                .execute(&mut *tx)
                .await?;
                sqlx::query(versions::BUMP)
                    .bind(versions::KEYS)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await.map(|()| n)
        })?;
        Ok(if n == 1 {
            Scheduled::Added
        } else {
            Scheduled::Lost
        })
    }

    /// Adds `key` as the next generation, signing at once, and deletes every other key,
    /// in one transaction: the emergency path after a compromise. Returns the generation
    /// it took.
    pub async fn replace_all(&self, key: &StoredKey) -> Result<i64> {
        let generation = on_write!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let (generation,) = sqlx::query_as::<_, (i64,)>(&format!(
                "INSERT INTO signing_keys ({COLUMNS}) \
                 SELECT $1, $2, $3, $4, $5, NULL, COALESCE(MAX(generation), 0) + 1 \
                 FROM signing_keys RETURNING generation"
            ))
            .bind(&key.kid)
            .bind(key.private_key.expose())
            .bind(Json(&key.public_jwk))
            .bind(key.created_at)
            .bind(key.activate_at)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM signing_keys WHERE kid <> $1")
                .bind(&key.kid)
                .execute(&mut *tx)
                .await?;
            sqlx::query(versions::BUMP)
                .bind(versions::KEYS)
                .execute(&mut *tx)
                .await?;
            tx.commit().await.map(|()| generation)
        })?;
        Ok(generation)
    }

    /// Deletes keys whose publication ended at or before `now`.
    pub async fn delete_unpublished(&self, now: i64) -> Result<u64> {
        let done = on_write!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "DELETE FROM signing_keys WHERE unpublish_at IS NOT NULL AND unpublish_at <= $1",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                sqlx::query(versions::BUMP)
                    .bind(versions::KEYS)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await.map(|()| n)
        })?;
        Ok(done)
    }
}
