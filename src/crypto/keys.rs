//! The key ring: RSA-2048 keys kept in the database, each with its own schedule
//! (`lifecycle`): the one whose activation came last signs (RS256 via OpenSSL), every
//! published one verifies and is listed in the JWKS.
//!
//! Each instance holds the ring in memory. Which key signs is decided at signing time
//! from the clock, so a scheduled rotation takes effect on every instance at the same
//! instant with no database change. Every `keys.reload_interval` the ring reads the key
//! ring's change counter (one row) and reloads the keys only when it moved; it also
//! reloads when a token names a `kid` it does not know (at most once a second). A failed
//! check keeps the keys it has, so a database outage does not stop signing.

mod lifecycle;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use base64::{Engine, engine::general_purpose::STANDARD};
use josekit::{
    jwk::Jwk,
    jws::{
        JwsHeader, RS256,
        alg::rsassa::{RsassaJwsSigner, RsassaJwsVerifier},
    },
    jwt::{self, JwtPayload},
};
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};
use tokio::sync::Mutex;

pub use self::lifecycle::{
    KeySchedule, KeyState, KeyStatus, Rotation, RotationPolicy, key_states, rotate_if_due,
    rotate_now, schedule_rotation,
};
use super::Secret;
use crate::{
    clock::Clock,
    config::EncryptionKey,
    storage::{KeyStore, StorageError, StoredKey},
};

const SEALED_PREFIX: &str = "aes256gcm:";
const MIN_RELOAD_GAP: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("signing key {kid} is encrypted, and keys.encryption_key is not set")]
    Sealed { kid: String },
    #[error("signing key {kid} cannot be decrypted with keys.encryption_key")]
    WrongSealingKey { kid: String },
    #[error("key material is unusable: {0}")]
    Crypto(String),
    #[error("there is no signing key")]
    NoSigningKey,
}

/// Why a token did not verify; deliberately coarse, the caller only says "invalid".
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error(transparent)]
    Keys(#[from] KeyError),
}

fn crypto(e: impl std::fmt::Display) -> KeyError {
    KeyError::Crypto(e.to_string())
}

/// One loaded key: its schedule, its verifier, and its signer when it can still sign
/// (the active key and any waiting one; a retired key never signs again).
struct Entry {
    schedule: KeySchedule,
    jwk: serde_json::Value,
    verifier: RsassaJwsVerifier,
    signer: Option<RsassaJwsSigner>,
}

/// The ring as last read from the database.
struct Loaded {
    /// The change counter this was read at.
    version: i64,
    /// The latest activation first (`lifecycle::sort`).
    entries: Arc<[Entry]>,
    schedules: Arc<[KeySchedule]>,
    /// The JWKS, valid until `jwks_until` (the next end of a key's publication):
    /// rebuilt from `entries` when that passes, with no database read.
    jwks: Arc<str>,
    jwks_until: i64,
}

impl Loaded {
    fn signing(&self, now: i64) -> Option<&Entry> {
        lifecycle::signing_index(&self.schedules, now).and_then(|i| self.entries.get(i))
    }
}

pub struct KeyRing {
    store: KeyStore,
    clock: Clock,
    sealing: Option<EncryptionKey>,
    loaded: ArcSwap<Loaded>,
    last_reload: Mutex<Instant>,
    /// The kid that signed at the last check, to log the switch once.
    last_signing: std::sync::Mutex<String>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("signing_kid", &self.signing_kid())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads the ring, first creating a signing key if there is none. Of instances
    /// starting together on an empty database exactly one insert wins (the key's
    /// generation is unique), and every instance then loads the winner. The first key
    /// signs at once: nobody can have cached a JWKS without it.
    pub async fn open(
        store: KeyStore,
        sealing: Option<EncryptionKey>,
        clock: Clock,
    ) -> Result<Arc<Self>, KeyError> {
        let now = clock.now();
        let mut keys: Vec<KeySchedule> = store.all().await?.iter().map(Into::into).collect();
        lifecycle::sort(&mut keys);
        if lifecycle::signing_index(&keys, now).is_none() {
            let first = lifecycle::first_key(&store, sealing.as_ref(), &keys, now).await?;
            if first.added {
                tracing::info!(kid = %first.kid, "generated the first signing key");
            } else {
                tracing::info!("another instance created the first signing key; using it");
            }
        }
        if let Some(key) = &sealing {
            seal_stored(&store, key).await?;
        }
        let version = store.version().await?;
        let loaded = load(&store, sealing.as_ref(), version, now).await?;
        let ring = Arc::new(Self {
            store,
            clock,
            sealing,
            loaded: ArcSwap::from_pointee(loaded),
            last_reload: Mutex::new(Instant::now()),
            last_signing: std::sync::Mutex::new(String::new()),
        });
        ring.record(now);
        Ok(ring)
    }

    /// Reads the ring from the database again.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let version = self.store.version().await?;
        self.reload_at(version).await
    }

    async fn reload_at(&self, version: i64) -> Result<(), KeyError> {
        let loaded = load(
            &self.store,
            self.sealing.as_ref(),
            version,
            self.clock.now(),
        )
        .await?;
        // A reload for an unknown kid that finds no change is not news (and may be a
        // forged token's doing): only a change is logged at info.
        if version == self.loaded.load().version {
            tracing::debug!(version, "key ring reloaded; unchanged");
        } else {
            tracing::info!(
                version,
                keys = loaded.entries.len(),
                "key ring changed; reloaded"
            );
        }
        self.loaded.store(Arc::new(loaded));
        *self.last_reload.lock().await = Instant::now();
        Ok(())
    }

    /// The periodic check: one query for the change counter, a full reload only when it
    /// moved; then the metrics. True when it reloaded.
    pub async fn check(&self) -> Result<bool, KeyError> {
        let version = self.store.version().await?;
        let changed = version != self.loaded.load().version;
        if changed {
            self.reload_at(version).await?;
        }
        self.record(self.clock.now());
        Ok(changed)
    }

    /// Checks every `interval` until the process ends.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) {
        let ring = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(ring) = ring.upgrade() else { break };
                if let Err(e) = ring.check().await {
                    tracing::warn!(error = %e, "key ring check failed; keeping the current keys");
                }
            }
        });
    }

    /// The gauges, and a log line when the signing key changed since the last check.
    fn record(&self, now: i64) {
        let loaded = self.loaded.load();
        let states = key_states(&loaded.schedules, now);
        for state in [KeyState::Published, KeyState::Active, KeyState::Retired] {
            #[allow(clippy::cast_precision_loss)]
            let n = states.iter().filter(|s| s.state == state).count() as f64;
            metrics::gauge!("portcullis_keys", "state" => state.as_str()).set(n);
        }
        if let Some(active) = loaded.signing(now) {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("portcullis_signing_key_age_seconds")
                .set((now - active.schedule.created_at) as f64);
            if let Ok(mut last) = self.last_signing.lock()
                && *last != active.schedule.kid
            {
                if !last.is_empty() {
                    tracing::info!(kid = %active.schedule.kid, "signing key changed");
                }
                last.clone_from(&active.schedule.kid);
            }
        }
    }

    /// The `kid` of the key that signs now (empty if none does, which `open` prevents).
    pub fn signing_kid(&self) -> String {
        self.loaded
            .load()
            .signing(self.clock.now())
            .map(|e| e.schedule.kid.clone())
            .unwrap_or_default()
    }

    /// Every loaded key's state at `now`, the latest activation first: what
    /// `portcullis keys list` and the admin console show.
    pub fn states(&self, now: i64) -> Vec<KeyStatus> {
        key_states(&self.loaded.load().schedules, now)
    }

    /// The JWKS document (RFC 7517): a cached string, rebuilt (from memory) only when a
    /// key's publication has ended since it was built.
    pub fn jwks(&self) -> Arc<str> {
        let now = self.clock.now();
        let loaded = self.loaded.load();
        if now < loaded.jwks_until {
            return loaded.jwks.clone();
        }
        let (jwks, jwks_until) = build_jwks(&loaded.entries, now);
        let fresh = Arc::new(Loaded {
            version: loaded.version,
            entries: loaded.entries.clone(),
            schedules: loaded.schedules.clone(),
            jwks: jwks.clone(),
            jwks_until,
        });
        // If a reload replaced the ring meanwhile, keep the reload's.
        self.loaded.compare_and_swap(&*loaded, fresh);
        jwks
    }

    /// Signs `payload` as a JWT with the key that signs now; `typ` is the JOSE header
    /// type ("JWT", or "at+jwt" for access tokens per RFC 9068).
    pub fn sign(&self, payload: &JwtPayload, typ: &str) -> Result<String, KeyError> {
        let loaded = self.loaded.load();
        let entry = loaded
            .signing(self.clock.now())
            .ok_or(KeyError::NoSigningKey)?;
        let signer = entry.signer.as_ref().ok_or(KeyError::NoSigningKey)?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&entry.schedule.kid);
        jwt::encode_with_signer(payload, &header, signer).map_err(crypto)
    }

    /// Verifies an RS256 JWT signed by one of our published keys and returns its header
    /// type and payload. Expiry and claims are the caller's to check.
    pub async fn verify(&self, token: &str) -> Result<(Option<String>, JwtPayload), VerifyError> {
        let header = jwt::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.claim("alg").and_then(|v| v.as_str()) != Some("RS256") {
            return Err(VerifyError::BadSignature);
        }
        let kid = header
            .claim("kid")
            .and_then(|v| v.as_str())
            .ok_or(VerifyError::UnknownKey)?
            .to_owned();
        let now = self.clock.now();
        let known = |loaded: &Loaded| {
            loaded
                .entries
                .iter()
                .position(|e| e.schedule.kid == kid && e.schedule.published_at(now))
        };
        if known(&self.loaded.load()).is_none() {
            let mut last = self.last_reload.lock().await;
            if last.elapsed() >= MIN_RELOAD_GAP {
                *last = Instant::now();
                drop(last);
                self.reload().await?;
            }
        }
        let loaded = self.loaded.load();
        let entry = known(&loaded)
            .and_then(|i| loaded.entries.get(i))
            .ok_or(VerifyError::UnknownKey)?;
        let (payload, header) = jwt::decode_with_verifier(token, &entry.verifier)
            .map_err(|_| VerifyError::BadSignature)?;
        Ok((header.token_type().map(str::to_owned), payload))
    }
}

/// The JWKS of the keys published at `now`, and until when it holds.
fn build_jwks(entries: &[Entry], now: i64) -> (Arc<str>, i64) {
    let published: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e.schedule.published_at(now))
        .map(|e| &e.jwk)
        .collect();
    let until = entries
        .iter()
        .filter_map(|e| e.schedule.unpublish_at)
        .filter(|end| *end > now)
        .min()
        .unwrap_or(i64::MAX);
    let jwks = serde_json::json!({ "keys": published }).to_string();
    (jwks.into(), until)
}

/// A fresh RSA-2048 key, signing from `activate_at`, with its RFC 7638 thumbprint as `kid`.
async fn generate(
    sealing: Option<&EncryptionKey>,
    created_at: i64,
    activate_at: i64,
    generation: i64,
) -> Result<StoredKey, KeyError> {
    let pair = tokio::task::spawn_blocking(|| RS256.generate_key_pair(2048))
        .await
        .map_err(crypto)?
        .map_err(crypto)?;
    let pem = pair.to_pem_private_key();
    let mut jwk = pair.to_jwk_public_key();
    let kid = thumbprint(&jwk)?;
    jwk.set_key_id(&kid);
    jwk.set_key_use("sig");
    jwk.set_algorithm("RS256");
    let public_jwk = serde_json::Value::Object(jwk.as_ref().clone());
    let pem = String::from_utf8(pem).map_err(crypto)?;
    let private_key = match sealing {
        Some(k) => seal(k, &kid, pem.as_bytes())?,
        None => pem,
    };
    Ok(StoredKey {
        kid,
        private_key: Secret::new(private_key),
        public_jwk,
        created_at,
        activate_at,
        unpublish_at: None,
        generation,
    })
}

/// RFC 7638: SHA-256 over the required members in lexicographic order.
fn thumbprint(jwk: &Jwk) -> Result<String, KeyError> {
    let member = |name: &str| {
        jwk.parameter(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| KeyError::Crypto(format!("public key has no `{name}`")))
    };
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        member("e")?,
        member("n")?
    );
    Ok(super::sha256_b64url(canonical.as_bytes()))
}

/// Seals every private key still stored in the clear (stored before
/// `keys.encryption_key` was set), and says so in the log.
async fn seal_stored(store: &KeyStore, key: &EncryptionKey) -> Result<(), KeyError> {
    let mut sealed = 0;
    for (kid, pem) in store.private_keys_without(SEALED_PREFIX).await? {
        let new = Secret::new(seal(key, &kid, pem.expose().as_bytes())?);
        if store.replace_private_key(&kid, &pem, &new).await? {
            sealed += 1;
        }
    }
    if sealed > 0 {
        tracing::warn!(
            keys = sealed,
            "sealed signing keys that were stored in the clear with keys.encryption_key"
        );
    }
    Ok(())
}

/// Seals `plain` with AES-256-GCM under `key`, bound to `kid` (the associated data:
/// a sealed value moved to another key id, or another person, does not open). Also
/// seals TOTP keys (`accounts::second_factor::totp`).
pub(crate) fn seal(key: &EncryptionKey, kid: &str, plain: &[u8]) -> Result<String, KeyError> {
    let mut nonce = [0u8; 12];
    super::random::fill(&mut nonce);
    let mut tag = [0u8; 16];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        &key.0,
        Some(&nonce),
        kid.as_bytes(),
        plain,
        &mut tag,
    )
    .map_err(crypto)?;
    let mut out = Vec::with_capacity(12 + 16 + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&ct);
    Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(out)))
}

/// Opens what `seal` sealed for `kid`; a value stored in the clear (no prefix) is
/// returned as it is.
pub(crate) fn unseal(
    key: Option<&EncryptionKey>,
    kid: &str,
    stored: &str,
) -> Result<String, KeyError> {
    let Some(sealed) = stored.strip_prefix(SEALED_PREFIX) else {
        return Ok(stored.to_owned());
    };
    let key = key.ok_or_else(|| KeyError::Sealed {
        kid: kid.to_owned(),
    })?;
    let wrong = || KeyError::WrongSealingKey {
        kid: kid.to_owned(),
    };
    let raw = STANDARD.decode(sealed).map_err(|_| wrong())?;
    if raw.len() < 28 {
        return Err(wrong());
    }
    let (nonce, rest) = raw.split_at(12);
    let (tag, ct) = rest.split_at(16);
    let plain = decrypt_aead(
        Cipher::aes_256_gcm(),
        &key.0,
        Some(nonce),
        kid.as_bytes(),
        ct,
        tag,
    )
    .map_err(|_| wrong())?;
    String::from_utf8(plain).map_err(|_| wrong())
}

async fn load(
    store: &KeyStore,
    sealing: Option<&EncryptionKey>,
    version: i64,
    now: i64,
) -> Result<Loaded, KeyError> {
    let mut keys: Vec<StoredKey> = store
        .all()
        .await?
        .into_iter()
        .filter(|k| k.unpublish_at.is_none_or(|end| end > now))
        .collect();
    keys.sort_by_key(|k| std::cmp::Reverse((k.activate_at, k.generation)));
    let schedules: Vec<KeySchedule> = keys.iter().map(Into::into).collect();
    // Keys activated before the one signing now never sign again: their private halves
    // stay sealed in the database.
    let signing = lifecycle::signing_index(&schedules, now).ok_or(KeyError::NoSigningKey)?;
    let mut entries = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let jwk_map = match &key.public_jwk {
            serde_json::Value::Object(m) => m.clone(),
            _ => return Err(KeyError::Crypto(format!("key {} has no JWK", key.kid))),
        };
        let jwk = Jwk::from_map(jwk_map).map_err(crypto)?;
        let verifier = RS256.verifier_from_jwk(&jwk).map_err(crypto)?;
        let signer = if i <= signing {
            let pem = unseal(sealing, &key.kid, key.private_key.expose())?;
            let mut s = RS256.signer_from_pem(pem.as_bytes()).map_err(crypto)?;
            s.set_key_id(&key.kid);
            Some(s)
        } else {
            None
        };
        entries.push(Entry {
            schedule: schedules[i].clone(),
            jwk: key.public_jwk.clone(),
            verifier,
            signer,
        });
    }
    let (jwks, jwks_until) = build_jwks(&entries, now);
    Ok(Loaded {
        version,
        entries: entries.into(),
        schedules: schedules.into(),
        jwks,
        jwks_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_its_key_and_kid() {
        let k = EncryptionKey([7; 32]);
        let sealed = seal(&k, "kid-1", b"secret pem").expect("seal");
        assert!(sealed.starts_with(SEALED_PREFIX));
        assert!(!sealed.contains("secret"));
        assert_eq!(
            unseal(Some(&k), "kid-1", &sealed).expect("open"),
            "secret pem"
        );
        assert!(matches!(
            unseal(Some(&EncryptionKey([8; 32])), "kid-1", &sealed),
            Err(KeyError::WrongSealingKey { .. })
        ));
        assert!(matches!(
            unseal(Some(&k), "kid-2", &sealed),
            Err(KeyError::WrongSealingKey { .. })
        ));
        assert!(matches!(
            unseal(None, "kid-1", &sealed),
            Err(KeyError::Sealed { .. })
        ));
    }

    #[test]
    fn the_thumbprint_matches_rfc_7638_section_3_1() {
        let jwk = Jwk::from_bytes(br#"{"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#).expect("jwk");
        assert_eq!(
            thumbprint(&jwk).expect("thumbprint"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
