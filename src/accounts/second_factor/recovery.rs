//! Recovery codes: ten single-use codes, made when a person's first second factor is
//! enrolled, for the day their phone or key is lost. Each is 80 random bits, so the
//! SHA-256 of the person's id and the code is enough to keep (they are not passwords:
//! nobody chose them); shown once, never stored in the clear.

use uuid::Uuid;

use super::super::{Accounts, manage::ManageError};
use crate::{
    audit::{Event, EventKind, Origin},
    crypto::{random, sha256_b64url},
    mail::Message,
    storage::{StorageError, WriteTx},
};

/// How many codes a person gets.
pub const COUNT: usize = 10;
/// Characters in a code, without its hyphens.
const LEN: usize = 16;
/// Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand
/// survives; 5 bits a character.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A fresh code, `xxxx-xxxx-xxxx-xxxx`.
fn fresh() -> String {
    let mut bytes = [0u8; LEN];
    random::fill(&mut bytes);
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// A code as typed, if it has the shape of a recovery code: spaces and hyphens taken
/// out, any case, and the letters Crockford's base32 reads as digits (o, i, l) mapped.
pub fn as_recovery_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        })
        .collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

fn hash(user: Uuid, normalized: &str) -> String {
    sha256_b64url(format!("{user}:{normalized}").as_bytes())
}

impl Accounts {
    /// Inside `tx`: makes `user`'s recovery codes if they have none yet (their first
    /// second factor is being added), and returns them to show once. `None` when they
    /// already have codes. The passkeys part calls this for a first passkey.
    pub async fn ensure_recovery_codes_in(
        &self,
        tx: &mut WriteTx,
        user: Uuid,
    ) -> Result<Option<Vec<String>>, StorageError> {
        if self.store.recovery_codes.any_in(tx, user).await? {
            return Ok(None);
        }
        self.replace_recovery_codes_in(tx, user, None)
            .await
            .map(Some)
    }

    async fn replace_recovery_codes_in(
        &self,
        tx: &mut WriteTx,
        user: Uuid,
        origin: Option<&Origin>,
    ) -> Result<Vec<String>, StorageError> {
        let codes: Vec<String> = (0..COUNT).map(|_| fresh()).collect();
        let hashes: Vec<String> = codes
            .iter()
            .filter_map(|c| as_recovery_code(c))
            .map(|c| hash(user, &c))
            .collect();
        self.store
            .recovery_codes
            .replace_in(tx, user, &hashes, self.clock.now())
            .await?;
        let mut event = Event::by_user(EventKind::RecoveryCodesGenerated, user);
        if let Some(origin) = origin {
            event = event.from(origin);
        }
        self.audit.record_in(tx, event, self.clock.now()).await?;
        Ok(codes)
    }

    /// New recovery codes in place of the old ones, given the password or a current
    /// code; only for a person with a second factor.
    pub async fn regenerate_recovery_codes(
        &self,
        user_id: Uuid,
        password_or_code: &str,
        origin: &Origin,
    ) -> Result<Option<Vec<String>>, ManageError> {
        let user = self.active_user(user_id).await?;
        if !self.second_factors(user.id).await?.any() {
            return Ok(None);
        }
        self.check_password_or_code(&user, password_or_code).await?;
        let mut tx = self.store.db.begin_write().await?;
        let codes = self
            .replace_recovery_codes_in(&mut tx, user.id, Some(origin))
            .await?;
        tx.commit().await?;
        Ok(Some(codes))
    }

    /// Uses up `typed` if it is one of `user`'s unused recovery codes, with its audit
    /// event and a mail to the owner; returns how many are left, or `None` when it is
    /// not one.
    pub async fn use_recovery_code(
        &self,
        user: Uuid,
        typed: &str,
        origin: &Origin,
    ) -> Result<Option<u32>, ManageError> {
        let Some(code) = as_recovery_code(typed) else {
            return Ok(None);
        };
        let Some(person) = self.user(user).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        if !self
            .store
            .recovery_codes
            .consume_in(&mut tx, user, &hash(user, &code), now)
            .await?
        {
            return Ok(None);
        }
        let left = self
            .store
            .recovery_codes
            .count_left_in(&mut tx, user)
            .await?;
        let event = Event::by_user(EventKind::RecoveryCodeUsed, user)
            .from(origin)
            .with("left", left);
        self.audit.record_in(&mut tx, event, now).await?;
        let message = Message::RecoveryCodeUsed {
            name: Self::salutation(&person),
            left: match left {
                1 => "1 unused recovery code".to_owned(),
                n => format!("{n} unused recovery codes"),
            },
        };
        self.mailer
            .queue_in(&mut tx, &person.email, &message, now)
            .await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_codes_have_eighty_bits_in_four_groups_and_read_back() {
        let code = fresh();
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(code.matches('-').count(), 3);
        let normal = as_recovery_code(&code).expect("its own shape");
        assert_eq!(normal.len(), 16);
        assert_ne!(fresh(), fresh());
    }

    #[test]
    fn codes_may_be_typed_in_any_case_with_spaces_and_look_alikes() {
        assert_eq!(
            as_recovery_code(" ABCD efgh-JKMN pqrs ").as_deref(),
            Some("abcdefghjkmnpqrs")
        );
        assert_eq!(
            as_recovery_code("oooo iiii llll 0000").as_deref(),
            Some("0000111111110000")
        );
        assert_eq!(as_recovery_code("abcd-efgh-jkmn-pqr"), None);
        assert_eq!(as_recovery_code("abcd-efgh-jkmn-pqru"), None, "no U");
        assert_eq!(as_recovery_code("abcd-efgh-jkmn-pqr\u{0}"), None);
    }
}
