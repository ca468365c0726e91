//! The account page over HTTP, on both engines: each section's change and its
//! refusals, and what the change does to sessions, apps' tokens, mail and the audit
//! trail. The same page in Chromium is in `browser/account.rs`.

use base64::Engine;
use openidconnect::OAuth2TokenResponse;
use portcullis::audit::Origin;
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    both_backends,
    helpers::{PASSWORD, TestApp, hidden, web_app},
    rp::Rp,
};

const CALLBACK: &str = "https://app.example.com/cb";
pub(crate) const FIREFOX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// One browser: its own cookie jar, no redirects followed.
#[derive(Clone)]
pub(crate) struct Person {
    pub http: reqwest::Client,
    base: String,
}

impl Person {
    /// The test's own browser, `app.http`, which `TestApp::sign_in` also uses.
    fn main(app: &TestApp) -> Self {
        Self {
            http: app.http.clone(),
            base: app.base.clone(),
        }
    }

    /// Another browser, with `user_agent`.
    pub(crate) fn other(app: &TestApp, user_agent: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(user_agent)
            .build()
            .expect("http client");
        Self {
            http,
            base: app.base.clone(),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get")
    }

    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .expect("post")
    }

    /// Posts a body as it is, for bytes a form encoder would not send.
    async fn post_raw(&self, path: &str, body: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .expect("post")
    }

    /// Signs in at /login with no app involved; asserts it lands on /account.
    pub(crate) async fn sign_in(&self, login: &str, password: &str) {
        let html = self.get("/login").await.text().await.expect("html");
        let csrf = hidden(&html, "csrf").expect("csrf");
        let r = self
            .post(
                "/login",
                &[("csrf", &csrf), ("login", login), ("password", password)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{login} signs in");
        assert_eq!(r.headers()["location"], "/account");
    }

    /// Whether the password signs in (without signing this browser in).
    async fn page(&self) -> String {
        let r = self.get("/account").await;
        assert_eq!(r.status(), StatusCode::OK, "the account page shows");
        r.text().await.expect("html")
    }

    async fn csrf(&self) -> String {
        hidden(&self.page().await, "csrf").expect("csrf on the account page")
    }

    pub(crate) async fn is_signed_in(&self) -> bool {
        match self.get("/account").await.status() {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER => false,
            other => panic!("/account answered {other}"),
        }
    }
}

/// A fresh browser trying `login` and `password`: whether they sign in.
async fn password_works(app: &TestApp, login: &str, password: &str) -> bool {
    let probe = Person::other(app, "probe");
    let html = probe.get("/login").await.text().await.expect("html");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let r = probe
        .post(
            "/login",
            &[("csrf", &csrf), ("login", login), ("password", password)],
        )
        .await;
    r.status() == StatusCode::SEE_OTHER
}

/// Asserts the response is the overview again at `section`.
fn assert_back_at(r: &reqwest::Response, section: &str) {
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/account#{section}"));
}

/// The events recorded about `user`, newest first, as stored.
async fn events(app: &TestApp, user: uuid::Uuid) -> Vec<(String, String)> {
    app.state
        .audit
        .for_user(user, 100)
        .await
        .expect("audit")
        .into_iter()
        .map(|r| (r.event, r.outcome))
        .collect()
}

fn count(events: &[(String, String)], event: &str, outcome: &str) -> usize {
    events
        .iter()
        .filter(|(e, o)| e == event && o == outcome)
        .count()
}

/// A registered app with refresh tokens, and its tokens for `username` signed in
/// through `app.http`, consenting to `scopes`.
pub(crate) struct AppTokens {
    pub rp: Rp,
    pub access: String,
    pub refresh: String,
    pub id_token: String,
}

pub(crate) async fn app_tokens(
    app: &TestApp,
    name: &str,
    scopes: &[&str],
    username: &str,
) -> AppTokens {
    let mut registration = web_app(CALLBACK);
    registration.name = name.into();
    let (client, secret) = app.add_client(registration).await;
    let rp = Rp::discover(app, &client.client_id, secret.as_deref(), CALLBACK).await;
    tokens_for(app, rp, scopes, username).await
}

async fn tokens_for(app: &TestApp, rp: Rp, scopes: &[&str], username: &str) -> AppTokens {
    let (tokens, _) = rp.sign_in_and_exchange(app, scopes, username).await;
    AppTokens {
        access: tokens.access_token().secret().clone(),
        refresh: tokens
            .refresh_token()
            .expect("a refresh token")
            .secret()
            .clone(),
        id_token: tokens
            .extra_fields()
            .id_token()
            .expect("an ID token")
            .to_string(),
        rp,
    }
}

impl AppTokens {
    /// What a refresh with the app's refresh token answers: 200, or the error code.
    async fn refresh(&self, app: &TestApp) -> Result<(), String> {
        let (status, _, body) = app
            .post_token(
                self.rp.auth(),
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &self.refresh),
                ],
            )
            .await;
        if status == StatusCode::OK {
            Ok(())
        } else {
            Err(body["error"].as_str().unwrap_or_default().to_owned())
        }
    }

    /// Whether introspection says the access token is active.
    async fn access_active(&self, app: &TestApp) -> bool {
        let (status, body) = app
            .introspect(self.rp.auth(), &[("token", &self.access)])
            .await;
        assert_eq!(status, StatusCode::OK);
        body["active"] == Value::Bool(true)
    }

    /// Asserts every token of the app is dead: refresh refused, access inactive and
    /// refused by userinfo.
    pub(crate) async fn assert_dead(&self, app: &TestApp, why: &str) {
        assert_eq!(
            self.refresh(app).await,
            Err("invalid_grant".into()),
            "{why}: the refresh token is refused"
        );
        assert!(
            !self.access_active(app).await,
            "{why}: the access token is inactive"
        );
        assert_eq!(
            app.userinfo(&self.access).await.0,
            StatusCode::UNAUTHORIZED,
            "{why}: userinfo refuses the access token"
        );
    }

    pub(crate) async fn assert_alive(&self, app: &TestApp, why: &str) {
        assert!(
            self.access_active(app).await,
            "{why}: the access token works"
        );
        assert_eq!(app.userinfo(&self.access).await.0, StatusCode::OK, "{why}");
    }
}

/// The claims of a JWT, unverified (the RP verified it).
fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The sids in the session list, in page order, and the current one.
fn listed_sids(html: &str) -> (Vec<String>, String) {
    let mut sids = Vec::new();
    let mut current = None;
    for chunk in html.split("<li class=\"row session").skip(1) {
        let sid = hidden(chunk, "sid").expect("a sid per session");
        if chunk.starts_with(" current") {
            current = Some(sid.clone());
        }
        sids.push(sid);
    }
    (sids, current.expect("this browser is marked"))
}

both_backends!(
    wrong_current_passwords_on_the_account_page_lock_the_account,
    the_home_page_and_the_account_page_send_strangers_to_sign_in,
    the_profile_is_saved_and_released_to_apps_by_scope,
    bad_profile_input_is_refused_beside_its_field_and_nothing_is_written,
    forms_without_the_right_csrf_token_change_nothing,
    an_email_change_waits_for_its_link_and_tells_the_old_address,
    bad_and_taken_addresses,
    a_password_change_needs_the_current_one_and_signs_out_everything_else,
    password_refusals_say_why_and_change_nothing,
    sessions_are_listed_and_ended_one_or_all_but_this,
    removing_an_apps_access_kills_its_tokens_and_only_its,
    deleting_an_account_keeps_a_tombstone_and_ends_everything,
    deleting_needs_the_password_and_the_box,
    a_disabled_person_cannot_use_a_session_they_still_have,
);

async fn the_home_page_and_the_account_page_send_strangers_to_sign_in(app: TestApp) {
    app.add_user("ada").await;
    let ada = Person::main(&app);
    for path in ["/", "/account", "/account/delete"] {
        let r = ada.get(path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()["location"], "/login", "{path}");
    }
    for path in [
        "/account/profile",
        "/account/email",
        "/account/password",
        "/account/sessions/end",
        "/account/sessions/end-others",
        "/account/apps/remove",
        "/account/delete",
    ] {
        let r = ada
            .post(path, &[("display_name", "Mallory"), ("password", PASSWORD)])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()["location"], "/login", "{path}");
    }
    let user = app
        .state
        .accounts
        .user(ada_id(&app).await)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.display_name, None, "nothing was written");

    ada.sign_in("ada", PASSWORD).await;
    let r = ada.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account");
    let html = ada.page().await;
    assert!(html.contains("Your account"));
    assert!(html.contains("ada@example.com"));
    assert!(
        html.contains(
            "<strong>Unknown browser</strong> <span class=\"badge ok\">This browser</span>"
        )
    );
}

async fn ada_id(app: &TestApp) -> uuid::Uuid {
    app.state
        .accounts
        .find_by_login("ada")
        .await
        .expect("lookup")
        .expect("ada")
        .id
}

async fn the_profile_is_saved_and_released_to_apps_by_scope(app: TestApp) {
    let user = app.add_user("ada").await;
    let ada = Person::main(&app);
    ada.sign_in("ada", PASSWORD).await;
    let csrf = ada.csrf().await;
    app.clock.advance(std::time::Duration::from_secs(60));
    let r = ada
        .post(
            "/account/profile",
            &[
                ("csrf", &csrf),
                ("display_name", "  Ada Lovelace "),
                ("given_name", "Ada"),
                ("family_name", "Lovelace"),
            ],
        )
        .await;
    assert_back_at(&r, "profile");
    let html = ada.page().await;
    assert!(html.contains("Your profile is saved."));
    assert!(html.contains("value=\"Ada Lovelace\""), "trimmed and shown");
    assert!(
        !ada.page().await.contains("Your profile is saved."),
        "the message is shown once"
    );
    let stored = app.state.accounts.user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.display_name.as_deref(), Some("Ada Lovelace"));
    assert!(stored.updated_at > user.updated_at);
    assert_eq!(
        count(&events(&app, user.id).await, "profile_updated", "success"),
        1
    );

    // Saving the same again writes nothing.
    let r = ada
        .post(
            "/account/profile",
            &[
                ("csrf", &csrf),
                ("display_name", "Ada Lovelace"),
                ("given_name", "Ada"),
                ("family_name", "Lovelace"),
            ],
        )
        .await;
    assert_back_at(&r, "profile");
    assert_eq!(
        count(&events(&app, user.id).await, "profile_updated", "success"),
        1
    );

    let with_profile = app_tokens(&app, "Notes", &["openid", "profile"], "ada").await;
    let (status, _, info) = app.userinfo(&with_profile.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["name"], "Ada Lovelace");
    assert_eq!(info["given_name"], "Ada");
    assert_eq!(info["family_name"], "Lovelace");
    assert_eq!(info["updated_at"], stored.updated_at);
    let id = jwt_claims(&with_profile.id_token);
    assert_eq!(id["given_name"], "Ada");
    assert_eq!(id["family_name"], "Lovelace");
    assert_eq!(id["updated_at"], stored.updated_at);

    let without = app_tokens(&app, "Mail", &["openid", "email"], "ada").await;
    let (_, _, info) = app.userinfo(&without.access).await;
    for claim in ["name", "given_name", "family_name", "updated_at"] {
        assert!(info.get(claim).is_none(), "{claim} needs the profile scope");
        assert!(
            jwt_claims(&without.id_token).get(claim).is_none(),
            "{claim}"
        );
    }

    // A name taken away is no longer released.
    let r = ada
        .post(
            "/account/profile",
            &[
                ("csrf", &csrf),
                ("display_name", "Ada Lovelace"),
                ("given_name", ""),
                ("family_name", "Lovelace"),
            ],
        )
        .await;
    assert_back_at(&r, "profile");
    let (_, _, info) = app.userinfo(&with_profile.access).await;
    assert!(
        info.get("given_name").is_none(),
        "unset claims are left out: {info}"
    );
}

async fn bad_profile_input_is_refused_beside_its_field_and_nothing_is_written(app: TestApp) {
    let user = app.add_user("ada").await;
    let ada = Person::main(&app);
    ada.sign_in("ada", PASSWORD).await;
    let csrf = ada.csrf().await;

    let long = "ü".repeat(101);
    let r = ada
        .post(
            "/account/profile",
            &[
                ("csrf", &csrf),
                ("display_name", "Countess"),
                ("given_name", &long),
                ("family_name", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"given_name-error\">Use at most 100 characters."));
    assert!(html.contains("aria-describedby=\"given_name-error\""));
    assert!(
        html.contains("href=\"#given_name\">Given name: Use at most 100 characters.</a>"),
        "the summary at the top names the field and links to it"
    );
    assert!(
        html.contains("value=\"Countess\""),
        "what was typed is kept"
    );
    assert!(
        html.contains(&long),
        "even the overlong name, to be shortened"
    );

    // A C1 control character passes the form's edge check; the profile refuses it.
    let r = ada
        .post(
            "/account/profile",
            &[("csrf", &csrf), ("display_name", "Ada\u{85}Lovelace")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("id=\"display_name-error\">Remove the invisible control characters")
    );

    // NUL and the other ASCII controls are refused at the edge, with a page saying so.
    let body = format!("csrf={csrf}&display_name=Ada%00Lovelace");
    let r = ada.post_raw("/account/profile", &body).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("characters that are not allowed")
    );
    let body = format!("csrf={csrf}&family_name=Love%0Alace");
    assert_eq!(
        ada.post_raw("/account/profile", &body).await.status(),
        StatusCode::BAD_REQUEST
    );

    let stored = app.state.accounts.user(user.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.display_name, stored.given_name, stored.family_name),
        (None, None, None),
        "nothing was written"
    );
    assert_eq!(
        count(&events(&app, user.id).await, "profile_updated", "success"),
        0
    );
}

async fn forms_without_the_right_csrf_token_change_nothing(app: TestApp) {
    let user = app.add_user("ada").await;
    let ada = Person::main(&app);
    ada.sign_in("ada", PASSWORD).await;
    let other = Person::other(&app, FIREFOX);
    other.sign_in("ada", PASSWORD).await;
    let (sids, current) = listed_sids(&ada.page().await);
    let other_sid = sids.iter().find(|s| **s != current).unwrap().clone();
    for csrf in [None, Some("wrong"), Some("")] {
        let with = |mut form: Vec<(&'static str, String)>| {
            if let Some(c) = csrf {
                form.push(("csrf", c.to_owned()));
            }
            form
        };
        let attempts: Vec<(&str, Vec<(&str, String)>)> = vec![
            (
                "/account/profile",
                with(vec![("display_name", "Mallory".into())]),
            ),
            (
                "/account/email",
                with(vec![("new_email", "mallory@example.com".into())]),
            ),
            (
                "/account/password",
                with(vec![
                    ("current_password", PASSWORD.into()),
                    ("new_password", NEW_PASSWORD.into()),
                    ("confirm_password", NEW_PASSWORD.into()),
                ]),
            ),
            (
                "/account/sessions/end",
                with(vec![("sid", other_sid.clone())]),
            ),
            ("/account/sessions/end-others", with(vec![])),
            (
                "/account/apps/remove",
                with(vec![("client_id", "x".into())]),
            ),
            (
                "/account/delete",
                with(vec![
                    ("password", PASSWORD.into()),
                    ("confirm", "yes".into()),
                ]),
            ),
        ];
        for (path, form) in attempts {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = ada.post(path, &form).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} with {csrf:?}");
            let html = r.text().await.unwrap();
            assert!(
                html.contains("This form had expired, so nothing was changed."),
                "{path}"
            );
            assert!(
                !html.contains("Mallory") && !html.contains("mallory@"),
                "{path}: not echoed"
            );
        }
    }
    let stored = app.state.accounts.user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.display_name, None);
    assert_eq!(stored.deleted_at, None);
    assert!(
        password_works(&app, "ada", PASSWORD).await,
        "the password is unchanged"
    );
    assert!(
        other.is_signed_in().await,
        "the other browser is still signed in"
    );
    assert_eq!(
        app.state.accounts.pending_email(&stored).await.unwrap(),
        None
    );
    let recorded = events(&app, user.id).await;
    assert!(
        recorded.iter().all(|(e, _)| e == "sign_in"),
        "no change recorded: {recorded:?}"
    );
}

async fn an_email_change_waits_for_its_link_and_tells_the_old_address(app: TestApp) {
    let user = app.add_user("ada").await;
    let ada = Person::main(&app);
    ada.sign_in("ada", PASSWORD).await;
    let csrf = ada.csrf().await;
    let r = ada
        .post(
            "/account/email",
            &[("csrf", &csrf), ("new_email", " Ada@New.Example ")],
        )
        .await;
    assert_back_at(&r, "email");
    let html = ada.page().await;
    assert!(
        html.contains("We sent a link to Ada@New.Example."),
        "{html}"
    );
    assert!(html.contains("Waiting for confirmation: <strong>Ada@New.Example</strong>"));
    let stored = app.state.accounts.user(user.id).await.unwrap().unwrap();
    assert_eq!(
        stored.email, "ada@example.com",
        "the old address stays until confirmed"
    );

    let told = app.mail_to("ada@example.com").await;
    assert!(told.subject.contains("being changed"), "{}", told.subject);
    assert!(told.text.contains("Ada@New.Example"));
    let link = app.mail_to("Ada@New.Example").await;
    assert!(link.subject.contains("Confirm your email address"));
    let url = url::Url::parse(&link.link()).unwrap();
    assert_eq!(url.path(), "/verify-email");
    let token = url
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("token");
    assert_eq!(
        count(
            &events(&app, user.id).await,
            "email_change_requested",
            "success"
        ),
        1
    );

    let verified = app
        .state
        .accounts
        .verify_email(&token, &Origin::default())
        .await
        .unwrap();
    assert_eq!(
        verified,
        portcullis::accounts::verification::Verified::Changed(user.id)
    );
    let html = ada.page().await;
    assert!(html.contains("Your address is <strong>Ada@New.Example</strong>"));
    assert!(!html.contains("Waiting for confirmation"));
    assert!(password_works(&app, "ada@new.example", PASSWORD).await);
    assert!(!password_works(&app, "ada@example.com", PASSWORD).await);
}

async fn bad_and_taken_addresses(app: TestApp) {
    let user = app.add_user("ada").await;
    app.add_user("bob").await;
    let ada = Person::main(&app);
    ada.sign_in("ada", PASSWORD).await;
    let csrf = ada.csrf().await;
    let refused = |typed: &'static str, message: &'static str| {
        let ada = ada.clone();
        let csrf = csrf.clone();
        async move {
            let r = ada
                .post("/account/email", &[("csrf", &csrf), ("new_email", typed)])
                .await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{typed}");
            let html = r.text().await.unwrap();
            assert!(
                html.contains(&format!("id=\"new_email-error\">{message}")),
                "{typed}: {message}"
            );
            assert!(html.contains("aria-invalid=\"true\""));
            html
        }
    };
    let html = refused(
        "not an address",
        "Enter an email address like name@example.com.",
    )
    .await;
    assert!(
        html.contains("value=\"not an address\""),
        "what was typed is kept"
    );
    refused("", "Enter your new email address.").await;
    refused("ADA@EXAMPLE.COM", "That is already your address.").await;
    let long: &'static str = Box::leak(format!("{}@example.com", "a".repeat(250)).into_boxed_str());
    refused(long, "An email address is at most 254 characters.").await;
    let r = ada
        .post_raw(
            "/account/email",
            &format!("csrf={csrf}&new_email=a%00@b.example"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Bob's address: the page answers as for any other, and no link goes to Bob.
    let r = ada
        .post(
            "/account/email",
            &[("csrf", &csrf), ("new_email", "BOB@example.com")],
        )
        .await;
    assert_back_at(&r, "email");
    let html = ada.page().await;
    assert!(html.contains("We sent a link to BOB@example.com."));
    assert!(html.contains("Waiting for confirmation: <strong>BOB@example.com</strong>"));
    app.mail_to("ada@example.com").await;
    app.mail_settled().await;
    assert!(
        app.mails_to("bob@example.com").is_empty(),
        "Bob is sent nothing"
    );
    assert!(
        app.mails_to("BOB@example.com").is_empty(),
        "Bob is sent nothing"
    );

    // Another change at once is refused: the form sends mail, so it is bounded.
    refused(
        "ada@other.example",
        "We just sent you an email. Wait a minute before asking again.",
    )
    .await;
    let stored = app.state.accounts.user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.email, "ada@example.com");
}

async fn a_password_change_needs_the_current_one_and_signs_out_everything_else(app: TestApp) {
    let user = app.add_user("ada").await;
    let ada = Person::main(&app);
    let tokens = app_tokens(&app, "Notes", &["openid"], "ada").await;
    let other = Person::other(&app, FIREFOX);
    other.sign_in("ada", PASSWORD).await;
    let csrf = ada.csrf().await;
    let r = ada
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_back_at(&r, "password");
    let html = ada.page().await;
    assert!(
        html.contains("Your password is changed."),
        "this browser stays signed in"
    );
    assert!(
        !other.is_signed_in().await,
        "the other browser is signed out"
    );
    tokens.assert_dead(&app, "after a password change").await;
    assert!(password_works(&app, "ada", NEW_PASSWORD).await);
    assert!(!password_works(&app, "ada", PASSWORD).await);
    let mail = app.mail_to("ada@example.com").await;
    assert!(
        mail.subject.contains("password was changed"),
        "{}",
        mail.subject
    );
    assert!(!mail.text.contains(NEW_PASSWORD));
    assert_eq!(
        count(&events(&app, user.id).await, "password_changed", "success"),
        1
    );
    assert!(html.contains("Password changed"), "the activity lists it");
}

/// A signed-in session is no licence to guess: wrong current passwords on the account
/// page count towards the lockout, and a locked account's password is not checked
/// there either, nor at sign-in.
async fn wrong_current_passwords_on_the_account_page_lock_the_account(app: TestApp) {
    let user = app.add_user("ada").await;
    let ada = Person::main(&app);
    ada.sign_in("ada", PASSWORD).await;
    let csrf = ada.csrf().await;
    let change = |current: &'static str| {
        let ada = &ada;
        let csrf = csrf.clone();
        async move {
            let r = ada
                .post(
                    "/account/password",
                    &[
                        ("csrf", csrf.as_str()),
                        ("current_password", current),
                        ("new_password", NEW_PASSWORD),
                        ("confirm_password", NEW_PASSWORD),
                    ],
                )
                .await;
            (r.status(), r.text().await.unwrap())
        }
    };
    for i in 1..=4 {
        let (status, html) = change("not my password").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "attempt {i}");
        assert!(html.contains("That password is not right."), "{html}");
    }
    let (_, html) = change("not my password").await;
    assert!(
        html.contains("Too many wrong attempts"),
        "the fifth locks: {html}"
    );
    let (status, html) = change(PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Too many wrong attempts"), "{html}");
    assert!(
        app.state
            .accounts
            .locked_until(user.id)
            .await
            .unwrap()
            .is_some()
    );
    let stored = app
        .state
        .store
        .users
        .find_by_id(user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.password_hash, user.password_hash, "nothing changed");
    let other = Person::other(&app, FIREFOX);
    let html = other.get("/login").await.text().await.expect("html");
    let login_csrf = hidden(&html, "csrf").expect("csrf");
    let r = other
        .post(
            "/login",
            &[
                ("csrf", &login_csrf),
                ("login", "ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked at sign-in too"
    );
}

async fn password_refusals_say_why_and_change_nothing(app: TestApp) {
    let user = app.add_user("ada").await;
    let ada = Person::main(&app);
    ada.sign_in("ada", PASSWORD).await;
    let other = Person::other(&app, FIREFOX);
    other.sign_in("ada", PASSWORD).await;
    let csrf = ada.csrf().await;
    let min = app.config().accounts.password_min_length;
    let short = "s".repeat(min - 1);
    let cases: [(&str, &str, &str, &str, String); 5] = [
        (
            "not my password",
            NEW_PASSWORD,
            NEW_PASSWORD,
            "current_password",
            "That password is not right.".into(),
        ),
        (
            "",
            NEW_PASSWORD,
            NEW_PASSWORD,
            "current_password",
            "Enter your current password.".into(),
        ),
        (
            PASSWORD,
            short.as_str(),
            short.as_str(),
            "new_password",
            format!("Use at least {min} characters."),
        ),
        (
            PASSWORD,
            NEW_PASSWORD,
            "a brand new passphrasf",
            "confirm_password",
            "The two new passwords are not the same.".into(),
        ),
        (
            PASSWORD,
            PASSWORD,
            PASSWORD,
            "new_password",
            "This is your current password.".into(),
        ),
    ];
    for (current, new, confirm, field, message) in cases {
        let r = ada
            .post(
                "/account/password",
                &[
                    ("csrf", &csrf),
                    ("current_password", current),
                    ("new_password", new),
                    ("confirm_password", confirm),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{field}: {message}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!("id=\"{field}-error\">{message}")),
            "{field}: {message} in {html}"
        );
        for typed in [current, new, confirm].into_iter().filter(|t| t.len() > 3) {
            assert!(
                !html.contains(&format!("value=\"{typed}\"")),
                "a password is never shown again"
            );
        }
    }
    let overlong = "p".repeat(300);
    let r = ada
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("new_password", &overlong),
                ("confirm_password", &overlong),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Use at most 256 characters.")
    );

    assert!(
        password_works(&app, "ada", PASSWORD).await,
        "nothing changed"
    );
    assert!(other.is_signed_in().await);
    let recorded = events(&app, user.id).await;
    assert_eq!(count(&recorded, "password_changed", "success"), 0);
    assert_eq!(
        count(&recorded, "password_changed", "failure"),
        1,
        "the wrong password is recorded"
    );
}

async fn sessions_are_listed_and_ended_one_or_all_but_this(app: TestApp) {
    app.add_user("ada").await;
    app.add_user("bob").await;
    let ada = Person::main(&app);
    let tokens = app_tokens(&app, "Notes", &["openid"], "ada").await;
    let laptop = Person::other(&app, FIREFOX);
    laptop.sign_in("ada", PASSWORD).await;
    let laptop_tokens = {
        // An app signed in through the laptop's session.
        let mut registration = web_app(CALLBACK);
        registration.name = "Laptop App".into();
        let (client, secret) = app.add_client(registration).await;
        let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;
        let started = rp.start(&["openid"]);
        let callback = sign_in_with(&app, &laptop, &started.url).await;
        let code = crate::rp::callback_params(&callback)["code"].clone();
        let t = rp
            .exchange(&code, started.verifier)
            .await
            .expect("exchange");
        AppTokens {
            access: t.access_token().secret().clone(),
            refresh: t.refresh_token().unwrap().secret().clone(),
            id_token: String::new(),
            rp,
        }
    };
    let phone = Person::other(
        &app,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    );
    phone.sign_in("ada", PASSWORD).await;
    let bob = Person::other(&app, FIREFOX);
    bob.sign_in("bob", PASSWORD).await;

    let html = ada.page().await;
    let (sids, current) = listed_sids(&html);
    assert_eq!(sids.len(), 3, "three browsers");
    assert_eq!(sids[0], current, "this browser first");
    assert_eq!(html.matches("This browser").count(), 1);
    assert!(html.contains("<strong>Firefox on Linux</strong>"));
    assert!(html.contains("<strong>Safari on iPhone</strong>"));
    assert!(html.contains("IP address 127.0.0.1"));
    assert!(html.contains(" UTC"), "times in words");
    assert!(!html.contains("portcullis_session"), "no cookie ids");
    let laptop_sid = listed_sids(&laptop.page().await).1;
    let phone_sid = listed_sids(&phone.page().await).1;
    let bob_sid = listed_sids(&bob.page().await).1;
    let csrf = hidden(&html, "csrf").unwrap();

    // Someone else's session: nothing happens to it.
    let r = ada
        .post(
            "/account/sessions/end",
            &[("csrf", &csrf), ("sid", &bob_sid)],
        )
        .await;
    assert_back_at(&r, "sessions");
    assert!(
        ada.page()
            .await
            .contains("That browser was already signed out.")
    );
    assert!(
        bob.is_signed_in().await,
        "Bob's session is not Ada's to end"
    );

    let r = ada
        .post(
            "/account/sessions/end",
            &[("csrf", &csrf), ("sid", &laptop_sid)],
        )
        .await;
    assert_back_at(&r, "sessions");
    assert!(ada.page().await.contains("That browser is signed out"));
    assert!(!laptop.is_signed_in().await, "the laptop is signed out");
    laptop_tokens.assert_dead(&app, "the laptop's app").await;
    tokens.assert_alive(&app, "this browser's app").await;
    assert!(phone.is_signed_in().await);

    let r = ada
        .post("/account/sessions/end-others", &[("csrf", &csrf)])
        .await;
    assert_back_at(&r, "sessions");
    assert!(ada.page().await.contains("1 other browser is signed out."));
    assert!(!phone.is_signed_in().await);
    assert!(bob.is_signed_in().await);
    tokens.assert_alive(&app, "this browser's app").await;
    assert_eq!(listed_sids(&ada.page().await).0.len(), 1);
    let _ = phone_sid;

    // Ending this browser's own session signs it out here.
    let r = ada
        .post(
            "/account/sessions/end",
            &[("csrf", &csrf), ("sid", &current)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login");
    assert!(!ada.is_signed_in().await);
    tokens
        .assert_dead(&app, "this browser's app after signing it out")
        .await;
    assert!(bob.is_signed_in().await);
    let user = app
        .state
        .accounts
        .find_by_login("ada")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        count(&events(&app, user.id).await, "session_revoked", "success"),
        3
    );
}

/// Signs in through an authorization request in `person`'s browser, consenting;
/// returns the callback URL.
async fn sign_in_with(app: &TestApp, person: &Person, start: &str) -> String {
    let mut url = start.to_owned();
    for _ in 0..10 {
        if !url.starts_with(&app.base) {
            return url;
        }
        let r = person.http.get(&url).send().await.unwrap();
        if r.status().is_redirection() {
            let location = r.headers()["location"].to_str().unwrap().to_owned();
            url = if location.starts_with('/') {
                app.url(&location)
            } else {
                location
            };
            continue;
        }
        let html = r.text().await.unwrap();
        let csrf = hidden(&html, "csrf").expect("a form");
        let request = hidden(&html, "request").expect("request");
        assert!(
            url.contains("/consent"),
            "already signed in, so asked to consent: {url}"
        );
        let r = person
            .post(
                "/consent",
                &[
                    ("csrf", &csrf),
                    ("request", &request),
                    ("decision", "allow"),
                ],
            )
            .await;
        url = r.headers()["location"].to_str().unwrap().to_owned();
    }
    panic!("too many redirects");
}

async fn removing_an_apps_access_kills_its_tokens_and_only_its(app: TestApp) {
    app.add_user("ada").await;
    app.add_user("bob").await;
    let ada = Person::main(&app);
    let notes = app_tokens(&app, "Acme Notes", &["openid", "profile", "email"], "ada").await;
    let mail = app_tokens(&app, "Acme Mail", &["openid"], "ada").await;

    // Bob, in his own browser, uses Notes too, and an app Ada never allowed.
    let bob = Person::other(&app, FIREFOX);
    bob.sign_in("bob", PASSWORD).await;
    let bob_notes = {
        let started = notes.rp.start(&["openid"]);
        let callback = sign_in_with(&app, &bob, &started.url).await;
        let code = crate::rp::callback_params(&callback)["code"].clone();
        let t = notes.rp.exchange(&code, started.verifier).await.unwrap();
        t.access_token().secret().clone()
    };
    let (bobs_app, _) = app.add_client(web_app(CALLBACK)).await;

    let html = ada.page().await;
    assert!(html.contains("<strong>Acme Notes</strong>"));
    assert!(html.contains("<strong>Acme Mail</strong>"));
    assert!(
        html.contains("See your email address"),
        "scopes in plain words"
    );
    assert!(html.contains("Allowed "));
    let csrf = hidden(&html, "csrf").unwrap();
    let notes_id = notes.rp.client.client_id().as_str().to_owned();

    for stranger in [bobs_app.client_id.as_str(), "no-such-app", &"x".repeat(300)] {
        let r = ada
            .post(
                "/account/apps/remove",
                &[("csrf", &csrf), ("client_id", stranger)],
            )
            .await;
        assert_back_at(&r, "apps");
        assert!(
            ada.page()
                .await
                .contains("That app had no access to remove.")
        );
    }

    let r = ada
        .post(
            "/account/apps/remove",
            &[("csrf", &csrf), ("client_id", &notes_id)],
        )
        .await;
    assert_back_at(&r, "apps");
    let html = ada.page().await;
    assert!(html.contains("Acme Notes no longer has access to your account."));
    assert!(!html.contains("<strong>Acme Notes</strong>"));
    notes.assert_dead(&app, "the removed app").await;
    mail.assert_alive(&app, "the other app").await;
    assert_eq!(
        app.userinfo(&bob_notes).await.0,
        StatusCode::OK,
        "Bob's access to Notes stays"
    );
    assert!(ada.is_signed_in().await);

    // The next sign-in to Notes asks again.
    let started = notes.rp.start(&["openid"]);
    let r = ada.http.get(&started.url).send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/consent"), "asked again: {location}");
    let user = app
        .state
        .accounts
        .find_by_login("ada")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        count(&events(&app, user.id).await, "consent_removed", "success"),
        1
    );
}

async fn deleting_an_account_keeps_a_tombstone_and_ends_everything(app: TestApp) {
    let user = app.add_user("ada").await;
    let ada = Person::main(&app);
    let tokens = app_tokens(&app, "Notes", &["openid", "email"], "ada").await;
    let other = Person::other(&app, FIREFOX);
    other.sign_in("ada", PASSWORD).await;
    let csrf = ada.csrf().await;
    let r = ada
        .post(
            "/account/profile",
            &[("csrf", &csrf), ("display_name", "Ada")],
        )
        .await;
    assert_back_at(&r, "profile");
    let r = ada.get("/account/delete").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Delete your account?"));
    let csrf = hidden(&html, "csrf").unwrap();
    let r = ada
        .post(
            "/account/delete",
            &[("csrf", &csrf), ("password", PASSWORD), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Your account is deleted"));

    assert!(!ada.is_signed_in().await, "signed out here");
    assert!(!other.is_signed_in().await, "and everywhere");
    tokens.assert_dead(&app, "after deletion").await;
    assert!(
        !password_works(&app, "ada", PASSWORD).await,
        "the username no longer signs in"
    );
    assert!(!password_works(&app, "ada@example.com", PASSWORD).await);

    let stone = app
        .state
        .accounts
        .user(user.id)
        .await
        .unwrap()
        .expect("a tombstone");
    assert!(stone.deleted_at.is_some());
    assert_eq!(stone.username, "ada", "the username stays taken");
    assert_eq!(stone.email, "");
    assert_eq!((stone.display_name, stone.given_name), (None, None));
    assert!(stone.disabled);
    assert!(
        app.state
            .accounts
            .connected_apps(user.id)
            .await
            .unwrap()
            .is_empty()
    );

    let again = portcullis::commands::user_add(
        &app.config(),
        "ADA",
        "someone@example.com",
        PASSWORD.into(),
        &[],
    )
    .await;
    assert!(
        again
            .as_ref()
            .is_err_and(|e| e.to_string().contains("taken")),
        "the username is never given out again: {again:?}"
    );
    let newcomer = portcullis::commands::user_add(
        &app.config(),
        "newcomer",
        "ada@example.com",
        PASSWORD.into(),
        &[],
    )
    .await
    .expect("the address is free again");
    assert_ne!(newcomer.id, user.id, "a new sub");

    let mail = app.mail_to("ada@example.com").await;
    assert!(
        mail.subject.contains("account was deleted"),
        "{}",
        mail.subject
    );
    let recorded = events(&app, user.id).await;
    assert!(
        recorded.contains(&("account_deleted".into(), "success".into())),
        "{recorded:?}"
    );
    assert!(
        recorded.len() > 1,
        "earlier events stay readable: {recorded:?}"
    );
}

async fn deleting_needs_the_password_and_the_box(app: TestApp) {
    let user = app.add_user("ada").await;
    let ada = Person::main(&app);
    ada.sign_in("ada", PASSWORD).await;
    let csrf = ada.csrf().await;
    let cases = [
        (
            "not my password",
            Some("yes"),
            "current_password",
            "That password is not right.",
        ),
        (
            "",
            Some("yes"),
            "current_password",
            "Enter your current password.",
        ),
        (PASSWORD, None, "confirm_delete", "Tick the box to confirm"),
        (
            PASSWORD,
            Some("no"),
            "confirm_delete",
            "Tick the box to confirm",
        ),
    ];
    for (password, confirm, field, message) in cases {
        let mut form = vec![("csrf", csrf.as_str()), ("password", password)];
        if let Some(c) = confirm {
            form.push(("confirm", c));
        }
        let r = ada.post("/account/delete", &form).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{field}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!("id=\"{field}-error\">{message}")),
            "{field}: {html}"
        );
        assert!(!html.contains(&format!("value=\"{password}\"")) || password.is_empty());
    }
    assert!(ada.is_signed_in().await);
    let stored = app.state.accounts.user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.deleted_at, None, "nothing was deleted");
    assert_eq!(
        count(&events(&app, user.id).await, "account_deleted", "failure"),
        1
    );
}

async fn a_disabled_person_cannot_use_a_session_they_still_have(app: TestApp) {
    let user = app.add_user("ada").await;
    let ada = Person::main(&app);
    ada.sign_in("ada", PASSWORD).await;
    let csrf = ada.csrf().await;
    app.state
        .store
        .users
        .set_disabled(user.id, true, app.clock.now())
        .await
        .unwrap();
    let r = ada
        .post(
            "/account/profile",
            &[("csrf", &csrf), ("display_name", "Ada")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login");
    let stored = app.state.accounts.user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.display_name, None);
    assert!(!ada.is_signed_in().await, "the session was ended");
    let r = ada.get("/").await;
    assert_eq!(r.headers()["location"], "/login");
}
