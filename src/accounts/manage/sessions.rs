//! The browsers a person is signed in on, and signing them out from the account page.
//! Signing a browser out also revokes what the apps got through it: the grants given
//! during that sign-in (their `sid`), so "sign out my lost laptop" ends its apps too.

use uuid::Uuid;

use super::{ManageError, device::describe_device};
use crate::{
    accounts::Accounts,
    audit::{Event, EventKind, Origin},
};

/// A signed-in browser as the account page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedInBrowser {
    /// The sign-in's public handle; never the cookie's id.
    pub sid: String,
    /// "Firefox on Linux", from the user agent.
    pub device: String,
    pub ip: Option<String>,
    pub signed_in_at: i64,
    pub last_seen_at: i64,
    /// The browser asking.
    pub current: bool,
}

/// What "sign out" did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndedSession {
    /// Another browser was signed out.
    Other,
    /// The browser asking was signed out.
    This,
    /// No such session of this person's: nothing happened.
    NotFound,
}

impl Accounts {
    /// Every browser the person is signed in on, this one first.
    pub async fn sessions(
        &self,
        user_id: Uuid,
        current_sid: &str,
    ) -> Result<Vec<SignedInBrowser>, ManageError> {
        let now = self.clock.now();
        let mut list: Vec<SignedInBrowser> = self
            .store
            .sessions
            .list_for_user(user_id, now)
            .await?
            .into_iter()
            .map(|s| SignedInBrowser {
                current: s.sid == current_sid,
                device: describe_device(s.user_agent.as_deref()),
                sid: s.sid,
                ip: s.ip,
                signed_in_at: s.signed_in_at,
                last_seen_at: s.last_seen_at,
            })
            .collect();
        list.sort_by_key(|s| !s.current);
        Ok(list)
    }

    /// Signs out the person's session `sid` (theirs only) and revokes the grants given
    /// during it.
    pub async fn end_session(
        &self,
        user_id: Uuid,
        sid: &str,
        current_sid: &str,
        origin: &Origin,
    ) -> Result<EndedSession, ManageError> {
        let user = self.active_user(user_id).await?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        let ended = self
            .store
            .sessions
            .end_for_user_in(&mut tx, user.id, Some(sid), None)
            .await?;
        if ended == 0 {
            return Ok(EndedSession::NotFound);
        }
        let revoked = self
            .store
            .grants
            .revoke_for_sessions_in(&mut tx, user.id, Some(sid), None, now)
            .await?;
        let this = sid == current_sid;
        let event = Event::by_user(EventKind::SessionRevoked, user.id)
            .from(origin)
            .with("this_browser", this)
            .with("grants_revoked", revoked);
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(if this {
            EndedSession::This
        } else {
            EndedSession::Other
        })
    }

    /// Signs out every session of the person but `current_sid`, and revokes the grants
    /// given during them. Returns how many sessions ended.
    pub async fn end_other_sessions(
        &self,
        user_id: Uuid,
        current_sid: &str,
        origin: &Origin,
    ) -> Result<u64, ManageError> {
        let user = self.active_user(user_id).await?;
        let now = self.clock.now();
        let mut tx = self.store.db.begin_write().await?;
        let ended = self
            .store
            .sessions
            .end_for_user_in(&mut tx, user.id, None, Some(current_sid))
            .await?;
        let revoked = self
            .store
            .grants
            .revoke_for_sessions_in(&mut tx, user.id, None, Some(current_sid), now)
            .await?;
        if ended == 0 && revoked == 0 {
            return Ok(0);
        }
        let event = Event::by_user(EventKind::SessionRevoked, user.id)
            .from(origin)
            .with("others", true)
            .with("sessions_ended", ended)
            .with("grants_revoked", revoked);
        self.audit.record_in(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(ended)
    }
}
