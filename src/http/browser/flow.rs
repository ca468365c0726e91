//! The sign-in flow between pages: pending authorization requests kept in the browser
//! session, and `proceed`, which gathers the facts, asks `accounts::steps` for the next
//! step, and carries it out.

use std::collections::HashMap;

use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::session::DEVICE;
use crate::{
    AppState,
    accounts::{
        AuthenticatedUser,
        steps::{self, Facts, Refusal, SignedIn, Step},
    },
    audit::Origin,
    crypto::random,
    http::{page::PageError, paths},
    oidc::{
        acr,
        authorize::{AuthorizationRequest, ErrorRedirect},
        error::ErrorCode,
    },
};

const PENDING: &str = "pending";
pub(super) const AUTH: &str = "auth";
/// A sign-in whose password was right, waiting for its second factor.
const HALF: &str = "half_signed_in";
/// Sign-ins started in other tabs that we keep; older ones are dropped.
const MAX_PENDING: usize = 8;
/// What those may take in the session record at most (JSON bytes); older ones are
/// dropped to keep under it. One request is at most about 9 KB (three 2 KB parameters).
const MAX_PENDING_BYTES: usize = 16 * 1024;

/// An authorization request waiting for the person.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Pending {
    pub request: AuthorizationRequest,
    /// Signed in during this request: satisfies `prompt=login` and `max_age`.
    pub signed_in: bool,
    /// Consented during this request.
    pub consented: bool,
}

pub(super) fn session_failed(e: tower_sessions::session::Error) -> PageError {
    tracing::error!(error = %e, "browser session failure");
    PageError::unavailable()
}

async fn pending_map(session: &Session) -> Result<HashMap<String, Pending>, PageError> {
    Ok(session
        .get(PENDING)
        .await
        .map_err(session_failed)?
        .unwrap_or_default())
}

/// The id of the oldest pending request in `map` other than `keep`.
fn oldest(map: &HashMap<String, Pending>, keep: &str) -> Option<String> {
    map.iter()
        .filter(|(k, _)| k.as_str() != keep)
        .min_by_key(|(_, p)| p.request.received_at)
        .map(|(k, _)| k.clone())
}

fn size_of(map: &HashMap<String, Pending>) -> usize {
    serde_json::to_vec(map).map_or(usize::MAX, |v| v.len())
}

/// Keeps `request` in the session; returns its id. Older requests are let go to stay
/// within `MAX_PENDING` and `MAX_PENDING_BYTES`, so a record cannot grow without end.
pub(super) async fn remember(
    session: &Session,
    request: AuthorizationRequest,
) -> Result<String, PageError> {
    let mut map = pending_map(session).await?;
    let id = random::id();
    map.insert(
        id.clone(),
        Pending {
            request,
            signed_in: false,
            consented: false,
        },
    );
    while map.len() > MAX_PENDING || (map.len() > 1 && size_of(&map) > MAX_PENDING_BYTES) {
        match oldest(&map, &id) {
            Some(k) => map.remove(&k),
            None => break,
        };
    }
    session.insert(PENDING, map).await.map_err(session_failed)?;
    Ok(id)
}

pub(super) async fn pending(session: &Session, id: &str) -> Result<Pending, PageError> {
    pending_map(session).await?.remove(id).ok_or_else(|| {
        PageError::bad_request(
            "This sign-in has expired",
            "We could not find the sign-in you started. Go back to the app and try again.",
        )
    })
}

pub(super) async fn update(
    session: &Session,
    id: &str,
    f: impl FnOnce(&mut Pending),
) -> Result<(), PageError> {
    let mut map = pending_map(session).await?;
    if let Some(p) = map.get_mut(id) {
        f(p);
    }
    session.insert(PENDING, map).await.map_err(session_failed)
}

pub(super) async fn forget(session: &Session, id: &str) -> Result<(), PageError> {
    let mut map = pending_map(session).await?;
    map.remove(id);
    session.insert(PENDING, map).await.map_err(session_failed)
}

/// The person signed in to this browser, if any.
pub(super) async fn signed_in(session: &Session) -> Result<Option<AuthenticatedUser>, PageError> {
    session.get(AUTH).await.map_err(session_failed)
}

/// Records a sign-in under a fresh session id (no session fixation), with the browser
/// it happened in.
pub(super) async fn sign_in(
    session: &Session,
    who: &AuthenticatedUser,
    origin: &Origin,
) -> Result<(), PageError> {
    session.cycle_id().await.map_err(session_failed)?;
    session
        .insert(DEVICE, super::session::Device::of(origin))
        .await
        .map_err(session_failed)?;
    session.insert(AUTH, who).await.map_err(session_failed)
}

/// A sign-in that has passed its first factor and waits for the second: never a
/// sign-in by itself (`signed_in` does not see it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct HalfSignedIn {
    /// Who passed the first factor, when (`auth_time`), and how (`amr`).
    pub who: AuthenticatedUser,
    /// The pending authorization request it is for, if any.
    pub request: Option<String>,
    /// Wrong second-factor codes entered so far in this attempt.
    pub failures: u8,
}

/// Keeps a first factor passed by `who` until the second factor is given, under a
/// fresh session id. Whoever else was signed in to this browser is not any more: the
/// person at it has just said they are someone else.
pub(super) async fn await_second_factor(
    session: &Session,
    who: &AuthenticatedUser,
    request: Option<&str>,
) -> Result<(), PageError> {
    session.cycle_id().await.map_err(session_failed)?;
    if signed_in(session)
        .await?
        .is_some_and(|s| s.user_id != who.user_id)
    {
        session
            .remove::<AuthenticatedUser>(AUTH)
            .await
            .map_err(session_failed)?;
    }
    let half = HalfSignedIn {
        who: who.clone(),
        request: request.map(str::to_owned),
        failures: 0,
    };
    session.insert(HALF, half).await.map_err(session_failed)
}

/// The first factor waiting for its second in this browser, if any.
pub(super) async fn half_signed_in(session: &Session) -> Result<Option<HalfSignedIn>, PageError> {
    session.get(HALF).await.map_err(session_failed)
}

/// Stores `half` back (its failure count moved).
pub(super) async fn update_half(session: &Session, half: &HalfSignedIn) -> Result<(), PageError> {
    session.insert(HALF, half).await.map_err(session_failed)
}

/// Ends a half sign-in without signing in (too many wrong codes, or given up).
pub(super) async fn abandon_second_factor(session: &Session) -> Result<(), PageError> {
    session
        .remove::<HalfSignedIn>(HALF)
        .await
        .map_err(session_failed)
        .map(|_| ())
}

/// The second factor was given: signs `half`'s person in under a fresh session id,
/// with `methods` (RFC 8176 values, such as "otp" or "hwk") and "mfa" added to the
/// first factor's `amr`, and `auth_time` now.
pub(super) async fn complete_second_factor(
    session: &Session,
    half: HalfSignedIn,
    methods: &[&str],
    origin: &Origin,
    now: i64,
) -> Result<AuthenticatedUser, PageError> {
    let mut who = half.who;
    for m in methods.iter().copied().chain(["mfa"]) {
        if !who.amr.iter().any(|a| a == m) {
            who.amr.push(m.to_owned());
        }
    }
    who.auth_time = now;
    abandon_second_factor(session).await?;
    sign_in(session, &who, origin).await?;
    Ok(who)
}

/// Ends the browser session: the record is deleted and the cookie expires.
pub(super) async fn sign_out(session: &Session) -> Result<(), PageError> {
    session.flush().await.map_err(session_failed)
}

/// One of our pages for the pending request `id`.
pub(super) fn page_url(path: &str, id: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("{path}?request={id}")
}

/// A redirect to the client carrying an error.
pub(super) fn error_to_client(state: &AppState, e: &ErrorRedirect) -> Response {
    match e.to_url(state.config.issuer.as_str()) {
        Some(url) => Redirect::to(&url).into_response(),
        None => PageError::bad_request(
            "Something is wrong with this app",
            "The app's return address is not usable.",
        )
        .into_response(),
    }
}

/// Moves the request `id` forward: to the login page, the consent page, or back to
/// the app with a code or an error, as `accounts::steps::next_step` decides.
pub(super) async fn proceed(
    state: &AppState,
    session: &Session,
    id: &str,
) -> Result<Response, PageError> {
    let p = pending(session, id).await?;
    let req = &p.request;
    let who = signed_in(session).await?;
    let active = match &who {
        Some(w) => state.accounts.is_active(w.user_id).await?,
        None => false,
    };
    let consented = match &who {
        Some(w) if active => {
            state
                .accounts
                .consented(w.user_id, req.client_id.as_str())
                .await?
        }
        _ => None,
    };
    let second_factor_due = match &who {
        Some(w) if active => {
            let asks = req.acr_values.as_deref().is_some_and(acr::wants_mfa);
            state
                .accounts
                .second_factor_due(w, req.require_second_factor, asks)
                .await?
        }
        _ => false,
    };
    let decision = steps::next_step(&Facts {
        request: req,
        signed_in: who.as_ref().map(|who| SignedIn {
            who,
            active,
            second_factor_due,
        }),
        consented: consented.as_ref(),
        signed_in_during_request: p.signed_in,
        consented_during_request: p.consented,
        now: state.clock.now(),
    });
    if decision.end_session {
        sign_out(session).await?;
        remember_again(session, id, &p).await?;
    }
    match (decision.step, who) {
        (Step::IssueCode, Some(who)) if active => {
            let code = state.grants.issue_code(req, &who).await?;
            forget(session, id).await?;
            match req.code_redirect(code.expose(), state.config.issuer.as_str()) {
                Some(url) => Ok(Redirect::to(&url).into_response()),
                None => Err(PageError::bad_request(
                    "Something is wrong with this app",
                    "The app's return address is not usable.",
                )),
            }
        }
        (Step::Consent, _) => Ok(Redirect::to(&page_url(paths::CONSENT, id)).into_response()),
        (Step::SecondFactor, Some(_)) => {
            Ok(Redirect::to(&page_url(paths::SECOND_FACTOR, id)).into_response())
        }
        (Step::Refuse(refusal), _) => {
            forget(session, id).await?;
            let (code, description) = match refusal {
                Refusal::LoginRequired => (ErrorCode::LoginRequired, "the user is not signed in"),
                Refusal::ConsentRequired => (
                    ErrorCode::ConsentRequired,
                    "the user has not granted these scopes",
                ),
            };
            Ok(error_to_client(state, &req.error(code, description)))
        }
        // Anything else (no one signed in, or the account gone) is a fresh sign-in,
        // never a code.
        (Step::Login | Step::SecondFactor | Step::IssueCode, _) => {
            Ok(Redirect::to(&page_url(paths::LOGIN, id)).into_response())
        }
    }
}

/// Where a person goes once fully signed in: back into the pending request `request`
/// (marked as signed in during it), or to their account page.
pub(super) async fn after_sign_in(
    state: &AppState,
    session: &Session,
    request: Option<&str>,
) -> Result<Response, PageError> {
    match request {
        Some(id) => {
            update(session, id, |p| p.signed_in = true).await?;
            proceed(state, session, id).await
        }
        // Signed in for no app: back to the console page that sent them to sign in
        // (`remember_return`), else the account page is what there is to see.
        None => {
            let back = session
                .remove::<String>(RETURN_TO)
                .await
                .map_err(session_failed)?
                .filter(|path| is_return_path(path));
            Ok(Redirect::to(back.as_deref().unwrap_or(paths::ACCOUNT)).into_response())
        }
    }
}

/// Where to go once signed in, kept in the session while the person signs in.
const RETURN_TO: &str = "return_to";

/// Only our own console pages are returned to: a path, never a URL of another site.
fn is_return_path(path: &str) -> bool {
    (path == "/admin" || path.starts_with("/admin/"))
        && !path.starts_with("//")
        && path.len() <= 512
        && path.bytes().all(|b| b.is_ascii_graphic())
        && !path.contains('\\')
}

/// Remembers `path` (one of `/admin`'s) to return to once this browser is signed in.
pub(super) async fn remember_return(session: &Session, path: &str) -> Result<(), PageError> {
    if !is_return_path(path) {
        return Ok(());
    }
    session
        .insert(RETURN_TO, path.to_owned())
        .await
        .map_err(session_failed)
}

/// After a session is flushed, puts the pending request back under the same id.
async fn remember_again(session: &Session, id: &str, p: &Pending) -> Result<(), PageError> {
    let mut map = HashMap::new();
    map.insert(id.to_owned(), p.clone());
    session.insert(PENDING, map).await.map_err(session_failed)
}
