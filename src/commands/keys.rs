//! `portcullis keys ...`: the signing keys.

use serde::Serialize;

use super::{CommandError, open_store};
use crate::{
    audit::{Actor, Audit, Event, EventKind},
    clock::Clock,
    config::Config,
    crypto::keys::{self, KeySchedule, KeyStatus, Rotation, RotationPolicy},
    storage::Store,
};

/// Records a key change made at the command line (after it committed).
async fn audit(store: &Store, kind: EventKind, rotation: &Rotation, now: i64) {
    let event = Event::new(kind, Actor::Cli)
        .with("kid", rotation.kid.as_str())
        .with("activate_at", rotation.activate_at);
    Audit::new(store.audit.clone()).record(event, now).await;
}

/// `portcullis keys rotate`: schedules a rotation and returns the new key's `kid`. It is
/// published at once and signs from `now + keys.publish_ahead`; running servers see it
/// within `keys.reload_interval`. If a key is already waiting, returns that one's kid.
pub async fn keys_rotate(config: &Config) -> Result<String, CommandError> {
    Ok(keys_schedule(config).await?.kid)
}

/// As `keys_rotate`, with when the key signs.
pub async fn keys_schedule(config: &Config) -> Result<Rotation, CommandError> {
    let store = open_store(config).await?;
    let now = Clock::system().now();
    let rotation = keys::schedule_rotation(
        &store.keys,
        config.keys.encryption_key.as_ref(),
        &RotationPolicy::from_config(config),
        now,
    )
    .await;
    if let Some(r) = rotation.as_ref().ok().filter(|r| r.added) {
        audit(&store, EventKind::KeyRotationScheduled, r, now).await;
    }
    store.db.close().await;
    Ok(rotation?)
}

/// `portcullis keys rotate --now`: a new key signs at once, every other key is deleted.
pub async fn keys_rotate_now(config: &Config) -> Result<String, CommandError> {
    let store = open_store(config).await?;
    let now = Clock::system().now();
    let rotation = keys::rotate_now(&store.keys, config.keys.encryption_key.as_ref(), now).await;
    if let Ok(r) = &rotation {
        audit(&store, EventKind::KeysReplaced, r, now).await;
    }
    store.db.close().await;
    Ok(rotation?.kid)
}

/// `portcullis keys list`: every stored key and its state now, the latest activation
/// first.
pub async fn keys_list(config: &Config) -> Result<Vec<KeyStatus>, CommandError> {
    let store = open_store(config).await?;
    let stored = store.keys.all().await;
    store.db.close().await;
    let schedules: Vec<KeySchedule> = stored?.iter().map(Into::into).collect();
    Ok(keys::key_states(&schedules, Clock::system().now()))
}

/// `portcullis keys rotate [--now]`, as the CLI runs it.
pub async fn rotate(config: &Config, now: bool) -> Result<(), CommandError> {
    let reach = humantime::format_duration(config.keys.reload_interval);
    if now {
        let kid = keys_rotate_now(config).await?;
        println!(
            "new signing key {kid} signs now; every other key was removed: the JWKS no \
             longer lists them and tokens they signed no longer verify. Running servers \
             follow within {reach}."
        );
        return Ok(());
    }
    let rotation = keys_schedule(config).await?;
    let when = timestamp(rotation.activate_at);
    if rotation.added {
        println!(
            "new signing key {}; published now (running servers within {reach}), signs from {when}",
            rotation.kid
        );
    } else {
        println!(
            "a rotation is already scheduled: key {} signs from {when}",
            rotation.kid
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct ListedKey<'a> {
    kid: &'a str,
    state: &'static str,
    created: String,
    activates: String,
    retires: Option<String>,
    unpublished: Option<String>,
}

/// `portcullis keys list [--json]`, as the CLI runs it.
pub async fn list(config: &Config, json: bool) -> Result<(), CommandError> {
    let keys = keys_list(config).await?;
    let listed: Vec<ListedKey<'_>> = keys
        .iter()
        .map(|k| ListedKey {
            kid: &k.kid,
            state: k.state.as_str(),
            created: timestamp(k.created_at),
            activates: timestamp(k.activate_at),
            retires: k.retire_at.map(timestamp),
            unpublished: k.unpublish_at.map(timestamp),
        })
        .collect();
    if json {
        let text = serde_json::to_string_pretty(&listed)
            .map_err(|e| CommandError::Usage(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{:<43}  {:<9}  {:<20}  {:<20}  {:<20}  UNPUBLISHED",
        "KID", "STATE", "CREATED", "ACTIVATES", "RETIRES"
    );
    for k in &listed {
        println!(
            "{:<43}  {:<9}  {:<20}  {:<20}  {:<20}  {}",
            k.kid,
            k.state,
            k.created,
            k.activates,
            k.retires.as_deref().unwrap_or("-"),
            k.unpublished.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

/// Unix seconds as RFC 3339 UTC, to the second.
fn timestamp(t: i64) -> String {
    let secs = u64::try_from(t).unwrap_or(0);
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}
