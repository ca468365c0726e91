//! Passkeys (WebAuthn): the ceremonies behind the account page and sign-in, as JSON
//! endpoints that `static/passkeys.js` calls (W3C WebAuthn Level 3, sections 5.1.3 and
//! 5.1.4), and the account page's rename and remove forms, which need no JavaScript.
//!
//! A ceremony's state lives in the browser session between its `begin` and `finish`,
//! one at a time, taken out (single use) by the `finish` that spends it. Every JSON
//! endpoint checks the page's CSRF token and answers a refusal as JSON
//! `{"error", "message"}` with a 4xx status: `message` is for the person, and always
//! names the other ways in (password, code).
//!
//! Adding, renaming or removing a passkey needs a sign-in within `RECENT_SIGN_IN`: a
//! passkey signs in without a password, so adding one is like setting a password, and
//! someone at an unlocked, long-open browser must not do it. Signing in again is the
//! proof (with the second factor if there is one), so no password travels through the
//! JavaScript, and a person who has only ever used a passkey can do it too.

use axum::{
    Json, Router,
    extract::{State, rejection::JsonRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_sessions::Session;
use uuid::Uuid;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::{account, csrf, flow};
use crate::{
    AppState,
    accounts::{
        AuthenticatedUser,
        second_factor::passkeys::{Discovering, PasskeyError, Registering, Verifying},
    },
    http::{
        extract::{PageForm, RequestOrigin},
        page::PageError,
    },
    storage::StoredPasskey,
};

const REGISTER_BEGIN: &str = "/account/passkeys/begin";
const REGISTER_FINISH: &str = "/account/passkeys/finish";
const RENAME: &str = "/account/passkeys/rename";
const REMOVE: &str = "/account/passkeys/remove";
const SIGN_IN_BEGIN: &str = "/login/passkey/begin";
const SIGN_IN_FINISH: &str = "/login/passkey/finish";
const SECOND_FACTOR_BEGIN: &str = "/login/second-factor/passkey/begin";
const SECOND_FACTOR_FINISH: &str = "/login/second-factor/passkey/finish";

/// The session key of the ceremony under way.
const CEREMONY: &str = "passkey_ceremony";
/// How recent a sign-in must be to add, rename or remove a passkey (seconds).
const RECENT_SIGN_IN: i64 = 10 * 60;
/// The account page's section.
const SECTION: &str = "passkeys";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(REGISTER_BEGIN, post(register_begin))
        .route(REGISTER_FINISH, post(register_finish))
        .route(RENAME, post(rename_submit))
        .route(REMOVE, post(remove_submit))
        .route(SIGN_IN_BEGIN, post(sign_in_begin))
        .route(SIGN_IN_FINISH, post(sign_in_finish))
        .route(SECOND_FACTOR_BEGIN, post(second_factor_begin))
        .route(SECOND_FACTOR_FINISH, post(second_factor_finish))
}

/// The one ceremony a browser may have under way.
#[derive(Debug, Serialize, Deserialize)]
enum Ceremony {
    Register(Registering),
    SecondFactor(Verifying),
    Passwordless {
        discovering: Discovering,
        /// The pending authorization request the sign-in is for.
        request: Option<String>,
    },
}

/// A JSON refusal: a stable `error` code for the script and a `message` for the person.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "message": self.message});
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        response
    }
}

type JsonResult = Result<Response, Refusal>;

/// A JSON answer that no cache keeps (it carries a challenge or where to go next).
fn json_answer(body: impl Serialize) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

const OTHER_WAYS_SIGN_IN: &str = "Sign in with your password instead, or try again.";
const OTHER_WAYS_SECOND_FACTOR: &str =
    "Use a code from your authenticator app or a recovery code instead, or try again.";

fn unavailable() -> Refusal {
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "Something went wrong on our side. Please try again in a moment.",
    )
}

fn session_failed(e: tower_sessions::session::Error) -> Refusal {
    tracing::error!(error = %e, "browser session failure");
    unavailable()
}

fn csrf_refused() -> Refusal {
    Refusal::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "This page has expired. Reload it and try again.",
    )
}

fn bad_body(e: &JsonRejection) -> Refusal {
    tracing::debug!(error = %e, "a passkey request body was refused");
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "Your browser sent something we could not read. Reload the page and try again.",
    )
}

/// What a domain failure tells the person; `other_ways` names the alternatives.
fn refused(e: PasskeyError, other_ways: &str) -> Refusal {
    match e {
        PasskeyError::Unavailable => Refusal::new(
            StatusCode::NOT_FOUND,
            "unavailable",
            format!("Passkeys are not available on this server. {other_ways}"),
        ),
        PasskeyError::Refused(message) => Refusal::new(StatusCode::BAD_REQUEST, "refused", message),
        PasskeyError::Failed => Refusal::new(
            StatusCode::BAD_REQUEST,
            "failed",
            format!("That passkey could not be checked, or the attempt had expired. {other_ways}"),
        ),
        PasskeyError::Unknown => Refusal::new(
            StatusCode::BAD_REQUEST,
            "unknown_passkey",
            format!("We do not know that passkey: it may have been removed. {other_ways}"),
        ),
        PasskeyError::WrongAccount => Refusal::new(
            StatusCode::FORBIDDEN,
            "wrong_account",
            "The app asked you to sign in with a different account. Sign in with that \
             account, or go back to the app.",
        ),
        PasskeyError::Disabled => Refusal::new(
            StatusCode::FORBIDDEN,
            "disabled",
            "This account is disabled. Contact your administrator.",
        ),
        PasskeyError::Locked(until) => {
            Refusal::new(StatusCode::FORBIDDEN, "locked", locked_message(until))
        }
        PasskeyError::Storage(e) => {
            tracing::error!(error = %e, "passkey storage failed");
            unavailable()
        }
        PasskeyError::Mail(e) => {
            tracing::error!(error = %e, "a mail template failed");
            unavailable()
        }
    }
}

fn locked_message(minutes: i64) -> String {
    let minutes = if minutes == 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    };
    format!("Too many attempts. Try again in {minutes}, or reset your password.")
}

/// Keeps `ceremony` for its `finish`, replacing any other under way.
async fn keep(session: &Session, ceremony: Ceremony) -> Result<(), Refusal> {
    session
        .insert(CEREMONY, ceremony)
        .await
        .map_err(session_failed)
}

/// Takes the ceremony under way out of the session: whatever happens next, it cannot
/// be finished twice.
async fn take(session: &Session) -> Result<Option<Ceremony>, Refusal> {
    session
        .remove::<Ceremony>(CEREMONY)
        .await
        .map_err(session_failed)
}

fn no_ceremony(other_ways: &str) -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "no_ceremony",
        format!("This passkey attempt has expired or was already used. {other_ways}"),
    )
}

/// A redirect answered as JSON for the script to follow: the `Location` of `response`.
fn follow(response: Response) -> Response {
    let to = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(crate::http::paths::ACCOUNT)
        .to_owned();
    json_answer(json!({ "redirect": to }))
}

fn page_failed(e: &PageError) -> Refusal {
    tracing::warn!(error = ?e, "a passkey sign-in could not continue");
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "expired",
        "This sign-in has expired. Go back to the app and try again.",
    )
}

#[derive(Deserialize)]
struct BeginForm {
    #[serde(default)]
    csrf: Option<String>,
    /// The passkey's name (registration only).
    #[serde(default)]
    name: String,
    /// The pending authorization request (passwordless sign-in only).
    #[serde(default)]
    request: Option<String>,
}

#[derive(Deserialize)]
struct FinishForm {
    #[serde(default)]
    csrf: Option<String>,
    /// What `navigator.credentials.create` or `.get` returned, as JSON.
    #[serde(default)]
    credential: Value,
}

async fn checked<T>(
    session: &Session,
    body: Result<Json<T>, JsonRejection>,
    sent: impl Fn(&T) -> Option<&str>,
) -> Result<T, Refusal> {
    let Json(body) = body.map_err(|e| bad_body(&e))?;
    if csrf::check(session, sent(&body)).await.is_err() {
        return Err(csrf_refused());
    }
    Ok(body)
}

fn parse_credential<T: serde::de::DeserializeOwned>(
    value: Value,
    other_ways: &str,
) -> Result<T, Refusal> {
    serde_json::from_value(value).map_err(|e| {
        tracing::debug!(error = %e, "a passkey answer did not parse");
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_credential",
            format!("Your browser's passkey answer could not be read. {other_ways}"),
        )
    })
}

/// The signed-in person, active, whose sign-in is recent enough to change passkeys.
async fn recent_signed_in(
    state: &AppState,
    session: &Session,
) -> Result<(AuthenticatedUser, crate::storage::StoredUser), Refusal> {
    let Some(who) = flow::signed_in(session)
        .await
        .map_err(|e| page_failed(&e))?
    else {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "login_required",
            "You are signed out. Sign in again, then add the passkey.",
        ));
    };
    let user = state.accounts.active_user(who.user_id).await.map_err(|_| {
        Refusal::new(
            StatusCode::UNAUTHORIZED,
            "login_required",
            "You are signed out. Sign in again, then add the passkey.",
        )
    })?;
    if !is_recent(state, &who) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "sign_in_again",
            "To add a passkey, sign in again first: it has been a while since you did.",
        ));
    }
    Ok((who, user))
}

fn is_recent(state: &AppState, who: &AuthenticatedUser) -> bool {
    state.clock.now() - who.auth_time <= RECENT_SIGN_IN
}

/// `POST /account/passkeys/begin`: the options for `navigator.credentials.create`
/// (WebAuthn section 5.1.3), for a discoverable credential with user verification.
async fn register_begin(
    State(state): State<AppState>,
    session: Session,
    body: Result<Json<BeginForm>, JsonRejection>,
) -> JsonResult {
    let body = checked(&session, body, |b| b.csrf.as_deref()).await?;
    let (_, user) = recent_signed_in(&state, &session).await?;
    let (options, registering) = state
        .passkeys
        .begin_registration(&user, &body.name)
        .await
        .map_err(|e| refused(e, ""))?;
    keep(&session, Ceremony::Register(registering)).await?;
    Ok(json_answer(options))
}

/// `POST /account/passkeys/finish`: verifies and stores the new passkey (WebAuthn
/// section 7.1), then sends the script back to the account page.
async fn register_finish(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    body: Result<Json<FinishForm>, JsonRejection>,
) -> JsonResult {
    let body = checked(&session, body, |b| b.csrf.as_deref()).await?;
    let (_, user) = recent_signed_in(&state, &session).await?;
    let Some(Ceremony::Register(registering)) = take(&session).await? else {
        return Err(no_ceremony("Try adding the passkey again."));
    };
    let answer: RegisterPublicKeyCredential =
        parse_credential(body.credential, "Try adding the passkey again.")?;
    let added = state
        .passkeys
        .finish_registration(&user, registering, &answer, &origin)
        .await
        .map_err(|e| refused(e, "Try adding the passkey again."))?;
    if added.first_second_factor {
        // TODO(recovery codes): when the "totp" part's
        // `accounts::second_factor::recovery` is merged, generate the person's first
        // recovery codes here and send the script to the page that shows them once.
        tracing::debug!(user = %user.id, "first second factor is a passkey");
    }
    account::flash(
        &session,
        SECTION,
        format!(
            "Your passkey “{}” is added. You can sign in with it now.",
            added.name
        ),
    )
    .await
    .map_err(|e| page_failed(&e))?;
    Ok(json_answer(
        json!({ "redirect": format!("{}#{SECTION}", crate::http::paths::ACCOUNT) }),
    ))
}

/// `POST /login/passkey/begin`: the options for a passwordless sign-in with a
/// discoverable credential (WebAuthn section 5.1.4, empty `allowCredentials`).
async fn sign_in_begin(
    State(state): State<AppState>,
    session: Session,
    body: Result<Json<BeginForm>, JsonRejection>,
) -> JsonResult {
    let body = checked(&session, body, |b| b.csrf.as_deref()).await?;
    let request = body.request.filter(|r| !r.is_empty());
    if let Some(id) = &request {
        flow::pending(&session, id)
            .await
            .map_err(|e| page_failed(&e))?;
    }
    let (options, discovering) = state
        .passkeys
        .begin_passwordless()
        .map_err(|e| refused(e, OTHER_WAYS_SIGN_IN))?;
    keep(
        &session,
        Ceremony::Passwordless {
            discovering,
            request,
        },
    )
    .await?;
    Ok(json_answer(options))
}

/// `POST /login/passkey/finish`: verifies the assertion (WebAuthn section 7.2), signs
/// its passkey's owner in under a fresh session id, and continues the pending request.
async fn sign_in_finish(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    body: Result<Json<FinishForm>, JsonRejection>,
) -> JsonResult {
    let body = checked(&session, body, |b| b.csrf.as_deref()).await?;
    let Some(Ceremony::Passwordless {
        discovering,
        request,
    }) = take(&session).await?
    else {
        return Err(no_ceremony(OTHER_WAYS_SIGN_IN));
    };
    let answer: PublicKeyCredential = parse_credential(body.credential, OTHER_WAYS_SIGN_IN)?;
    let pending = match &request {
        Some(id) => Some(
            flow::pending(&session, id)
                .await
                .map_err(|e| page_failed(&e))?
                .request,
        ),
        None => None,
    };
    let who = state
        .passkeys
        .finish_passwordless(
            discovering,
            &answer,
            &origin,
            pending.as_ref().map(|r| r.client_id.as_str()),
            // The app named who should sign in (id_token_hint, OIDC Core 3.1.2.1).
            pending.as_ref().and_then(|r| r.expected_subject.as_deref()),
        )
        .await
        .map_err(|e| refused(e, OTHER_WAYS_SIGN_IN))?;
    // Whatever half sign-in this browser had is over: someone has fully signed in.
    flow::abandon_second_factor(&session)
        .await
        .map_err(|e| page_failed(&e))?;
    flow::sign_in(&session, &who, &origin)
        .await
        .map_err(|e| page_failed(&e))?;
    let next = flow::after_sign_in(&state, &session, request.as_deref())
        .await
        .map_err(|e| page_failed(&e))?;
    Ok(follow(next))
}

/// `POST /login/second-factor/passkey/begin`: the options for checking one of the
/// half-signed-in person's passkeys (WebAuthn section 5.1.4).
async fn second_factor_begin(
    State(state): State<AppState>,
    session: Session,
    body: Result<Json<BeginForm>, JsonRejection>,
) -> JsonResult {
    checked(&session, body, |b| b.csrf.as_deref()).await?;
    let Some(half) = flow::half_signed_in(&session)
        .await
        .map_err(|e| page_failed(&e))?
    else {
        return Err(half_expired());
    };
    let (options, verifying) = state
        .passkeys
        .begin_second_factor(half.who.user_id)
        .await
        .map_err(|e| refused(e, OTHER_WAYS_SECOND_FACTOR))?;
    keep(&session, Ceremony::SecondFactor(verifying)).await?;
    Ok(json_answer(options))
}

fn half_expired() -> Refusal {
    Refusal::new(
        StatusCode::UNAUTHORIZED,
        "login_required",
        "This sign-in has expired. Start again from the sign-in page.",
    )
}

/// `POST /login/second-factor/passkey/finish`: verifies the assertion against the
/// half-signed-in person's passkeys and completes their sign-in.
async fn second_factor_finish(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    body: Result<Json<FinishForm>, JsonRejection>,
) -> JsonResult {
    let body = checked(&session, body, |b| b.csrf.as_deref()).await?;
    let ceremony = take(&session).await?;
    let Some(half) = flow::half_signed_in(&session)
        .await
        .map_err(|e| page_failed(&e))?
    else {
        return Err(half_expired());
    };
    let Some(Ceremony::SecondFactor(verifying)) = ceremony else {
        return Err(no_ceremony(OTHER_WAYS_SECOND_FACTOR));
    };
    // The check was started for this very half sign-in's person, not another's.
    if verifying.user() != half.who.user_id {
        return Err(no_ceremony(OTHER_WAYS_SECOND_FACTOR));
    }
    let answer: PublicKeyCredential = parse_credential(body.credential, OTHER_WAYS_SECOND_FACTOR)?;
    let user_id = half.who.user_id;
    let now = state.clock.now();
    if let Some(until) = state
        .accounts
        .locked_until(user_id)
        .await
        .map_err(|e| refused(e.into(), ""))?
        && until > now
    {
        return Err(refused(PasskeyError::locked(until, now), ""));
    }
    let used = state
        .passkeys
        .finish_second_factor(verifying, &answer, &origin)
        .await
        .map_err(|e| refused(e, OTHER_WAYS_SECOND_FACTOR))?;
    let request = half.request.clone();
    flow::complete_second_factor(&session, half, &used.amr, &origin, state.clock.now())
        .await
        .map_err(|e| page_failed(&e))?;
    state
        .accounts
        .count_success(user_id)
        .await
        .map_err(|e| refused(e.into(), ""))?;
    let next = flow::after_sign_in(&state, &session, request.as_deref())
        .await
        .map_err(|e| page_failed(&e))?;
    Ok(follow(next))
}

/// The account page's passkey section, as `templates/account_passkeys.html` shows it.
pub(super) struct PasskeySection {
    /// This server offers passkeys at all.
    pub available: bool,
    /// The sign-in is recent enough to add, rename or remove passkeys.
    pub recent: bool,
    pub rows: Vec<PasskeyRow>,
    /// What is wrong, by the id of the field it is about (`passkey-name` or
    /// `rename-<id>`).
    pub error: Option<(String, String)>,
}

pub(super) struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub added: String,
    pub last_used: Option<String>,
}

impl PasskeySection {
    /// The message beside field `id`, if it is wrong.
    pub(super) fn error_for(&self, id: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(field, _)| field == id)
            .map(|(_, m)| m.as_str())
    }
}

fn row(p: StoredPasskey) -> PasskeyRow {
    PasskeyRow {
        id: p.id.to_string(),
        name: p.name,
        added: account::view::human_time(p.created_at),
        last_used: p.last_used_at.map(account::view::human_time),
    }
}

/// The section for the signed-in `who`.
pub(super) async fn section(
    state: &AppState,
    who: &AuthenticatedUser,
) -> Result<PasskeySection, PageError> {
    let rows = state
        .passkeys
        .list(who.user_id)
        .await
        .map_err(|e| match e {
            PasskeyError::Storage(e) => PageError::from(e),
            _ => PageError::unavailable(),
        })?;
    Ok(PasskeySection {
        available: state.passkeys.available(),
        recent: is_recent(state, who),
        rows: rows.into_iter().map(row).collect(),
        error: None,
    })
}

#[derive(Deserialize)]
struct RenameForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    id: String,
}

/// The account page again, with `message` beside `field` in the passkey section.
async fn refuse_page(
    state: &AppState,
    session: &Session,
    me: &account::Me,
    status: StatusCode,
    field: String,
    message: impl Into<String>,
) -> Result<Response, PageError> {
    account::passkey_refusal(state, session, me, status, field, message.into()).await
}

const NOT_RECENT: &str =
    "To change your passkeys, sign in again first: it has been a while since you did.";
const NO_SUCH: &str = "That passkey is not on your account any more. Nothing was changed.";

/// `POST /account/passkeys/rename`: gives one of the person's passkeys a new name.
async fn rename_submit(
    State(state): State<AppState>,
    session: Session,
    form: Result<PageForm<RenameForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match account::me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    let field = format!("rename-{}", form.id);
    if !is_recent(&state, &me.who) {
        return refuse_page(
            &state,
            &session,
            &me,
            StatusCode::FORBIDDEN,
            SECTION.into(),
            NOT_RECENT,
        )
        .await;
    }
    let Ok(id) = Uuid::parse_str(&form.id) else {
        return refuse_page(
            &state,
            &session,
            &me,
            StatusCode::NOT_FOUND,
            "passkeys".into(),
            NO_SUCH,
        )
        .await;
    };
    match state.passkeys.rename(me.user.id, id, &form.name).await {
        Ok(true) => {
            account::flash(&session, SECTION, "The passkey is renamed.").await?;
            Ok(account::see_section(SECTION))
        }
        Ok(false) => {
            refuse_page(
                &state,
                &session,
                &me,
                StatusCode::NOT_FOUND,
                "passkeys".into(),
                NO_SUCH,
            )
            .await
        }
        Err(PasskeyError::Refused(message)) => {
            refuse_page(
                &state,
                &session,
                &me,
                StatusCode::BAD_REQUEST,
                field,
                message,
            )
            .await
        }
        Err(PasskeyError::Storage(e)) => Err(e.into()),
        Err(_) => Err(PageError::unavailable()),
    }
}

/// `POST /account/passkeys/remove`: removes one of the person's passkeys; it signs in
/// nowhere from now on.
async fn remove_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<RemoveForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match account::me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    if !is_recent(&state, &me.who) {
        return refuse_page(
            &state,
            &session,
            &me,
            StatusCode::FORBIDDEN,
            SECTION.into(),
            NOT_RECENT,
        )
        .await;
    }
    let Ok(id) = Uuid::parse_str(&form.id) else {
        return refuse_page(
            &state,
            &session,
            &me,
            StatusCode::NOT_FOUND,
            "passkeys".into(),
            NO_SUCH,
        )
        .await;
    };
    match state.passkeys.remove(me.user.id, id, &origin).await {
        Ok(Some(name)) => {
            let message = format!("Your passkey “{name}” is removed. It cannot sign in any more.");
            account::flash(&session, SECTION, message).await?;
            Ok(account::see_section(SECTION))
        }
        Ok(None) => {
            refuse_page(
                &state,
                &session,
                &me,
                StatusCode::NOT_FOUND,
                "passkeys".into(),
                NO_SUCH,
            )
            .await
        }
        Err(PasskeyError::Storage(e)) => Err(e.into()),
        Err(_) => Err(PageError::unavailable()),
    }
}
