//! Who must pass a second factor: everyone, admins, or no one by the setting
//! `accounts.require_second_factor`; the users of a client that requires it; and the
//! sign-ins for a request whose `acr_values` accept nothing less (`oidc::acr`). A
//! person with a second factor always passes it, whatever the app.

use uuid::Uuid;

use super::super::{Accounts, AuthenticatedUser};
use crate::{config::RequireSecondFactor, storage::StorageError, storage::StoredUser};

impl Accounts {
    /// Whether the setting requires `user` to pass a second factor.
    pub fn second_factor_required(&self, user: &StoredUser) -> bool {
        match self.config.accounts.require_second_factor {
            RequireSecondFactor::Never => false,
            RequireSecondFactor::Admins => user.roles.iter().any(|r| r == "admin"),
            RequireSecondFactor::Everyone => true,
        }
    }

    /// Whether the sign-in `who` must still pass a second factor before a code is
    /// issued: it has not (no "mfa" in its `amr`), and the person has one, or the
    /// setting, the client (`client_requires`) or the request (`request_requires`)
    /// asks for one.
    pub async fn second_factor_due(
        &self,
        who: &AuthenticatedUser,
        client_requires: bool,
        request_requires: bool,
    ) -> Result<bool, StorageError> {
        if who.amr.iter().any(|a| a == "mfa") {
            return Ok(false);
        }
        if client_requires || request_requires {
            return Ok(true);
        }
        let Some(user) = self.user(who.user_id).await? else {
            return Ok(false);
        };
        Ok(self.second_factor_required(&user) || self.second_factors(user.id).await?.any())
    }

    /// Whether `user` must set up a second factor before they may go on: the setting
    /// requires one and they have none.
    pub async fn must_enrol(&self, user: Uuid) -> Result<bool, StorageError> {
        let Some(user) = self.user(user).await? else {
            return Ok(false);
        };
        Ok(self.second_factor_required(&user) && !self.second_factors(user.id).await?.any())
    }
}
