//! What an operator sees of a running instance: the Prometheus metrics (`Metrics`, the
//! one recorder of the process, rendered at `/metrics`) and the log's JSON lines
//! (`log`). Counters and histograms are recorded where things happen, through the
//! `metrics` facade; the gauges that describe state (the database pool, the mail
//! queue) are read when Prometheus scrapes, so they cost nothing in between.

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::storage::{Db, Store};

pub mod log;

/// Histogram buckets for every `*_seconds` metric, in seconds: 100 µs (a cached
/// answer) to 10 s (the request timeout's neighbourhood), about three per decade.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// How often recorded histogram samples are folded into their buckets when no one
/// scrapes, so that memory stays bounded.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The longest a scrape waits for the mail-queue count: a slow or absent database
/// must not make the scrape itself time out (its other metrics are then still served).
const QUEUE_QUERY_TIMEOUT: Duration = Duration::from_millis(500);

/// The process's one recorder, installed on first use: tests start many servers in one
/// process, and the `metrics` facade has one global recorder.
static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// A handle on the process's metrics, cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// The process's metrics, installing the recorder the first time.
    pub fn install() -> Self {
        let handle = RECORDER.get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
            {
                Ok(b) => b,
                // Only an empty bucket list is refused, and ours is not empty.
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "another metrics recorder is already installed; /metrics will be empty"
                );
            }
            describe();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                // Rendering also folds samples in: only memory between scrapes grows.
                tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
            }
            handle
        });
        Self {
            handle: handle.clone(),
        }
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4), with the
    /// gauges read now from `store`.
    pub async fn render(&self, store: &Store) -> String {
        pool_gauges(&store.db);
        mail_gauges(store).await;
        self.handle.render()
    }
}

/// The database pool now: connections open, of those idle, and the ceiling. sqlx says
/// nothing of how many wait for one; `portcullis_http_request_duration_seconds` and
/// the timeouts show that pressure instead.
fn pool_gauges(db: &Db) {
    let pools = match db {
        Db::Sqlite { reads, writes } => vec![
            (
                "reads",
                reads.size(),
                reads.num_idle(),
                reads.options().get_max_connections(),
            ),
            (
                "writes",
                writes.size(),
                writes.num_idle(),
                writes.options().get_max_connections(),
            ),
        ],
        Db::Postgres(pool) => vec![(
            "main",
            pool.size(),
            pool.num_idle(),
            pool.options().get_max_connections(),
        )],
    };
    for (name, size, idle, max) in pools {
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        metrics::gauge!("portcullis_db_connections", "pool" => name, "state" => "in_use")
            .set(f64::from(size.saturating_sub(idle)));
        metrics::gauge!("portcullis_db_connections", "pool" => name, "state" => "idle")
            .set(f64::from(idle));
        metrics::gauge!("portcullis_db_connections_max", "pool" => name).set(f64::from(max));
    }
}

/// The mail outbox: one aggregate query over a table that delivered mail leaves, so
/// its cost is bounded by what is stuck. Skipped (the old values stand) when the
/// database does not answer in time.
async fn mail_gauges(store: &Store) {
    let started = Instant::now();
    match tokio::time::timeout(QUEUE_QUERY_TIMEOUT, store.outbox.summary()).await {
        Ok(Ok(s)) => {
            #[allow(clippy::cast_precision_loss)]
            let set = |state: &'static str, n: i64| {
                metrics::gauge!("portcullis_mail_queue_messages", "state" => state).set(n as f64);
            };
            set("waiting", s.waiting - s.retrying);
            set("retrying", s.retrying);
            set("given_up", s.given_up);
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "metrics: cannot read the mail outbox"),
        Err(_) => tracing::debug!(
            waited = ?started.elapsed(),
            "metrics: the mail outbox count took too long"
        ),
    }
}

/// Names every metric with its help text, and sets the build info.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "portcullis_http_requests_total",
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        "portcullis_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template and method"
    );
    describe_counter!(
        "portcullis_sign_ins_total",
        "Sign-in attempts by method (password, passkey, second_factor) and outcome"
    );
    describe_counter!(
        "portcullis_tokens_issued_total",
        "Token responses issued at the token endpoint, by grant type"
    );
    describe_counter!(
        "portcullis_code_replays_total",
        "Authorization codes presented again after their first use (their grant is revoked)"
    );
    describe_counter!(
        "portcullis_refresh_reuse_total",
        "Rotated refresh tokens presented again (their family is revoked)"
    );
    describe_counter!(
        "portcullis_lockouts_total",
        "Accounts locked after too many failed attempts"
    );
    describe_gauge!(
        "portcullis_password_hash_queue_depth",
        "Password hashes waiting for a hashing slot"
    );
    describe_histogram!(
        "portcullis_password_hash_wait_seconds",
        "Time a password hash waited for a hashing slot"
    );
    describe_counter!(
        "portcullis_password_hash_refused_total",
        "Password hashes refused because every slot and the queue were full (503)"
    );
    describe_gauge!(
        "portcullis_db_connections",
        "Database connections open, by pool and state (in_use, idle), at scrape time"
    );
    describe_gauge!(
        "portcullis_db_connections_max",
        "The most connections each database pool may open"
    );
    describe_gauge!(
        "portcullis_mail_queue_messages",
        "Mail in the outbox by state (waiting, retrying, given_up), at scrape time"
    );
    describe_gauge!(
        "portcullis_build_info",
        "Always 1; the version label says which build this is"
    );
    describe_counter!(
        "portcullis_job_runs_total",
        "Background job runs on this instance, by job and outcome"
    );
    describe_counter!(
        "portcullis_job_items_total",
        "Rows or keys handled by background jobs, by job"
    );
    describe_histogram!(
        "portcullis_job_duration_seconds",
        "Time a background job run took, by job"
    );
    describe_gauge!(
        "portcullis_job_last_success_timestamp_seconds",
        "When a background job last succeeded on this instance (unix seconds), by job"
    );
    metrics::gauge!("portcullis_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}
