//! Access-token validation, in one place for userinfo, introspection and (later) the
//! admin API: signature, type, issuer, expiry, and that neither the token nor its grant
//! has been revoked (RFC 9068 section 4, RFC 6750 section 3.1).

use std::sync::Arc;

use super::{
    scopes::Scopes,
    tokens::{self, ACCESS_TOKEN_TYP, Verified},
};
use crate::{
    clock::Clock,
    config::Config,
    crypto::KeyRing,
    storage::{GrantStore, StorageError},
};

/// A live access token's claims.
#[derive(Debug)]
pub struct AccessToken {
    pub claims: Verified,
}

impl AccessToken {
    pub fn jti(&self) -> &str {
        self.claims.str("jti").unwrap_or_default()
    }

    /// Whether `audience` is the token's `aud` or one of them.
    pub fn has_audience(&self, audience: &str) -> bool {
        match self.claims.claims.get("aud") {
            Some(serde_json::Value::String(a)) => a == audience,
            Some(serde_json::Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        }
    }

    pub fn client_id(&self) -> Option<&str> {
        self.claims.str("client_id")
    }

    pub fn scopes(&self) -> Scopes {
        Scopes::from_stored(self.claims.str("scope").unwrap_or(""))
    }
}

/// Validates bearer access tokens; built once in `AppState`.
#[derive(Clone, Debug)]
pub struct AccessTokens {
    keys: Arc<KeyRing>,
    config: Arc<Config>,
    grants: GrantStore,
    clock: Clock,
}

impl AccessTokens {
    pub fn new(keys: Arc<KeyRing>, config: Arc<Config>, grants: GrantStore, clock: Clock) -> Self {
        Self {
            keys,
            config,
            grants,
            clock,
        }
    }

    /// The token's claims if it is one of our access tokens and live now; `None` for
    /// anything forged, foreign, expired or revoked.
    pub async fn validate(&self, token: &str) -> Result<Option<AccessToken>, StorageError> {
        let Some(verified) = tokens::verify(
            &self.keys,
            self.config.issuer.as_str(),
            token,
            ACCESS_TOKEN_TYP,
        )
        .await
        else {
            return Ok(None);
        };
        self.check(verified).await
    }

    /// As `validate`, for a token whose signature, type and issuer are already checked.
    pub async fn check(&self, verified: Verified) -> Result<Option<AccessToken>, StorageError> {
        let now = self.clock.now();
        if verified.is_expired(now) {
            return Ok(None);
        }
        let Some(jti) = verified.str("jti") else {
            return Ok(None);
        };
        if !self.grants.access_token_is_live(jti, now).await? {
            return Ok(None);
        }
        Ok(Some(AccessToken { claims: verified }))
    }
}
