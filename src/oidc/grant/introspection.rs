//! Token introspection (RFC 7662 section 2.2): what a live token is, for whom.

use serde::Serialize;
use serde_json::Value;

use super::Grants;
use crate::{
    oidc::{
        error::Result,
        tokens::{self, Kind},
    },
    storage::StoredClient,
};

/// The answer about one token: `{"active": false}` and nothing else when it is not live.
#[derive(Debug, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
}

/// What an active token's introspection says about it.
#[derive(Debug, Serialize)]
pub struct Details {
    pub token_type: &'static str,
    pub client_id: Option<String>,
    pub sub: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub iss: Option<String>,
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Value>,
}

impl Introspection {
    fn inactive() -> Self {
        Self {
            active: false,
            details: None,
        }
    }
}

impl Grants {
    /// Introspects `token` for `client`. An access token is introspectable by the client
    /// it was issued to and by resource servers registered for its audience; a refresh
    /// token only by its own client. Tokens of a disabled person are inactive.
    pub async fn introspect(&self, client: &StoredClient, token: &str) -> Result<Introspection> {
        let Some((kind, verified)) = tokens::verify_any(&self.keys, self.issuer(), token).await
        else {
            return Ok(Introspection::inactive());
        };
        let now = self.clock.now();
        let claims = match kind {
            Kind::Access => match self.access.check(verified).await? {
                // RFC 7662 section 4: only the client the token was issued to, and the
                // resource servers it was issued for, may learn about it.
                Some(live)
                    if live.client_id() == Some(client.client_id.as_str())
                        || client
                            .resource_audiences
                            .iter()
                            .any(|a| live.has_audience(a)) =>
                {
                    live.claims
                }
                _ => return Ok(Introspection::inactive()),
            },
            Kind::Refresh => {
                let Some(jti) = verified.str("jti").filter(|_| !verified.is_expired(now)) else {
                    return Ok(Introspection::inactive());
                };
                let live = verified.str("client_id") == Some(client.client_id.as_str())
                    && self.store.grants.refresh_token_is_live(jti, now).await?;
                if !live {
                    return Ok(Introspection::inactive());
                }
                verified
            }
        };
        let owned = |name: &str| claims.str(name).map(str::to_owned);
        let access = kind == Kind::Access;
        Ok(Introspection {
            active: true,
            details: Some(Details {
                token_type: if access { "Bearer" } else { "refresh_token" },
                client_id: owned("client_id"),
                sub: owned("sub"),
                exp: claims.int("exp"),
                iat: claims.int("iat"),
                iss: owned("iss"),
                jti: owned("jti").unwrap_or_default(),
                scope: access.then(|| owned("scope")),
                aud: access.then(|| claims.claims.get("aud").cloned().unwrap_or(Value::Null)),
            }),
        })
    }
}
