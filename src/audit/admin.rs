//! What the console's overview and keys pages do, shared with the admin API: the counts
//! at a glance, and key rotations an admin asks for, each recorded with the admin (or
//! the API client) as actor.

use crate::{
    AppState,
    crypto::keys::{self, KeyError, Rotation, RotationPolicy},
    storage::Result,
};

use super::{Actor, Event, EventKind};

/// How far back the overview's sign-in counts reach.
pub const RECENT_SECS: i64 = 24 * 60 * 60;

/// The counts on the overview.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Overview {
    pub users: u64,
    pub clients: u64,
    /// Browser sessions not yet expired.
    pub active_sessions: u64,
    /// Successful sign-ins in the last 24 hours.
    pub sign_ins_24h: u64,
    /// Failed sign-ins in the last 24 hours.
    pub failed_sign_ins_24h: u64,
}

/// The counts at `now`.
pub async fn overview(state: &AppState, now: i64) -> Result<Overview> {
    let users = state.store.users.count().await?;
    let clients = state.store.clients.count().await?;
    let activity = state
        .store
        .audit
        .activity(now, now.saturating_sub(RECENT_SECS))
        .await?;
    Ok(Overview {
        users,
        clients,
        active_sessions: activity.active_sessions,
        sign_ins_24h: activity.sign_ins,
        failed_sign_ins_24h: activity.failed_sign_ins,
    })
}

/// A rotation an admin asked for: the CLI's `keys rotate` (`schedule_rotation`: a new
/// key published now, signing after `keys.publish_ahead`), or with `emergency` its
/// `--now` (`rotate_now`: a new key signs at once, every other key removed). Recorded
/// as `key_rotation_scheduled` / `keys_replaced` by `actor` when a key was added; this
/// instance's ring is reloaded at once, the others follow within
/// `keys.reload_interval`.
pub async fn rotate_keys(
    state: &AppState,
    actor: Actor,
    emergency: bool,
    now: i64,
) -> std::result::Result<Rotation, KeyError> {
    let sealing = state.config.keys.encryption_key.as_ref();
    let (rotation, kind) = if emergency {
        (
            keys::rotate_now(&state.store.keys, sealing, now).await?,
            EventKind::KeysReplaced,
        )
    } else {
        let policy = RotationPolicy::from_config(&state.config);
        (
            keys::schedule_rotation(&state.store.keys, sealing, &policy, now).await?,
            EventKind::KeyRotationScheduled,
        )
    };
    if rotation.added {
        let event = Event::new(kind, actor)
            .with("kid", rotation.kid.as_str())
            .with("activate_at", rotation.activate_at);
        state.audit.record(event, now).await;
    }
    state.keys.reload().await?;
    Ok(rotation)
}
