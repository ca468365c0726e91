//! Grants: issuing authorization codes, and the token endpoint's three grant types
//! (RFC 6749 sections 4.1.3, 4.4 and 6). The client is already authenticated here.

use serde::Serialize;

use super::{
    authorize::AuthorizationRequest,
    error::{OAuthError, Result},
    pkce, scopes,
    tokens::{self, AccessSubject, IdTokenClaims, Minter},
};
use crate::{
    accounts::AuthenticatedUser,
    config::Config,
    crypto::{KeyRing, random, sha256_b64url},
    storage::{
        NewCode, NewGrant, Store, StoredClient,
        grants::{CodeUse, IssuedTokens, RefreshUse},
        now, secs,
    },
};

/// The successful token response (RFC 6749 section 5.1, OIDC Core section 3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// What the grant functions need from the application.
pub struct Grants<'a> {
    pub store: &'a Store,
    pub keys: &'a KeyRing,
    pub config: &'a Config,
}

fn has_grant(client: &StoredClient, grant_type: &str) -> bool {
    super::clients::allows_grant(client, grant_type)
}

impl Grants<'_> {
    fn minter(&self) -> Minter<'_> {
        Minter {
            keys: self.keys,
            config: self.config,
        }
    }

    /// Issues a single-use code for a validated request and a signed-in person; returns
    /// the code (stored only as its hash).
    pub async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        who: &AuthenticatedUser,
    ) -> Result<String> {
        let code = random::secret();
        self.store
            .grants
            .insert_code(&NewCode {
                code_hash: sha256_b64url(code.as_bytes()),
                client_id: request.client_id.clone(),
                user_id: who.user_id,
                redirect_uri: request.redirect_uri.clone(),
                scope: request.scope(),
                nonce: request.nonce.clone(),
                code_challenge: request.code_challenge.clone(),
                auth_time: who.auth_time,
                amr: who.amr.clone(),
                sid: who.sid.clone(),
                expires_at: now() + secs(self.config.tokens.code_ttl),
            })
            .await?;
        Ok(code)
    }

    /// `grant_type=authorization_code`.
    pub async fn exchange_code(
        &self,
        client: &StoredClient,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse> {
        if !has_grant(client, "authorization_code") {
            return Err(OAuthError::unauthorized_client(
                "this client may not use authorization_code",
            )
            .into());
        }
        let code = code.ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        if code.len() > 512 {
            return Err(
                OAuthError::invalid_grant("the code is invalid, expired or already used").into(),
            );
        }
        let now = now();
        let grant_id = random::id();
        let stored = match self
            .store
            .grants
            .consume_code(&sha256_b64url(code.as_bytes()), &grant_id, now)
            .await?
        {
            CodeUse::First(c) => c,
            CodeUse::Replayed(c) => {
                // RFC 6749 section 4.1.2, RFC 9700 section 4.5: a code used twice was
                // stolen or leaked; revoke what its first use issued.
                self.store.grants.revoke_grant_of_code(&c, now).await?;
                tracing::warn!(client_id = %c.client_id, "authorization code reused; its grant is revoked");
                return Err(OAuthError::invalid_grant(
                    "the code is invalid, expired or already used",
                )
                .into());
            }
            CodeUse::Unknown => {
                return Err(OAuthError::invalid_grant(
                    "the code is invalid, expired or already used",
                )
                .into());
            }
        };
        let invalid = |why: &'static str| Err(OAuthError::invalid_grant(why).into());
        if stored.client_id != client.client_id {
            return invalid("the code was issued to another client");
        }
        if stored.expires_at <= now {
            return invalid("the code is invalid, expired or already used");
        }
        match redirect_uri {
            Some(uri) if uri != stored.redirect_uri => {
                return invalid("redirect_uri does not match the authorization request");
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
        let scopes: Vec<String> = stored.scope.split(' ').map(str::to_owned).collect();
        let sub = user.id.to_string();
        let minter = self.minter();
        let access = minter.access_token(
            &AccessSubject {
                sub: &sub,
                client_id: &client.client_id,
                scope: &stored.scope,
                auth_time: Some(stored.auth_time),
            },
            now,
        )?;
        let refresh = if has_grant(client, "refresh_token") {
            Some(minter.refresh_token(&sub, &client.client_id, now)?)
        } else {
            None
        };
        let id_token = if scopes.iter().any(|s| s == "openid") {
            Some(minter.id_token(
                &IdTokenClaims {
                    user: &user,
                    client_id: &client.client_id,
                    scopes: &scopes,
                    nonce: stored.nonce.as_deref(),
                    auth_time: Some(stored.auth_time),
                    amr: &stored.amr.0,
                    sid: Some(&stored.sid),
                    access_token: &access.token,
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
            amr: stored.amr.0.clone(),
            sid: Some(stored.sid.clone()),
        };
        let issued = IssuedTokens {
            access_jti: &access.jti,
            access_expires_at: access.expires_at,
            refresh: refresh.as_ref().map(|r| (r.jti.as_str(), r.expires_at)),
        };
        self.store.grants.insert_grant(&grant, &issued, now).await?;
        Ok(self.response(
            access,
            refresh.map(|r| r.token),
            id_token,
            stored.scope,
            now,
        ))
    }

    /// `grant_type=refresh_token`: rotates the refresh token; the scope may narrow.
    pub async fn refresh(
        &self,
        client: &StoredClient,
        token: Option<&str>,
        scope: Option<&str>,
    ) -> Result<TokenResponse> {
        if !has_grant(client, "refresh_token") {
            return Err(
                OAuthError::unauthorized_client("this client may not use refresh_token").into(),
            );
        }
        let token =
            token.ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let invalid =
            || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
        let verified = tokens::verify(
            self.keys,
            self.config.issuer.as_str(),
            token,
            tokens::REFRESH_TOKEN_TYP,
        )
        .await
        .ok_or_else(invalid)?;
        let now = now();
        if verified.str("client_id") != Some(client.client_id.as_str()) || verified.is_expired(now)
        {
            return Err(invalid().into());
        }
        let jti = verified.str("jti").ok_or_else(invalid)?;
        // The requested scope is checked before the token is spent: a refused request
        // must not burn the client's refresh token.
        let granted_scope = self
            .store
            .grants
            .grant_of_refresh_token(jti)
            .await?
            .map(|g| g.scope)
            .ok_or_else(invalid)?;
        let scope = match scope {
            None => granted_scope.clone(),
            Some(raw) => {
                let wanted = scopes::parse(raw)
                    .ok_or_else(|| OAuthError::invalid_scope("scope is malformed"))?;
                if wanted.is_empty() || !scopes::covers(&granted_scope, &wanted) {
                    return Err(OAuthError::invalid_scope(
                        "a refresh can narrow the scope, never widen it",
                    )
                    .into());
                }
                scopes::join(&wanted)
            }
        };
        let grant = match self.store.grants.use_refresh_token(jti, now).await? {
            RefreshUse::First(g) => g,
            RefreshUse::Replayed => {
                tracing::warn!(client_id = %client.client_id, "refresh token reused; its grant is revoked");
                return Err(invalid().into());
            }
            RefreshUse::Invalid => return Err(invalid().into()),
        };
        let granted: Vec<String> = grant.scope.split(' ').map(str::to_owned).collect();
        let user = match grant.user_id {
            Some(id) => match self.store.users.find_by_id(id).await? {
                Some(u) if !u.disabled => u,
                _ => return Err(invalid().into()),
            },
            None => return Err(invalid().into()),
        };
        let sub = user.id.to_string();
        let minter = self.minter();
        let access = minter.access_token(
            &AccessSubject {
                sub: &sub,
                client_id: &client.client_id,
                scope: &scope,
                auth_time: grant.auth_time,
            },
            now,
        )?;
        // RFC 6749 section 6: the new refresh token keeps the grant's original scope.
        let refresh = minter.refresh_token(&sub, &client.client_id, now)?;
        let narrowed: Vec<String> = scope.split(' ').map(str::to_owned).collect();
        let id_token =
            if narrowed.iter().any(|s| s == "openid") && granted.iter().any(|s| s == "openid") {
                Some(minter.id_token(
                    &IdTokenClaims {
                        user: &user,
                        client_id: &client.client_id,
                        scopes: &narrowed,
                        nonce: None,
                        auth_time: grant.auth_time,
                        amr: &grant.amr.0,
                        sid: grant.sid.as_deref(),
                        access_token: &access.token,
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
        self.store.grants.insert_tokens(&grant.id, &issued).await?;
        Ok(self.response(access, Some(refresh.token), id_token, scope, now))
    }

    /// `grant_type=client_credentials`: a token for the client itself (RFC 6749 section 4.4).
    pub async fn client_credentials(
        &self,
        client: &StoredClient,
        scope: Option<&str>,
    ) -> Result<TokenResponse> {
        if client.public || !has_grant(client, "client_credentials") {
            return Err(OAuthError::unauthorized_client(
                "this client may not use client_credentials",
            )
            .into());
        }
        let own: Vec<String> = client
            .allowed_scopes
            .iter()
            .filter(|s| !scopes::PERSONAL.contains(&s.as_str()))
            .cloned()
            .collect();
        let scope = match scope {
            None => scopes::join(&own),
            Some(raw) => {
                let wanted = scopes::parse(raw)
                    .ok_or_else(|| OAuthError::invalid_scope("scope is malformed"))?;
                if let Some(bad) = wanted.iter().find(|s| !own.contains(s)) {
                    return Err(OAuthError::invalid_scope(format!(
                        "this client may not request `{bad}`"
                    ))
                    .into());
                }
                scopes::join(&wanted)
            }
        };
        let now = now();
        let access = self.minter().access_token(
            &AccessSubject {
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
        };
        let issued = IssuedTokens {
            access_jti: &access.jti,
            access_expires_at: access.expires_at,
            refresh: None,
        };
        self.store.grants.insert_grant(&grant, &issued, now).await?;
        Ok(self.response(access, None, None, scope, now))
    }

    fn response(
        &self,
        access: tokens::Minted,
        refresh_token: Option<String>,
        id_token: Option<String>,
        scope: String,
        now: i64,
    ) -> TokenResponse {
        TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_at - now,
            scope,
            refresh_token,
            id_token,
        }
    }
}
