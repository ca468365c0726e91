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

mod ceremonies;
mod json;
mod manage;

use axum::{Router, routing::post};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{
    AppState,
    accounts::{
        AuthenticatedUser,
        second_factor::passkeys::{Discovering, Registering, Verifying},
    },
};

use super::csrf;
use json::{Refusal, session_failed};
pub(super) use manage::{PasskeySection, section};

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
        .route(REGISTER_BEGIN, post(ceremonies::register_begin))
        .route(REGISTER_FINISH, post(ceremonies::register_finish))
        .route(RENAME, post(manage::rename_submit))
        .route(REMOVE, post(manage::remove_submit))
        .route(SIGN_IN_BEGIN, post(ceremonies::sign_in_begin))
        .route(SIGN_IN_FINISH, post(ceremonies::sign_in_finish))
        .route(SECOND_FACTOR_BEGIN, post(ceremonies::second_factor_begin))
        .route(SECOND_FACTOR_FINISH, post(ceremonies::second_factor_finish))
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

fn is_recent(state: &AppState, who: &AuthenticatedUser) -> bool {
    state.clock.now() - who.auth_time <= RECENT_SIGN_IN
}
