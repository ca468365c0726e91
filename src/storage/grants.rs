//! Authorization codes, grants, access and refresh tokens, and consents: what one
//! person's authorization of one client leaves behind.
//!
//! A grant is one authorization (a code exchange or a client_credentials request). Every
//! access and refresh token belongs to one; revoking the grant kills all of them, which is
//! how a replayed code or a reused refresh token is answered (RFC 9700 sections 4.5, 4.14).

use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, Result, on_db, on_write};

#[derive(Debug)]
pub struct NewCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: Uuid,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub sid: String,
    pub expires_at: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredCode {
    pub client_id: String,
    pub user_id: Uuid,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: Json<Vec<String>>,
    pub sid: String,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub grant_id: Option<String>,
}

/// What presenting a code found.
#[derive(Debug)]
pub enum CodeUse {
    /// First use: the code is now spent and tied to `grant_id`.
    First(StoredCode),
    /// Spent before: whatever its first use issued must be revoked.
    Replayed(StoredCode),
    Unknown,
}

#[derive(Clone, Debug)]
pub struct NewGrant {
    pub id: String,
    pub client_id: String,
    pub user_id: Option<Uuid>,
    pub scope: String,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub sid: Option<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredGrant {
    pub id: String,
    pub client_id: String,
    pub user_id: Option<Uuid>,
    pub scope: String,
    pub auth_time: Option<i64>,
    pub amr: Json<Vec<String>>,
    pub sid: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum RefreshUse {
    /// First use: the token is now spent; its grant is live.
    First(StoredGrant),
    /// Spent before, so the grant has been revoked.
    Replayed,
    /// Unknown, expired, or its grant is revoked.
    Invalid,
}

/// Tokens to record against a grant.
#[derive(Debug)]
pub struct IssuedTokens<'a> {
    pub access_jti: &'a str,
    pub access_expires_at: i64,
    pub refresh: Option<(&'a str, i64)>,
}

const CODE_COLUMNS: &str = "client_id, user_id, redirect_uri, scope, nonce, code_challenge, \
                            auth_time, amr, sid, expires_at, consumed_at, grant_id";
const GRANT_COLUMNS: &str =
    "id, client_id, user_id, scope, auth_time, amr, sid, created_at, revoked_at";

/// How long a spent code is kept after it expires, so that a late replay is still
/// recognised and answered by revoking its grant.
const SPENT_CODE_MEMORY: i64 = 24 * 3600;

/// Inserts an access token row and, if any, a refresh token row inside transaction `$tx`.
macro_rules! insert_tokens {
    ($tx:ident, $grant_id:expr, $tokens:expr) => {
        sqlx::query("INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES ($1, $2, $3)")
            .bind($tokens.access_jti)
            .bind($grant_id)
            .bind($tokens.access_expires_at)
            .execute(&mut *$tx)
            .await?;
        if let Some((jti, expires_at)) = $tokens.refresh {
            sqlx::query(
                "INSERT INTO refresh_tokens (jti, grant_id, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(jti)
            .bind($grant_id)
            .bind(expires_at)
            .execute(&mut *$tx)
            .await?;
        }
    };
}

#[derive(Clone, Debug)]
pub struct GrantStore {
    db: Db,
}

impl GrantStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert_code(&self, code: &NewCode) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, \
                 scope, nonce, code_challenge, auth_time, amr, sid, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&code.code_hash)
            .bind(&code.client_id)
            .bind(code.user_id)
            .bind(&code.redirect_uri)
            .bind(&code.scope)
            .bind(&code.nonce)
            .bind(&code.code_challenge)
            .bind(code.auth_time)
            .bind(Json(&code.amr))
            .bind(&code.sid)
            .bind(code.expires_at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Spends a code atomically and ties it to `grant_id`; of two concurrent uses exactly
    /// one gets `First`. Expiry is the caller's to check.
    pub async fn consume_code(&self, code_hash: &str, grant_id: &str, now: i64) -> Result<CodeUse> {
        let spend = format!(
            "UPDATE authorization_codes SET consumed_at = $2, grant_id = $3 \
             WHERE code_hash = $1 AND consumed_at IS NULL RETURNING {CODE_COLUMNS}"
        );
        let first = on_write!(&self.db, |pool| {
            sqlx::query_as::<_, StoredCode>(&spend)
                .bind(code_hash)
                .bind(now)
                .bind(grant_id)
                .fetch_optional(pool)
                .await
        })?;
        if let Some(code) = first {
            return Ok(CodeUse::First(code));
        }
        let find = format!("SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = $1");
        let spent = on_write!(&self.db, |pool| {
            sqlx::query_as::<_, StoredCode>(&find)
                .bind(code_hash)
                .fetch_optional(pool)
                .await
        })?;
        Ok(spent.map_or(CodeUse::Unknown, CodeUse::Replayed))
    }

    /// Revokes whatever the first use of `code` issued. The grant row may not exist yet
    /// (the first use is still signing), so this writes a revoked one in its place.
    pub async fn revoke_grant_of_code(&self, code: &StoredCode, now: i64) -> Result<()> {
        let Some(grant_id) = &code.grant_id else {
            return Ok(());
        };
        on_write!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO grants (id, client_id, user_id, scope, auth_time, amr, sid, \
                 created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                 ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at",
            )
            .bind(grant_id)
            .bind(&code.client_id)
            .bind(code.user_id)
            .bind(&code.scope)
            .bind(code.auth_time)
            .bind(&code.amr)
            .bind(&code.sid)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Records a new grant (unless a revoked one already stands in its place) with the
    /// tokens issued for it, in one transaction.
    pub async fn insert_grant(
        &self,
        grant: &NewGrant,
        tokens: &IssuedTokens<'_>,
        now: i64,
    ) -> Result<()> {
        on_write!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO grants (id, client_id, user_id, scope, auth_time, amr, sid, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&grant.id)
            .bind(&grant.client_id)
            .bind(grant.user_id)
            .bind(&grant.scope)
            .bind(grant.auth_time)
            .bind(Json(&grant.amr))
            .bind(&grant.sid)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            insert_tokens!(tx, &grant.id, tokens);
            tx.commit().await
        })?;
        Ok(())
    }

    /// Records tokens issued for an existing grant (a refresh).
    pub async fn insert_tokens(&self, grant_id: &str, tokens: &IssuedTokens<'_>) -> Result<()> {
        on_write!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            insert_tokens!(tx, grant_id, tokens);
            tx.commit().await
        })?;
        Ok(())
    }

    /// Spends a refresh token atomically. A second use revokes its grant (RFC 9700
    /// section 4.14.2): the token was stolen or leaked, and we cannot tell by whom.
    pub async fn use_refresh_token(&self, jti: &str, now: i64) -> Result<RefreshUse> {
        let spent = on_write!(&self.db, |pool| {
            sqlx::query_scalar::<_, String>(
                "UPDATE refresh_tokens SET used_at = $2 \
                 WHERE jti = $1 AND used_at IS NULL AND expires_at > $2 RETURNING grant_id",
            )
            .bind(jti)
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        if let Some(grant_id) = spent {
            return Ok(match self.find_grant(&grant_id).await? {
                Some(g) if g.revoked_at.is_none() => RefreshUse::First(g),
                _ => RefreshUse::Invalid,
            });
        }
        let earlier = on_write!(&self.db, |pool| {
            sqlx::query_as::<_, (String, Option<i64>)>(
                "SELECT grant_id, used_at FROM refresh_tokens WHERE jti = $1",
            )
            .bind(jti)
            .fetch_optional(pool)
            .await
        })?;
        match earlier {
            Some((grant_id, Some(_))) => {
                self.revoke_grant(&grant_id, now).await?;
                Ok(RefreshUse::Replayed)
            }
            _ => Ok(RefreshUse::Invalid),
        }
    }

    pub async fn find_grant(&self, id: &str) -> Result<Option<StoredGrant>> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1");
        let grant = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, StoredGrant>(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(grant)
    }

    pub async fn revoke_grant(&self, id: &str, now: i64) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query("UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// The grant a refresh token belongs to, if the token is known: one query.
    pub async fn grant_of_refresh_token(&self, jti: &str) -> Result<Option<StoredGrant>> {
        const SQL: &str = "SELECT g.id, g.client_id, g.user_id, g.scope, g.auth_time, g.amr, \
                           g.sid, g.created_at, g.revoked_at FROM grants g \
                           JOIN refresh_tokens r ON r.grant_id = g.id WHERE r.jti = $1";
        let grant = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, StoredGrant>(SQL)
                .bind(jti)
                .fetch_optional(pool)
                .await
        })?;
        Ok(grant)
    }

    /// Whether an access token is live: recorded, unexpired, not revoked, and its grant
    /// not revoked.
    pub async fn access_token_is_live(&self, jti: &str, now: i64) -> Result<bool> {
        let live = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT CAST(1 AS BIGINT) FROM access_tokens a JOIN grants g ON g.id = a.grant_id \
                 WHERE a.jti = $1 AND a.expires_at > $2 AND a.revoked_at IS NULL \
                 AND g.revoked_at IS NULL",
            )
            .bind(jti)
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        Ok(live.is_some())
    }

    /// Whether a refresh token is live: unspent, unexpired, its grant not revoked.
    pub async fn refresh_token_is_live(&self, jti: &str, now: i64) -> Result<bool> {
        let live = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT CAST(1 AS BIGINT) FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id \
                 WHERE r.jti = $1 AND r.expires_at > $2 AND r.used_at IS NULL \
                 AND g.revoked_at IS NULL",
            )
            .bind(jti)
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        Ok(live.is_some())
    }

    pub async fn revoke_access_token(&self, jti: &str, now: i64) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query(
                "UPDATE access_tokens SET revoked_at = $2 WHERE jti = $1 AND revoked_at IS NULL",
            )
            .bind(jti)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The scopes `user_id` has granted `client_id`, space-separated.
    pub async fn consented_scope(&self, user_id: Uuid, client_id: &str) -> Result<Option<String>> {
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
    pub async fn save_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO consents (user_id, client_id, scope, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, \
                 updated_at = excluded.updated_at",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(scope)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Deletes expired tokens and codes past their replay memory.
    pub async fn purge_expired(&self, now: i64) -> Result<u64> {
        let n = on_write!(&self.db, |pool| {
            let mut total = 0;
            for sql in [
                "DELETE FROM access_tokens WHERE expires_at <= $1",
                "DELETE FROM refresh_tokens WHERE expires_at <= $1",
            ] {
                total += sqlx::query(sql)
                    .bind(now)
                    .execute(pool)
                    .await?
                    .rows_affected();
            }
            total += sqlx::query("DELETE FROM authorization_codes WHERE expires_at <= $1")
                .bind(now - SPENT_CODE_MEMORY)
                .execute(pool)
                .await?
                .rows_affected();
            Ok::<_, sqlx::Error>(total)
        })?;
        Ok(n)
    }
}
