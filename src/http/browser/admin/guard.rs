//! Who may use the console, and the header every console page carries.

use axum::{
    http::{StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use super::super::{csrf, flow};
use crate::{
    AppState,
    accounts::{AuthenticatedUser, manage::ManageError},
    audit::Actor,
    http::{
        page::{PageError, render},
        paths,
    },
    storage::StoredUser,
};

pub(super) const CONSOLE: &str = "/admin";

/// The role that opens the console.
pub(super) const ADMIN_ROLE: &str = "admin";

/// A signed-in, active admin.
#[derive(Debug)]
pub(super) struct Admin {
    pub who: AuthenticatedUser,
    pub user: StoredUser,
}

impl Admin {
    /// The admin as the actor of the audit events their changes write.
    pub(super) fn actor(&self) -> Actor {
        Actor::User(self.user.id)
    }
}

/// The admin at this browser, or what to answer instead: the sign-in page (coming back
/// to `uri` after) for a browser signed out, a 403 page for anyone not an admin.
pub(super) async fn admin(
    state: &AppState,
    session: &Session,
    uri: &Uri,
) -> Result<Result<Admin, Response>, PageError> {
    let Some(who) = flow::signed_in(session).await? else {
        return Ok(Err(to_sign_in(session, uri).await?));
    };
    let user = match state.accounts.active_user(who.user_id).await {
        Ok(user) => user,
        Err(ManageError::Inactive) => {
            flow::sign_out(session).await?;
            return Ok(Err(to_sign_in(session, uri).await?));
        }
        Err(ManageError::Storage(e)) => return Err(e.into()),
        Err(e) => {
            tracing::error!(error = %e, "could not load the signed-in person");
            return Err(PageError::unavailable());
        }
    };
    if !user.roles.iter().any(|r| r == ADMIN_ROLE) {
        return Ok(Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Administrators only",
            "This console is for administrators. Your account is not one. Go to your \
             account page, or sign in with an administrator's account.",
        )
        .into_response()));
    }
    Ok(Ok(Admin { who, user }))
}

async fn to_sign_in(session: &Session, uri: &Uri) -> Result<Response, PageError> {
    let back = uri.path_and_query().map(|p| p.as_str()).unwrap_or(CONSOLE);
    flow::remember_return(session, back).await?;
    Ok(Redirect::to(paths::LOGIN).into_response())
}

/// `None` when the admin signed in recently enough for a sensitive action; else the
/// page that asks them to sign in again, which brings them back to `back` (the page
/// the action is on, a GET) afterwards. Nothing was changed.
pub(super) async fn recent(
    state: &AppState,
    session: &Session,
    admin: &Admin,
    back: &str,
) -> Result<Option<Response>, PageError> {
    let age = state.clock.now() - admin.who.auth_time;
    let limit = i64::try_from(state.config.admin.reauth_after.as_secs()).unwrap_or(i64::MAX);
    if age <= limit {
        return Ok(None);
    }
    flow::remember_return(session, back).await?;
    let page = ReauthPage {
        minutes: (limit / 60).max(1),
    };
    Ok(Some(render(StatusCode::FORBIDDEN, &page)))
}

#[derive(askama::Template)]
#[template(path = "admin/reauth.html")]
struct ReauthPage {
    minutes: i64,
}

/// The console's header: where the admin is, who they are, the sign-out form.
#[derive(Debug)]
pub(super) struct Chrome {
    /// The `NAV` key of the page's section.
    pub section: &'static str,
    pub admin_name: String,
    pub csrf: String,
}

/// The console's sections: (key, path, label).
const NAV: &[(&str, &str, &str)] = &[
    ("overview", "/admin", "Overview"),
    ("clients", "/admin/clients", "Clients"),
    ("users", "/admin/users", "Users"),
    ("audit", "/admin/audit", "Audit log"),
    ("keys", "/admin/keys", "Keys"),
    ("webhooks", "/admin/webhooks", "Webhooks"),
    ("registration", "/admin/registration", "Registration"),
];

impl Chrome {
    pub(super) async fn new(
        session: &Session,
        admin: &Admin,
        section: &'static str,
    ) -> Result<Self, PageError> {
        Ok(Self {
            section,
            admin_name: admin.user.username.clone(),
            csrf: csrf::token(session).await?,
        })
    }

    pub(super) fn nav(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        NAV
    }

    pub(super) fn is_current(&self, key: &str) -> bool {
        self.section == key
    }
}
