//! Second factors: what a person has enrolled (TOTP, passkeys, recovery codes) and the
//! checks the second-factor step of sign-in makes. A person with any of them is asked
//! for one after the password, before any consent or code.

pub mod passkeys;

use uuid::Uuid;

use super::Accounts;
use crate::storage::StorageError;

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

impl Accounts {
    /// The second factors `user` has enrolled.
    pub async fn second_factors(&self, user: Uuid) -> Result<Methods, StorageError> {
        // Filled in by TOTP / recovery codes and passkeys.
        Ok(Methods {
            passkeys: self.store.passkeys.count_for_user(user).await?,
            ..Methods::default()
        })
    }
}
