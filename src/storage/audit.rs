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

/// Which events an admin asks for: every field narrows, `None` leaves it open. Times
/// are Unix seconds, both ends included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub user_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub event: Option<String>,
    /// "success" or "failure".
    pub outcome: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl AuditQuery {
    /// The `WHERE` clause (empty when nothing narrows), numbering its placeholders from
    /// `$1` in the order `bind_query!` binds them.
    fn where_clause(&self) -> String {
        let mut parts = Vec::new();
        let mut n = 0;
        let mut add = |column: &str, op: &str| {
            n += 1;
            parts.push(format!("e.{column} {op} ${n}"));
        };
        if self.user_id.is_some() {
            add("user_id", "=");
        }
        if self.client_id.is_some() {
            add("client_id", "=");
        }
        if self.event.is_some() {
            add("event", "=");
        }
        if self.outcome.is_some() {
            add("outcome", "=");
        }
        if self.from.is_some() {
            add("at", ">=");
        }
        if self.to.is_some() {
            add("at", "<=");
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", parts.join(" AND "))
        }
    }

    /// How many placeholders `where_clause` used.
    fn bound(&self) -> usize {
        [
            self.user_id.is_some(),
            self.client_id.is_some(),
            self.event.is_some(),
            self.outcome.is_some(),
            self.from.is_some(),
            self.to.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

/// Binds an `AuditQuery`'s values in `where_clause`'s order.
macro_rules! bind_query {
    ($q:expr, $f:expr) => {{
        let mut q = $q;
        if let Some(v) = $f.user_id {
            q = q.bind(v);
        }
        if let Some(v) = &$f.client_id {
            q = q.bind(v.clone());
        }
        if let Some(v) = &$f.event {
            q = q.bind(v.clone());
        }
        if let Some(v) = &$f.outcome {
            q = q.bind(v.clone());
        }
        if let Some(v) = $f.from {
            q = q.bind(v);
        }
        if let Some(v) = $f.to {
            q = q.bind(v);
        }
        q
    }};
}

/// An event with the username of the person it is about (absent once they are gone).
#[derive(Clone, Debug, PartialEq)]
pub struct AuditListed {
    pub record: AuditRecord,
    pub username: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    event: AuditRow,
    username: Option<String>,
}

/// The counts on the console's overview.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActivityCounts {
    /// Browser sessions not yet expired.
    pub active_sessions: u64,
    /// `sign_in` events that succeeded since the cut-off.
    pub sign_ins: u64,
    /// `sign_in` events that failed since the cut-off.
    pub failed_sign_ins: u64,
}

const LISTED_COLUMNS: &str = "e.id, e.at, e.event, e.outcome, e.actor, e.user_id, \
    e.client_id, e.ip, e.user_agent, e.detail, u.username";

impl AuditStore {
    /// The events `query` matches, newest first, `offset` skipped and at most `limit`;
    /// with how many match in all. The same statements on both engines.
    pub async fn search(
        &self,
        query: &AuditQuery,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditListed>, u64)> {
        let filter = query.where_clause();
        let n = query.bound();
        let sql = format!(
            "SELECT {LISTED_COLUMNS} FROM audit_events e \
             LEFT JOIN users u ON u.id = e.user_id{filter} \
             ORDER BY e.at DESC, e.id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let count_sql = format!("SELECT COUNT(*) FROM audit_events e{filter}");
        let (rows, total) = on_db!(&self.db, |pool| {
            let rows = bind_query!(sqlx::query_as::<_, ListedRow>(&sql), query)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await;
            match rows {
                Ok(rows) => bind_query!(sqlx::query_scalar::<_, i64>(&count_sql), query)
                    .fetch_one(pool)
                    .await
                    .map(|total| (rows, total)),
                Err(e) => Err(e),
            }
        })?;
        let listed = rows
            .into_iter()
            .map(|r| AuditListed {
                record: r.event.into(),
                username: r.username,
            })
            .collect();
        Ok((listed, u64::try_from(total).unwrap_or(0)))
    }

    /// Live sessions at `now`, and the sign-ins and failed sign-ins since `since`.
    pub async fn activity(&self, now: i64, since: i64) -> Result<ActivityCounts> {
        let (sessions, ok, failed) = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, (i64, i64, i64)>(
                "SELECT \
                 (SELECT COUNT(*) FROM browser_sessions WHERE expires_at > $1), \
                 (SELECT COUNT(*) FROM audit_events \
                  WHERE event = 'sign_in' AND outcome = 'success' AND at >= $2), \
                 (SELECT COUNT(*) FROM audit_events \
                  WHERE event = 'sign_in' AND outcome = 'failure' AND at >= $2)",
            )
            .bind(now)
            .bind(since)
            .fetch_one(pool)
            .await
        })?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(ActivityCounts {
            active_sessions: count(sessions),
            sign_ins: count(ok),
            failed_sign_ins: count(failed),
        })
    }
}
