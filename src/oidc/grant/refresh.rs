//! `grant_type=refresh_token` (RFC 6749 section 6): rotation, reuse detection, and a
//! scope that may narrow, never widen.

use super::{Grants, TokenResponse};
use crate::{
    audit::{Actor, Event, EventKind},
    oidc::{
        clients::allows_grant,
        error::{OAuthError, Result},
        scopes::Scopes,
        tokens::{self, AccessSubject, IdTokenClaims},
        values::GrantType,
    },
    storage::{IssuedTokens, RefreshUse, StoredClient},
};

impl Grants {
    /// Rotates the refresh token and issues new tokens.
    pub async fn refresh(
        &self,
        client: &StoredClient,
        token: Option<&str>,
        scope: Option<&str>,
    ) -> Result<TokenResponse> {
        if !allows_grant(client, GrantType::RefreshToken) {
            return Err(
                OAuthError::unauthorized_client("this client may not use refresh_token").into(),
            );
        }
        let token =
            token.ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let invalid =
            || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
        let verified = tokens::verify(&self.keys, self.issuer(), token, tokens::REFRESH_TOKEN_TYP)
            .await
            .ok_or_else(invalid)?;
        let now = self.clock.now();
        if verified.str("client_id") != Some(client.client_id.as_str()) || verified.is_expired(now)
        {
            return Err(invalid().into());
        }
        let jti = verified.str("jti").ok_or_else(invalid)?;
        // The person and the requested scope are checked before the token is spent: a
        // refused request must not burn the client's refresh token.
        let found = self
            .store
            .grants
            .of_refresh_token(jti)
            .await?
            .ok_or_else(invalid)?;
        let user = match found.user_id {
            Some(id) => match self.store.users.find_by_id(id).await? {
                Some(u) if !u.disabled => u,
                _ => return Err(invalid().into()),
            },
            None => return Err(invalid().into()),
        };
        let granted = Scopes::from_stored(&found.scope);
        let scopes = match scope {
            None => granted.clone(),
            Some(raw) => {
                let wanted = Scopes::parse(raw)
                    .ok_or_else(|| OAuthError::invalid_scope("scope is malformed"))?;
                if wanted.is_empty() || !granted.covers(&wanted) {
                    return Err(OAuthError::invalid_scope(
                        "a refresh can narrow the scope, never widen it",
                    )
                    .into());
                }
                wanted
            }
        };
        let grant = match self.store.grants.use_refresh_token(jti, now).await? {
            RefreshUse::First(g) => *g,
            RefreshUse::Replayed => {
                tracing::warn!(client_id = %client.client_id, "refresh token reused; its grant is revoked");
                metrics::counter!("portcullis_refresh_reuse_total").increment(1);
                let event = Event::new(EventKind::RefreshTokenReuse, Actor::System)
                    .failed()
                    .about(user.id)
                    .client(client.client_id.clone());
                self.audit().record(event, now).await;
                return Err(invalid().into());
            }
            RefreshUse::Invalid => return Err(invalid().into()),
        };
        let sub = user.id.to_string();
        let scope = scopes.to_string();
        let roles = self.token_roles(&user, &client.client_id, &scopes).await?;
        let minter = self.minter();
        let access = minter.access_token(
            &AccessSubject {
                roles: Some(&roles),
                sub: &sub,
                client_id: &client.client_id,
                scope: &scope,
                auth_time: grant.auth_time,
            },
            now,
        )?;
        // RFC 6749 section 6: the new refresh token keeps the grant's original scope.
        let refresh = minter.refresh_token(&sub, &client.client_id, now)?;
        let id_token = if scopes.has_openid() && Scopes::from_stored(&grant.scope).has_openid() {
            Some(minter.id_token(
                &IdTokenClaims {
                    user: &user,
                    roles: &roles,
                    client_id: &client.client_id,
                    scopes: &scopes,
                    nonce: None,
                    auth_time: grant.auth_time,
                    amr: &grant.amr,
                    acr: grant.acr.as_deref(),
                    sid: grant.sid.as_deref(),
                    access_token: access.token.expose(),
                },
                now,
            )?)
        } else {
            None
        };
        let issued = IssuedTokens {
            access_jti: &access.jti,
            access_expires_at: access.expires_at,
            refresh: Some((refresh.jti.as_str(), refresh.expires_at)),
        };
        let mut tx = self.store.db.begin_write().await?;
        self.store
            .grants
            .insert_tokens_in(&mut tx, &grant.id, &issued)
            .await?;
        tx.commit().await?;
        metrics::counter!("portcullis_tokens_issued_total", "grant_type" => "refresh_token")
            .increment(1);
        Ok(self.response(access, Some(refresh.token), id_token, scope, now))
    }
}
