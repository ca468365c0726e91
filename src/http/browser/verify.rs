//! Email verification: following a mailed link (`/verify-email`) and asking for a new
//! one (`/verify-email/resend`). The resend form works for the account this browser
//! just proved it holds (a right password, or the sign-up it made), and only for that.

use askama::Template;
use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use uuid::Uuid;

use super::{csrf, flow};
use crate::{
    AppState,
    accounts::verification::{ResendError, Verified},
    http::{
        extract::{PageForm, RequestOrigin},
        page::{PageError, render},
        paths,
    },
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::VERIFY_EMAIL, get(verify_link))
        .route(paths::RESEND_VERIFICATION, post(resend))
}

/// The session key naming the account this browser may ask a new link for.
const UNVERIFIED: &str = "unverified";
/// The session key of the authorization request a sign-up started from.
const SIGNED_UP_FOR: &str = "signed_up_for";

/// Who this browser may resend to: an account, or — after signing up with an address
/// that was already registered — nobody, answered exactly as if it were someone.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum Resendable {
    Account(Uuid),
    Nobody,
}

/// "Confirm your email address": after sign-up, or a sign-in refused until then.
#[derive(Template)]
#[template(path = "unverified.html")]
pub(super) struct UnverifiedPage {
    pub csrf: String,
    /// The address, as typed at sign-up or masked at sign-in.
    pub email: String,
    pub request: Option<String>,
    /// Said after a new link was sent.
    pub notice: Option<&'static str>,
    pub error: Option<&'static str>,
}

/// What following a link did.
#[derive(Template)]
#[template(path = "verified.html")]
struct VerifiedPage {
    title: &'static str,
    message: &'static str,
    ok: bool,
    /// "Continue to <app>", when the sign-up began at an app in this browser.
    continue_to: Option<(String, String)>,
    /// The CSRF token of a "Send a new link" form, when this browser may ask for one.
    resend_csrf: Option<String>,
}

fn session_failed(e: tower_sessions::session::Error) -> PageError {
    tracing::error!(error = %e, "browser session failure");
    PageError::unavailable()
}

/// Lets this browser ask for a new link for `user`.
pub(super) async fn remember_unverified(session: &Session, user: Uuid) -> Result<(), PageError> {
    session
        .insert(UNVERIFIED, Resendable::Account(user))
        .await
        .map_err(session_failed)
}

/// After a sign-up with an address that already has an account: resending answers as
/// it would for a new one, and sends nothing.
pub(super) async fn remember_nobody(session: &Session) -> Result<(), PageError> {
    session
        .insert(UNVERIFIED, Resendable::Nobody)
        .await
        .map_err(session_failed)
}

pub(super) async fn forget_unverified(session: &Session) -> Result<(), PageError> {
    session
        .remove::<Resendable>(UNVERIFIED)
        .await
        .map(|_| ())
        .map_err(session_failed)
}

/// Remembers the authorization request a sign-up started from, so that confirming the
/// address in this browser offers to continue to the app.
pub(super) async fn remember_signed_up_for(
    session: &Session,
    request: &str,
) -> Result<(), PageError> {
    session
        .insert(SIGNED_UP_FOR, request)
        .await
        .map_err(session_failed)
}

/// `ada@example.com` → `a••@example.com`: enough to recognise, not to learn.
pub(super) fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            let rest = local.chars().count().saturating_sub(1).clamp(2, 8);
            format!("{first}{}@{domain}", "•".repeat(rest))
        }
        None => "your address".to_owned(),
    }
}

#[derive(Deserialize)]
struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// `GET /verify-email?token=…`: the link in the mail.
async fn verify_link(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    query: Result<Query<LinkQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let token = query.map(|Query(q)| q.token).unwrap_or_default();
    let outcome = state.accounts.verify_email(&token, &origin).await?;
    let page = match outcome {
        Verified::Confirmed(_) | Verified::Changed(_) => {
            forget_unverified(&session).await?;
            VerifiedPage {
                title: "Your address is confirmed",
                message: if matches!(outcome, Verified::Changed(_)) {
                    "Your account now uses this address."
                } else {
                    "Thank you. You can sign in with your account now."
                },
                ok: true,
                continue_to: continue_to(&session).await?,
                resend_csrf: None,
            }
        }
        Verified::Expired => VerifiedPage {
            title: "This link has expired",
            message: "Links to confirm an address work for a limited time. Send a new one?",
            ok: false,
            continue_to: None,
            resend_csrf: resend_csrf(&session).await?,
        },
        Verified::Invalid => VerifiedPage {
            title: "This link does not work",
            message: "It has been used already, a newer link replaced it, or it was copied \
                      incompletely. Send a new one if you still need it.",
            ok: false,
            continue_to: None,
            resend_csrf: resend_csrf(&session).await?,
        },
        Verified::Taken => VerifiedPage {
            title: "This address is taken",
            message: "Another account has confirmed this address in the meantime, so yours \
                      keeps its old one.",
            ok: false,
            continue_to: None,
            resend_csrf: None,
        },
    };
    let status = if page.ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(render(status, &page))
}

/// A CSRF token for the resend form, when this browser may ask for a new link.
async fn resend_csrf(session: &Session) -> Result<Option<String>, PageError> {
    let may = session
        .get::<Resendable>(UNVERIFIED)
        .await
        .map_err(session_failed)?
        .is_some();
    Ok(if may {
        Some(csrf::token(session).await?)
    } else {
        None
    })
}

/// The app a sign-up in this browser started from, and the sign-in page for it.
async fn continue_to(session: &Session) -> Result<Option<(String, String)>, PageError> {
    let Some(id) = session
        .get::<String>(SIGNED_UP_FOR)
        .await
        .map_err(session_failed)?
    else {
        return Ok(None);
    };
    Ok(match flow::pending(session, &id).await {
        Ok(p) => Some((p.request.client_name, flow::page_url(paths::LOGIN, &id))),
        Err(_) => None,
    })
}

#[derive(Deserialize)]
struct ResendForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    request: Option<String>,
    #[serde(default)]
    email: String,
}

/// Least time between two resends from one browser, so that an address that already
/// had an account (where nothing is sent) answers like one that did not.
const BROWSER_GAP: i64 = 60;
const LAST_RESEND: &str = "last_resend";

/// `POST /verify-email/resend`: a new link for the account this browser proved.
async fn resend(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<ResendForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    csrf::check(&session, form.csrf.as_deref()).await?;
    let Some(who) = session
        .get::<Resendable>(UNVERIFIED)
        .await
        .map_err(session_failed)?
    else {
        return Err(PageError::bad_request(
            "Sign in to get a new link",
            "We could not tell which account to send a link for. Sign in with your username \
             and password, and we will offer to send one.",
        ));
    };
    let now = state.clock.now();
    let last: Option<i64> = session.get(LAST_RESEND).await.map_err(session_failed)?;
    let user = match who {
        Resendable::Account(id) => state
            .accounts
            .user(id)
            .await?
            .filter(|u| !u.email_verified && u.deleted_at.is_none()),
        Resendable::Nobody => None,
    };
    // The address as typed at sign-up, else masked: the page never reveals more.
    let shown = match (&user, form.email.trim()) {
        (_, typed) if !typed.is_empty() => typed.chars().take(254).collect(),
        (Some(u), _) => mask_email(&u.email),
        (None, _) => "your address".to_owned(),
    };
    let outcome = if last.is_some_and(|t| now - t < BROWSER_GAP) {
        Err(ResendError::TooSoon)
    } else {
        match &user {
            Some(user) => state.accounts.resend_verification(user, &origin).await,
            // Confirmed meanwhile, gone, or never ours: nothing to send, said the same way.
            None => Ok(()),
        }
    };
    let (status, notice, error) = match outcome {
        Ok(()) => {
            session
                .insert(LAST_RESEND, now)
                .await
                .map_err(session_failed)?;
            (
                StatusCode::OK,
                Some("We sent a new link. It can take a few minutes to arrive."),
                None,
            )
        }
        Err(ResendError::TooSoon) => (
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some("We sent a link a moment ago. Wait a minute before asking for another."),
        ),
        Err(ResendError::TooMany) => (
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some(
                "We have sent several links in the last hour. Check your spam folder, or try again later.",
            ),
        ),
        Err(ResendError::Mail(e)) => {
            tracing::error!(error = %e, "could not queue a verification mail");
            return Err(PageError::unavailable());
        }
    };
    let page = UnverifiedPage {
        csrf: csrf::token(&session).await?,
        email: shown,
        request: form.request,
        notice,
        error,
    };
    Ok(render(status, &page))
}

#[cfg(test)]
mod tests {
    use super::mask_email;

    #[test]
    fn addresses_are_masked_to_their_first_letter_and_domain() {
        assert_eq!(mask_email("ada@example.com"), "a••@example.com");
        assert_eq!(mask_email("a@example.com"), "a••@example.com");
        assert_eq!(
            mask_email("élodie.martin@example.com"),
            "é••••••••@example.com"
        );
        assert_eq!(mask_email("nope"), "your address");
    }
}
