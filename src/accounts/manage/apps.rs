//! The apps a person has allowed (their consents), and taking that access back.

use uuid::Uuid;

use super::ManageError;
use crate::{
    accounts::Accounts,
    audit::{Event, EventKind, Origin},
    oidc::scopes::Scopes,
};

/// An app the person allowed, as the account page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectedApp {
    pub client_id: String,
    pub name: String,
    pub scopes: Scopes,
    /// When the person last allowed it something.
    pub allowed_at: i64,
}

impl Accounts {
    /// Every app the person has allowed, most recent first.
    pub async fn connected_apps(&self, user_id: Uuid) -> Result<Vec<ConnectedApp>, ManageError> {
        Ok(self
            .consents
            .list_for_user(user_id)
            .await?
            .into_iter()
            .map(|c| ConnectedApp {
                scopes: Scopes::from_stored(&c.scope),
                client_id: c.client_id,
                name: c.client_name,
                allowed_at: c.updated_at,
            })
            .collect())
    }

    /// Takes back what the person allowed `client_id`: the consent, and every access
    /// and refresh token the app holds for them. Returns the app's name, or `None` when
    /// they had not allowed it (someone else's app, or already removed): nothing
    /// happens then.
    pub async fn remove_app(
        &self,
        user_id: Uuid,
        client_id: &str,
        origin: &Origin,
    ) -> Result<Option<String>, ManageError> {
        let user = self.active_user(user_id).await?;
        let now = self.clock.now();
        let Some(client) = self.store.clients.find_by_client_id(client_id).await? else {
            return Ok(None);
        };
        let mut tx = self.store.db.begin_write().await?;
        if !self.consents.delete_in(&mut tx, user.id, client_id).await? {
            return Ok(None);
        }
        let revoked = self
            .store
            .grants
            .revoke_for_user_in(&mut tx, user.id, Some(client_id), now)
            .await?;
        let event = Event::by_user(EventKind::ConsentRemoved, user.id)
            .from(origin)
            .client(client_id)
            .with("grants_revoked", revoked);
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(Some(client.name))
    }
}
