//! Purging: each table's rows that are past keeping go in bounded batches, each batch
//! one `DELETE … WHERE key IN (SELECT key … LIMIT n)` in a short transaction of its
//! own, the same SQL on SQLite, PostgreSQL and CockroachDB.

use std::time::Duration;

use super::{Result, Store, WriteTx, on_tx, secs};

impl Store {
    /// Deletes at most `limit` rows of `table` that are past keeping at `now`, in one
    /// short transaction of its own, so that a long purge never holds the writer (or
    /// row locks) between batches. `retention` is how far back audit events and
    /// given-up mail are kept. Returns rows deleted.
    pub async fn purge_batch(
        &self,
        table: PurgeTable,
        now: i64,
        retention: Retention,
        limit: i64,
    ) -> Result<u64> {
        let mut tx = self.db.begin_write().await?;
        let t = &mut tx;
        let n = match table {
            PurgeTable::Codes => self.codes.purge_expired_in(t, now, limit).await?,
            PurgeTable::AccessTokens => {
                self.grants
                    .purge_expired_access_tokens_in(t, now, limit)
                    .await?
            }
            PurgeTable::RefreshTokens => {
                self.grants
                    .purge_expired_refresh_tokens_in(t, now, limit)
                    .await?
            }
            PurgeTable::Grants => self.grants.purge_spent_in(t, now, limit).await?,
            PurgeTable::Sessions => self.sessions.purge_expired_in(t, now, limit).await?,
            PurgeTable::AuthorizationPosts => {
                self.authorization_posts
                    .purge_expired_in(t, now, limit)
                    .await?
            }
            PurgeTable::AccountTokens => {
                self.account_tokens.purge_expired_in(t, now, limit).await?
            }
            PurgeTable::Audit => {
                self.audit
                    .purge_before_in(t, now - secs(retention.audit), limit)
                    .await?
            }
            PurgeTable::GivenUpMail => {
                self.outbox
                    .purge_given_up_in(t, now - secs(retention.given_up_mail), limit)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(n)
    }

    /// Deletes everything that has expired by `now` (codes, tokens, spent grants,
    /// browser sessions, posted requests, dead account links), batch after batch until
    /// none is left. For commands and tests; the server's purge job takes a bounded
    /// number of batches per run instead (`jobs::purge`).
    pub async fn purge_expired(&self, now: i64) -> Result<u64> {
        let keep = Retention {
            audit: Duration::MAX,
            given_up_mail: Duration::MAX,
        };
        let mut total = 0;
        for table in PurgeTable::EXPIRING {
            loop {
                let n = self.purge_batch(table, now, keep, UNBOUNDED_BATCH).await?;
                total += n;
                if n < u64::try_from(UNBOUNDED_BATCH).unwrap_or(u64::MAX) {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Deletes audit events older than `before` (the retention setting's cut-off).
    pub async fn purge_audit_before(&self, before: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let mut tx = self.db.begin_write().await?;
            let n = self
                .audit
                .purge_before_in(&mut tx, before, UNBOUNDED_BATCH)
                .await?;
            tx.commit().await?;
            total += n;
            if n < u64::try_from(UNBOUNDED_BATCH).unwrap_or(u64::MAX) {
                return Ok(total);
            }
        }
    }
}

/// The batch `purge_expired` and `purge_audit_before` take at a time.
const UNBOUNDED_BATCH: i64 = 10_000;

/// How long rows kept by age rather than by an expiry are kept.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub audit: Duration,
    pub given_up_mail: Duration,
}

/// The tables the purge clears, each by its own rule (see each store's `purge_*_in`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurgeTable {
    Codes,
    AccessTokens,
    RefreshTokens,
    Grants,
    Sessions,
    AuthorizationPosts,
    AccountTokens,
    Audit,
    GivenUpMail,
}

impl PurgeTable {
    /// Every table, in the order a purge takes them: tokens before the grants they
    /// keep alive, so that a grant whose last token goes in this run goes too.
    pub const ALL: [Self; 9] = [
        Self::Codes,
        Self::AccessTokens,
        Self::RefreshTokens,
        Self::Grants,
        Self::Sessions,
        Self::AuthorizationPosts,
        Self::AccountTokens,
        Self::Audit,
        Self::GivenUpMail,
    ];

    /// The tables cleared by an expiry rather than by a retention setting.
    const EXPIRING: [Self; 7] = [
        Self::Codes,
        Self::AccessTokens,
        Self::RefreshTokens,
        Self::Grants,
        Self::Sessions,
        Self::AuthorizationPosts,
        Self::AccountTokens,
    ];

    /// The table's name, as the `table` label of `portcullis_purged_rows_total`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Codes => "authorization_codes",
            Self::AccessTokens => "access_tokens",
            Self::RefreshTokens => "refresh_tokens",
            Self::Grants => "grants",
            Self::Sessions => "browser_sessions",
            Self::AuthorizationPosts => "authorization_posts",
            Self::AccountTokens => "account_tokens",
            Self::Audit => "audit_events",
            Self::GivenUpMail => "mail_outbox",
        }
    }
}

/// Inside `tx`: deletes at most `limit` rows of `table` (keyed by `key`) whose
/// `expires_at` is at or before `cutoff`. The one batch statement every expiring table
/// shares; `table` and `key` are our own constants, never input.
pub(super) async fn delete_expired_in(
    tx: &mut WriteTx,
    table: &'static str,
    key: &'static str,
    cutoff: i64,
    limit: i64,
) -> Result<u64> {
    let sql = format!(
        "DELETE FROM {table} WHERE {key} IN \
         (SELECT {key} FROM {table} WHERE expires_at <= $1 LIMIT $2)"
    );
    let n = on_tx!(tx, |conn| {
        sqlx::query(&sql)
            .bind(cutoff)
            .bind(limit)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n)
}
