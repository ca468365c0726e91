//! Grants and the tokens under them (`grants`, `access_tokens`, `refresh_tokens`).
//!
//! A grant is one authorization (a code exchange or a client_credentials request). Every
//! access and refresh token belongs to one; revoking the grant kills all of them, which is
//! how a replayed code or a reused refresh token is answered (RFC 9700 sections 4.5, 4.14).

use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, Result, WriteTx, on_db, on_tx, on_write};

#[derive(Clone, Debug)]
pub struct NewGrant {
    pub id: String,
    pub client_id: String,
    pub user_id: Option<Uuid>,
    pub scope: String,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub sid: Option<String>,
    /// The acr achieved, when the request asked with `acr_values`.
    pub acr: Option<String>,
}

/// A grant as the rest of Portcullis sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredGrant {
    pub id: String,
    pub client_id: String,
    pub user_id: Option<Uuid>,
    pub scope: String,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub sid: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub acr: Option<String>,
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: String,
    client_id: String,
    user_id: Option<Uuid>,
    scope: String,
    auth_time: Option<i64>,
    amr: Json<Vec<String>>,
    sid: Option<String>,
    created_at: i64,
    revoked_at: Option<i64>,
    acr: Option<String>,
}

impl From<GrantRow> for StoredGrant {
    fn from(r: GrantRow) -> Self {
        Self {
            id: r.id,
            client_id: r.client_id,
            user_id: r.user_id,
            scope: r.scope,
            auth_time: r.auth_time,
            amr: r.amr.0,
            sid: r.sid,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
            acr: r.acr,
        }
    }
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum RefreshUse {
    /// First use: the token is now spent; its grant is live.
    First(Box<StoredGrant>),
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

const COLUMNS: &str =
    "id, client_id, user_id, scope, auth_time, amr, sid, created_at, revoked_at, acr";

/// How old a grant must be before it can be purged, whatever it holds.
const GRANT_GRACE: i64 = 3600;

#[derive(Clone, Debug)]
pub struct GrantStore {
    db: Db,
}

impl GrantStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Revokes grant `grant.id`. Its row may not exist yet (the first use of its code
    /// is still signing), so this writes a revoked one in its place.
    pub async fn revoke_or_forestall(&self, grant: &NewGrant, now: i64) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO grants (id, client_id, user_id, scope, auth_time, amr, sid, \
                 created_at, revoked_at, acr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
                 ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at",
            )
            .bind(&grant.id)
            .bind(&grant.client_id)
            .bind(grant.user_id)
            .bind(&grant.scope)
            .bind(grant.auth_time)
            .bind(Json(&grant.amr))
            .bind(&grant.sid)
            .bind(now)
            .bind(&grant.acr)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Records a new grant, unless a revoked one already stands in its place.
    pub async fn insert_in(&self, tx: &mut WriteTx, grant: &NewGrant, now: i64) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "INSERT INTO grants (id, client_id, user_id, scope, auth_time, amr, sid, \
                 created_at, acr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&grant.id)
            .bind(&grant.client_id)
            .bind(grant.user_id)
            .bind(&grant.scope)
            .bind(grant.auth_time)
            .bind(Json(&grant.amr))
            .bind(&grant.sid)
            .bind(now)
            .bind(&grant.acr)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Records tokens issued under grant `grant_id`.
    pub async fn insert_tokens_in(
        &self,
        tx: &mut WriteTx,
        grant_id: &str,
        tokens: &IssuedTokens<'_>,
    ) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(tokens.access_jti)
            .bind(grant_id)
            .bind(tokens.access_expires_at)
            .execute(&mut *conn)
            .await?;
            if let Some((jti, expires_at)) = tokens.refresh {
                sqlx::query(
                    "INSERT INTO refresh_tokens (jti, grant_id, expires_at) VALUES ($1, $2, $3)",
                )
                .bind(jti)
                .bind(grant_id)
                .bind(expires_at)
                .execute(&mut *conn)
                .await?;
            }
            Ok::<_, sqlx::Error>(())
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
            return Ok(match self.find(&grant_id).await? {
                Some(g) if g.revoked_at.is_none() => RefreshUse::First(Box::new(g)),
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
                self.revoke(&grant_id, now).await?;
                Ok(RefreshUse::Replayed)
            }
            _ => Ok(RefreshUse::Invalid),
        }
    }

    pub async fn find(&self, id: &str) -> Result<Option<StoredGrant>> {
        let sql = format!("SELECT {COLUMNS} FROM grants WHERE id = $1");
        let grant = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, GrantRow>(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(grant.map(Into::into))
    }

    pub async fn revoke(&self, id: &str, now: i64) -> Result<()> {
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
    pub async fn of_refresh_token(&self, jti: &str) -> Result<Option<StoredGrant>> {
        const SQL: &str = "SELECT g.id, g.client_id, g.user_id, g.scope, g.auth_time, g.amr, \
                           g.sid, g.created_at, g.revoked_at, g.acr FROM grants g \
                           JOIN refresh_tokens r ON r.grant_id = g.id WHERE r.jti = $1";
        let grant = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, GrantRow>(SQL)
                .bind(jti)
                .fetch_optional(pool)
                .await
        })?;
        Ok(grant.map(Into::into))
    }

    /// Whether an access token is live: recorded, unexpired, not revoked, its grant not
    /// revoked, and its person (if any) not disabled.
    pub async fn access_token_is_live(&self, jti: &str, now: i64) -> Result<bool> {
        let live = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT CAST(1 AS BIGINT) FROM access_tokens a JOIN grants g ON g.id = a.grant_id \
                 LEFT JOIN users u ON u.id = g.user_id \
                 WHERE a.jti = $1 AND a.expires_at > $2 AND a.revoked_at IS NULL \
                 AND g.revoked_at IS NULL AND (g.user_id IS NULL OR u.disabled = $3)",
            )
            .bind(jti)
            .bind(now)
            .bind(false)
            .fetch_optional(pool)
            .await
        })?;
        Ok(live.is_some())
    }

    /// Whether a refresh token is live: unspent, unexpired, its grant not revoked, its
    /// person not disabled.
    pub async fn refresh_token_is_live(&self, jti: &str, now: i64) -> Result<bool> {
        let live = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT CAST(1 AS BIGINT) FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id \
                 LEFT JOIN users u ON u.id = g.user_id \
                 WHERE r.jti = $1 AND r.expires_at > $2 AND r.used_at IS NULL \
                 AND g.revoked_at IS NULL AND (g.user_id IS NULL OR u.disabled = $3)",
            )
            .bind(jti)
            .bind(now)
            .bind(false)
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

    /// Revokes every live grant of `user_id` (only those of `client_id` when given), and
    /// with them every access and refresh token they issued. Returns grants revoked.
    pub async fn revoke_for_user_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        client_id: Option<&str>,
        now: i64,
    ) -> Result<u64> {
        let n = on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE grants SET revoked_at = $3 WHERE user_id = $1 \
                 AND ($2 IS NULL OR client_id = $2) AND revoked_at IS NULL",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// Revokes the live grants `user_id` gave while signed in in some browser sessions:
    /// the one whose sid is `only`, or else every one but `except` (grants without a
    /// session included). Returns grants revoked.
    pub async fn revoke_for_sessions_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        only: Option<&str>,
        except: Option<&str>,
        now: i64,
    ) -> Result<u64> {
        let n = on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE grants SET revoked_at = $4 WHERE user_id = $1 AND revoked_at IS NULL \
                 AND ($2 IS NULL OR sid = $2) AND ($3 IS NULL OR sid IS NULL OR sid <> $3)",
            )
            .bind(user_id)
            .bind(only)
            .bind(except)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// Deletes at most `limit` access tokens that expired by `now`. Revocation is
    /// checked against live rows, so an expired token needs no row to stay dead.
    pub async fn purge_expired_access_tokens_in(
        &self,
        tx: &mut WriteTx,
        now: i64,
        limit: i64,
    ) -> Result<u64> {
        super::purge::delete_expired_in(tx, "access_tokens", "jti", now, limit).await
    }

    /// Deletes at most `limit` refresh tokens that expired by `now`. A spent one is kept
    /// until then, so that its reuse is still recognised (and its grant revoked).
    pub async fn purge_expired_refresh_tokens_in(
        &self,
        tx: &mut WriteTx,
        now: i64,
        limit: i64,
    ) -> Result<u64> {
        super::purge::delete_expired_in(tx, "refresh_tokens", "jti", now, limit).await
    }

    /// Deletes at most `limit` grants that nothing can use any more: no access or
    /// refresh token under them still valid at `now`, and no authorization code that
    /// names them (a code is remembered past its expiry so that its replay revokes its
    /// grant; while it is, the grant stays, so that revocation has a row to land on).
    /// Consents are their own rows (user and client), untouched. A grant younger than
    /// `GRANT_GRACE` stays too, whatever it holds, so that one being written beside its
    /// tokens is never taken for an empty one. Expired tokens still under a purged grant
    /// go with it (`ON DELETE CASCADE`).
    pub async fn purge_spent_in(&self, tx: &mut WriteTx, now: i64, limit: i64) -> Result<u64> {
        let n = on_tx!(tx, |conn| {
            sqlx::query(
                "DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g \
                 WHERE g.created_at <= $1 \
                 AND NOT EXISTS (SELECT 1 FROM access_tokens a \
                     WHERE a.grant_id = g.id AND a.expires_at > $2) \
                 AND NOT EXISTS (SELECT 1 FROM refresh_tokens r \
                     WHERE r.grant_id = g.id AND r.expires_at > $2) \
                 AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.grant_id = g.id) \
                 LIMIT $3)",
            )
            .bind(now - GRANT_GRACE)
            .bind(now)
            .bind(limit)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }
}
