//! `[jobs]`: the background purge, which keeps tables from growing without end.

use std::time::Duration;

use serde::{Deserialize, Deserializer, de::Error as _};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    /// How often the purge runs (on one instance at a time).
    #[serde(deserialize_with = "super::values::lifetime")]
    pub purge_every: Duration,
    /// The most rows one DELETE removes; each batch is its own short transaction.
    #[serde(deserialize_with = "batch_size")]
    pub purge_batch_size: u32,
    /// The most batches a run takes from each table; what is left waits for the next run.
    #[serde(deserialize_with = "batches")]
    pub purge_batches_per_run: u32,
    /// How long mail whose delivery was given up stays in the outbox to be looked at.
    #[serde(deserialize_with = "super::values::retention")]
    pub given_up_mail_retention: Duration,
}

fn batch_size<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        n @ 1..=100_000 => Ok(n),
        _ => Err(D::Error::custom("must be from 1 to 100000")),
    }
}

fn batches<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        n @ 1..=1000 => Ok(n),
        _ => Err(D::Error::custom("must be from 1 to 1000")),
    }
}
