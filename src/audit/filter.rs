//! Which audit events an admin asks for: the console's filter form, the API's query
//! and the export all read their text through `FilterInput::resolve`, so all three
//! refuse the same things with the same field named.

use uuid::Uuid;

use super::EventKind;
use crate::{
    accounts::Accounts,
    storage::{AuditListed, AuditQuery, StorageError},
};

/// Every kind of event, in the order the console's select lists them.
// MERGE: a variant added to `EventKind` goes here too (the test below fails to compile
// until it does).
pub const ALL_KINDS: &[EventKind] = &[
    EventKind::SignIn,
    EventKind::SignOut,
    EventKind::Registered,
    EventKind::RegistrationAttempt,
    EventKind::EmailVerificationSent,
    EventKind::EmailVerified,
    EventKind::EmailChangeRequested,
    EventKind::EmailChanged,
    EventKind::PasswordResetRequested,
    EventKind::PasswordReset,
    EventKind::PasswordChanged,
    EventKind::PasswordSetByAdmin,
    EventKind::SessionRevoked,
    EventKind::ConsentGiven,
    EventKind::ConsentRemoved,
    EventKind::AccountDeleted,
    EventKind::AccountDisabled,
    EventKind::AccountEnabled,
    EventKind::ProfileUpdated,
    EventKind::CodeReplay,
    EventKind::RefreshTokenReuse,
    EventKind::TotpEnabled,
    EventKind::TotpRemoved,
    EventKind::RecoveryCodesGenerated,
    EventKind::RecoveryCodeUsed,
    EventKind::PasskeyAdded,
    EventKind::PasskeyRemoved,
    EventKind::SecondFactorFailed,
    EventKind::AccountLocked,
    EventKind::AccountUnlocked,
    EventKind::PasswordAccepted,
    EventKind::KeyRotationScheduled,
    EventKind::KeysReplaced,
    EventKind::UserCreatedByAdmin,
    EventKind::UserUpdatedByAdmin,
    EventKind::RolesChanged,
    EventKind::SignedOutEverywhere,
    EventKind::SecondFactorRemovedByAdmin,
    EventKind::PasswordResetSentByAdmin,
    EventKind::ClientRegistered,
    EventKind::ClientRegistrationUpdated,
    EventKind::ClientRegistrationDeleted,
    EventKind::InitialAccessTokenCreated,
    EventKind::InitialAccessTokenRevoked,
];

/// The longest client id or user text a filter reads; longer is refused, not cut.
const FIELD_MAX: usize = 255;

/// The filter as typed: every field optional, an empty one means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct FilterInput {
    /// A username or a user id.
    pub user: Option<String>,
    pub client_id: Option<String>,
    /// An event type (`sign_in`, ...).
    pub event: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// RFC 3339 (`2026-12-02T13:00:00Z`), a form's `2026-12-02T13:00` (UTC), or
    /// Unix seconds; included.
    pub from: Option<String>,
    /// As `from`; included.
    pub to: Option<String>,
}

/// Why a filter was refused.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("{field}: {message}")]
    Field {
        /// The field as the form and the query name it.
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn refuse(field: &'static str, message: impl Into<String>) -> FilterError {
    FilterError::Field {
        field,
        message: message.into(),
    }
}

/// A field's text with the spaces around it gone; `None` when nothing is left.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Refuses what no stored value can hold: too long, or control characters.
fn plain(field: &'static str, value: &str) -> Result<(), FilterError> {
    if value.chars().count() > FIELD_MAX {
        return Err(refuse(
            field,
            format!("must be at most {FIELD_MAX} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(refuse(field, "must not contain control characters"));
    }
    Ok(())
}

/// Reads a time: Unix seconds, RFC 3339, or a form's `YYYY-MM-DDTHH:MM[:SS]` as UTC.
pub fn parse_time(text: &str) -> Option<i64> {
    if !text.is_empty() && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    // A form's datetime-local has no seconds.
    let with_seconds;
    let text = if text.len() == 16 && text.as_bytes().get(13) == Some(&b':') {
        with_seconds = format!("{text}:00");
        with_seconds.as_str()
    } else {
        text
    };
    let at = humantime::parse_rfc3339_weak(text)
        .or_else(|_| humantime::parse_rfc3339(text))
        .ok()?;
    let secs = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// Unix seconds as RFC 3339 in UTC, to the second.
pub fn format_time(at: i64) -> String {
    let secs = u64::try_from(at).unwrap_or(0);
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

impl FilterInput {
    /// Checks every field and resolves a username to its id. The first refused field
    /// is the error; nothing is read but the user.
    pub async fn resolve(&self, accounts: &Accounts) -> Result<AuditQuery, FilterError> {
        let mut query = AuditQuery::default();
        if let Some(event) = given(&self.event) {
            plain("event", event)?;
            let kind = ALL_KINDS
                .iter()
                .find(|k| k.as_str() == event)
                .ok_or_else(|| refuse("event", "is not an event type Portcullis records"))?;
            query.event = Some(kind.as_str().to_owned());
        }
        if let Some(outcome) = given(&self.outcome) {
            match outcome {
                "success" | "failure" => query.outcome = Some(outcome.to_owned()),
                _ => return Err(refuse("outcome", "must be success or failure")),
            }
        }
        if let Some(client_id) = given(&self.client_id) {
            plain("client_id", client_id)?;
            query.client_id = Some(client_id.to_owned());
        }
        let time = |field: &'static str,
                    value: &Option<String>|
         -> Result<Option<i64>, FilterError> {
            given(value)
                .map(|text| {
                    plain(field, text)?;
                    parse_time(text).ok_or_else(|| {
                        refuse(
                            field,
                            "is not a time: use 2026-12-02T13:00:00Z (RFC 3339, UTC) or Unix seconds",
                        )
                    })
                })
                .transpose()
        };
        query.from = time("from", &self.from)?;
        query.to = time("to", &self.to)?;
        if matches!((query.from, query.to), (Some(from), Some(to)) if from > to) {
            return Err(refuse("to", "must not be before from"));
        }
        if let Some(user) = given(&self.user) {
            plain("user", user)?;
            let id = match Uuid::parse_str(user) {
                Ok(id) => id,
                Err(_) => accounts
                    .find_by_login(user)
                    .await?
                    .map(|u| u.id)
                    .ok_or_else(|| {
                        refuse("user", "names no account: give a username or a user id")
                    })?,
            };
            query.user_id = Some(id);
        }
        Ok(query)
    }

    /// The filter as a query string (without `?`), for the pager's and the export's
    /// links: only the fields given.
    pub fn to_query_string(&self) -> String {
        let fields = [
            ("user", &self.user),
            ("client_id", &self.client_id),
            ("event", &self.event),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ];
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in fields {
            if let Some(v) = given(value) {
                out.append_pair(name, v);
            }
        }
        out.finish()
    }
}

impl super::Audit {
    /// The events `query` matches, newest first, with how many match in all.
    pub async fn search(
        &self,
        query: &AuditQuery,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditListed>, u64), StorageError> {
        self.store.search(query, limit, offset).await
    }

    /// The newest `EXPORT_MAX` events `query` matches, as a file.
    pub async fn export(
        &self,
        query: &AuditQuery,
        format: super::export::Format,
    ) -> Result<super::export::Export, StorageError> {
        let max = super::export::EXPORT_MAX;
        let (events, total) = self.store.search(query, max, 0).await?;
        let truncated = total > u64::try_from(max).unwrap_or(0);
        Ok(super::export::render(&events, format, truncated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails to compile when `EventKind` gains a variant `ALL_KINDS` does not list.
    fn position(kind: EventKind) -> usize {
        match kind {
            EventKind::SignIn => 0,
            EventKind::SignOut => 1,
            EventKind::Registered => 2,
            EventKind::RegistrationAttempt => 3,
            EventKind::EmailVerificationSent => 4,
            EventKind::EmailVerified => 5,
            EventKind::EmailChangeRequested => 6,
            EventKind::EmailChanged => 7,
            EventKind::PasswordResetRequested => 8,
            EventKind::PasswordReset => 9,
            EventKind::PasswordChanged => 10,
            EventKind::PasswordSetByAdmin => 11,
            EventKind::SessionRevoked => 12,
            EventKind::ConsentGiven => 13,
            EventKind::ConsentRemoved => 14,
            EventKind::AccountDeleted => 15,
            EventKind::AccountDisabled => 16,
            EventKind::AccountEnabled => 17,
            EventKind::ProfileUpdated => 18,
            EventKind::CodeReplay => 19,
            EventKind::RefreshTokenReuse => 20,
            EventKind::TotpEnabled => 21,
            EventKind::TotpRemoved => 22,
            EventKind::RecoveryCodesGenerated => 23,
            EventKind::RecoveryCodeUsed => 24,
            EventKind::PasskeyAdded => 25,
            EventKind::PasskeyRemoved => 26,
            EventKind::SecondFactorFailed => 27,
            EventKind::AccountLocked => 28,
            EventKind::AccountUnlocked => 29,
            EventKind::PasswordAccepted => 30,
            EventKind::KeyRotationScheduled => 31,
            EventKind::KeysReplaced => 32,
            EventKind::UserCreatedByAdmin => 33,
            EventKind::UserUpdatedByAdmin => 34,
            EventKind::RolesChanged => 35,
            EventKind::SignedOutEverywhere => 36,
            EventKind::SecondFactorRemovedByAdmin => 37,
            EventKind::PasswordResetSentByAdmin => 38,
            EventKind::ClientRegistered => 39,
            EventKind::ClientRegistrationUpdated => 40,
            EventKind::ClientRegistrationDeleted => 41,
            EventKind::InitialAccessTokenCreated => 42,
            EventKind::InitialAccessTokenRevoked => 43,
        }
    }

    #[test]
    fn every_kind_is_listed_once_in_order() {
        for (i, kind) in ALL_KINDS.iter().enumerate() {
            assert_eq!(position(*kind), i, "{}", kind.as_str());
        }
    }

    #[test]
    fn times_read_in_each_accepted_form() {
        assert_eq!(parse_time("0"), Some(0));
        assert_eq!(parse_time("1764680400"), Some(1_764_680_400));
        assert_eq!(parse_time("2025-12-02T13:00:00Z"), Some(1_764_680_400));
        assert_eq!(parse_time("2025-12-02T13:00"), Some(1_764_680_400));
        assert_eq!(parse_time("2025-12-02 13:00:00"), Some(1_764_680_400));
        assert_eq!(format_time(1_764_680_400), "2025-12-02T13:00:00Z");
        for bad in [
            "yesterday",
            "2025-13-02T13:00",
            "2025-12-02T13:00:00+99:00",
            "\u{0}",
            "-5",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
