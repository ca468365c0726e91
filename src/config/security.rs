//! `[security]`: limits that keep password hashing from exhausting the machine.

use serde::{Deserialize, Deserializer};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Hashes that run at once; written as 0 for one per CPU core, never 0 here.
    #[serde(deserialize_with = "concurrency")]
    pub password_hash_concurrency: usize,
    pub password_hash_queue: usize,
}

fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(match usize::deserialize(d)? {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    })
}
