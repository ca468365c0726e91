//! Protocol values as types, parsed once at the edge (RFC 6749 sections 2.2, 3.1.1,
//! 3.1.2 and 4): a string that passed its check cannot be confused with one that did not.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest client_id we look up; anything longer is no client of ours.
pub const MAX_CLIENT_ID_LEN: usize = 256;

/// A client identifier as sent: non-empty, at most 256 bytes (RFC 6749 section 2.2
/// leaves the form to us; ours are 22 base64url characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Option<Self> {
        (!raw.is_empty() && raw.len() <= MAX_CLIENT_ID_LEN).then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A redirect URI that matched one the client registered, exactly (RFC 9700 section
/// 4.1.3). Only `authorize::resolve_redirect_uri` makes one, so a value of this type is
/// always safe to send a browser to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub(super) fn registered(uri: &str) -> Self {
        Self(uri.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The grant types we implement (RFC 6749 sections 4.1, 4.4 and 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [Self; 3] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl AuthMethod {
    pub const ALL: [Self; 3] = [Self::ClientSecretBasic, Self::ClientSecretPost, Self::None];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

/// The response types we implement: the code flow only (RFC 6749 section 3.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    Code,
}

impl ResponseType {
    pub fn parse(raw: &str) -> Option<Self> {
        (raw == "code").then_some(Self::Code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_types_parse_exactly_and_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::parse("password"), None);
        assert_eq!(GrantType::parse("Authorization_Code"), None);
        assert_eq!(GrantType::parse(""), None);
    }

    #[test]
    fn only_the_code_response_type_is_known() {
        assert_eq!(ResponseType::parse("code"), Some(ResponseType::Code));
        assert_eq!(ResponseType::parse("token"), None);
        assert_eq!(ResponseType::parse("code id_token"), None);
    }

    #[test]
    fn empty_and_oversized_client_ids_are_refused() {
        assert!(ClientId::parse("").is_none());
        assert!(ClientId::parse(&"x".repeat(257)).is_none());
        assert_eq!(
            ClientId::parse("abc").map(|c| c.to_string()),
            Some("abc".into())
        );
    }
}
