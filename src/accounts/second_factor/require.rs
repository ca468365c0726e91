//! Who must pass a second factor: everyone, admins, or no one by the setting
//! `accounts.require_second_factor`, and the users of a client that requires it.

use super::super::Accounts;
use crate::{config::RequireSecondFactor, storage::StoredUser};

impl Accounts {
    /// Whether `user` must pass a second factor before a code is issued, by the
    /// setting alone (a client's own flag is added by the caller).
    pub fn second_factor_required(&self, user: &StoredUser) -> bool {
        match self.config.accounts.require_second_factor {
            RequireSecondFactor::Never => false,
            RequireSecondFactor::Admins => user.roles.iter().any(|r| r == "admin"),
            RequireSecondFactor::Everyone => true,
        }
    }
}
