//! The sign-in decision, case by case.

use super::*;
use crate::oidc::{
    authorize::{AuthorizationRequest, RawParams, validate},
    scopes::Scopes,
};
use crate::storage::StoredClient;

const NOW: i64 = 1_000_000;

fn request(prompt: &str, max_age: Option<&str>, first_party: bool) -> AuthorizationRequest {
    let client = StoredClient {
        client_id: "c1".into(),
        secret_hash: Some("h".into()),
        name: "App".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["authorization_code".into()],
        public: false,
        token_endpoint_auth_methods: vec!["client_secret_basic".into()],
        resource_audiences: vec![],
        allowed_scopes: vec!["openid".into(), "email".into(), "profile".into()],
        first_party,
        created_at: 0,
        require_second_factor: false,
    };
    let mut params = vec![
        ("client_id", "c1"),
        ("response_type", "code"),
        ("scope", "openid email"),
    ];
    if !prompt.is_empty() {
        params.push(("prompt", prompt));
    }
    if let Some(m) = max_age {
        params.push(("max_age", m));
    }
    let raw = RawParams::new(
        params
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
    .expect("clean");
    validate(&raw, Some(&client), NOW).expect("valid request")
}

fn person(auth_time: i64) -> AuthenticatedUser {
    AuthenticatedUser {
        user_id: uuid::Uuid::nil(),
        auth_time,
        amr: vec!["pwd".into()],
        sid: "sid".into(),
    }
}

struct Case {
    request: AuthorizationRequest,
    who: Option<(AuthenticatedUser, bool, bool)>,
    consented: Option<Scopes>,
    during: (bool, bool),
}

impl Case {
    fn new(prompt: &str) -> Self {
        Self {
            request: request(prompt, None, false),
            who: None,
            consented: None,
            during: (false, false),
        }
    }
    fn max_age(mut self, max: &str) -> Self {
        self.request = request("", Some(max), false);
        self
    }
    fn first_party(mut self) -> Self {
        self.request.first_party = true;
        self
    }
    fn signed_in(mut self, seconds_ago: i64) -> Self {
        self.who = Some((person(NOW - seconds_ago), true, false));
        self
    }
    fn disabled(mut self) -> Self {
        if let Some(w) = &mut self.who {
            w.1 = false;
        }
        self
    }
    fn second_factor_due(mut self) -> Self {
        if let Some(w) = &mut self.who {
            w.2 = true;
        }
        self
    }
    fn consented(mut self, scopes: &str) -> Self {
        self.consented = Some(Scopes::parse(scopes).expect("scopes"));
        self
    }
    fn signed_in_during_request(mut self) -> Self {
        self.during.0 = true;
        self
    }
    fn consented_during_request(mut self) -> Self {
        self.during.1 = true;
        self
    }
    fn decide(&self) -> Decision {
        next_step(&Facts {
            request: &self.request,
            signed_in: self.who.as_ref().map(|(who, active, due)| SignedIn {
                who,
                active: *active,
                second_factor_due: *due,
            }),
            consented: self.consented.as_ref(),
            signed_in_during_request: self.during.0,
            consented_during_request: self.during.1,
            now: NOW,
        })
    }
    fn step(&self) -> Step {
        self.decide().step
    }
}

#[test]
fn nobody_signed_in_is_asked_to_sign_in() {
    assert_eq!(Case::new("").step(), Step::Login);
    assert_eq!(Case::new("consent").step(), Step::Login);
    assert_eq!(Case::new("login").step(), Step::Login);
}

#[test]
fn prompt_none_without_a_session_is_login_required() {
    assert_eq!(
        Case::new("none").step(),
        Step::Refuse(Refusal::LoginRequired)
    );
}

#[test]
fn a_signed_in_person_who_consented_gets_a_code() {
    let c = Case::new("")
        .signed_in(10)
        .consented("openid email profile");
    assert_eq!(c.step(), Step::IssueCode);
    assert!(!c.decide().end_session);
    let silent = Case::new("none").signed_in(10).consented("openid email");
    assert_eq!(silent.step(), Step::IssueCode);
}

#[test]
fn a_consent_that_does_not_cover_the_scopes_is_asked_again() {
    let c = Case::new("").signed_in(10).consented("openid");
    assert_eq!(c.step(), Step::Consent);
    assert_eq!(Case::new("").signed_in(10).step(), Step::Consent);
    let silent = Case::new("none").signed_in(10).consented("openid");
    assert_eq!(silent.step(), Step::Refuse(Refusal::ConsentRequired));
}

#[test]
fn prompt_consent_asks_even_when_consent_covers_the_scopes() {
    let c = Case::new("consent").signed_in(10).consented("openid email");
    assert_eq!(c.step(), Step::Consent);
    let answered = Case::new("consent")
        .signed_in(10)
        .consented("openid email")
        .consented_during_request();
    assert_eq!(answered.step(), Step::IssueCode);
}

#[test]
fn prompt_login_asks_again_unless_the_person_signed_in_during_this_request() {
    let c = Case::new("login").signed_in(1).consented("openid email");
    assert_eq!(c.step(), Step::Login);
    let fresh = Case::new("login")
        .signed_in(0)
        .consented("openid email")
        .signed_in_during_request();
    assert_eq!(fresh.step(), Step::IssueCode);
}

#[test]
fn max_age_passed_asks_to_sign_in_again() {
    let old = Case::new("")
        .max_age("60")
        .signed_in(61)
        .consented("openid email");
    assert_eq!(old.step(), Step::Login);
    let recent = Case::new("")
        .max_age("60")
        .signed_in(60)
        .consented("openid email");
    assert_eq!(recent.step(), Step::IssueCode);
    let renewed = Case::new("")
        .max_age("60")
        .signed_in(61)
        .consented("openid email")
        .signed_in_during_request();
    assert_eq!(renewed.step(), Step::IssueCode);
}

#[test]
fn a_first_party_app_needs_no_consent_but_still_a_sign_in() {
    assert_eq!(
        Case::new("").first_party().signed_in(5).step(),
        Step::IssueCode
    );
    assert_eq!(
        Case::new("consent").first_party().signed_in(5).step(),
        Step::IssueCode
    );
    assert_eq!(Case::new("").first_party().step(), Step::Login);
    assert_eq!(
        Case::new("none").first_party().step(),
        Step::Refuse(Refusal::LoginRequired)
    );
}

#[test]
fn a_disabled_person_is_signed_out_and_asked_to_sign_in() {
    let c = Case::new("")
        .signed_in(5)
        .consented("openid email")
        .disabled();
    assert_eq!(
        c.decide(),
        Decision {
            step: Step::Login,
            end_session: true
        }
    );
    let silent = Case::new("none")
        .signed_in(5)
        .consented("openid email")
        .disabled();
    assert_eq!(
        silent.decide(),
        Decision {
            step: Step::Refuse(Refusal::LoginRequired),
            end_session: true
        }
    );
    let during = Case::new("")
        .signed_in(0)
        .consented("openid email")
        .signed_in_during_request()
        .disabled();
    assert_eq!(
        during.step(),
        Step::Login,
        "a sign-in in this request does not revive them"
    );
}

#[test]
fn a_due_second_factor_comes_before_consent_and_code() {
    let c = Case::new("")
        .signed_in(5)
        .consented("openid email")
        .second_factor_due();
    assert_eq!(c.step(), Step::SecondFactor);
    let first_party = Case::new("").first_party().signed_in(5).second_factor_due();
    assert_eq!(first_party.step(), Step::SecondFactor);
    let silent = Case::new("none")
        .signed_in(5)
        .consented("openid email")
        .second_factor_due();
    assert_eq!(silent.step(), Step::Refuse(Refusal::LoginRequired));
}

#[test]
fn a_code_is_issued_only_with_an_active_signed_in_person() {
    for prompt in ["", "none", "login", "consent"] {
        for first_party in [false, true] {
            let mut c = Case::new(prompt).consented("openid email");
            if first_party {
                c = c.first_party();
            }
            assert_ne!(
                c.step(),
                Step::IssueCode,
                "nobody signed in, prompt={prompt}"
            );
            let c = c.signed_in(0).signed_in_during_request().disabled();
            assert_ne!(c.step(), Step::IssueCode, "disabled, prompt={prompt}");
        }
    }
}

#[test]
fn max_age_zero_is_prompt_login_even_within_the_same_second() {
    let now = Case::new("")
        .max_age("0")
        .signed_in(0)
        .consented("openid email");
    assert_eq!(now.step(), Step::Login);
    let renewed = Case::new("")
        .max_age("0")
        .signed_in(0)
        .consented("openid email")
        .signed_in_during_request();
    assert_eq!(renewed.step(), Step::IssueCode);
}

#[test]
fn an_id_token_hint_for_someone_else_means_signing_in_again() {
    let mut other = Case::new("").signed_in(5).consented("openid email");
    other.request.expected_subject = Some("someone-else".into());
    assert_eq!(other.step(), Step::Login);
    let mut silent = Case::new("none").signed_in(5).consented("openid email");
    silent.request.expected_subject = Some("someone-else".into());
    assert_eq!(silent.step(), Step::Refuse(Refusal::LoginRequired));
    let mut during = Case::new("")
        .signed_in(0)
        .consented("openid email")
        .signed_in_during_request();
    during.request.expected_subject = Some("someone-else".into());
    assert_eq!(
        during.step(),
        Step::Login,
        "never a code for the wrong person"
    );
    let mut same = Case::new("none").signed_in(5).consented("openid email");
    same.request.expected_subject = Some(uuid::Uuid::nil().to_string());
    assert_eq!(same.step(), Step::IssueCode);
}

#[test]
fn a_native_app_always_asks_the_person_even_after_consent() {
    let mut c = Case::new("").signed_in(5).consented("openid email");
    c.request.native_app = true;
    assert_eq!(c.step(), Step::Consent);
    let mut silent = Case::new("none").signed_in(5).consented("openid email");
    silent.request.native_app = true;
    assert_eq!(silent.step(), Step::Refuse(Refusal::ConsentRequired));
    let mut first_party = Case::new("").first_party().signed_in(5);
    first_party.request.native_app = true;
    assert_eq!(first_party.step(), Step::Consent);
    let mut answered = Case::new("")
        .signed_in(5)
        .consented("openid email")
        .consented_during_request();
    answered.request.native_app = true;
    assert_eq!(answered.step(), Step::IssueCode);
}
