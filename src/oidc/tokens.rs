//! Minting and reading our tokens, all RS256 JWTs from the key ring: ID tokens (OIDC
//! Core section 2), access tokens (RFC 9068) and refresh tokens, whose `jti` is tracked
//! in the database for rotation and revocation.

use josekit::jwt::JwtPayload;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::scopes::Scopes;
use crate::{
    config::Config,
    crypto::{KeyError, KeyRing, Secret, b64url, random},
    storage::{StoredUser, secs},
};

/// JOSE `typ` of access tokens (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// JOSE `typ` of refresh tokens, so neither can pass for the other (RFC 8725 section 3.11).
pub const REFRESH_TOKEN_TYP: &str = "rt+jwt";

/// Signs tokens with the active key and the configured lifetimes.
pub struct Minter<'a> {
    pub keys: &'a KeyRing,
    pub config: &'a Config,
}

/// An access token and what was recorded of it.
#[derive(Debug)]
pub struct Minted {
    pub token: Secret,
    pub jti: String,
    pub expires_at: i64,
}

/// A person's roles as a token carries them (read when it is minted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenRoles {
    /// Roles everywhere.
    pub roles: Vec<String>,
    /// Roles in the token's own client only. A separate claim rather than namespaced
    /// values in `roles`: an app sees only its own client's roles, never another's.
    pub client_roles: Vec<String>,
}

/// With the `roles` scope, adds `roles` and `client_roles` (both arrays, perhaps empty).
pub fn insert_roles(claims: &mut Map<String, Value>, scopes: &Scopes, roles: &TokenRoles) {
    if scopes.contains(super::scopes::ROLES_SCOPE) {
        claims.insert("roles".into(), json!(roles.roles));
        claims.insert("client_roles".into(), json!(roles.client_roles));
    }
}

/// Who an access token speaks for.
pub struct AccessSubject<'a> {
    /// The person's roles, for a person's token (None for a client's own).
    pub roles: Option<&'a TokenRoles>,
    /// The user's id, or the client's id for client_credentials.
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub auth_time: Option<i64>,
}

/// What an ID token says about a sign-in.
pub struct IdTokenClaims<'a> {
    pub user: &'a StoredUser,
    pub roles: &'a TokenRoles,
    pub client_id: &'a str,
    pub scopes: &'a Scopes,
    pub nonce: Option<&'a str>,
    pub auth_time: Option<i64>,
    pub amr: &'a [String],
    /// The acr achieved, when the request asked with `acr_values` (OIDC Core 5.5.1.1).
    pub acr: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub access_token: &'a str,
}

fn payload(map: Map<String, Value>) -> Result<JwtPayload, KeyError> {
    JwtPayload::from_map(map).map_err(|e| KeyError::Crypto(e.to_string()))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The claims the granted scopes release about a user (OIDC Core section 5.4).
pub fn user_claims(user: &StoredUser, scopes: &Scopes) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), user.id.to_string().into());
    if scopes.contains("profile") {
        let name = user
            .display_name
            .clone()
            .unwrap_or_else(|| user.username.clone());
        claims.insert("name".into(), name.into());
        // Section 5.1: a claim with no value is left out, never sent empty or null.
        for (claim, value) in [
            ("given_name", &user.given_name),
            ("family_name", &user.family_name),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                claims.insert(claim.into(), v.into());
            }
        }
        claims.insert("preferred_username".into(), user.username.clone().into());
        // When the profile was last changed, in seconds since the epoch (section 5.1).
        claims.insert("updated_at".into(), user.updated_at.into());
    }
    if scopes.contains("email") {
        claims.insert("email".into(), user.email.clone().into());
        claims.insert("email_verified".into(), user.email_verified.into());
    }
    claims
}

/// `at_hash`: the left half of SHA-256 of the access token (OIDC Core section 3.1.3.6).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    b64url(&digest[..16])
}

impl Minter<'_> {
    fn issuer(&self) -> &str {
        self.config.issuer.as_str()
    }

    pub fn access_token(&self, who: &AccessSubject<'_>, now: i64) -> Result<Minted, KeyError> {
        let jti = random::id();
        let expires_at = now + secs(self.config.tokens.access_token_ttl);
        let api = self.config.tokens.access_token_audience.as_str();
        // The userinfo endpoint's audience is the issuer: a token that may call it
        // (scope openid) names the issuer too when the configured audience is another.
        let aud = if api != self.issuer() && Scopes::from_stored(who.scope).has_openid() {
            json!([api, self.issuer()])
        } else {
            json!(api)
        };
        let mut claims = object(json!({
            "iss": self.issuer(),
            "sub": who.sub,
            "aud": aud,
            "client_id": who.client_id,
            "scope": who.scope,
            "jti": jti,
            "iat": now,
            "exp": expires_at,
        }));
        if let Some(t) = who.auth_time {
            claims.insert("auth_time".into(), t.into());
        }
        if let Some(roles) = who.roles {
            insert_roles(&mut claims, &Scopes::from_stored(who.scope), roles);
        }
        let token = self.keys.sign(&payload(claims)?, ACCESS_TOKEN_TYP)?;
        Ok(Minted {
            token: Secret::new(token),
            jti,
            expires_at,
        })
    }

    pub fn refresh_token(&self, sub: &str, client_id: &str, now: i64) -> Result<Minted, KeyError> {
        let jti = random::id();
        let expires_at = now + secs(self.config.tokens.refresh_token_ttl);
        let claims = object(json!({
            "iss": self.issuer(),
            "sub": sub,
            "aud": self.issuer(),
            "client_id": client_id,
            "jti": jti,
            "iat": now,
            "exp": expires_at,
        }));
        let token = self.keys.sign(&payload(claims)?, REFRESH_TOKEN_TYP)?;
        Ok(Minted {
            token: Secret::new(token),
            jti,
            expires_at,
        })
    }

    pub fn id_token(&self, c: &IdTokenClaims<'_>, now: i64) -> Result<Secret, KeyError> {
        let mut claims = user_claims(c.user, c.scopes);
        insert_roles(&mut claims, c.scopes, c.roles);
        claims.insert("iss".into(), self.issuer().into());
        claims.insert("aud".into(), c.client_id.into());
        claims.insert("iat".into(), now.into());
        claims.insert(
            "exp".into(),
            (now + secs(self.config.tokens.id_token_ttl)).into(),
        );
        if let Some(t) = c.auth_time {
            claims.insert("auth_time".into(), t.into());
        }
        if let Some(n) = c.nonce {
            claims.insert("nonce".into(), n.into());
        }
        if let Some(sid) = c.sid {
            claims.insert("sid".into(), sid.into());
        }
        if !c.amr.is_empty() {
            claims.insert("amr".into(), c.amr.into());
        }
        if let Some(acr) = c.acr {
            claims.insert("acr".into(), acr.into());
        }
        claims.insert("at_hash".into(), at_hash(c.access_token).into());
        self.keys.sign(&payload(claims)?, "JWT").map(Secret::new)
    }
}

/// The claims of one of our JWTs after its signature, issuer and type checked out.
#[derive(Debug)]
pub struct Verified {
    pub claims: Map<String, Value>,
}

impl Verified {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(Value::as_i64)
    }

    pub fn is_expired(&self, now: i64) -> bool {
        self.int("exp").is_none_or(|exp| exp <= now)
    }
}

/// Verifies one of our JWTs of type `typ`; `None` for anything forged, foreign or
/// malformed. Expiry is the caller's to check (an expired ID token is still a hint).
pub async fn verify(keys: &KeyRing, issuer: &str, token: &str, typ: &str) -> Option<Verified> {
    if token.len() > 16 * 1024 {
        return None;
    }
    let (header_typ, payload) = keys.verify(token).await.ok()?;
    if !header_typ.is_some_and(|t| t.eq_ignore_ascii_case(typ)) {
        return None;
    }
    let claims = payload.claims_set().clone();
    let verified = Verified { claims };
    (verified.str("iss") == Some(issuer)).then_some(verified)
}

/// Which of our bearer tokens a string is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Access,
    Refresh,
}

/// Verifies an access or a refresh token (revocation and introspection take either).
pub async fn verify_any(keys: &KeyRing, issuer: &str, token: &str) -> Option<(Kind, Verified)> {
    if let Some(v) = verify(keys, issuer, token, ACCESS_TOKEN_TYP).await {
        return Some((Kind::Access, v));
    }
    verify(keys, issuer, token, REFRESH_TOKEN_TYP)
        .await
        .map(|v| (Kind::Refresh, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> StoredUser {
        StoredUser {
            id: uuid::Uuid::nil(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            password_hash: Secret::new(""),
            display_name: Some("Ada Lovelace".into()),
            given_name: Some("Ada".into()),
            family_name: None,
            roles: vec![],
            disabled: false,
            self_registered: false,
            deleted_at: None,
            created_at: 1,
            updated_at: 1_700_000_000,
        }
    }

    #[test]
    fn the_profile_scope_releases_the_names_that_are_set_and_updated_at() {
        let claims = user_claims(&ada(), &Scopes::from_stored("openid profile"));
        assert_eq!(claims["name"], "Ada Lovelace");
        assert_eq!(claims["given_name"], "Ada");
        assert!(
            !claims.contains_key("family_name"),
            "unset claims are left out"
        );
        assert_eq!(claims["updated_at"], 1_700_000_000);
        assert_eq!(claims["preferred_username"], "ada");
    }

    #[test]
    fn without_the_profile_scope_no_name_is_released() {
        let claims = user_claims(&ada(), &Scopes::from_stored("openid email"));
        for claim in [
            "name",
            "given_name",
            "family_name",
            "updated_at",
            "preferred_username",
        ] {
            assert!(!claims.contains_key(claim), "{claim}");
        }
        assert_eq!(claims["email"], "ada@example.com");
    }

    #[test]
    fn at_hash_matches_the_oidc_core_example() {
        // OIDC Core A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" -> 77QmUPtjPfzWtF2AnpK9RQ
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
