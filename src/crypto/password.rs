//! argon2id password hashing, off the async runtime and bounded, so that a flood of
//! logins queues (up to a limit, then is refused) instead of exhausting memory.

use super::Secret;
use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{
        PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString, rand_core::OsRng,
    },
};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

/// The form a password is hashed in: NFKC (NIST SP 800-63B section 5.1.1.2), so the same
/// password typed on keyboards that compose accents differently is the same password.
fn normalized(password: &str) -> String {
    password.nfkc().collect()
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing slot is busy and the queue is full: try again later.
    #[error("too many password checks at once")]
    Busy,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// OWASP's argon2id parameters: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    match Params::new(19 * 1024, 2, 1, None) {
        Ok(params) => Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        Err(_) => Argon2::default(),
    }
}

#[derive(Clone, Debug)]
pub struct PasswordHasher {
    /// Hashing slots: how many run at once.
    workers: Arc<Semaphore>,
    /// Slots plus the queue: past this, refuse.
    admission: Arc<Semaphore>,
    /// A real hash of nothing anyone knows, checked for unknown users so that the time
    /// a login takes does not say whether the user exists.
    dummy: Arc<str>,
}

impl PasswordHasher {
    pub fn new(concurrency: usize, queue: usize) -> Result<Self, PasswordError> {
        let concurrency = concurrency.max(1);
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon2()
            .hash_password(super::random::secret().as_bytes(), &salt)
            .map_err(|e| PasswordError::Internal(e.to_string()))?
            .to_string();
        Ok(Self {
            workers: Arc::new(Semaphore::new(concurrency)),
            admission: Arc::new(Semaphore::new(concurrency + queue)),
            dummy: dummy.into(),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _admitted = self.admission.clone().try_acquire_owned().map_err(|_| {
            metrics::counter!("portcullis_password_hash_refused_total").increment(1);
            PasswordError::Busy
        })?;
        let queued = Queued::enter();
        let _slot = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Busy)?;
        drop(queued);
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))
    }

    /// A new argon2id PHC string for `password`.
    pub async fn hash(&self, password: Secret) -> Result<Secret, PasswordError> {
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(normalized(password.expose()).as_bytes(), &salt)
                .map(|h| Secret::new(h.to_string()))
                .map_err(|e| PasswordError::Internal(e.to_string()))
        })
        .await?
    }

    /// Checks `password` against `phc`, or against the dummy hash when there is no user,
    /// taking the same time either way. False for a malformed stored hash.
    pub async fn verify(
        &self,
        password: Secret,
        phc: Option<Secret>,
    ) -> Result<bool, PasswordError> {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| Secret::new(self.dummy.to_string()));
        let ok = self
            .run(move || match PasswordHash::new(phc.expose()) {
                Ok(parsed) => {
                    let raw = password.expose();
                    let nfkc = normalized(raw);
                    let argon = argon2();
                    argon.verify_password(nfkc.as_bytes(), &parsed).is_ok()
                        // Hashed before passwords were normalised: the bytes as typed.
                        || (nfkc != *raw && argon.verify_password(raw.as_bytes(), &parsed).is_ok())
                }
                Err(_) => false,
            })
            .await?;
        Ok(ok && known)
    }
}

/// One hash waiting for a slot, in `portcullis_password_hash_queue_depth` while it
/// waits and in `portcullis_password_hash_wait_seconds` once it stops waiting — also
/// when the request that wanted it was dropped meanwhile (timed out, or gone).
struct Queued(std::time::Instant);

impl Queued {
    fn enter() -> Self {
        metrics::gauge!("portcullis_password_hash_queue_depth").increment(1.0);
        Self(std::time::Instant::now())
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        metrics::gauge!("portcullis_password_hash_queue_depth").decrement(1.0);
        metrics::histogram!("portcullis_password_hash_wait_seconds")
            .record(self.0.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn composed_and_decomposed_forms_are_the_same_password() {
        let h = PasswordHasher::new(2, 4).expect("hasher");
        let composed = "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e";
        let decomposed = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e";
        let phc = h.hash(composed.into()).await.expect("hash");
        assert!(
            h.verify(decomposed.into(), Some(phc.clone()))
                .await
                .expect("verify")
        );
        assert!(h.verify(composed.into(), Some(phc)).await.expect("verify"));
        // A hash of the bytes as typed, from before normalising, still verifies.
        let salt = SaltString::generate(&mut OsRng);
        let legacy = argon2()
            .hash_password(decomposed.as_bytes(), &salt)
            .expect("hash")
            .to_string();
        assert!(
            h.verify(decomposed.into(), Some(Secret::new(legacy)))
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn a_hash_is_argon2id_with_owasp_parameters_and_verifies() {
        let h = PasswordHasher::new(2, 4).expect("hasher");
        let phc = h.hash("correct horse".into()).await.expect("hash");
        assert!(
            phc.expose().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{phc:?}"
        );
        assert!(
            h.verify("correct horse".into(), Some(phc.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !h.verify("wrong horse".into(), Some(phc))
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_and_a_malformed_hash_is_false() {
        let h = PasswordHasher::new(1, 1).expect("hasher");
        assert!(!h.verify("anything".into(), None).await.expect("verify"));
        assert!(
            !h.verify("x".into(), Some("not-a-hash".into()))
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_not_grown() {
        let h = PasswordHasher::new(1, 0).expect("hasher");
        let busy = h
            .admission
            .clone()
            .try_acquire_owned()
            .expect("take the only slot");
        assert!(matches!(h.hash("x".into()).await, Err(PasswordError::Busy)));
        drop(busy);
        assert!(h.hash("x".into()).await.is_ok());
    }
}
