//! A key's life: published (in the JWKS, not signing yet) -> active (signing) ->
//! retired (in the JWKS, not signing, until every token it signed has expired) ->
//! removed. Which state a key is in follows from its stored instants and `now` alone, so
//! every instance agrees without talking to the others; rotations only add a key with
//! the right instants.

use std::time::Duration;

use serde::Serialize;

use super::{KeyError, generate};
use crate::{
    config::{Config, EncryptionKey},
    storage::{KeyStore, StoredKey, keys::Scheduled, secs},
};

/// Where a key is in its life at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// In the JWKS, waiting for its activation.
    Published,
    /// The one that signs.
    Active,
    /// A later key signs; still in the JWKS for the tokens it signed.
    Retired,
    /// Its publication ended: no longer in the JWKS nor verifying; the keys job
    /// deletes it.
    Removed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Removed => "removed",
        }
    }
}

/// The instants of one key: what its state is computed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySchedule {
    pub kid: String,
    pub generation: i64,
    pub created_at: i64,
    pub activate_at: i64,
    pub unpublish_at: Option<i64>,
}

impl From<&StoredKey> for KeySchedule {
    fn from(k: &StoredKey) -> Self {
        Self {
            kid: k.kid.clone(),
            generation: k.generation,
            created_at: k.created_at,
            activate_at: k.activate_at,
            unpublish_at: k.unpublish_at,
        }
    }
}

impl KeySchedule {
    pub(super) fn published_at(&self, now: i64) -> bool {
        self.unpublish_at.is_none_or(|end| end > now)
    }
}

/// One key as the CLI and the admin console show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    pub kid: String,
    pub state: KeyState,
    pub created_at: i64,
    /// When it starts (or started) signing.
    pub activate_at: i64,
    /// When it stops (or stopped) signing: the next key's activation; `None` while no
    /// later key exists.
    pub retire_at: Option<i64>,
    /// When it leaves the JWKS; `None` while no later key exists.
    pub unpublish_at: Option<i64>,
}

/// Sorts `keys` the way the ring reads them: the latest activation first.
pub(super) fn sort(keys: &mut [KeySchedule]) {
    keys.sort_by_key(|k| std::cmp::Reverse((k.activate_at, k.generation)));
}

/// The index of the key that signs at `now` in `keys` (sorted by `sort`): the one
/// activated last, among those activated and still published.
pub(super) fn signing_index(keys: &[KeySchedule], now: i64) -> Option<usize> {
    keys.iter()
        .position(|k| k.activate_at <= now && k.published_at(now))
}

/// The state of every key at `now`, the latest activation first.
pub fn key_states(keys: &[KeySchedule], now: i64) -> Vec<KeyStatus> {
    let mut keys = keys.to_vec();
    sort(&mut keys);
    let signing = signing_index(&keys, now);
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            let state = if !k.published_at(now) {
                KeyState::Removed
            } else if k.activate_at > now {
                KeyState::Published
            } else if Some(i) == signing {
                KeyState::Active
            } else {
                KeyState::Retired
            };
            KeyStatus {
                kid: k.kid.clone(),
                state,
                created_at: k.created_at,
                activate_at: k.activate_at,
                retire_at: i.checked_sub(1).map(|newer| keys[newer].activate_at),
                unpublish_at: k.unpublish_at,
            }
        })
        .collect()
}

/// How rotations are timed, from `[keys]` and `[tokens]`.
#[derive(Clone, Copy, Debug)]
pub struct RotationPolicy {
    /// A new key is in the JWKS this long before it signs.
    pub publish_ahead: Duration,
    /// Each key signs this long before the next one takes over.
    pub rotate_every: Duration,
    /// A retired key stays published this long: the longest a token can live.
    pub keep_published: Duration,
}

impl RotationPolicy {
    pub fn from_config(config: &Config) -> Self {
        Self {
            publish_ahead: config.keys.publish_ahead,
            rotate_every: config.keys.rotate_every,
            keep_published: config.tokens.longest_token_ttl(),
        }
    }

    /// Whether a rotation should be scheduled at `now`: the latest key activated
    /// `rotate_every - publish_ahead` ago or more (so its successor signs once it has
    /// signed for `rotate_every`), and none is waiting to activate.
    pub fn due(&self, keys: &[KeySchedule], now: i64) -> bool {
        let Some(latest) = keys.iter().max_by_key(|k| k.generation) else {
            return false;
        };
        let lead = secs(self.rotate_every).saturating_sub(secs(self.publish_ahead));
        latest.activate_at <= now
            && !keys.iter().any(|k| k.activate_at > now)
            && now >= latest.activate_at.saturating_add(lead)
    }
}

/// A key a rotation added (or found already waiting).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rotation {
    pub kid: String,
    /// When it signs.
    pub activate_at: i64,
    /// False when a key was already waiting to activate and this is that one.
    pub added: bool,
}

/// Schedules a rotation: a new key, published at once, that signs from
/// `now + publish_ahead`; the key signing until then retires at that instant and stays
/// published for `keep_published` more. When a key is already waiting to activate,
/// nothing is added and that key is returned.
pub async fn schedule_rotation(
    store: &KeyStore,
    sealing: Option<&EncryptionKey>,
    policy: &RotationPolicy,
    now: i64,
) -> Result<Rotation, KeyError> {
    let mut keys: Vec<KeySchedule> = store.all().await?.iter().map(Into::into).collect();
    if let Some(waiting) = pending(&keys, now) {
        return Ok(waiting);
    }
    sort(&mut keys);
    if signing_index(&keys, now).is_none() {
        return first_key(store, sealing, &keys, now).await;
    }
    let generation = keys.iter().map(|k| k.generation).max().unwrap_or(0) + 1;
    let activate_at = now.saturating_add(secs(policy.publish_ahead));
    let key = generate(sealing, now, activate_at, generation).await?;
    let unpublish_at = activate_at.saturating_add(secs(policy.keep_published));
    match store.schedule(&key, now, unpublish_at).await? {
        Scheduled::Added => {
            metrics::counter!("portcullis_key_rotations_total", "kind" => "scheduled").increment(1);
            tracing::info!(kid = %key.kid, activate_at, "scheduled a key rotation");
            Ok(Rotation {
                kid: key.kid,
                activate_at,
                added: true,
            })
        }
        Scheduled::Lost => {
            let keys: Vec<KeySchedule> = store.all().await?.iter().map(Into::into).collect();
            // Lost to another rotation: it is the waiting key, or (an emergency
            // rotation) the one signing now.
            pending(&keys, now)
                .or_else(|| {
                    keys.iter().max_by_key(|k| k.generation).map(|k| Rotation {
                        kid: k.kid.clone(),
                        activate_at: k.activate_at,
                        added: false,
                    })
                })
                .ok_or(KeyError::NoSigningKey)
        }
    }
}

/// Schedules a rotation if `policy` says one is due at `now`.
pub async fn rotate_if_due(
    store: &KeyStore,
    sealing: Option<&EncryptionKey>,
    policy: &RotationPolicy,
    now: i64,
) -> Result<Option<Rotation>, KeyError> {
    let keys: Vec<KeySchedule> = store.all().await?.iter().map(Into::into).collect();
    if !policy.due(&keys, now) {
        return Ok(None);
    }
    let rotation = schedule_rotation(store, sealing, policy, now).await?;
    Ok(rotation.added.then_some(rotation))
}

/// The emergency rotation: a new key signs at once and every other key is deleted at
/// once, so the JWKS no longer lists them and tokens they signed stop verifying.
pub async fn rotate_now(
    store: &KeyStore,
    sealing: Option<&EncryptionKey>,
    now: i64,
) -> Result<Rotation, KeyError> {
    // The generation is taken in the insert itself; this one is a placeholder.
    let key = generate(sealing, now, now, 0).await?;
    store.replace_all(&key).await?;
    metrics::counter!("portcullis_key_rotations_total", "kind" => "emergency").increment(1);
    tracing::warn!(kid = %key.kid, "emergency key rotation: every other key removed");
    Ok(Rotation {
        kid: key.kid,
        activate_at: now,
        added: true,
    })
}

/// No key signs yet (a database no server has started on): the first key, signing at
/// once as `KeyRing::open` would make it; nobody can have cached a JWKS without it.
pub(super) async fn first_key(
    store: &KeyStore,
    sealing: Option<&EncryptionKey>,
    keys: &[KeySchedule],
    now: i64,
) -> Result<Rotation, KeyError> {
    let generation = keys.iter().map(|k| k.generation).max().unwrap_or(0) + 1;
    let key = generate(sealing, now, now, generation).await?;
    if store.insert_first(&key).await? {
        return Ok(Rotation {
            kid: key.kid,
            activate_at: now,
            added: true,
        });
    }
    let mut keys: Vec<KeySchedule> = store.all().await?.iter().map(Into::into).collect();
    sort(&mut keys);
    let winner = signing_index(&keys, now)
        .and_then(|i| keys.get(i))
        .ok_or(KeyError::NoSigningKey)?;
    Ok(Rotation {
        kid: winner.kid.clone(),
        activate_at: winner.activate_at,
        added: false,
    })
}

fn pending(keys: &[KeySchedule], now: i64) -> Option<Rotation> {
    keys.iter()
        .filter(|k| k.activate_at > now)
        .max_by_key(|k| k.generation)
        .map(|k| Rotation {
            kid: k.kid.clone(),
            activate_at: k.activate_at,
            added: false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, generation: i64, activate_at: i64, unpublish_at: Option<i64>) -> KeySchedule {
        KeySchedule {
            kid: kid.into(),
            generation,
            created_at: activate_at - 10,
            activate_at,
            unpublish_at,
        }
    }

    fn states_at(keys: &[KeySchedule], now: i64) -> Vec<(String, KeyState)> {
        key_states(keys, now)
            .into_iter()
            .map(|s| (s.kid, s.state))
            .collect()
    }

    #[test]
    fn a_waiting_key_is_published_and_the_old_one_signs_until_its_activation() {
        let keys = [key("old", 1, 0, Some(1100)), key("new", 2, 100, None)];
        assert_eq!(
            states_at(&keys, 99),
            [
                ("new".into(), KeyState::Published),
                ("old".into(), KeyState::Active)
            ]
        );
        assert_eq!(
            states_at(&keys, 100),
            [
                ("new".into(), KeyState::Active),
                ("old".into(), KeyState::Retired)
            ]
        );
        assert_eq!(
            states_at(&keys, 1100),
            [
                ("new".into(), KeyState::Active),
                ("old".into(), KeyState::Removed)
            ]
        );
        let listed = key_states(&keys, 0);
        assert_eq!(
            listed[1].retire_at,
            Some(100),
            "old stops signing when new starts"
        );
        assert_eq!(listed[0].retire_at, None);
    }

    #[test]
    fn a_rotation_is_due_when_the_latest_key_has_signed_long_enough_minus_the_lead() {
        let policy = RotationPolicy {
            publish_ahead: Duration::from_secs(100),
            rotate_every: Duration::from_secs(1000),
            keep_published: Duration::from_secs(50),
        };
        let keys = [key("k", 1, 0, None)];
        assert!(!policy.due(&keys, 899));
        assert!(policy.due(&keys, 900));
        let waiting = [key("k", 1, 0, Some(1050)), key("n", 2, 1000, None)];
        assert!(!policy.due(&waiting, 950), "one is already waiting");
        assert!(
            !policy.due(&[], 950),
            "no key at all is the ring's to create"
        );
    }
}
