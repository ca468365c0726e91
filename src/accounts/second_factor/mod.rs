//! Second factors: what a person has enrolled (TOTP, passkeys, recovery codes) and the
//! checks the second-factor step of sign-in makes. A person with any of them is asked
//! for one after the password, before any consent or code.

pub mod passkeys;
pub mod recovery;
pub mod require;
pub mod totp;

use uuid::Uuid;

use super::{Accounts, manage::ManageError};
use crate::{
    audit::{Actor, Event, EventKind, Origin},
    storage::StorageError,
};

/// The longest code we look at; anything longer is wrong without further work.
const MAX_TYPED: usize = 64;

/// The second factors a person has, as the sign-in step and the account page need them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Methods {
    /// An authenticator app is confirmed and switched on.
    pub totp: bool,
    /// How many passkeys are registered.
    pub passkeys: u32,
    /// Recovery codes not yet used.
    pub recovery_codes_left: u32,
}

impl Methods {
    /// Whether sign-in must ask for a second factor. Recovery codes alone are not one:
    /// they only stand in for a factor the person has.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

/// Which code passed the second-factor step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passed {
    /// A current code from the authenticator app.
    Totp,
    /// A recovery code; `left` are still unused.
    RecoveryCode { left: u32 },
}

impl Passed {
    /// The RFC 8176 `amr` value: both are one-time passwords ("otp"). Which one it was
    /// is in the audit trail (`method`), not in the token.
    pub fn amr(self) -> &'static str {
        "otp"
    }

    fn method(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode { .. } => "recovery_code",
        }
    }
}

impl Accounts {
    /// The second factors `user` has enrolled.
    pub async fn second_factors(&self, user: Uuid) -> Result<Methods, StorageError> {
        Ok(Methods {
            totp: self.store.totp.is_confirmed(user).await?,
            passkeys: self.store.passkeys.count_for_user(user).await?,
            recovery_codes_left: self.store.recovery_codes.count_left(user).await?,
        })
    }

    /// The second-factor step of sign-in: `typed` as a code from the authenticator app
    /// or a recovery code (each used up once it passes). `None` for anything else —
    /// wrong, malformed, replayed or expired alike — which is recorded as a failed
    /// attempt (`SecondFactorFailed`); the caller counts it towards lockout.
    pub async fn pass_second_factor(
        &self,
        user: Uuid,
        typed: &str,
        origin: &Origin,
        client_id: Option<&str>,
    ) -> Result<Option<Passed>, ManageError> {
        let passed = if typed.len() > MAX_TYPED || typed.chars().any(char::is_control) {
            None
        } else if totp::as_totp_code(typed).is_some() {
            self.use_totp_code(user, typed)
                .await?
                .then_some(Passed::Totp)
        } else {
            self.use_recovery_code(user, typed, origin)
                .await?
                .map(|left| Passed::RecoveryCode { left })
        };
        if passed.is_none() {
            crate::accounts::login::count_sign_in("second_factor", "failure");
            let mut event = Event::new(EventKind::SecondFactorFailed, Actor::Anonymous)
                .failed()
                .about(user)
                .from(origin);
            if let Some(client_id) = client_id {
                event = event.client(client_id);
            }
            self.audit.record(event, self.clock.now()).await;
        }
        Ok(passed)
    }

    /// Records a sign-in completed with a second factor, with its `amr`.
    pub async fn record_second_factor_sign_in(
        &self,
        user: Uuid,
        passed: Passed,
        amr: &[String],
        origin: &Origin,
        client_id: Option<&str>,
    ) {
        crate::accounts::login::count_sign_in("second_factor", "success");
        let mut event = Event::by_user(EventKind::SignIn, user)
            .from(origin)
            .with("amr", amr.to_vec())
            .with("method", passed.method());
        if let Some(client_id) = client_id {
            event = event.client(client_id);
        }
        self.audit.record(event, self.clock.now()).await;
    }
}
