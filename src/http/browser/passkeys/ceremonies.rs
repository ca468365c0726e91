//! The ceremony endpoints: registering on the account page, the passwordless sign-in,
//! and the passkey as the second factor.

use axum::{
    Json,
    extract::{State, rejection::JsonRejection},
    http::StatusCode,
};
use serde_json::json;
use tower_sessions::Session;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::{
    AppState,
    accounts::{AuthenticatedUser, second_factor::passkeys::PasskeyError},
    http::extract::RequestOrigin,
};

use super::super::{account, flow};
use super::json::*;
use super::*;

/// The signed-in person, active, whose sign-in is recent enough to change passkeys.
pub(super) async fn recent_signed_in(
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

/// `POST /account/passkeys/begin`: the options for `navigator.credentials.create`
/// (WebAuthn section 5.1.3), for a discoverable credential with user verification.
pub(super) async fn register_begin(
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
pub(super) async fn register_finish(
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
    if let Some(codes) = added.recovery_codes {
        // The first second factor: its recovery codes are shown once, on the page the
        // script goes to next.
        account::two_factor::show_codes_next(&session, codes)
            .await
            .map_err(|e| page_failed(&e))?;
        return Ok(json_answer(
            json!({ "redirect": account::two_factor::FRESH_CODES }),
        ));
    }
    Ok(json_answer(
        json!({ "redirect": format!("{}#{SECTION}", crate::http::paths::ACCOUNT) }),
    ))
}

/// `POST /login/passkey/begin`: the options for a passwordless sign-in with a
/// discoverable credential (WebAuthn section 5.1.4, empty `allowCredentials`).
pub(super) async fn sign_in_begin(
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
pub(super) async fn sign_in_finish(
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
pub(super) async fn second_factor_begin(
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

pub(super) fn half_expired() -> Refusal {
    Refusal::new(
        StatusCode::UNAUTHORIZED,
        "login_required",
        "This sign-in has expired. Start again from the sign-in page.",
    )
}

/// `POST /login/second-factor/passkey/finish`: verifies the assertion against the
/// half-signed-in person's passkeys and completes their sign-in.
pub(super) async fn second_factor_finish(
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
