//! Scheduled work: each job runs every so often on exactly one instance at a time, the
//! one holding its lease row (`storage::leases`). Works alike on SQLite, PostgreSQL and
//! PostgreSQL-compatible distributed engines: no advisory locks, no LISTEN/NOTIFY.
//!
//! A holder renews its lease at every tick and keeps it for three intervals, so a job
//! stays on one instance while that instance lives, and moves to another within three
//! intervals of its holder dying. Every run is counted in the metrics by job and outcome.

pub mod keys;
pub mod purge;

use std::{sync::Arc, time::Duration};

use crate::{
    AppState,
    clock::Clock,
    crypto::KeyError,
    storage::{LeaseStore, StorageError, secs},
};

/// The shortest a lease is taken for, so that a job ticking every second does not hand
/// itself between instances on a slow database.
const MIN_LEASE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Keys(#[from] KeyError),
}

/// How much one run did (rows deleted, keys rotated): counted in the metrics.
pub type JobResult = Result<u64, JobError>;

/// Runs jobs under leases held in the name of this instance.
#[derive(Clone, Debug)]
pub struct Jobs {
    leases: LeaseStore,
    clock: Clock,
    /// This process's name in the lease rows: random, so two instances never share it.
    holder: Arc<str>,
}

impl Jobs {
    pub fn new(leases: LeaseStore, clock: Clock) -> Self {
        let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Self {
            leases,
            clock,
            holder: holder.into(),
        }
    }

    /// This instance's holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Runs `job` now if this instance holds (or can take) the lease `name`, which it
    /// then keeps for three times `every`. `None` when another instance holds it.
    pub async fn run_once<F, Fut>(
        &self,
        name: &'static str,
        every: Duration,
        job: &F,
    ) -> Result<Option<u64>, JobError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = JobResult>,
    {
        let now = self.clock.now();
        let hold = secs((every * 3).max(MIN_LEASE));
        if !self
            .leases
            .acquire(name, &self.holder, now, now + hold)
            .await?
        {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let outcome = job().await;
        metrics::histogram!("portcullis_job_duration_seconds", "job" => name)
            .record(started.elapsed().as_secs_f64());
        match &outcome {
            Ok(n) => {
                metrics::counter!("portcullis_job_runs_total", "job" => name, "outcome" => "done")
                    .increment(1);
                metrics::counter!("portcullis_job_items_total", "job" => name).increment(*n);
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!("portcullis_job_last_success_timestamp_seconds", "job" => name)
                    .set(self.clock.now() as f64);
            }
            Err(_) => {
                metrics::counter!("portcullis_job_runs_total", "job" => name, "outcome" => "failed")
                    .increment(1);
            }
        }
        outcome.map(Some)
    }

    /// Runs `job` every `every` until the process ends, on whichever instance holds the
    /// lease `name`. A failed run is logged and tried again at the next tick.
    pub fn spawn<F, Fut>(&self, name: &'static str, every: Duration, job: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send,
    {
        let jobs = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match jobs.run_once(name, every, &job).await {
                    Ok(Some(0) | None) => {}
                    Ok(Some(n)) => tracing::debug!(job = name, items = n, "job ran"),
                    Err(e) => {
                        tracing::warn!(job = name, error = %e, "job failed; trying again at its next run")
                    }
                }
            }
        });
    }
}

/// Starts every scheduled job of a serving instance.
pub fn spawn_all(state: &AppState) {
    keys::spawn(state);
    let jobs = &state.jobs;
    let purge = purge::Purge::new(state);
    jobs.spawn(purge::NAME, purge::Purge::every(state), move || {
        let purge = purge.clone();
        async move { purge.run().await }
    });
}
