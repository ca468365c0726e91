//! Grants: issuing authorization codes, and the token endpoint's three grant types
//! (RFC 6749 sections 4.1.3, 4.4 and 6), revocation and introspection. The client is
//! already authenticated here. `Grants` is built once in `AppState`.

mod client_credentials;
mod code;
mod introspection;
mod refresh;
mod revocation;

use std::sync::Arc;

use serde::Serialize;

pub use introspection::Introspection;

use super::{
    access::AccessTokens,
    authorize::AuthorizationRequest,
    error::Result,
    tokens::{self, Minter},
};
use crate::{
    accounts::AuthenticatedUser,
    clock::Clock,
    config::Config,
    crypto::{KeyRing, Secret, random, sha256_b64url},
    storage::{NewCode, Store, secs},
};

/// The successful token response (RFC 6749 section 5.1, OIDC Core section 3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Secret>,
}

/// Who an ID token given back to us as a hint names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdTokenHint {
    pub subject: String,
    pub sid: Option<String>,
    pub audience: Vec<String>,
}

/// The grant service: every handle it needs, cheap to clone.
#[derive(Clone, Debug)]
pub struct Grants {
    store: Store,
    keys: Arc<KeyRing>,
    config: Arc<Config>,
    access: AccessTokens,
    clock: Clock,
}

impl Grants {
    /// Where replays detected at the token endpoint are recorded.
    fn audit(&self) -> crate::audit::Audit {
        crate::audit::Audit::new(self.store.audit.clone())
    }

    pub fn new(
        store: Store,
        keys: Arc<KeyRing>,
        config: Arc<Config>,
        access: AccessTokens,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            keys,
            config,
            access,
            clock,
        }
    }

    fn minter(&self) -> Minter<'_> {
        Minter {
            keys: &self.keys,
            config: &self.config,
        }
    }

    fn issuer(&self) -> &str {
        self.config.issuer.as_str()
    }

    /// The person's roles as of now, for a token minted for `client_id`: read at every
    /// code exchange and refresh, so a change shows at the next refresh. Without the
    /// `roles` scope no token carries them, so nothing is read.
    async fn token_roles(
        &self,
        user: &crate::storage::StoredUser,
        client_id: &str,
        scopes: &super::scopes::Scopes,
    ) -> Result<super::tokens::TokenRoles, crate::storage::StorageError> {
        if !scopes.contains(super::scopes::ROLES_SCOPE) {
            return Ok(super::tokens::TokenRoles::default());
        }
        Ok(super::tokens::TokenRoles {
            roles: user.roles.clone(),
            client_roles: self.store.roles.in_client(user.id, client_id).await?,
        })
    }

    /// Issues a single-use code for a validated request and a signed-in person; returns
    /// the code (stored only as its hash).
    pub async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        who: &AuthenticatedUser,
    ) -> Result<Secret> {
        let code = random::secret();
        self.store
            .codes
            .insert(&NewCode {
                code_hash: sha256_b64url(code.as_bytes()),
                client_id: request.client_id.to_string(),
                user_id: who.user_id,
                redirect_uri: request.redirect_uri.to_string(),
                redirect_uri_sent: request.redirect_uri_sent,
                scope: request.scopes.to_string(),
                nonce: request.nonce.clone(),
                code_challenge: request.code_challenge.clone(),
                auth_time: who.auth_time,
                amr: who.amr.clone(),
                sid: who.sid.clone(),
                expires_at: self.clock.now() + secs(self.config.tokens.code_ttl),
                acr: request
                    .acr_values
                    .as_ref()
                    .map(|_| crate::oidc::acr::achieved(&who.amr).to_owned()),
            })
            .await?;
        Ok(Secret::new(code))
    }

    /// Reads an `id_token_hint` (OIDC Core section 3.1.2.1, RP-Initiated Logout section
    /// 2): an ID token we signed, expired or not (it only identifies the person).
    /// `None` for anything else.
    pub async fn id_token_hint(&self, token: &str) -> Option<IdTokenHint> {
        let verified = tokens::verify(&self.keys, self.issuer(), token, "JWT").await?;
        let audience = match verified.claims.get("aud") {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => vec![],
        };
        Some(IdTokenHint {
            subject: verified.str("sub")?.to_owned(),
            sid: verified.str("sid").map(str::to_owned),
            audience,
        })
    }

    fn response(
        &self,
        access: tokens::Minted,
        refresh_token: Option<Secret>,
        id_token: Option<Secret>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_response_never_prints_its_tokens() {
        let response = TokenResponse {
            access_token: Secret::new("eyJ.access"),
            token_type: "Bearer",
            expires_in: 60,
            scope: "openid".into(),
            refresh_token: Some(Secret::new("eyJ.refresh")),
            id_token: Some(Secret::new("eyJ.id")),
        };
        let debug = format!("{response:?}");
        assert!(!debug.contains("eyJ"), "{debug}");
        let json = serde_json::to_value(&response).expect("json");
        assert_eq!(
            json["access_token"], "eyJ.access",
            "the wire gets the token"
        );
        assert_eq!(json["refresh_token"], "eyJ.refresh");
    }
}
