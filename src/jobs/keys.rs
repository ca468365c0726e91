//! The "keys" job: schedules the automatic rotation when it is due and deletes keys
//! whose publication has ended. It runs under its lease, on one instance at a time; the
//! schedule itself is also one insert that cannot happen twice for one generation
//! (`storage::KeyStore::schedule`), so even two runs at once rotate once.

use std::{sync::Arc, time::Duration};

use super::JobResult;
use crate::{
    AppState,
    audit::{Actor, Audit, Event, EventKind},
    clock::Clock,
    config::EncryptionKey,
    crypto::{
        KeyRing,
        keys::{RotationPolicy, rotate_if_due},
    },
    storage::KeyStore,
};

/// How often the job looks: a rotation is due to the minute, against a lead of
/// `keys.publish_ahead` (an hour by default).
pub const EVERY: Duration = Duration::from_secs(60);

/// What one run needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct KeysJob {
    pub store: KeyStore,
    pub ring: Arc<KeyRing>,
    pub sealing: Option<EncryptionKey>,
    pub policy: RotationPolicy,
    pub clock: Clock,
    pub audit: Audit,
}

impl KeysJob {
    pub fn from_state(state: &AppState) -> Self {
        Self {
            store: state.store.keys.clone(),
            ring: state.keys.clone(),
            sealing: state.config.keys.encryption_key.clone(),
            policy: RotationPolicy::from_config(&state.config),
            clock: state.clock.clone(),
            audit: state.audit.clone(),
        }
    }

    /// One run: the keys it deleted plus the rotation it scheduled (0 or 1).
    pub async fn run(&self) -> JobResult {
        let now = self.clock.now();
        let deleted = self.store.delete_unpublished(now).await?;
        let rotation = rotate_if_due(&self.store, self.sealing.as_ref(), &self.policy, now).await?;
        if let Some(r) = &rotation {
            let event = Event::new(EventKind::KeyRotationScheduled, Actor::System)
                .with("kid", r.kid.as_str())
                .with("activate_at", r.activate_at);
            self.audit.record(event, now).await;
        }
        let rotated = rotation.is_some();
        if deleted > 0 {
            tracing::info!(keys = deleted, "deleted keys whose publication ended");
        }
        if deleted > 0 || rotated {
            // This instance at once; the others at their next check.
            self.ring.reload().await?;
        }
        Ok(deleted + u64::from(rotated))
    }
}

/// Starts the job on `state`'s scheduler.
pub fn spawn(state: &AppState) {
    let job = KeysJob::from_state(state);
    state.jobs.spawn("keys", EVERY, move || {
        let job = job.clone();
        async move { job.run().await }
    });
}
