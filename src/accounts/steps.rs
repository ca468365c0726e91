//! The sign-in steps as one pure decision: given the pending authorization request,
//! who is signed in, what they consented to, and the time, what happens next. No I/O:
//! `http` gathers the facts, calls `next_step`, and renders or executes the step, so a
//! code can only be issued where this function says `IssueCode`.

use super::AuthenticatedUser;
use crate::oidc::{
    authorize::{AuthorizationRequest, Prompt},
    scopes::Scopes,
};

/// The next thing the person or the app sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Ask for the password (a first sign-in, `prompt=login`, `max_age` passed).
    Login,
    /// Ask for the second factor before anything else.
    SecondFactor,
    /// Ask whether the app may have the requested scopes.
    Consent,
    /// Send the app a code.
    IssueCode,
    /// Tell the app no, without showing the person anything (`prompt=none`).
    Refuse(Refusal),
}

/// Why a request that forbids interaction is refused (OIDC Core section 3.1.2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    LoginRequired,
    ConsentRequired,
}

/// Who this browser session says is signed in, with what is known about them now.
#[derive(Clone, Copy, Debug)]
pub struct SignedIn<'a> {
    pub who: &'a AuthenticatedUser,
    /// The account still exists and is enabled.
    pub active: bool,
    /// The account has a second factor that this sign-in has not yet passed.
    pub second_factor_due: bool,
}

/// Everything the decision depends on.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    pub request: &'a AuthorizationRequest,
    pub signed_in: Option<SignedIn<'a>>,
    /// The scopes this person has granted this client before.
    pub consented: Option<&'a Scopes>,
    /// The person signed in while this request was pending (satisfies `prompt=login`
    /// and `max_age`).
    pub signed_in_during_request: bool,
    /// The person consented while this request was pending.
    pub consented_during_request: bool,
    pub now: i64,
}

/// The decision, and whether the browser session must end first (its person has been
/// disabled or deleted since signing in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub step: Step,
    pub end_session: bool,
}

/// Decides the next step of a sign-in (OIDC Core sections 3.1.2.1 to 3.1.2.4).
pub fn next_step(facts: &Facts<'_>) -> Decision {
    let request = facts.request;
    let interactive = request.prompt != Prompt::None;
    let end_session = facts.signed_in.is_some_and(|s| !s.active);
    let signed_in = facts.signed_in.filter(|s| s.active);
    let decide = |step| Decision { step, end_session };
    let ask = |step, refusal| {
        if interactive {
            decide(step)
        } else {
            decide(Step::Refuse(refusal))
        }
    };

    let must_sign_in = match signed_in {
        None => true,
        // A person other than the one the app's id_token_hint names must sign in again.
        Some(s)
            if request
                .expected_subject
                .as_ref()
                .is_some_and(|sub| *sub != s.who.user_id.to_string()) =>
        {
            true
        }
        Some(_) if facts.signed_in_during_request => false,
        Some(s) => {
            // max_age=0 means the same as prompt=login (OIDC Core section 3.1.2.1): an
            // elapsed time counted in whole seconds is never greater than zero.
            request.prompt == Prompt::Login
                || request.max_age == Some(0)
                || request
                    .max_age
                    .is_some_and(|max| facts.now - s.who.auth_time > max)
        }
    };
    if must_sign_in {
        return ask(Step::Login, Refusal::LoginRequired);
    }
    if signed_in.is_some_and(|s| s.second_factor_due) {
        return ask(Step::SecondFactor, Refusal::LoginRequired);
    }
    let consent_covers = facts
        .consented
        .is_some_and(|granted| granted.covers(&request.scopes));
    // A native app's redirect can be claimed by any local program, so its requests are
    // never answered without the person, however often they consented before (RFC 8252
    // section 8.6); a first-party flag cannot vouch for who is listening.
    let needs_consent = (!request.first_party || request.native_app)
        && !facts.consented_during_request
        && (request.prompt == Prompt::Consent || request.native_app || !consent_covers);
    if needs_consent {
        return ask(Step::Consent, Refusal::ConsentRequired);
    }
    decide(Step::IssueCode)
}

#[cfg(test)]
mod tests;
