//! The `mail_outbox` table: mail waiting for the delivery worker. A message is written
//! in the transaction of what it reports, so it is sent if and only if that commits.
//!
//! Any number of workers (one per instance) share the table. A worker *claims* due rows
//! by setting `claimed_until`, a lease; no other worker takes a row while its lease
//! runs, and a worker that dies mid-send leaves a lease that simply runs out, so the
//! message is tried again. The lease value a claim wrote is also its receipt: only the
//! holder of that exact lease may report a failure or hand a row back.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use uuid::Uuid;

use super::{Db, Result, StorageError, WriteTx, on_db, on_tx, on_write};

/// A rendered message, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: i64,
    /// Delivery attempts so far, this one included once claimed.
    pub attempts: i64,
}

/// What an operator needs to see of a queued message: never its body (the link) and
/// not its recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: Uuid,
    pub subject: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// Set while a worker holds it.
    pub claimed_until: Option<i64>,
    pub last_error: Option<String>,
    /// Set once delivery was given up; the row stays until an operator acts.
    pub failed_at: Option<i64>,
}

/// The outbox at a glance, for the start-up log and for operators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxSummary {
    /// Not yet delivered and still being tried (first attempt or retries).
    pub waiting: i64,
    /// Of those, how many have failed at least once.
    pub retrying: i64,
    /// Given up: kept, marked failed, for an operator.
    pub given_up: i64,
    /// When the oldest waiting message was queued.
    pub oldest_waiting: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct OutboxStore {
    db: Db,
    /// Whether the PostgreSQL-family engine took `FOR UPDATE SKIP LOCKED` (older
    /// CockroachDB refuses it); cleared on the first refusal, and the portable claim
    /// is used from then on.
    skip_locked: Arc<AtomicBool>,
}

#[derive(sqlx::FromRow)]
struct MailRow {
    id: String,
    recipient: String,
    subject: String,
    text_body: String,
    html_body: String,
    created_at: i64,
    attempts: i64,
}

impl From<MailRow> for QueuedMail {
    fn from(r: MailRow) -> Self {
        Self {
            id: Uuid::parse_str(&r.id).unwrap_or_default(),
            recipient: r.recipient,
            subject: r.subject,
            text_body: r.text_body,
            html_body: r.html_body,
            created_at: r.created_at,
            attempts: r.attempts,
        }
    }
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    subject: String,
    created_at: i64,
    attempts: i64,
    next_attempt_at: i64,
    claimed_until: Option<i64>,
    last_error: Option<String>,
    failed_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    waiting: i64,
    retrying: i64,
    given_up: i64,
    oldest_waiting: Option<i64>,
}

/// Which rows a worker may claim at `$1`: not given up, due, and not held by a live
/// lease. Written twice in the claim, once to pick rows and once to re-check each row
/// as the `UPDATE` locks it (see `claim_due`).
const CLAIMABLE: &str = "failed_at IS NULL AND next_attempt_at <= $1 \
    AND (claimed_until IS NULL OR claimed_until <= $1)";

const RETURNING: &str =
    "RETURNING id, recipient, subject, text_body, html_body, created_at, attempts";

/// The portable claim, for every engine.
fn claim_sql(skip_locked: bool) -> String {
    let lock = if skip_locked {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    format!(
        "UPDATE mail_outbox SET claimed_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM mail_outbox WHERE {CLAIMABLE} \
             ORDER BY next_attempt_at LIMIT $3{lock}) \
         AND {CLAIMABLE} {RETURNING}"
    )
}

/// The SQLSTATE of a database error, if it is one.
fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

impl OutboxStore {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            skip_locked: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The same store, claiming with the portable statement only: for an engine known
    /// to lack `SKIP LOCKED`, and for tests that prove the portable claim on PostgreSQL.
    pub fn without_skip_locked(self) -> Self {
        Self {
            db: self.db,
            skip_locked: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Queues a message inside `tx`; due at once.
    pub async fn insert_in(&self, tx: &mut WriteTx, mail: &QueuedMail) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "INSERT INTO mail_outbox \
                 (id, recipient, subject, text_body, html_body, created_at, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(mail.id.to_string())
            .bind(&mail.recipient)
            .bind(&mail.subject)
            .bind(&mail.text_body)
            .bind(&mail.html_body)
            .bind(mail.created_at)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Whether anything is due at `now`: a read, so an idle worker's poll costs no
    /// write (on SQLite, no turn at the one writer connection).
    pub async fn any_due(&self, now: i64) -> Result<bool> {
        let sql = format!("SELECT id FROM mail_outbox WHERE {CLAIMABLE} LIMIT 1");
        let found = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, String>(&sql)
                .bind(now)
                .fetch_optional(pool)
                .await
        })?;
        Ok(found.is_some())
    }

    /// Claims up to `limit` due messages until `lease_until` (which must be later than
    /// `now`): no other worker, on any instance, gets them before then. Each claim
    /// counts as an attempt. `lease_until` is the claim's receipt for `failed` and
    /// `release`.
    ///
    /// One statement decides, on either engine. On SQLite it runs under the database's
    /// one write lock. On PostgreSQL at READ COMMITTED, two claims may pick the same
    /// rows in their subqueries; the second then waits for the first's row locks and
    /// re-evaluates the `UPDATE`'s own conditions against the row as the first left it
    /// (PostgreSQL's re-check of an updated row), which is why `CLAIMABLE` is repeated
    /// outside the subquery: the lease the first wrote fails it, so the row is skipped,
    /// not claimed twice. `FOR UPDATE SKIP LOCKED` in the subquery is a speed-up on
    /// engines that have it (the second claim takes other rows instead of waiting and
    /// coming back empty); correctness never rests on it. A claim that loses a race
    /// outright (a serialization failure or deadlock, under SERIALIZABLE or on
    /// CockroachDB) claims nothing this round rather than failing.
    pub async fn claim_due(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<QueuedMail>> {
        let claim = |sql: String| async move {
            on_write!(&self.db, |pool| {
                sqlx::query_as::<_, MailRow>(&sql)
                    .bind(now)
                    .bind(lease_until)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
            })
        };
        let fast = matches!(self.db, Db::Postgres(_)) && self.skip_locked.load(Ordering::Relaxed);
        let mut result = claim(claim_sql(fast)).await;
        // feature_not_supported or syntax_error: an engine without SKIP LOCKED.
        if fast
            && let Err(e) = &result
            && matches!(sqlstate(e).as_deref(), Some("0A000" | "42601"))
        {
            tracing::info!(
                "the database does not take FOR UPDATE SKIP LOCKED; mail is claimed without it"
            );
            self.skip_locked.store(false, Ordering::Relaxed);
            result = claim(claim_sql(false)).await;
        }
        match result {
            Ok(rows) => Ok(rows.into_iter().map(Into::into).collect()),
            Err(e) if matches!(sqlstate(&e).as_deref(), Some("40001" | "40P01")) => {
                tracing::debug!(error = %e, "another worker won the mail claim this round");
                Ok(Vec::new())
            }
            Err(e) => Err(StorageError::from(e)),
        }
    }

    /// Deletes at most `limit` messages whose delivery was given up by `before`: kept
    /// that long so an operator can see what failed, then gone (they hold links and
    /// addresses). Delivered mail never stays: `delivered` deletes it.
    pub async fn purge_given_up_in(
        &self,
        tx: &mut WriteTx,
        before: i64,
        limit: i64,
    ) -> Result<u64> {
        let n = on_tx!(tx, |conn| {
            sqlx::query(
                "DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox \
                 WHERE failed_at IS NOT NULL AND failed_at <= $1 LIMIT $2)",
            )
            .bind(before)
            .bind(limit)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// A message was handed over: it leaves the outbox (with its link), whoever holds
    /// it now, so that no later claim sends it again.
    pub async fn delivered(&self, id: Uuid) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query("DELETE FROM mail_outbox WHERE id = $1")
                .bind(id.to_string())
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// A delivery under the claim `lease_until` failed: try again at `retry_at`, or,
    /// when `None`, give up (the row stays, marked failed, for an operator to see).
    /// Returns false when the claim had already run out and another worker holds the
    /// message: then its claim stands and nothing changes.
    pub async fn failed(
        &self,
        id: Uuid,
        lease_until: i64,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let error: String = error.chars().take(500).collect();
        let n = on_write!(&self.db, |pool| {
            sqlx::query(
                "UPDATE mail_outbox SET claimed_until = NULL, last_error = $3, \
                 next_attempt_at = COALESCE($4, next_attempt_at), \
                 failed_at = CASE WHEN $4 IS NULL THEN $5 ELSE NULL END \
                 WHERE id = $1 AND claimed_until = $2",
            )
            .bind(id.to_string())
            .bind(lease_until)
            .bind(&error)
            .bind(retry_at)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Hands back a message claimed under `lease_until` but not tried (the worker ran
    /// short of lease): due again at once, and the claim does not count as an attempt.
    pub async fn release(&self, id: Uuid, lease_until: i64) -> Result<bool> {
        let n = on_write!(&self.db, |pool| {
            sqlx::query(
                "UPDATE mail_outbox SET claimed_until = NULL, attempts = attempts - 1 \
                 WHERE id = $1 AND claimed_until = $2",
            )
            .bind(id.to_string())
            .bind(lease_until)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Messages not yet delivered (waiting or being retried), not given up.
    pub async fn pending(&self) -> Result<i64> {
        Ok(self.summary().await?.waiting)
    }

    /// Counts of what waits, what is being retried, and what was given up.
    pub async fn summary(&self) -> Result<OutboxSummary> {
        let row = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, SummaryRow>(
                "SELECT COUNT(CASE WHEN failed_at IS NULL THEN 1 END) AS waiting, \
                 COUNT(CASE WHEN failed_at IS NULL AND last_error IS NOT NULL THEN 1 END) AS retrying, \
                 COUNT(failed_at) AS given_up, \
                 MIN(CASE WHEN failed_at IS NULL THEN created_at END) AS oldest_waiting \
                 FROM mail_outbox",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok(OutboxSummary {
            waiting: row.waiting,
            retrying: row.retrying,
            given_up: row.given_up,
            oldest_waiting: row.oldest_waiting,
        })
    }

    /// Every message in the outbox, oldest first, as an operator sees it.
    pub async fn entries(&self, limit: i64) -> Result<Vec<OutboxEntry>> {
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, EntryRow>(
                "SELECT id, subject, created_at, attempts, next_attempt_at, claimed_until, \
                 last_error, failed_at FROM mail_outbox ORDER BY created_at, id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| OutboxEntry {
                id: Uuid::parse_str(&r.id).unwrap_or_default(),
                subject: r.subject,
                created_at: r.created_at,
                attempts: r.attempts,
                next_attempt_at: r.next_attempt_at,
                claimed_until: r.claimed_until,
                last_error: r.last_error,
                failed_at: r.failed_at,
            })
            .collect())
    }
}
