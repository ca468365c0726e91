//! `grant_type=authorization_code` (RFC 6749 section 4.1.3, RFC 7636 section 4.6).

use super::{Grants, TokenResponse};
use crate::{
    audit::{Actor, Event, EventKind},
    crypto::{random, sha256_b64url},
    oidc::{
        clients::allows_grant,
        error::{OAuthError, Result},
        pkce,
        scopes::Scopes,
        tokens::{AccessSubject, IdTokenClaims},
        values::GrantType,
    },
    storage::{CodeUse, IssuedTokens, NewGrant, StoredClient, StoredCode},
};

const SPENT: &str = "the code is invalid, expired or already used";

impl Grants {
    /// Redeems a code once; a second use revokes what the first issued.
    pub async fn exchange_code(
        &self,
        client: &StoredClient,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse> {
        if !allows_grant(client, GrantType::AuthorizationCode) {
            return Err(OAuthError::unauthorized_client(
                "this client may not use authorization_code",
            )
            .into());
        }
        let code = code.ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        if code.len() > 512 {
            return Err(OAuthError::invalid_grant(SPENT).into());
        }
        let now = self.clock.now();
        let grant_id = random::id();
        let stored = match self
            .store
            .codes
            .consume(&sha256_b64url(code.as_bytes()), &grant_id, now)
            .await?
        {
            CodeUse::First(c) => c,
            CodeUse::Replayed(c) => {
                // RFC 6749 section 4.1.2, RFC 9700 section 4.5: a code used twice was
                // stolen or leaked; revoke what its first use issued.
                self.revoke_grant_of_code(&c, now).await?;
                tracing::warn!(client_id = %c.client_id, "authorization code reused; its grant is revoked");
                metrics::counter!("portcullis_code_replays_total").increment(1);
                let event = Event::new(EventKind::CodeReplay, Actor::System)
                    .failed()
                    .about(c.user_id)
                    .client(c.client_id.clone());
                self.audit().record(event, now).await;
                return Err(OAuthError::invalid_grant(SPENT).into());
            }
            CodeUse::Unknown => return Err(OAuthError::invalid_grant(SPENT).into()),
        };
        let invalid = |why: &'static str| Err(OAuthError::invalid_grant(why).into());
        if stored.client_id != client.client_id {
            return invalid("the code was issued to another client");
        }
        if stored.expires_at <= now {
            return invalid(SPENT);
        }
        match redirect_uri {
            Some(uri) if uri != stored.redirect_uri => {
                return invalid("redirect_uri does not match the authorization request");
            }
            // RFC 6749 section 4.1.3, OIDC Core section 3.1.3.2: required, and identical,
            // when the authorization request carried it.
            None if stored.redirect_uri_sent => {
                return invalid("redirect_uri is required: the authorization request sent one");
            }
            None if client.redirect_uris.len() > 1 => {
                return Err(OAuthError::invalid_request("redirect_uri is required").into());
            }
            _ => {}
        }
        match (&stored.code_challenge, verifier) {
            (Some(challenge), Some(v)) if pkce::verify(challenge, v) => {}
            (Some(_), Some(_)) => {
                return invalid("code_verifier does not match the code_challenge");
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_request("code_verifier is required").into());
            }
            // RFC 9700 section 4.8.2: a verifier without a challenge is refused.
            (None, Some(_)) => {
                return invalid(
                    "code_verifier sent, but the authorization request had no code_challenge",
                );
            }
            (None, None) if client.public => return invalid("PKCE is required for public clients"),
            (None, None) => {}
        }
        let user = match self.store.users.find_by_id(stored.user_id).await? {
            Some(u) if !u.disabled => u,
            _ => return invalid("the user is no longer active"),
        };
        let scopes = Scopes::from_stored(&stored.scope);
        let sub = user.id.to_string();
        let roles = self.token_roles(&user, &client.client_id, &scopes).await?;
        let minter = self.minter();
        let access = minter.access_token(
            &AccessSubject {
                roles: Some(&roles),
                sub: &sub,
                client_id: &client.client_id,
                scope: &stored.scope,
                auth_time: Some(stored.auth_time),
            },
            now,
        )?;
        let refresh = if allows_grant(client, GrantType::RefreshToken) {
            Some(minter.refresh_token(&sub, &client.client_id, now)?)
        } else {
            None
        };
        let id_token = if scopes.has_openid() {
            Some(minter.id_token(
                &IdTokenClaims {
                    user: &user,
                    roles: &roles,
                    client_id: &client.client_id,
                    scopes: &scopes,
                    nonce: stored.nonce.as_deref(),
                    auth_time: Some(stored.auth_time),
                    amr: &stored.amr,
                    acr: stored.acr.as_deref(),
                    sid: Some(&stored.sid),
                    access_token: access.token.expose(),
                },
                now,
            )?)
        } else {
            None
        };
        let grant = NewGrant {
            id: grant_id,
            client_id: client.client_id.clone(),
            user_id: Some(user.id),
            scope: stored.scope.clone(),
            auth_time: Some(stored.auth_time),
            amr: stored.amr.clone(),
            sid: Some(stored.sid.clone()),
            acr: stored.acr.clone(),
        };
        let issued = IssuedTokens {
            access_jti: &access.jti,
            access_expires_at: access.expires_at,
            refresh: refresh.as_ref().map(|r| (r.jti.as_str(), r.expires_at)),
        };
        let mut tx = self.store.db.begin_write().await?;
        self.store.grants.insert_in(&mut tx, &grant, now).await?;
        self.store
            .grants
            .insert_tokens_in(&mut tx, &grant.id, &issued)
            .await?;
        tx.commit().await?;
        metrics::counter!("portcullis_tokens_issued_total", "grant_type" => "authorization_code")
            .increment(1);
        Ok(self.response(
            access,
            refresh.map(|r| r.token),
            id_token,
            stored.scope,
            now,
        ))
    }

    /// Revokes whatever the first use of `code` issued, even if that exchange has not
    /// recorded its grant yet.
    async fn revoke_grant_of_code(&self, code: &StoredCode, now: i64) -> Result<()> {
        let Some(grant_id) = &code.grant_id else {
            return Ok(());
        };
        let grant = NewGrant {
            id: grant_id.clone(),
            client_id: code.client_id.clone(),
            user_id: Some(code.user_id),
            scope: code.scope.clone(),
            auth_time: Some(code.auth_time),
            amr: code.amr.clone(),
            sid: Some(code.sid.clone()),
            acr: code.acr.clone(),
        };
        self.store.grants.revoke_or_forestall(&grant, now).await?;
        Ok(())
    }
}
