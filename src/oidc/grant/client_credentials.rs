//! `grant_type=client_credentials`: a token for the client itself (RFC 6749 section 4.4).

use super::{Grants, TokenResponse};
use crate::{
    crypto::random,
    oidc::{
        clients::allows_grant,
        error::{OAuthError, Result},
        scopes::Scopes,
        tokens::AccessSubject,
        values::GrantType,
    },
    storage::{IssuedTokens, NewGrant, StoredClient},
};

impl Grants {
    /// Issues an access token for the client's own, non-personal scopes.
    pub async fn client_credentials(
        &self,
        client: &StoredClient,
        scope: Option<&str>,
    ) -> Result<TokenResponse> {
        if client.public || !allows_grant(client, GrantType::ClientCredentials) {
            return Err(OAuthError::unauthorized_client(
                "this client may not use client_credentials",
            )
            .into());
        }
        let own = Scopes::of_client(client).without_personal();
        let scopes = match scope {
            None => own,
            Some(raw) => {
                let wanted = Scopes::parse(raw)
                    .ok_or_else(|| OAuthError::invalid_scope("scope is malformed"))?;
                if let Some(bad) = wanted.iter().find(|s| !own.contains(s)) {
                    return Err(OAuthError::invalid_scope(format!(
                        "this client may not request `{bad}`"
                    ))
                    .into());
                }
                wanted
            }
        };
        let scope = scopes.to_string();
        let now = self.clock.now();
        let access = self.minter().access_token(
            &AccessSubject {
                roles: None,
                sub: &client.client_id,
                client_id: &client.client_id,
                scope: &scope,
                auth_time: None,
            },
            now,
        )?;
        let grant = NewGrant {
            id: random::id(),
            client_id: client.client_id.clone(),
            user_id: None,
            scope: scope.clone(),
            auth_time: None,
            amr: vec![],
            sid: None,
            acr: None,
        };
        let issued = IssuedTokens {
            access_jti: &access.jti,
            access_expires_at: access.expires_at,
            refresh: None,
        };
        let mut tx = self.store.db.begin_write().await?;
        self.store.grants.insert_in(&mut tx, &grant, now).await?;
        self.store
            .grants
            .insert_tokens_in(&mut tx, &grant.id, &issued)
            .await?;
        tx.commit().await?;
        metrics::counter!("portcullis_tokens_issued_total", "grant_type" => "client_credentials")
            .increment(1);
        Ok(self.response(access, None, None, scope, now))
    }
}
