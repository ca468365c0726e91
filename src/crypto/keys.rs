//! The key ring: RSA-2048 keys kept in the database, the newest one signing (RS256 via
//! OpenSSL), every published one verifying and listed in the JWKS.
//!
//! Each instance holds the ring in memory and reloads it every `keys.reload_interval`
//! and whenever a token names a `kid` it does not know (at most once a second), so a
//! rotation made by the CLI or another instance is picked up within that interval.

use std::{
    collections::HashMap,
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

struct Loaded {
    kid: String,
    signer: RsassaJwsSigner,
    verifiers: HashMap<String, RsassaJwsVerifier>,
    jwks: Arc<str>,
}

pub struct KeyRing {
    store: KeyStore,
    clock: Clock,
    sealing: Option<EncryptionKey>,
    loaded: ArcSwap<Loaded>,
    last_reload: Mutex<Instant>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("signing_kid", &self.loaded.load().kid)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads the ring, first creating a signing key if there is none.
    pub async fn open(
        store: KeyStore,
        sealing: Option<EncryptionKey>,
        clock: Clock,
    ) -> Result<Arc<Self>, KeyError> {
        if !store
            .published(clock.now())
            .await?
            .iter()
            .any(|k| k.retire_at.is_none())
        {
            let key = generate(sealing.as_ref(), clock.now()).await?;
            if store.insert_first(&key).await? {
                tracing::info!(kid = %key.kid, "generated the first signing key");
            } else {
                tracing::info!("another instance created the first signing key; using it");
            }
        }
        if let Some(key) = &sealing {
            seal_stored(&store, key).await?;
        }
        let loaded = load(&store, sealing.as_ref(), clock.now()).await?;
        Ok(Arc::new(Self {
            store,
            clock,
            sealing,
            loaded: ArcSwap::from_pointee(loaded),
            last_reload: Mutex::new(Instant::now()),
        }))
    }

    /// Reads the ring from the database again.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let loaded = load(&self.store, self.sealing.as_ref(), self.clock.now()).await?;
        if loaded.kid != self.loaded.load().kid {
            tracing::info!(kid = %loaded.kid, "signing key changed");
        }
        self.loaded.store(Arc::new(loaded));
        *self.last_reload.lock().await = Instant::now();
        Ok(())
    }

    /// Reloads every `interval` until the process ends.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) {
        let ring = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(ring) = ring.upgrade() else { break };
                if let Err(e) = ring.reload().await {
                    tracing::warn!(error = %e, "key ring reload failed; keeping the current keys");
                }
            }
        });
    }

    /// The `kid` of the signing key.
    pub fn signing_kid(&self) -> String {
        self.loaded.load().kid.clone()
    }

    /// The JWKS document (RFC 7517), serialized once per load.
    pub fn jwks(&self) -> Arc<str> {
        self.loaded.load().jwks.clone()
    }

    /// Signs `payload` as a JWT with the signing key; `typ` is the JOSE header type
    /// ("JWT", or "at+jwt" for access tokens per RFC 9068).
    pub fn sign(&self, payload: &JwtPayload, typ: &str) -> Result<String, KeyError> {
        let loaded = self.loaded.load();
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&loaded.kid);
        jwt::encode_with_signer(payload, &header, &loaded.signer).map_err(crypto)
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
        if !self.loaded.load().verifiers.contains_key(&kid) {
            let mut last = self.last_reload.lock().await;
            if last.elapsed() >= MIN_RELOAD_GAP {
                *last = Instant::now();
                drop(last);
                self.reload().await?;
            }
        }
        let loaded = self.loaded.load();
        let verifier = loaded.verifiers.get(&kid).ok_or(VerifyError::UnknownKey)?;
        let (payload, header) =
            jwt::decode_with_verifier(token, verifier).map_err(|_| VerifyError::BadSignature)?;
        Ok((header.token_type().map(str::to_owned), payload))
    }
}

/// Adds a new signing key; the current ones stay published for `keep_published`, the
/// longest a token they signed can live, and are then deleted by a later rotation.
pub async fn rotate(
    store: &KeyStore,
    sealing: Option<&EncryptionKey>,
    keep_published: Duration,
    now: i64,
) -> Result<String, KeyError> {
    let key = generate(sealing, now).await?;
    store
        .rotate(&key, now + crate::storage::secs(keep_published))
        .await?;
    store.delete_retired(now).await?;
    Ok(key.kid)
}

/// A fresh RSA-2048 key with its RFC 7638 thumbprint as `kid`.
async fn generate(sealing: Option<&EncryptionKey>, now: i64) -> Result<StoredKey, KeyError> {
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
        created_at: now,
        retire_at: None,
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
    now: i64,
) -> Result<Loaded, KeyError> {
    let keys = store.published(now).await?;
    let mut verifiers = HashMap::new();
    let mut published = Vec::new();
    let mut signer = None;
    for key in &keys {
        let jwk_map = match &key.public_jwk {
            serde_json::Value::Object(m) => m.clone(),
            _ => return Err(KeyError::Crypto(format!("key {} has no JWK", key.kid))),
        };
        let jwk = Jwk::from_map(jwk_map).map_err(crypto)?;
        verifiers.insert(
            key.kid.clone(),
            RS256.verifier_from_jwk(&jwk).map_err(crypto)?,
        );
        published.push(key.public_jwk.clone());
        if signer.is_none() && key.retire_at.is_none() {
            let pem = unseal(sealing, &key.kid, key.private_key.expose())?;
            let mut s = RS256.signer_from_pem(pem.as_bytes()).map_err(crypto)?;
            s.set_key_id(&key.kid);
            signer = Some((key.kid.clone(), s));
        }
    }
    let (kid, signer) = signer.ok_or(KeyError::NoSigningKey)?;
    let jwks = serde_json::json!({ "keys": published }).to_string();
    Ok(Loaded {
        kid,
        signer,
        verifiers,
        jwks: jwks.into(),
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
