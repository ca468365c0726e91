//! The `audit_events` table: append-only security events. Rows are only inserted (in
//! the transaction of the change they record) and, past retention, purged.

use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, Result, WriteTx, on_db, on_tx, on_write};

/// One event as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: i64,
    pub event: String,
    /// "success" or "failure".
    pub outcome: String,
    /// `user:<uuid>`, `cli`, `system` or `anonymous`.
    pub actor: String,
    pub user_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    at: i64,
    event: String,
    outcome: String,
    actor: String,
    user_id: Option<Uuid>,
    client_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Json<serde_json::Value>,
}

impl From<AuditRow> for AuditRecord {
    fn from(r: AuditRow) -> Self {
        Self {
            id: Uuid::parse_str(&r.id).unwrap_or_default(),
            at: r.at,
            event: r.event,
            outcome: r.outcome,
            actor: r.actor,
            user_id: r.user_id,
            client_id: r.client_id,
            ip: r.ip,
            user_agent: r.user_agent,
            detail: r.detail.0,
        }
    }
}

const INSERT: &str = "INSERT INTO audit_events \
    (id, at, event, outcome, actor, user_id, client_id, ip, user_agent, detail) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

const COLUMNS: &str = "id, at, event, outcome, actor, user_id, client_id, ip, user_agent, detail";

#[derive(Clone, Debug)]
pub struct AuditStore {
    db: Db,
}

macro_rules! bind_record {
    ($q:expr, $r:expr) => {
        $q.bind($r.id.to_string())
            .bind($r.at)
            .bind(&$r.event)
            .bind(&$r.outcome)
            .bind(&$r.actor)
            .bind($r.user_id)
            .bind(&$r.client_id)
            .bind(&$r.ip)
            .bind(&$r.user_agent)
            .bind(Json(&$r.detail))
    };
}

impl AuditStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Appends an event inside the transaction of the change it records.
    pub async fn insert_in(&self, tx: &mut WriteTx, record: &AuditRecord) -> Result<()> {
        on_tx!(tx, |conn| {
            bind_record!(sqlx::query(INSERT), record)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Appends an event that records no other change (a failed sign-in, say).
    pub async fn insert(&self, record: &AuditRecord) -> Result<()> {
        on_write!(&self.db, |pool| {
            bind_record!(sqlx::query(INSERT), record)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// The newest `limit` events about `user_id`, newest first.
    pub async fn for_user(&self, user_id: Uuid, limit: i64) -> Result<Vec<AuditRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_events WHERE user_id = $1 \
             ORDER BY at DESC, id DESC LIMIT $2"
        );
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, AuditRow>(&sql)
                .bind(user_id)
                .bind(limit)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The newest `limit` events of any kind, newest first (for admins and tests).
    pub async fn recent(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM audit_events ORDER BY at DESC, id DESC LIMIT $1");
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, AuditRow>(&sql)
                .bind(limit)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Deletes at most `limit` events older than `before`.
    pub async fn purge_before_in(&self, tx: &mut WriteTx, before: i64, limit: i64) -> Result<u64> {
        let n = on_tx!(tx, |conn| {
            sqlx::query(
                "DELETE FROM audit_events WHERE id IN \
                 (SELECT id FROM audit_events WHERE at < $1 LIMIT $2)",
            )
            .bind(before)
            .bind(limit)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }
}
