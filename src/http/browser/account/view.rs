//! What the account pages show: the templates' structs, and the person's data turned
//! into rows with dates and scopes in plain words.

use askama::Template;
use serde::{Deserialize, Serialize};

use super::super::{consent::ScopeLine, passkeys::PasskeySection};
use crate::{
    accounts::{
        manage::{Activity, ConnectedApp, Field, Refusal, SignedInBrowser},
        second_factor::Methods,
    },
    oidc::scopes,
    storage::StoredUser,
};

/// A one-time message for the next view of the account page, kept in the session
/// (Post/Redirect/Get), shown in the section it is about.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Flash {
    pub section: String,
    pub message: String,
}

/// The id of the input a refusal is about, which the page puts its message beside.
pub(super) fn field_id(field: Field) -> &'static str {
    match field {
        Field::DisplayName => "display_name",
        Field::GivenName => "given_name",
        Field::FamilyName => "family_name",
        Field::Email => "new_email",
        Field::CurrentPassword => "current_password",
        Field::NewPassword => "new_password",
        Field::ConfirmPassword => "confirm_password",
        Field::ConfirmDelete => "confirm_delete",
        Field::TotpCode => "totp_code",
        Field::PasswordOrCode => "password_or_code",
    }
}

/// The label of the field a refusal is about, for the summary at the top of the page.
fn field_label(field: Field) -> &'static str {
    match field {
        Field::DisplayName => "Display name",
        Field::GivenName => "Given name",
        Field::FamilyName => "Family name",
        Field::Email => "New email address",
        Field::CurrentPassword => "Current password",
        Field::NewPassword => "New password",
        Field::ConfirmPassword => "New password again",
        Field::ConfirmDelete => "Confirmation",
        Field::TotpCode => "Code from your app",
        Field::PasswordOrCode => "Password or code",
    }
}

/// "2 Dec 2026, 14:05 UTC": a time as people read it; every instance says the same.
pub(in crate::http::browser) fn human_time(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => {
            let month = t.month().to_string();
            format!(
                "{} {} {}, {:02}:{:02} UTC",
                t.day(),
                month.get(..3).unwrap_or(&month),
                t.year(),
                t.hour(),
                t.minute()
            )
        }
        Err(_) => "an unknown time".to_owned(),
    }
}

pub(super) struct SessionRow {
    pub sid: String,
    pub device: String,
    pub ip: String,
    pub signed_in: String,
    pub last_seen: String,
    pub current: bool,
}

pub(super) struct AppRow {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<ScopeLine>,
    pub allowed: String,
}

pub(super) struct ActivityRow {
    pub what: &'static str,
    pub when: String,
    pub ip: String,
    pub device: String,
    pub succeeded: bool,
}

/// What the profile fields show: as stored, or as the person just typed them.
#[derive(Default)]
pub(super) struct ProfileFields {
    pub display_name: String,
    pub given_name: String,
    pub family_name: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub(super) struct AccountPage {
    pub csrf: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub pending_email: Option<String>,
    pub flash: Option<Flash>,
    /// A problem with the whole form (an expired CSRF token), shown at the top.
    pub alert: Option<String>,
    /// What is wrong, by the id of the field it is about.
    pub errors: Vec<(&'static str, String)>,
    /// The same, as the summary at the top says it: (field id, "Label: message").
    pub summary: Vec<(&'static str, String)>,
    pub profile: ProfileFields,
    pub new_email: String,
    pub password_min_length: usize,
    pub sessions: Vec<SessionRow>,
    pub apps: Vec<AppRow>,
    pub activity: Vec<ActivityRow>,
    pub passkeys: PasskeySection,
    /// What the "Two-step sign-in" section shows.
    pub second_factors: Methods,
}

impl AccountPage {
    /// The message beside field `id`, if it is wrong.
    pub(super) fn error(&self, id: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(field, _)| *field == id)
            .map(|(_, m)| m.as_str())
    }

    /// The one-time message for `section`, if there is one.
    pub(super) fn notice(&self, section: &str) -> Option<&str> {
        self.flash
            .as_ref()
            .filter(|f| f.section == section)
            .map(|f| f.message.as_str())
    }

    pub(super) fn refuse(&mut self, refusal: Refusal) {
        let id = field_id(refusal.field);
        self.summary.push((
            id,
            format!("{}: {}", field_label(refusal.field), refusal.message),
        ));
        self.errors.push((id, refusal.message));
    }
}

/// The person's data as the overview shows it.
pub(super) struct Overview {
    pub user: StoredUser,
    pub pending_email: Option<String>,
    pub sessions: Vec<SignedInBrowser>,
    pub apps: Vec<ConnectedApp>,
    pub activity: Vec<Activity>,
    pub passkeys: PasskeySection,
    pub second_factors: Methods,
}

impl AccountPage {
    pub(super) fn new(csrf: String, data: Overview, password_min_length: usize) -> Self {
        let Overview {
            user,
            pending_email,
            sessions,
            apps,
            activity,
            passkeys,
            second_factors,
        } = data;
        Self {
            csrf,
            profile: ProfileFields {
                display_name: user.display_name.clone().unwrap_or_default(),
                given_name: user.given_name.clone().unwrap_or_default(),
                family_name: user.family_name.clone().unwrap_or_default(),
            },
            username: user.username,
            email: user.email,
            email_verified: user.email_verified,
            pending_email,
            flash: None,
            alert: None,
            errors: Vec::new(),
            summary: Vec::new(),
            new_email: String::new(),
            password_min_length,
            second_factors,
            sessions: sessions
                .into_iter()
                .map(|s| SessionRow {
                    device: s.device,
                    ip: s.ip.unwrap_or_else(|| "unknown".into()),
                    signed_in: human_time(s.signed_in_at),
                    last_seen: human_time(s.last_seen_at),
                    current: s.current,
                    sid: s.sid,
                })
                .collect(),
            apps: apps
                .into_iter()
                .map(|a| AppRow {
                    scopes: a
                        .scopes
                        .iter()
                        .map(|s| {
                            let (title, detail) = scopes::describe(s);
                            ScopeLine { title, detail }
                        })
                        .collect(),
                    allowed: human_time(a.allowed_at),
                    client_id: a.client_id,
                    name: a.name,
                })
                .collect(),
            activity: activity
                .into_iter()
                .map(|a| ActivityRow {
                    what: a.what,
                    when: human_time(a.at),
                    ip: a.ip.unwrap_or_default(),
                    device: a.device.unwrap_or_default(),
                    succeeded: a.succeeded,
                })
                .collect(),
            passkeys,
        }
    }
}

#[derive(Template)]
#[template(path = "account_delete.html")]
pub(super) struct DeletePage {
    pub csrf: String,
    pub username: String,
    pub alert: Option<String>,
    pub errors: Vec<(&'static str, String)>,
    /// The box as the person left it.
    pub confirmed: bool,
}

impl DeletePage {
    pub(super) fn error(&self, id: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(field, _)| *field == id)
            .map(|(_, m)| m.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::human_time;

    #[test]
    fn times_read_as_day_month_year_and_utc_clock() {
        assert_eq!(human_time(1_796_220_300), "2 Dec 2026, 14:05 UTC");
        assert_eq!(human_time(0), "1 Jan 1970, 00:00 UTC");
    }
}
