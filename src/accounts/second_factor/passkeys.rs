//! Passkeys (WebAuthn, with webauthn-rs): registering one on the account page, and
//! using one as a second factor after the password or, being a discoverable credential
//! with user verification, to sign in without a password.
//!
//! Each ceremony has two halves: `begin_*` returns the options for the browser and a
//! state that the caller keeps (in the browser session) and hands back, once, to the
//! matching `finish_*`, which refuses it after `CEREMONY_TTL`. The state is bound to the
//! challenge it was made with, so a replayed answer finds nothing to finish.
//!
//! `amr` (RFC 8176) for a passkey: "hwk" for a device-bound credential, "swk" for one
//! its provider may sync to other devices (the backup-eligible flag), and "user", as
//! every assertion proves user presence; the user verification we require (a PIN or a
//! biometric) cannot be told apart, so neither "pin" nor "fpt" is claimed.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey,
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Url, Webauthn, WebauthnBuilder,
};

use crate::{
    accounts::{Accounts, AuthenticatedUser},
    audit::{Audit, Event, EventKind, Origin},
    clock::Clock,
    config::Issuer,
    crypto::random,
    mail::{MailError, Mailer, Message},
    storage::{NewPasskey, StorageError, Store, StoredPasskey, StoredUser},
};

/// How long a ceremony may take between its two halves.
pub const CEREMONY_TTL: i64 = 180;
/// The longest passkey name, in characters.
pub const NAME_MAX_CHARS: usize = 64;
/// The most passkeys one person may register.
pub const MAX_PER_PERSON: usize = 20;

/// Why a passkey action did not happen, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// This server cannot offer passkeys (its issuer is not a domain a browser accepts).
    #[error("passkeys are not available on this server")]
    Unavailable,
    /// The input is wrong; nothing was written. The message is for the person.
    #[error("{0}")]
    Refused(&'static str),
    /// The ceremony is missing, expired, already used, or the browser's answer does not
    /// verify (wrong origin, wrong challenge, bad signature).
    #[error("the passkey check failed")]
    Failed,
    /// The passkey is not (or no longer) registered.
    #[error("this passkey is not registered")]
    Unknown,
    /// The passkey's owner is disabled or deleted.
    #[error("this account is disabled")]
    Disabled,
    /// The app asked for someone else to sign in (`id_token_hint`).
    #[error("the app asked for a different account")]
    WrongAccount,
    /// The passkey's owner is locked out for this many more minutes (at least 1).
    #[error("this account is locked")]
    Locked(i64),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("a mail template failed: {0}")]
    Mail(askama::Error),
}

impl PasskeyError {
    /// Locked until `until` (unix seconds), as the minutes left at `now`, rounded up.
    pub fn locked(until: i64, now: i64) -> Self {
        Self::Locked((until - now).max(1))
    }
}

impl From<MailError> for PasskeyError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Storage(e) => Self::Storage(e),
            MailError::Template(e) => Self::Mail(e),
        }
    }
}

pub type Result<T, E = PasskeyError> = std::result::Result<T, E>;

/// A registration under way, kept between its two halves.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Registering {
    user: Uuid,
    name: String,
    expires_at: i64,
    state: PasskeyRegistration,
}

/// A second-factor check under way for `user`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verifying {
    user: Uuid,
    expires_at: i64,
    state: PasskeyAuthentication,
}

impl Verifying {
    /// Whom this check is for.
    pub fn user(&self) -> Uuid {
        self.user
    }
}

/// A passwordless sign-in under way: whoever's passkey answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Discovering {
    expires_at: i64,
    state: DiscoverableAuthentication,
}

/// A passkey that was just used: whose, and the `amr` values it earns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Used {
    pub user_id: Uuid,
    pub passkey_id: Uuid,
    pub amr: Vec<&'static str>,
}

/// A passkey that was just added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Added {
    pub id: Uuid,
    pub name: String,
    /// It is the person's first second factor (no TOTP, no other passkey), and these
    /// are their first recovery codes, to be shown once.
    pub recovery_codes: Option<Vec<String>>,
}

/// The passkeys service: the relying party built once from the issuer, and the stores.
#[derive(Clone, Debug)]
pub struct Passkeys {
    webauthn: Option<Arc<Webauthn>>,
    accounts: Accounts,
    store: Store,
    audit: Audit,
    mailer: Mailer,
    clock: Clock,
}

/// The relying party for `issuer`: its host is the RP ID and its origin the one origin
/// allowed. `None` when browsers would refuse it (an IP address is not an RP ID).
fn relying_party(issuer: &Issuer) -> Option<Webauthn> {
    let origin = Url::parse(issuer.as_str()).ok()?;
    let host = origin.host_str()?.to_owned();
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        tracing::info!(
            "passkeys are off: the issuer's host {host} is an IP address, which browsers \
             do not accept as a WebAuthn relying party"
        );
        return None;
    }
    let built = WebauthnBuilder::new(&host, &origin)
        .map(|b| {
            b.rp_name(&host).timeout(Duration::from_secs(
                u64::try_from(CEREMONY_TTL).unwrap_or(180),
            ))
        })
        .and_then(|b| b.build());
    match built {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "passkeys are off: the issuer is not a usable relying party");
            None
        }
    }
}

/// The registration options asking for a discoverable credential (a resident key):
/// webauthn-rs asks for a non-resident one, but the passwordless sign-in needs the
/// authenticator to know the account. The server side of the check does not depend on
/// it, so only the options the browser sees change (WebAuthn section 5.4.6).
fn discoverable(options: &CreationChallengeResponse) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(options).map_err(|e| {
        tracing::error!(error = %e, "cannot serialise passkey options");
        PasskeyError::Failed
    })?;
    if let Some(selection) = value
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(serde_json::Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    Ok(value)
}

/// The base64url form of a credential id, as it is stored.
fn credential_key(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn amr_of(result: &AuthenticationResult) -> Vec<&'static str> {
    let kind = if result.backup_eligible() {
        "swk"
    } else {
        "hwk"
    };
    vec![kind, "user"]
}

/// A passkey's name as typed, checked: trimmed, 1 to `NAME_MAX_CHARS` characters, no
/// control characters.
pub fn check_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(PasskeyError::Refused(
            "Give the passkey a name, such as “Work laptop”.",
        ));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(PasskeyError::Refused(
            "Use at most 64 characters for the name.",
        ));
    }
    if name.chars().any(|c| c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')) {
        return Err(PasskeyError::Refused(
            "The name has characters we cannot show. Use letters, digits and spaces.",
        ));
    }
    Ok(name.to_owned())
}

impl Passkeys {
    pub fn new(
        issuer: &Issuer,
        accounts: Accounts,
        store: Store,
        audit: Audit,
        mailer: Mailer,
        clock: Clock,
    ) -> Self {
        Self {
            webauthn: relying_party(issuer).map(Arc::new),
            accounts,
            store,
            audit,
            mailer,
            clock,
        }
    }

    /// Whether this server offers passkeys at all.
    pub fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    fn rp(&self) -> Result<&Webauthn> {
        self.webauthn.as_deref().ok_or(PasskeyError::Unavailable)
    }

    /// The person's passkeys, oldest first.
    pub async fn list(&self, user: Uuid) -> Result<Vec<StoredPasskey>> {
        Ok(self.store.passkeys.list_for_user(user).await?)
    }

    async fn credentials(&self, user: Uuid) -> Result<Vec<Passkey>> {
        let mut keys = Vec::new();
        for stored in self.list(user).await? {
            match serde_json::from_str::<Passkey>(&stored.credential) {
                Ok(key) => keys.push(key),
                Err(e) => {
                    tracing::warn!(passkey = %stored.id, error = %e, "a stored passkey is unreadable")
                }
            }
        }
        Ok(keys)
    }

    /// Starts registering a passkey called `name` for `user`: a discoverable credential
    /// (so it can sign in without a password) with user verification required.
    pub async fn begin_registration(
        &self,
        user: &StoredUser,
        name: &str,
    ) -> Result<(serde_json::Value, Registering)> {
        let rp = self.rp()?;
        let name = check_name(name)?;
        let existing = self.credentials(user.id).await?;
        if existing.len() >= MAX_PER_PERSON {
            return Err(PasskeyError::Refused(
                "You have as many passkeys as we keep. Remove one you no longer use first.",
            ));
        }
        let exclude = existing.iter().map(|k| k.cred_id().clone()).collect();
        let display = user.display_name.clone().filter(|n| !n.trim().is_empty());
        let (options, state) = rp
            .start_passkey_registration(
                user.id,
                &user.username,
                display.as_deref().unwrap_or(&user.username),
                Some(exclude),
            )
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot start a passkey registration");
                PasskeyError::Failed
            })?;
        let options = discoverable(&options)?;
        let registering = Registering {
            user: user.id,
            name,
            expires_at: self.clock.now() + CEREMONY_TTL,
            state,
        };
        Ok((options, registering))
    }

    /// Finishes a registration begun for `user`: verifies the browser's answer, stores
    /// the passkey with its audit event and a mail to the person, in one transaction.
    pub async fn finish_registration(
        &self,
        user: &StoredUser,
        registering: Registering,
        answer: &RegisterPublicKeyCredential,
        origin: &Origin,
    ) -> Result<Added> {
        let rp = self.rp()?;
        let now = self.clock.now();
        if registering.user != user.id || registering.expires_at < now {
            return Err(PasskeyError::Failed);
        }
        let key = rp
            .finish_passkey_registration(answer, &registering.state)
            .map_err(|e| {
                tracing::info!(error = %e, "a passkey registration did not verify");
                PasskeyError::Failed
            })?;
        let credential = serde_json::to_string(&key).map_err(|e| {
            tracing::error!(error = %e, "cannot serialise a passkey");
            PasskeyError::Failed
        })?;
        let credential_id = credential_key(key.cred_id().as_ref());
        let had = self.store.passkeys.count_for_user(user.id).await?;
        let first_second_factor = had == 0 && !self.store.totp.is_confirmed(user.id).await?;
        let mut tx = self.store.db.begin_write().await?;
        let new = NewPasskey {
            user_id: user.id,
            credential_id: &credential_id,
            name: &registering.name,
            credential: &credential,
        };
        let id = match self.store.passkeys.insert_in(&mut tx, &new, now).await {
            Ok(id) => id,
            Err(StorageError::Conflict(_)) => {
                return Err(PasskeyError::Refused(
                    "This passkey is already registered. Use it, or add a different one.",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let event = Event::by_user(EventKind::PasskeyAdded, user.id)
            .from(origin)
            .with("name", registering.name.clone())
            .with("synced", key_is_synced(&key));
        self.audit.record_in(&mut tx, event, now).await?;
        let message = Message::PasskeyAdded {
            name: crate::accounts::Accounts::salutation(user),
            passkey: registering.name.clone(),
        };
        self.mailer
            .queue_in(&mut tx, &user.email, &message, now)
            .await?;
        // A first second factor comes with recovery codes, in the same transaction.
        let recovery_codes = if first_second_factor {
            self.accounts
                .ensure_recovery_codes_in(&mut tx, user.id)
                .await?
        } else {
            None
        };
        tx.commit().await?;
        self.mailer.wake();
        Ok(Added {
            id,
            name: registering.name,
            recovery_codes,
        })
    }

    /// Starts a second-factor check for `user` with any of their passkeys.
    pub async fn begin_second_factor(
        &self,
        user: Uuid,
    ) -> Result<(RequestChallengeResponse, Verifying)> {
        let rp = self.rp()?;
        let keys = self.credentials(user).await?;
        if keys.is_empty() {
            return Err(PasskeyError::Unknown);
        }
        let (options, state) = rp.start_passkey_authentication(&keys).map_err(|e| {
            tracing::warn!(error = %e, "cannot start a passkey check");
            PasskeyError::Failed
        })?;
        let verifying = Verifying {
            user,
            expires_at: self.clock.now() + CEREMONY_TTL,
            state,
        };
        Ok((options, verifying))
    }

    /// Finishes a second-factor check: the answer must verify against one of the
    /// person's passkeys that is still registered.
    pub async fn finish_second_factor(
        &self,
        verifying: Verifying,
        answer: &PublicKeyCredential,
        origin: &Origin,
    ) -> Result<Used> {
        let rp = self.rp()?;
        if verifying.expires_at < self.clock.now() {
            return Err(PasskeyError::Failed);
        }
        let stored = self.owned_passkey(answer, verifying.user).await?;
        let result = match rp.finish_passkey_authentication(answer, &verifying.state) {
            Ok(result) => result,
            Err(e) => {
                tracing::info!(error = %e, "a passkey second factor did not verify");
                crate::accounts::login::count_sign_in("second_factor", "failure");
                let event = Event::by_user(EventKind::SecondFactorFailed, verifying.user)
                    .failed()
                    .from(origin)
                    .with("method", "passkey");
                self.audit.record(event, self.clock.now()).await;
                return Err(PasskeyError::Failed);
            }
        };
        self.record_use(stored, &result).await
    }

    /// Starts a passwordless sign-in: the browser offers whichever of its passkeys for
    /// this site the person picks.
    pub fn begin_passwordless(&self) -> Result<(RequestChallengeResponse, Discovering)> {
        let rp = self.rp()?;
        let (mut options, state) = rp.start_discoverable_authentication().map_err(|e| {
            tracing::warn!(error = %e, "cannot start a passkey sign-in");
            PasskeyError::Failed
        })?;
        // webauthn-rs asks for conditional mediation (autofill); ours is a button, so the
        // browser's own dialog is what the person should see.
        options.mediation = None;
        let discovering = Discovering {
            expires_at: self.clock.now() + CEREMONY_TTL,
            state,
        };
        Ok((options, discovering))
    }

    /// Finishes a passwordless sign-in: the passkey named by the answer must be
    /// registered to the person its user handle names, the answer must verify, and the
    /// person must be active, not locked out, and the one the app asked for
    /// (`expected_subject`, from `id_token_hint`), if it did. Records the sign-in (or its
    /// refusal).
    /// `amr` is the passkey's plus "mfa": user verification was required, so the
    /// passkey is something the person has, unlocked by something they know or are.
    pub async fn finish_passwordless(
        &self,
        discovering: Discovering,
        answer: &PublicKeyCredential,
        origin: &Origin,
        client_id: Option<&str>,
        expected_subject: Option<&str>,
    ) -> Result<AuthenticatedUser> {
        let used = self
            .verify_passwordless(discovering, answer)
            .await
            .inspect_err(|_| crate::accounts::login::count_sign_in("passkey", "failure"))?;
        let now = self.clock.now();
        let refused = |reason: &'static str| {
            crate::accounts::login::count_sign_in("passkey", reason);
            let mut event = Event::by_user(EventKind::SignIn, used.user_id)
                .failed()
                .from(origin)
                .with("method", "passkey")
                .with("reason", reason);
            if let Some(c) = client_id {
                event = event.client(c);
            }
            event
        };
        let active = self
            .accounts
            .user(used.user_id)
            .await?
            .is_some_and(|u| !u.disabled && u.deleted_at.is_none());
        if !active {
            self.audit.record(refused("disabled"), now).await;
            return Err(PasskeyError::Disabled);
        }
        if let Some(until) = self.accounts.locked_until(used.user_id).await?
            && until > now
        {
            self.audit.record(refused("locked"), now).await;
            return Err(PasskeyError::locked(until, now));
        }
        if expected_subject.is_some_and(|sub| sub != used.user_id.to_string()) {
            self.audit.record(refused("wrong_account"), now).await;
            return Err(PasskeyError::WrongAccount);
        }
        let mut amr: Vec<String> = used.amr.iter().map(|m| (*m).to_owned()).collect();
        amr.push("mfa".to_owned());
        let who = AuthenticatedUser {
            user_id: used.user_id,
            auth_time: now,
            amr,
            sid: random::id(),
        };
        let mut event = Event::by_user(EventKind::SignIn, who.user_id)
            .from(origin)
            .with("method", "passkey")
            .with("amr", who.amr.clone());
        if let Some(c) = client_id {
            event = event.client(c);
        }
        self.audit.record(event, now).await;
        crate::accounts::login::count_sign_in("passkey", "success");
        self.accounts.count_success(who.user_id).await?;
        Ok(who)
    }

    async fn verify_passwordless(
        &self,
        discovering: Discovering,
        answer: &PublicKeyCredential,
    ) -> Result<Used> {
        let rp = self.rp()?;
        if discovering.expires_at < self.clock.now() {
            return Err(PasskeyError::Failed);
        }
        let (user, _) = rp
            .identify_discoverable_authentication(answer)
            .map_err(|_| PasskeyError::Unknown)?;
        let stored = self.owned_passkey(answer, user).await?;
        let key: Passkey = serde_json::from_str(&stored.credential).map_err(|e| {
            tracing::warn!(passkey = %stored.id, error = %e, "a stored passkey is unreadable");
            PasskeyError::Unknown
        })?;
        let result = rp
            .finish_discoverable_authentication(
                answer,
                discovering.state,
                &[DiscoverableKey::from(&key)],
            )
            .map_err(|e| {
                tracing::info!(error = %e, "a passkey sign-in did not verify");
                PasskeyError::Failed
            })?;
        self.record_use(stored, &result).await
    }

    /// The stored passkey the answer names, if it belongs to `user`.
    async fn owned_passkey(
        &self,
        answer: &PublicKeyCredential,
        user: Uuid,
    ) -> Result<StoredPasskey> {
        let id = credential_key(answer.get_credential_id());
        match self.store.passkeys.find_by_credential_id(&id).await? {
            Some(stored) if stored.user_id == user => Ok(stored),
            _ => Err(PasskeyError::Unknown),
        }
    }

    /// Stores the sign counter and backup state the authenticator reported, and when
    /// it was used; refuses a passkey removed while the ceremony ran.
    async fn record_use(
        &self,
        stored: StoredPasskey,
        result: &AuthenticationResult,
    ) -> Result<Used> {
        let mut key: Passkey = serde_json::from_str(&stored.credential).map_err(|e| {
            tracing::warn!(passkey = %stored.id, error = %e, "a stored passkey is unreadable");
            PasskeyError::Unknown
        })?;
        key.update_credential(result);
        let credential = serde_json::to_string(&key).map_err(|e| {
            tracing::error!(error = %e, "cannot serialise a passkey");
            PasskeyError::Failed
        })?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        if !self
            .store
            .passkeys
            .record_use_in(&mut tx, stored.id, &credential, now)
            .await?
        {
            return Err(PasskeyError::Unknown);
        }
        tx.commit().await?;
        Ok(Used {
            user_id: stored.user_id,
            passkey_id: stored.id,
            amr: amr_of(result),
        })
    }

    /// Renames the person's passkey `id`; false when they have none such.
    pub async fn rename(&self, user: Uuid, id: Uuid, name: &str) -> Result<bool> {
        let name = check_name(name)?;
        let mut tx = self.store.db.begin_write().await?;
        let done = self
            .store
            .passkeys
            .rename_in(&mut tx, user, id, &name)
            .await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Removes the person's passkey `id` with its audit event; its name, or `None` when
    /// they have none such.
    pub async fn remove(&self, user: Uuid, id: Uuid, origin: &Origin) -> Result<Option<String>> {
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        let Some(name) = self.store.passkeys.delete_in(&mut tx, user, id).await? else {
            return Ok(None);
        };
        let event = Event::by_user(EventKind::PasskeyRemoved, user)
            .from(origin)
            .with("name", name.clone());
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(Some(name))
    }
}

/// Whether the passkey may be synced to other devices by its provider.
fn key_is_synced(key: &Passkey) -> bool {
    serde_json::to_value(key)
        .ok()
        .and_then(|v| v.pointer("/cred/backup_eligible").and_then(|b| b.as_bool()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_must_be_short_and_printable() {
        assert_eq!(
            check_name("  Work laptop ").ok().as_deref(),
            Some("Work laptop")
        );
        assert!(check_name("   ").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(check_name(&"é".repeat(64)).is_ok());
        assert!(check_name("a\u{0}b").is_err());
        assert!(check_name("evil\u{202e}txt").is_err());
    }

    #[test]
    fn an_ip_address_issuer_has_no_relying_party_and_a_domain_has_one() {
        let ip = Issuer::parse("http://127.0.0.1:8080").expect("issuer");
        assert!(relying_party(&ip).is_none());
        let domain = Issuer::parse("https://id.example.com").expect("issuer");
        assert!(relying_party(&domain).is_some());
        let local = Issuer::parse("http://localhost:8080").expect("issuer");
        assert!(relying_party(&local).is_some());
    }
}
