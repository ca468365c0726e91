//! People: who may sign in, the sign-in steps as a pure decision, consents, and creating
//! accounts. Knows nothing of HTTP or SQL. `Accounts` is built once in `AppState`.

pub mod identity;
pub mod login;
pub mod new_account;
pub mod steps;

use uuid::Uuid;

pub use login::{AuthenticatedUser, LoginError, login};
pub use new_account::{AccountError, NewAccount, create_account};

use crate::{
    clock::Clock,
    crypto::{PasswordHasher, Secret},
    oidc::scopes::Scopes,
    storage::{ConsentStore, StorageError, StoredUser, UserStore},
};

/// The accounts service: every handle it needs, cheap to clone.
#[derive(Clone, Debug)]
pub struct Accounts {
    users: UserStore,
    consents: ConsentStore,
    hasher: PasswordHasher,
    clock: Clock,
}

impl Accounts {
    pub fn new(
        users: UserStore,
        consents: ConsentStore,
        hasher: PasswordHasher,
        clock: Clock,
    ) -> Self {
        Self {
            users,
            consents,
            hasher,
            clock,
        }
    }

    /// Gives users stored before uniqueness keys existed their keys; run at start.
    /// Two old accounts that now share a key keep working by id, and are logged, so
    /// an admin can rename one.
    pub async fn backfill_identity_keys(&self) -> Result<(), StorageError> {
        for (id, username, email) in self.users.without_keys().await? {
            let username_key = identity::username_key(&username);
            let email_key = identity::email_key(&email).unwrap_or_else(|| username_key.clone());
            match self.users.set_keys(id, &username_key, &email_key).await {
                Ok(()) => {}
                Err(StorageError::Conflict(_)) => tracing::warn!(
                    user_id = %id,
                    "two accounts have the same username or email once case and Unicode \
                     forms are folded; rename one"
                ),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Checks a username-or-email and password; see `login::login`.
    pub async fn login(
        &self,
        name: &str,
        password: Secret,
    ) -> Result<AuthenticatedUser, LoginError> {
        login(&self.users, &self.hasher, name, password, self.clock.now()).await
    }

    /// The person whose username or email address is `login`, compared by their keys.
    pub async fn find_by_login(&self, login: &str) -> Result<Option<StoredUser>, StorageError> {
        identity::find_by_login(&self.users, login).await
    }

    /// The person, if they still exist.
    pub async fn user(&self, id: Uuid) -> Result<Option<StoredUser>, StorageError> {
        self.users.find_by_id(id).await
    }

    /// Whether the person still exists and is enabled.
    pub async fn is_active(&self, id: Uuid) -> Result<bool, StorageError> {
        Ok(self.user(id).await?.is_some_and(|u| !u.disabled))
    }

    /// The scopes this person has granted this client.
    pub async fn consented(
        &self,
        user: Uuid,
        client_id: &str,
    ) -> Result<Option<Scopes>, StorageError> {
        Ok(self
            .consents
            .scope(user, client_id)
            .await?
            .map(|s| Scopes::from_stored(&s)))
    }

    /// Adds `scopes` to what this person has granted this client.
    pub async fn record_consent(
        &self,
        user: Uuid,
        client_id: &str,
        scopes: &Scopes,
    ) -> Result<(), StorageError> {
        let granted = self
            .consented(user, client_id)
            .await?
            .unwrap_or_default()
            .union(scopes);
        self.consents
            .save(user, client_id, &granted.to_string(), self.clock.now())
            .await
    }
}
