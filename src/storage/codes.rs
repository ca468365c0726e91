//! The `authorization_codes` table: single-use codes, stored as their hashes, and what
//! their first use was tied to.

use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, Result, WriteTx, on_write};

#[derive(Debug)]
pub struct NewCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: Uuid,
    pub redirect_uri: String,
    /// The authorization request named `redirect_uri`.
    pub redirect_uri_sent: bool,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub sid: String,
    pub expires_at: i64,
    /// The acr achieved, when the request asked with `acr_values`.
    pub acr: Option<String>,
}

/// A code as the rest of Portcullis sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCode {
    pub client_id: String,
    pub user_id: Uuid,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub sid: String,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    /// The grant its first use created (or is creating).
    pub grant_id: Option<String>,
    pub acr: Option<String>,
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    client_id: String,
    user_id: Uuid,
    redirect_uri: String,
    redirect_uri_sent: bool,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    auth_time: i64,
    amr: Json<Vec<String>>,
    sid: String,
    expires_at: i64,
    consumed_at: Option<i64>,
    grant_id: Option<String>,
    acr: Option<String>,
}

impl From<CodeRow> for StoredCode {
    fn from(r: CodeRow) -> Self {
        Self {
            client_id: r.client_id,
            user_id: r.user_id,
            redirect_uri: r.redirect_uri,
            redirect_uri_sent: r.redirect_uri_sent,
            scope: r.scope,
            nonce: r.nonce,
            code_challenge: r.code_challenge,
            auth_time: r.auth_time,
            amr: r.amr.0,
            sid: r.sid,
            expires_at: r.expires_at,
            consumed_at: r.consumed_at,
            grant_id: r.grant_id,
            acr: r.acr,
        }
    }
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

const COLUMNS: &str = "client_id, user_id, redirect_uri, redirect_uri_sent, scope, nonce, \
                       code_challenge, \
                       auth_time, amr, sid, expires_at, consumed_at, grant_id, acr";

/// How long a spent code is kept after it expires, so that a late replay is still
/// recognised and answered by revoking its grant.
const SPENT_CODE_MEMORY: i64 = 24 * 3600;

#[derive(Clone, Debug)]
pub struct CodeStore {
    db: Db,
}

impl CodeStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(&self, code: &NewCode) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, \
                 redirect_uri_sent, scope, nonce, code_challenge, auth_time, amr, sid, \
                 expires_at, acr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&code.code_hash)
            .bind(&code.client_id)
            .bind(code.user_id)
            .bind(&code.redirect_uri)
            .bind(code.redirect_uri_sent)
            .bind(&code.scope)
            .bind(&code.nonce)
            .bind(&code.code_challenge)
            .bind(code.auth_time)
            .bind(Json(&code.amr))
            .bind(&code.sid)
            .bind(code.expires_at)
            .bind(&code.acr)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Spends a code atomically and ties it to `grant_id`; of two concurrent uses exactly
    /// one gets `First`. Expiry is the caller's to check.
    pub async fn consume(&self, code_hash: &str, grant_id: &str, now: i64) -> Result<CodeUse> {
        let spend = format!(
            "UPDATE authorization_codes SET consumed_at = $2, grant_id = $3 \
             WHERE code_hash = $1 AND consumed_at IS NULL RETURNING {COLUMNS}"
        );
        let first = on_write!(&self.db, |pool| {
            sqlx::query_as::<_, CodeRow>(&spend)
                .bind(code_hash)
                .bind(now)
                .bind(grant_id)
                .fetch_optional(pool)
                .await
        })?;
        if let Some(code) = first {
            return Ok(CodeUse::First(code.into()));
        }
        let find = format!("SELECT {COLUMNS} FROM authorization_codes WHERE code_hash = $1");
        let spent = on_write!(&self.db, |pool| {
            sqlx::query_as::<_, CodeRow>(&find)
                .bind(code_hash)
                .fetch_optional(pool)
                .await
        })?;
        Ok(spent.map_or(CodeUse::Unknown, |c| CodeUse::Replayed(c.into())))
    }

    /// Deletes at most `limit` codes past their replay memory.
    pub async fn purge_expired_in(&self, tx: &mut WriteTx, now: i64, limit: i64) -> Result<u64> {
        super::purge::delete_expired_in(
            tx,
            "authorization_codes",
            "code_hash",
            now - SPENT_CODE_MEMORY,
            limit,
        )
        .await
    }
}
