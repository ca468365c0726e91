//! The `account_tokens` table: single-use links sent by mail (email verification,
//! password reset). Only the SHA-256 of a token is stored; issuing a new one for a
//! person and purpose ends the ones before it.

use uuid::Uuid;

use super::{Db, Result, WriteTx, on_db, on_tx};

/// What a link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// A live link's facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAccountToken {
    pub user_id: Uuid,
    /// The address the link was sent to (for verification: the one it confirms).
    pub email: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What presenting a link found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenUse {
    Valid(StoredAccountToken),
    /// Known, but past its time.
    Expired,
    /// Known, but already used or replaced by a newer one.
    Used,
    Unknown,
}

/// How long a dead link is remembered, so that following it says "expired" rather
/// than "unknown".
const REMEMBER_DEAD: i64 = 7 * 86400;

#[derive(Clone, Debug)]
pub struct AccountTokenStore {
    db: Db,
}

impl AccountTokenStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Stores a new link for `user_id` and ends every earlier unused one for the same
    /// purpose.
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_in(
        &self,
        tx: &mut WriteTx,
        purpose: Purpose,
        token_hash: &str,
        user_id: Uuid,
        email: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE account_tokens SET used_at = $3 \
                 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
            )
            .bind(user_id)
            .bind(purpose.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO account_tokens \
                 (token_hash, purpose, user_id, email, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token_hash)
            .bind(purpose.as_str())
            .bind(user_id)
            .bind(email)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Spends a link: at most one caller ever gets `Valid` for it.
    pub async fn consume_in(
        &self,
        tx: &mut WriteTx,
        purpose: Purpose,
        token_hash: &str,
        now: i64,
    ) -> Result<TokenUse> {
        let spent = on_tx!(tx, |conn| {
            sqlx::query_as::<_, (Uuid, String, i64, i64)>(
                "UPDATE account_tokens SET used_at = $3 \
                 WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
                 RETURNING user_id, email, created_at, expires_at",
            )
            .bind(token_hash)
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(&mut *conn)
            .await
        })?;
        if let Some((user_id, email, created_at, expires_at)) = spent {
            return Ok(TokenUse::Valid(StoredAccountToken {
                user_id,
                email,
                created_at,
                expires_at,
            }));
        }
        let known = on_tx!(tx, |conn| {
            sqlx::query_as::<_, (Option<i64>, i64)>(
                "SELECT used_at, expires_at FROM account_tokens \
                 WHERE token_hash = $1 AND purpose = $2",
            )
            .bind(token_hash)
            .bind(purpose.as_str())
            .fetch_optional(&mut *conn)
            .await
        })?;
        Ok(classify_dead(known, now))
    }

    /// Looks at a link without spending it (to show the form it leads to).
    pub async fn peek(&self, purpose: Purpose, token_hash: &str, now: i64) -> Result<TokenUse> {
        let row = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, (Uuid, String, i64, i64, Option<i64>)>(
                "SELECT user_id, email, created_at, expires_at, used_at FROM account_tokens \
                 WHERE token_hash = $1 AND purpose = $2",
            )
            .bind(token_hash)
            .bind(purpose.as_str())
            .fetch_optional(pool)
            .await
        })?;
        Ok(match row {
            Some((user_id, email, created_at, expires_at, None)) if expires_at > now => {
                TokenUse::Valid(StoredAccountToken {
                    user_id,
                    email,
                    created_at,
                    expires_at,
                })
            }
            Some((.., expires_at, used_at)) => classify_dead(Some((used_at, expires_at)), now),
            None => TokenUse::Unknown,
        })
    }

    /// How many links for `purpose` were sent to `user_id` since `soon` and since
    /// `recent` (`soon` later than `recent`), in one query.
    pub async fn sent_since(
        &self,
        user_id: Uuid,
        purpose: Purpose,
        soon: i64,
        recent: i64,
    ) -> Result<(i64, i64)> {
        let counts = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, (i64, i64)>(
                "SELECT CAST(COALESCE(SUM(CASE WHEN created_at >= $3 THEN 1 ELSE 0 END), 0) \
                 AS BIGINT), COUNT(*) FROM account_tokens \
                 WHERE user_id = $1 AND purpose = $2 AND created_at >= $4",
            )
            .bind(user_id)
            .bind(purpose.as_str())
            .bind(soon)
            .bind(recent)
            .fetch_one(pool)
            .await
        })?;
        Ok(counts)
    }

    /// The address of the newest live verification link: the one waiting to be
    /// confirmed.
    pub async fn pending_email(&self, user_id: Uuid, now: i64) -> Result<Option<String>> {
        let email = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, String>(
                "SELECT email FROM account_tokens \
                 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
                 ORDER BY created_at DESC LIMIT 1",
            )
            .bind(user_id)
            .bind(Purpose::VerifyEmail.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        Ok(email)
    }

    /// Ends every unused link of `user_id` (a reset done, an account deleted).
    pub async fn end_all_in(&self, tx: &mut WriteTx, user_id: Uuid, now: i64) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE account_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(user_id)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Deletes at most `limit` links that died more than a week ago.
    pub async fn purge_expired_in(&self, tx: &mut WriteTx, now: i64, limit: i64) -> Result<u64> {
        super::purge::delete_expired_in(
            tx,
            "account_tokens",
            "token_hash",
            now - REMEMBER_DEAD,
            limit,
        )
        .await
    }
}

fn classify_dead(known: Option<(Option<i64>, i64)>, now: i64) -> TokenUse {
    match known {
        Some((Some(_), _)) => TokenUse::Used,
        Some((None, expires_at)) if expires_at <= now => TokenUse::Expired,
        // Unused and unexpired, yet not spent: another caller won the race.
        Some(_) => TokenUse::Used,
        None => TokenUse::Unknown,
    }
}
