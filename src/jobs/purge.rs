//! The purge job: deletes what nothing can use any more (expired codes, tokens,
//! sessions, posted requests and account links, grants with nothing live under them,
//! audit events past `audit.retention`, mail given up long ago), so that no table grows
//! without end — every client_credentials call, for one, adds a grant.
//!
//! Each table is cleared in batches of `jobs.purge_batch_size` rows, at most
//! `jobs.purge_batches_per_run` of them a run, each batch its own short transaction:
//! a backlog of millions is worked off over several runs and never holds SQLite's one
//! writer, or PostgreSQL's row locks, for longer than one batch.

use std::time::Duration;

use super::JobResult;
use crate::{
    AppState,
    clock::Clock,
    storage::{PurgeTable, Retention, Store},
};

/// The lease, and the `job` label in the metrics.
pub const NAME: &str = "purge";

/// One purge run's work, over one store.
#[derive(Clone, Debug)]
pub struct Purge {
    store: Store,
    clock: Clock,
    retention: Retention,
    batch_size: u32,
    batches_per_run: u32,
}

impl Purge {
    pub fn new(state: &AppState) -> Self {
        let jobs = &state.config.jobs;
        Self {
            store: state.store.clone(),
            clock: state.clock.clone(),
            retention: Retention {
                audit: state.config.audit.retention,
                given_up_mail: jobs.given_up_mail_retention,
            },
            batch_size: jobs.purge_batch_size,
            batches_per_run: jobs.purge_batches_per_run,
        }
    }

    /// How often it runs.
    pub fn every(state: &AppState) -> Duration {
        state.config.jobs.purge_every
    }

    /// One run: up to `batches_per_run` batches from each table, moving on to the next
    /// table as soon as one batch comes back short. Returns rows deleted in all.
    pub async fn run(&self) -> JobResult {
        let now = self.clock.now();
        let limit = i64::from(self.batch_size);
        let mut total = 0;
        for table in PurgeTable::ALL {
            let mut purged = 0;
            for _ in 0..self.batches_per_run {
                let n = self
                    .store
                    .purge_batch(table, now, self.retention, limit)
                    .await?;
                purged += n;
                if n < u64::from(self.batch_size) {
                    break;
                }
            }
            if purged > 0 {
                metrics::counter!("portcullis_purged_rows_total", "table" => table.name())
                    .increment(purged);
                tracing::debug!(table = table.name(), rows = purged, "purged");
            }
            total += purged;
        }
        Ok(total)
    }
}
