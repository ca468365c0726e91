//! The person's own recent security events, for the account page.

use uuid::Uuid;

use super::{ManageError, device::describe_device};
use crate::{accounts::Accounts, audit::EventKind};

/// How many events the account page shows.
const SHOWN: i64 = 20;

/// Events the page leaves out: a verification mail follows from a change the list
/// already shows ("Email change asked for"), and listing it would tell apart an
/// address that belongs to another account (to which no mail is sent).
const NOT_SHOWN: &[&str] = &["email_verification_sent"];

/// One event as the account page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    /// "Password changed".
    pub what: &'static str,
    pub at: i64,
    pub ip: Option<String>,
    pub device: Option<String>,
    pub succeeded: bool,
}

impl Accounts {
    /// The person's newest security events, newest first.
    pub async fn security_activity(&self, user_id: Uuid) -> Result<Vec<Activity>, ManageError> {
        Ok(self
            .audit
            .for_user(user_id, SHOWN + 10)
            .await?
            .into_iter()
            .filter(|r| !NOT_SHOWN.contains(&r.event.as_str()))
            .take(usize::try_from(SHOWN).unwrap_or(20))
            .map(|r| Activity {
                what: EventKind::describe(&r.event),
                at: r.at,
                device: r.user_agent.as_deref().map(|ua| describe_device(Some(ua))),
                ip: r.ip,
                succeeded: r.outcome == "success",
            })
            .collect())
    }
}
