//! An authenticator app (TOTP, RFC 6238): SHA-1, 6 digits, 30-second steps, what every
//! authenticator app expects. A code is accepted one step early or late (RFC 6238
//! section 5.2: clock drift), and only once: the step of the last code accepted is
//! stored, and a code of that step or an earlier one is refused, in one statement.
//!
//! Enrolment keeps a fresh 160-bit key pending in the database until the person types
//! a current code from it; only then is it a factor. Keys are sealed with
//! `keys.encryption_key` when one is set (the same AES-256-GCM as the signing keys),
//! bound to the person's id.

use totp_rs::{Algorithm, Totp};
use uuid::Uuid;

use super::super::{
    Accounts,
    admin::AdminError,
    manage::{Field, ManageError, Refusal},
};
use crate::{
    audit::{Actor, Event, EventKind, Origin},
    crypto::{keys, random},
    mail::Message,
    storage::{StorageError, StoredTotp, StoredUser},
};

/// Seconds in one step.
pub const STEP: u64 = 30;
/// Digits in a code.
pub const DIGITS: u8 = 6;
/// Steps of drift accepted either way.
const SKEW: u16 = 1;
/// Bytes of key (RFC 4226 section 4 recommends 160 bits).
const KEY_BYTES: usize = 20;
/// How long a shown, unconfirmed key is shown again rather than replaced (seconds).
const PENDING_FOR: i64 = 60 * 60;

/// What the enrolment page shows: the key to type, and the `otpauth://` URL its QR
/// code carries.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// The base32 key, in groups of four for typing.
    pub key_groups: String,
    pub otpauth_url: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment([redacted])")
    }
}

/// A code as typed, if it has the shape of a TOTP code: six ASCII digits once spaces
/// are taken out. Anything else (other scripts' digits included) is not one.
pub fn as_totp_code(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    (code.len() == usize::from(DIGITS) && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

fn associated_data(user: Uuid) -> String {
    format!("totp:{user}")
}

fn totp_for(base32: &str) -> Option<Totp> {
    let bytes = totp_rs::Secret::try_from_base32(base32).ok()?;
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(SKEW)
        .with_step_duration(STEP)
        .with_secret(bytes)
        .build()
        .ok()
}

/// The step a code belongs to, if it is right at `now` give or take one step.
fn matching_step(base32: &str, code: &str, now: i64) -> Option<i64> {
    let totp = totp_for(base32)?;
    let now = u64::try_from(now).ok()?;
    totp.check(code, now).and_then(|s| i64::try_from(s).ok())
}

/// `otpauth://totp/<issuer>:<account>?...` (the Key Uri Format authenticator apps read).
fn otpauth_url(issuer: &str, account: &str, base32: &str) -> String {
    let (issuer, account) = (uri_component(issuer), uri_component(account));
    format!(
        "otpauth://totp/{issuer}:{account}?secret={base32}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP}"
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn uri_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn grouped(base32: &str) -> String {
    base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Accounts {
    fn seal_totp(&self, user: Uuid, base32: &str) -> Result<String, StorageError> {
        match &self.config.keys.encryption_key {
            Some(key) => keys::seal(key, &associated_data(user), base32.as_bytes())
                .map_err(|e| StorageError::Corrupt(format!("cannot seal a TOTP key: {e}"))),
            None => Ok(base32.to_owned()),
        }
    }

    fn unseal_totp(&self, user: Uuid, stored: &StoredTotp) -> Result<String, StorageError> {
        keys::unseal(
            self.config.keys.encryption_key.as_ref(),
            &associated_data(user),
            &stored.secret,
        )
        .map_err(|_| {
            StorageError::Corrupt(format!(
                "the TOTP key of {user} cannot be opened with keys.encryption_key"
            ))
        })
    }

    /// The key to show for enrolling an authenticator app: the pending one if it was
    /// made in the last hour (a reload shows the same QR code), else a fresh one.
    /// `None` when an app is already switched on.
    pub async fn totp_enrolment(
        &self,
        user: &StoredUser,
    ) -> Result<Option<Enrolment>, StorageError> {
        let now = self.clock.now();
        let base32 = match self.store.totp.find(user.id).await? {
            Some(t) if t.confirmed_at.is_some() => return Ok(None),
            Some(t) if now - t.created_at < PENDING_FOR => self.unseal_totp(user.id, &t)?,
            _ => {
                let mut bytes = vec![0u8; KEY_BYTES];
                random::fill(&mut bytes);
                let base32 = totp_rs::Secret::from(bytes).to_base32();
                if !self
                    .store
                    .totp
                    .start(user.id, &self.seal_totp(user.id, &base32)?, now)
                    .await?
                {
                    // Confirmed in another tab since we looked.
                    return Ok(None);
                }
                base32
            }
        };
        Ok(Some(Enrolment {
            key_groups: grouped(&base32),
            otpauth_url: otpauth_url(self.mailer.service(), &user.username, &base32),
        }))
    }

    /// Switches the pending authenticator app on when `code` is current for it.
    /// Returns the recovery codes made for a person's first second factor, to be shown
    /// once.
    pub async fn confirm_totp(
        &self,
        user_id: Uuid,
        code: &str,
        origin: &Origin,
    ) -> Result<Option<Vec<String>>, ManageError> {
        let user = self.active_user(user_id).await?;
        let wrong = || {
            ManageError::Refused(Refusal::new(
                Field::TotpCode,
                "That code didn't work. Type the six digits your app shows now.",
            ))
        };
        let Some(code) = as_totp_code(code) else {
            return Err(wrong());
        };
        let now = self.clock.now();
        let pending = match self.store.totp.find(user.id).await? {
            Some(t) if t.confirmed_at.is_none() => t,
            _ => {
                return Err(ManageError::Refused(Refusal::new(
                    Field::TotpCode,
                    "This setup page had expired. Scan the new code below and try again.",
                )));
            }
        };
        let base32 = self.unseal_totp(user.id, &pending)?;
        let Some(step) = matching_step(&base32, &code, now) else {
            return Err(wrong());
        };
        let mut tx = self.store.db.begin_write().await?;
        if !self
            .store
            .totp
            .confirm_in(&mut tx, user.id, &pending.secret, step, now)
            .await?
        {
            return Err(wrong());
        }
        let codes = self.ensure_recovery_codes_in(&mut tx, user.id).await?;
        let event = Event::by_user(EventKind::TotpEnabled, user.id).from(origin);
        self.audit.record_in(&mut tx, event, now).await?;
        let message = Message::SecondFactorAdded {
            name: Self::salutation(&user),
            method: "an authenticator app".to_owned(),
        };
        self.mailer
            .queue_in(&mut tx, &user.email, &message, now)
            .await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(codes)
    }

    /// Whether `code` is a current code of `user`'s authenticator app that was not used
    /// before; when it is, it is used up.
    pub async fn use_totp_code(&self, user: Uuid, code: &str) -> Result<bool, StorageError> {
        let Some(code) = as_totp_code(code) else {
            return Ok(false);
        };
        let Some(stored) = self
            .store
            .totp
            .find(user)
            .await?
            .filter(|t| t.confirmed_at.is_some())
        else {
            return Ok(false);
        };
        let base32 = self.unseal_totp(user, &stored)?;
        match matching_step(&base32, &code, self.clock.now()) {
            Some(step) if step > stored.last_step => self.store.totp.use_step(user, step).await,
            _ => Ok(false),
        }
    }

    /// Checks what a person typed to prove it is them before removing a factor or
    /// making new recovery codes: a current code from their app, or their password (a
    /// password is never six digits: the policy asks for at least eight characters).
    pub(crate) async fn check_password_or_code(
        &self,
        user: &StoredUser,
        typed: &str,
    ) -> Result<(), ManageError> {
        let wrong = || {
            ManageError::Refused(Refusal::new(
                Field::PasswordOrCode,
                "That password or code didn't work. Check it and try again.",
            ))
        };
        if typed.trim().is_empty() {
            return Err(ManageError::Refused(Refusal::new(
                Field::PasswordOrCode,
                "Enter your password or a code from your authenticator app.",
            )));
        }
        if as_totp_code(typed).is_some() {
            // Codes guessed here count towards lockout, as at sign-in.
            if self.locked_until(user.id).await?.is_some() {
                return Err(ManageError::Refused(Refusal::new(
                    Field::PasswordOrCode,
                    crate::accounts::manage::LOCKED,
                )));
            }
            if self.use_totp_code(user.id, typed).await? {
                return Ok(());
            }
            self.count_failure(user.id, &crate::audit::Origin::default())
                .await?;
            return Err(wrong());
        }
        match self
            .check_current_password(user, typed, Field::PasswordOrCode)
            .await
        {
            Err(ManageError::Refused(r)) if r.message != crate::accounts::manage::LOCKED => {
                Err(wrong())
            }
            other => other,
        }
    }

    /// `portcullis user reset-second-factor`: for a person who lost their phone and
    /// their recovery codes, removes the authenticator app and the recovery codes (a
    /// passkey stays: it is removed from the account page). Returns the person and
    /// whether anything was removed.
    pub async fn reset_second_factor_by_admin(
        &self,
        username: &str,
    ) -> Result<(StoredUser, bool), AdminError> {
        let user = self.changeable(username).await?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        let had_totp = self.store.totp.remove_in(&mut tx, user.id).await?;
        let codes = self
            .store
            .recovery_codes
            .remove_in(&mut tx, user.id)
            .await?;
        if !had_totp && codes == 0 {
            return Ok((user, false));
        }
        let event = Event::new(EventKind::TotpRemoved, Actor::Cli)
            .about(user.id)
            .with("recovery_codes_removed", codes);
        self.audit.record_in(&mut tx, event, now).await?;
        let message = Message::SecondFactorRemoved {
            name: Self::salutation(&user),
            method: "your authenticator app and your recovery codes, by an administrator"
                .to_owned(),
        };
        self.mailer
            .queue_in(&mut tx, &user.email, &message, now)
            .await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok((user, true))
    }

    /// Removes the authenticator app, given the password or a current code. Recovery
    /// codes go too when no other second factor is left.
    pub async fn remove_totp(
        &self,
        user_id: Uuid,
        password_or_code: &str,
        origin: &Origin,
    ) -> Result<(), ManageError> {
        let user = self.active_user(user_id).await?;
        if !self.store.totp.is_confirmed(user.id).await? {
            return Ok(());
        }
        self.check_password_or_code(&user, password_or_code).await?;
        let now = self.clock.now();
        let passkeys_left = self.second_factors(user.id).await?.passkeys > 0;
        let mut tx = self.store.db.begin_write().await?;
        self.store.totp.remove_in(&mut tx, user.id).await?;
        if !passkeys_left {
            self.store
                .recovery_codes
                .remove_in(&mut tx, user.id)
                .await?;
        }
        let event = Event::by_user(EventKind::TotpRemoved, user.id).from(origin);
        self.audit.record_in(&mut tx, event, now).await?;
        let message = Message::SecondFactorRemoved {
            name: Self::salutation(&user),
            method: "an authenticator app".to_owned(),
        };
        self.mailer
            .queue_in(&mut tx, &user.email, &message, now)
            .await?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_six_ascii_digits_with_spaces_allowed() {
        assert_eq!(as_totp_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(as_totp_code("12345"), None);
        assert_eq!(as_totp_code("1234567"), None);
        assert_eq!(as_totp_code("١٢٣٤٥٦"), None, "Arabic-Indic digits");
        assert_eq!(as_totp_code("１２３４５６"), None, "full-width digits");
        assert_eq!(as_totp_code("12345\u{0}"), None);
    }

    #[test]
    fn a_code_is_accepted_one_step_either_way_and_not_two() {
        let base32 = totp_rs::Secret::from(vec![7u8; 20]).to_base32();
        let totp = totp_for(&base32).expect("a valid key");
        let now = 1_800_000_000_i64;
        let at = |t: i64| {
            totp.generate(u64::try_from(t).expect("positive"))
                .to_string()
        };
        let step = now / 30;
        assert_eq!(matching_step(&base32, &at(now), now), Some(step));
        assert_eq!(matching_step(&base32, &at(now - 30), now), Some(step - 1));
        assert_eq!(matching_step(&base32, &at(now + 30), now), Some(step + 1));
        assert_eq!(matching_step(&base32, &at(now - 60), now), None);
        assert_eq!(matching_step(&base32, &at(now + 60), now), None);
    }

    #[test]
    fn the_otpauth_url_names_issuer_and_account_encoded() {
        let url = otpauth_url("id.example.com", "ada lovelace:x", "ABCD");
        assert_eq!(
            url,
            "otpauth://totp/id.example.com:ada%20lovelace%3Ax?secret=ABCD&issuer=id.example.com\
             &algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
    }
}
