//! Token revocation (RFC 7009): what revoking each kind of token kills.

use super::Grants;
use crate::{
    oidc::{
        error::{OAuthError, Result},
        tokens::{self, Kind},
    },
    storage::StoredClient,
};

impl Grants {
    /// Revokes `token` for `client`. Unknown, foreign-signed or expired tokens are
    /// already dead, so they succeed. Revoking a refresh token revokes its whole grant
    /// and the access tokens issued with it (section 2.1).
    pub async fn revoke(&self, client: &StoredClient, token: &str) -> Result<()> {
        let Some((kind, verified)) = tokens::verify_any(&self.keys, self.issuer(), token).await
        else {
            return Ok(());
        };
        if verified.str("client_id") != Some(client.client_id.as_str()) {
            return Err(
                OAuthError::invalid_request("the token was not issued to this client").into(),
            );
        }
        let Some(jti) = verified.str("jti") else {
            return Ok(());
        };
        let grants = &self.store.grants;
        let now = self.clock.now();
        match kind {
            Kind::Refresh => {
                if let Some(grant) = grants.of_refresh_token(jti).await? {
                    grants.revoke(&grant.id, now).await?;
                }
            }
            Kind::Access => grants.revoke_access_token(jti, now).await?,
        }
        Ok(())
    }
}
