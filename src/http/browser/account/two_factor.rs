//! The account page's "Two-step sign-in": setting up an authenticator app (a QR code
//! as inline SVG and the key to type, confirmed with a current code), removing it, and
//! recovery codes (shown once, straight in the answer to the POST that made them, with
//! a download that only echoes back codes of the right shape, and a print stylesheet).
//!
//! Setting up is also where a person who must have a second factor but has none is
//! sent during sign-in (`?request=ID`); once the code is confirmed, the sign-in is
//! marked as two-step (amr "otp", "mfa") and goes on after the recovery codes.

use askama::Template;
use axum::{
    Router,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use qrcode::{QrCode, render::svg};
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    super::{csrf, flow},
    flash, me, me_checked, not_refused, see_section,
};
use crate::{
    AppState,
    accounts::{
        manage::{ManageError, Refusal},
        second_factor::recovery,
    },
    http::{
        extract::{PageForm, RequestOrigin},
        page::{PageError, render},
    },
};

const TOTP: &str = "/account/two-factor/totp";
const TOTP_REMOVE: &str = "/account/two-factor/totp/remove";
const RECOVERY: &str = "/account/two-factor/recovery-codes";
const RECOVERY_DOWNLOAD: &str = "/account/two-factor/recovery-codes/download";
const CONTINUE: &str = "/account/two-factor/continue";
/// Where codes made by another step (a first passkey) are shown, once.
pub(in crate::http::browser) const FRESH_CODES: &str = "/account/two-factor/recovery-codes/new";
/// The session key that holds those codes until that page shows them.
const FRESH: &str = "fresh_recovery_codes";
/// The section of the overview.
const SECTION: &str = "two-factor";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(TOTP, get(totp_page).post(totp_submit))
        .route(TOTP_REMOVE, get(remove_page).post(remove_submit))
        .route(RECOVERY, get(recovery_page).post(recovery_submit))
        .route(RECOVERY_DOWNLOAD, post(recovery_download))
        .route(CONTINUE, post(continue_submit))
        .route(FRESH_CODES, get(fresh_codes_page))
}

#[derive(Template)]
#[template(path = "two_factor_totp.html")]
pub(super) struct TotpPage {
    pub csrf: String,
    pub request: Option<String>,
    pub qr_svg: String,
    pub key_groups: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "two_factor_codes.html")]
pub(super) struct CodesPage {
    pub csrf: String,
    pub request: Option<String>,
    pub codes: Vec<String>,
    /// The codes as the download form sends them back, space-separated (a form field
    /// with a line break would be refused as a control character).
    pub codes_text: String,
    /// What was just switched on, if that is why there are codes (else: new codes).
    pub enabled: Option<&'static str>,
}

/// A page that asks for the password or a current code before a change.
#[derive(Template)]
#[template(path = "two_factor_confirm.html")]
pub(super) struct ConfirmPage {
    pub csrf: String,
    pub title: &'static str,
    pub explain: &'static str,
    pub action: &'static str,
    pub button: &'static str,
    pub danger: bool,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RequestQuery {
    request: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    request: Option<String>,
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
pub(super) struct ProofForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    password_or_code: String,
}

#[derive(Deserialize)]
pub(super) struct DownloadForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    codes: String,
}

#[derive(Deserialize)]
pub(super) struct ContinueForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    request: Option<String>,
}

/// The QR code of `url` as inline SVG markup (no script, no style: the CSP allows it).
fn qr_svg(url: &str) -> Result<String, PageError> {
    let code = QrCode::new(url.as_bytes()).map_err(|e| {
        tracing::error!(error = %e, "cannot draw a QR code");
        PageError::unavailable()
    })?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = image.find("<svg").unwrap_or(0);
    Ok(image[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code to scan with your authenticator app\" ",
        1,
    ))
}

/// The enrolment page with a key to scan: the same one on a reload within the hour.
async fn totp_form(
    state: &AppState,
    session: &Session,
    me: &super::Me,
    request: Option<String>,
    error: Option<String>,
) -> Result<Option<TotpPage>, PageError> {
    let Some(enrolment) = state.accounts.totp_enrolment(&me.user).await? else {
        return Ok(None);
    };
    Ok(Some(TotpPage {
        csrf: csrf::token(session).await?,
        request,
        qr_svg: qr_svg(&enrolment.otpauth_url)?,
        key_groups: enrolment.key_groups,
        error,
    }))
}

/// `GET /account/two-factor/totp`: the QR code, the key, and the field for the first
/// code. With an app already on, back to the overview.
async fn totp_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<RequestQuery>,
) -> Result<Response, PageError> {
    let me = match me(&state, &session).await? {
        Ok(me) => me,
        Err(to_login) => return Ok(to_login),
    };
    match totp_form(&state, &session, &me, q.request, None).await? {
        Some(page) => Ok(render(StatusCode::OK, &page)),
        None => Ok(see_section(SECTION)),
    }
}

/// `POST /account/two-factor/totp`: switches the app on when the code is current; the
/// first second factor's recovery codes are shown once, in this answer.
async fn totp_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<CodeForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    let codes = match state
        .accounts
        .confirm_totp(me.user.id, &form.code, &origin)
        .await
    {
        Ok(codes) => codes,
        Err(ManageError::Refused(Refusal { message, .. })) => {
            return match totp_form(&state, &session, &me, form.request, Some(message)).await? {
                Some(page) => Ok(render(StatusCode::BAD_REQUEST, &page)),
                None => Ok(see_section(SECTION)),
            };
        }
        Err(e) => return not_refused(&session, e).await,
    };
    if form.request.is_some() {
        // The person just showed they hold the key: this sign-in is two-step now.
        let mut who = me.who.clone();
        for m in ["otp", "mfa"] {
            if !who.amr.iter().any(|a| a == m) {
                who.amr.push(m.to_owned());
            }
        }
        flow::sign_in(&session, &who, &origin).await?;
    }
    match codes {
        Some(codes) => Ok(codes_page(
            &session,
            codes,
            form.request,
            Some("Your authenticator app is on."),
        )
        .await?),
        None => match form.request {
            Some(id) => flow::after_sign_in(&state, &session, Some(&id)).await,
            None => {
                flash(&session, SECTION, "Your authenticator app is set up.").await?;
                Ok(see_section(SECTION))
            }
        },
    }
}

async fn codes_page(
    session: &Session,
    codes: Vec<String>,
    request: Option<String>,
    enabled: Option<&'static str>,
) -> Result<Response, PageError> {
    let page = CodesPage {
        csrf: csrf::token(session).await?,
        request,
        codes_text: codes.join(" "),
        codes,
        enabled,
    };
    let mut response = render(StatusCode::OK, &page);
    // Shown once: not to be kept by any cache, nor shown again by "back".
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// Keeps `codes` (made with a first passkey) for `FRESH_CODES` to show once.
pub(in crate::http::browser) async fn show_codes_next(
    session: &Session,
    codes: Vec<String>,
) -> Result<(), PageError> {
    session
        .insert(FRESH, codes)
        .await
        .map_err(flow::session_failed)
}

/// `GET /account/two-factor/recovery-codes/new`: the codes a first passkey came with,
/// taken out of the session as they are shown; afterwards, the account page.
async fn fresh_codes_page(session: Session) -> Result<Response, PageError> {
    let codes: Option<Vec<String>> = session.remove(FRESH).await.map_err(flow::session_failed)?;
    match codes {
        Some(codes) => codes_page(&session, codes, None, Some("Your passkey is added.")).await,
        None => Ok(see_section(SECTION)),
    }
}

fn proof_page(csrf: String, remove: bool, error: Option<String>) -> ConfirmPage {
    if remove {
        ConfirmPage {
            csrf,
            title: "Remove your authenticator app",
            explain: "Signing in will no longer ask for a code from your app. If it is your \
                      only second step, your recovery codes stop working too.",
            action: TOTP_REMOVE,
            button: "Remove authenticator app",
            danger: true,
            error,
        }
    } else {
        ConfirmPage {
            csrf,
            title: "Make new recovery codes",
            explain: "You get ten new codes, shown once. Your old codes stop working at once.",
            action: RECOVERY,
            button: "Make new codes",
            danger: false,
            error,
        }
    }
}

/// `GET /account/two-factor/totp/remove`: asks for the password or a current code.
async fn remove_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    if let Err(to_login) = me(&state, &session).await? {
        return Ok(to_login);
    }
    let page = proof_page(csrf::token(&session).await?, true, None);
    Ok(render(StatusCode::OK, &page))
}

/// `POST /account/two-factor/totp/remove`: removes the app, given the password or a
/// current code.
async fn remove_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<ProofForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    match state
        .accounts
        .remove_totp(me.user.id, &form.password_or_code, &origin)
        .await
    {
        Ok(()) => {
            flash(&session, SECTION, "Your authenticator app is removed.").await?;
            Ok(see_section(SECTION))
        }
        Err(ManageError::Refused(Refusal { message, .. })) => {
            let page = proof_page(csrf::token(&session).await?, true, Some(message));
            Ok(render(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => not_refused(&session, e).await,
    }
}

/// `GET /account/two-factor/recovery-codes`: asks for the password or a current code
/// before making new codes.
async fn recovery_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    if let Err(to_login) = me(&state, &session).await? {
        return Ok(to_login);
    }
    let page = proof_page(csrf::token(&session).await?, false, None);
    Ok(render(StatusCode::OK, &page))
}

/// `POST /account/two-factor/recovery-codes`: new codes in place of the old, shown
/// once in this answer.
async fn recovery_submit(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    form: Result<PageForm<ProofForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    match state
        .accounts
        .regenerate_recovery_codes(me.user.id, &form.password_or_code, &origin)
        .await
    {
        Ok(Some(codes)) => codes_page(&session, codes, None, None).await,
        Ok(None) => {
            flash(
                &session,
                SECTION,
                "Set up a second step first: recovery codes stand in for it.",
            )
            .await?;
            Ok(see_section(SECTION))
        }
        Err(ManageError::Refused(Refusal { message, .. })) => {
            let page = proof_page(csrf::token(&session).await?, false, Some(message));
            Ok(render(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => not_refused(&session, e).await,
    }
}

/// `POST /account/two-factor/recovery-codes/download`: the codes the page shows, as a
/// text file. It only echoes back what has the shape of recovery codes (at most ten),
/// so it cannot be made to serve anything else; nothing is read from storage, where
/// only hashes are.
async fn recovery_download(
    State(state): State<AppState>,
    session: Session,
    form: Result<PageForm<DownloadForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    let me = match me_checked(&state, &session, form.csrf.as_deref()).await? {
        Ok(me) => me,
        Err(answer) => return Ok(answer),
    };
    let codes: Vec<&str> = form
        .codes
        .split_whitespace()
        .filter(|c| recovery::as_recovery_code(c).is_some())
        .take(recovery::COUNT)
        .collect();
    if codes.is_empty() {
        return Err(PageError::bad_request(
            "Nothing to download",
            "Recovery codes can be downloaded only from the page that shows them.",
        ));
    }
    let body = format!(
        "Recovery codes for {} at {}\n\nEach code works once, in place of a code from your \
         app. Keep them somewhere safe.\n\n{}\n",
        me.user.username,
        state.config.issuer.host(),
        codes.join("\n")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"recovery-codes.txt\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// `POST /account/two-factor/continue`: after the recovery codes, back into the
/// sign-in that was waiting for a second factor.
async fn continue_submit(
    State(state): State<AppState>,
    session: Session,
    form: Result<PageForm<ContinueForm>, PageError>,
) -> Result<Response, PageError> {
    let PageForm(form) = form?;
    if let Err(answer) = me_checked(&state, &session, form.csrf.as_deref()).await? {
        return Ok(answer);
    }
    match form.request {
        Some(id) => flow::after_sign_in(&state, &session, Some(&id)).await,
        None => Ok(see_section(SECTION)),
    }
}
