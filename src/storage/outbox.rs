//! The `mail_outbox` table: mail waiting for the delivery worker. A message is written
//! in the transaction of what it reports, so it is sent if and only if that commits.

use uuid::Uuid;

use super::{Db, Result, WriteTx, on_db, on_tx, on_write};

/// A rendered message, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: i64,
    pub attempts: i64,
}

#[derive(Clone, Debug)]
pub struct OutboxStore {
    db: Db,
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

impl OutboxStore {
    pub fn new(db: Db) -> Self {
        Self { db }
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

    /// Claims up to `limit` due messages until `lease_until`: no other worker (on any
    /// instance) gets them before then. Each claim counts as an attempt. The lease is
    /// re-checked by the `UPDATE` itself, so two workers racing for a row cannot both
    /// win it, on either engine.
    pub async fn claim_due(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<QueuedMail>> {
        const SQL: &str = "UPDATE mail_outbox SET claimed_until = $2, attempts = attempts + 1 \
            WHERE id IN (SELECT id FROM mail_outbox WHERE failed_at IS NULL \
                AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1) \
                ORDER BY next_attempt_at LIMIT $3) \
            AND failed_at IS NULL AND (claimed_until IS NULL OR claimed_until <= $1) \
            RETURNING id, recipient, subject, text_body, html_body, created_at, attempts";
        let rows = on_write!(&self.db, |pool| {
            sqlx::query_as::<_, MailRow>(SQL)
                .bind(now)
                .bind(lease_until)
                .bind(limit)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A message was handed over: it leaves the outbox (with its link).
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

    /// A delivery failed: try again at `retry_at`, or, when `None`, give up (the row
    /// stays, marked failed, for an operator to see).
    pub async fn failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let error: String = error.chars().take(500).collect();
        on_write!(&self.db, |pool| {
            sqlx::query(
                "UPDATE mail_outbox SET claimed_until = NULL, last_error = $2, \
                 next_attempt_at = COALESCE($3, next_attempt_at), \
                 failed_at = CASE WHEN $3 IS NULL THEN $4 ELSE NULL END WHERE id = $1",
            )
            .bind(id.to_string())
            .bind(&error)
            .bind(retry_at)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Messages not yet delivered (waiting or being retried), not given up.
    pub async fn pending(&self) -> Result<i64> {
        let n = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mail_outbox WHERE failed_at IS NULL")
                .fetch_one(pool)
                .await
        })?;
        Ok(n)
    }
}
