//! Protocol errors as the RFCs name them; `http` decides their status codes.

use std::borrow::Cow;

use crate::{crypto::KeyError, crypto::PasswordError, storage::StorageError};

/// Error codes from RFC 6749 sections 4.1.2.1 and 5.2, RFC 6750 section 3.1, RFC 7009
/// section 2.2.1 and OIDC Core section 3.1.2.6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidToken,
    InsufficientScope,
    ServerError,
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An error the caller is told about, with a description safe to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

/// The description of a bearer request that sent no token at all.
pub const NO_TOKEN: &str = "no access token was sent";

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        impl OAuthError {
            $(pub fn $name(description: impl Into<Cow<'static, str>>) -> Self {
                Self::new(ErrorCode::$code, description)
            })*
        }
    };
}

constructors! {
    invalid_request => InvalidRequest,
    invalid_client => InvalidClient,
    invalid_grant => InvalidGrant,
    unauthorized_client => UnauthorizedClient,
    unsupported_grant_type => UnsupportedGrantType,
    invalid_scope => InvalidScope,
    invalid_token => InvalidToken,
    insufficient_scope => InsufficientScope,
}

/// What a protocol operation can fail with: a told error, or an internal one that is
/// logged and answered generically.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {}", .0.code.as_str(), .0.description)]
    OAuth(OAuthError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

impl From<OAuthError> for Error {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

impl Error {
    /// The error to tell the caller; internal causes are logged here, once.
    pub fn into_oauth(self) -> OAuthError {
        match self {
            Self::OAuth(e) => e,
            Self::Storage(e) => {
                tracing::error!(error = %e, "storage failure");
                OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    "the server is busy; try again shortly",
                )
            }
            Self::Password(PasswordError::Busy) => OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the server is busy; try again shortly",
            ),
            Self::Password(PasswordError::Internal(e)) => {
                tracing::error!(error = %e, "password hashing failure");
                OAuthError::new(
                    ErrorCode::ServerError,
                    "the server could not complete the request",
                )
            }
            Self::Keys(e) => {
                tracing::error!(error = %e, "signing key failure");
                OAuthError::new(
                    ErrorCode::ServerError,
                    "the server could not complete the request",
                )
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
