//! Password reset over HTTP, as a browser without JavaScript does it: asking reveals
//! nothing, the mailed link works once and for `accounts.reset_ttl`, a new password
//! obeys the policy and ends every session and token, and bad input changes nothing.

use std::time::Duration;

use portcullis::crypto::Secret;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::{
    both_backends,
    helpers::{PASSWORD, TestApp, hidden, web_app},
    rp::Rp,
};

const CALLBACK: &str = "http://127.0.0.1:1/cb";
const NEW_PASSWORD: &str = "violet tandem quarry lighthouse";
const EXPIRED: &str = "This link has expired.";
const USED: &str = "This link has already been used, or a newer one was sent since.";
const INVALID: &str = "This link is not valid.";

/// Someone at a browser of their own: a cookie jar, no redirects followed.
struct Visitor {
    http: reqwest::Client,
    base: String,
}

impl Visitor {
    fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            base: app.base.clone(),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String, Option<String>) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get");
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().expect("location").to_owned());
        (r.status(), r.text().await.expect("body"), location)
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .expect("post");
        (r.status(), r.text().await.expect("body"))
    }

    /// The CSRF token of the form at `path`.
    async fn csrf(&self, path: &str) -> String {
        let (status, html, _) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {html}");
        hidden(&html, "csrf").unwrap_or_else(|| panic!("no form at {path}: {html}"))
    }

    /// Asks for a reset link for `login` through the form.
    async fn ask(&self, login: &str) -> (StatusCode, String) {
        let csrf = self.csrf("/reset-password").await;
        self.post("/reset-password", &[("csrf", &csrf), ("login", login)])
            .await
    }

    /// Follows a mailed link: it must lead to the new-password form.
    async fn open(&self, link_path: &str) {
        let (status, html, location) = self.get(link_path).await;
        assert_eq!(status, 303, "the link leads on: {html}");
        assert_eq!(location.as_deref(), Some("/reset-password/new"));
    }

    /// Submits the new-password form of the link this visitor opened.
    async fn choose(&self, password: &str, confirm: &str) -> (StatusCode, String) {
        let csrf = self.csrf("/reset-password/new").await;
        self.post(
            "/reset-password/new",
            &[
                ("csrf", &csrf),
                ("password", password),
                ("confirm", confirm),
            ],
        )
        .await
    }

    /// Whether the sign-in page accepts `login` and `password`.
    async fn signs_in(&self, login: &str, password: &str) -> bool {
        let csrf = self.csrf("/login").await;
        let (status, _) = self
            .post(
                "/login",
                &[("csrf", &csrf), ("login", login), ("password", password)],
            )
            .await;
        // Signed in: on to the account page (no app asked).
        status == 303
    }
}

/// Whether `password` signs `login` in, asked of a new browser.
async fn works(app: &TestApp, login: &str, password: &str) -> bool {
    Visitor::new(app).signs_in(login, password).await
}

/// The audit events about `user`, oldest first, as (event, outcome).
async fn events_about(app: &TestApp, user: Uuid) -> Vec<(String, String)> {
    let mut events: Vec<_> = app
        .state
        .audit
        .for_user(user, 100)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| (e.event, e.outcome))
        .collect();
    events.reverse();
    events
}

/// Every mail sent so far, once the outbox is empty.
async fn all_mail(app: &TestApp) -> usize {
    app.mail_settled().await;
    crate::mailbox::read_folder(&app.outbox).len()
}

both_backends!(
    an_unknown_and_a_known_address_get_the_same_page_and_only_the_known_one_a_mail,
    the_mail_goes_to_the_stored_address_whatever_form_was_typed,
    disabled_and_deleted_accounts_get_no_mail_and_the_same_page,
    asking_again_is_limited_silently,
    a_reset_sets_the_password_ends_every_session_and_token_and_says_so,
    the_link_works_once,
    a_newer_link_ends_the_older_one,
    a_link_expires_after_reset_ttl_even_with_the_form_open,
    a_weak_or_mismatched_password_is_refused_and_changes_nothing,
    a_missing_or_wrong_csrf_token_changes_nothing,
    control_characters_and_overlong_input_are_refused_plainly,
    a_link_for_an_account_disabled_since_no_longer_works,
    broken_links_say_so_and_never_error,
);

async fn an_unknown_and_a_known_address_get_the_same_page_and_only_the_known_one_a_mail(
    app: TestApp,
) {
    let ada = app.add_user("ada").await;
    let (known_status, known) = Visitor::new(&app).ask("ada@example.com").await;
    let (unknown_status, unknown) = Visitor::new(&app).ask("nobody@example.com").await;
    assert_eq!(known_status, 200, "{known}");
    assert_eq!(unknown_status, 200);
    assert!(known.contains("Check your email"), "{known}");
    assert!(
        !known.contains("name=\"csrf\""),
        "the answer has no form that could differ"
    );
    assert_eq!(
        known.replace("ada@example.com", "ADDRESS"),
        unknown.replace("nobody@example.com", "ADDRESS"),
        "the two answers are the same page, but for the address typed"
    );

    let mail = app.mail_to("ada@example.com").await;
    assert_eq!(
        all_mail(&app).await,
        1,
        "one mail, to the known address only"
    );
    assert!(mail.subject.contains("Reset your"), "{}", mail.subject);
    assert!(mail.text.contains("30 minutes"), "{}", mail.text);
    let link = mail.link();
    assert!(
        link.starts_with(&format!("{}/reset-password?token=", app.base)),
        "{link}"
    );
    let token = link.rsplit('=').next().expect("token");
    assert!(token.len() >= 40, "a long random token: {token}");

    // Hashed at rest: the token itself is stored nowhere.
    let db = app.second_db().await;
    let stored: Vec<String> = match &db {
        portcullis::storage::Db::Sqlite { reads, .. } => {
            sqlx::query_scalar("SELECT token_hash FROM account_tokens")
                .fetch_all(reads)
                .await
        }
        portcullis::storage::Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT token_hash FROM account_tokens")
                .fetch_all(pool)
                .await
        }
    }
    .expect("tokens");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);

    let asked: Vec<_> = events_about(&app, ada.id).await;
    assert_eq!(
        asked,
        vec![("password_reset_requested".into(), "success".into())]
    );
    let recent = app.state.audit.recent(10).await.expect("audit");
    let unknown_event = recent
        .iter()
        .find(|e| e.event == "password_reset_requested" && e.user_id.is_none())
        .expect("the unknown address is recorded too");
    assert_eq!(unknown_event.outcome, "failure");
    assert_eq!(unknown_event.actor, "anonymous");
    assert!(
        !unknown_event.detail.to_string().contains("nobody"),
        "the typed address is not kept: {}",
        unknown_event.detail
    );
}

async fn the_mail_goes_to_the_stored_address_whatever_form_was_typed(app: TestApp) {
    app.add_user("ada").await;
    let visitor = Visitor::new(&app);
    let (status, _) = visitor.ask("  ADA@Example.COM ").await;
    assert_eq!(status, 200);
    let first = app.mail_to("ada@example.com").await;
    assert_eq!(
        first.to, "ada@example.com",
        "the stored form, not the typed one"
    );

    app.clock.advance(Duration::from_secs(61));
    let (status, page) = visitor.ask("Ada").await;
    assert_eq!(status, 200);
    assert!(page.contains("Ada"), "the page says what was typed");
    let second = app.nth_mail_to("ada@example.com", 2).await;
    assert_eq!(second.to, "ada@example.com", "a username works too");
}

async fn disabled_and_deleted_accounts_get_no_mail_and_the_same_page(app: TestApp) {
    let bob = app.add_user("bob").await;
    let cy = app.add_user("cy").await;
    let now = app.clock.now();
    app.state
        .store
        .users
        .set_disabled(bob.id, true, now)
        .await
        .expect("disable");
    let mut tx = app.state.store.db.begin_write().await.expect("tx");
    app.state
        .store
        .users
        .tombstone_in(&mut tx, cy.id, now)
        .await
        .expect("delete");
    tx.commit().await.expect("commit");

    let (_, unknown) = Visitor::new(&app).ask("nobody@example.com").await;
    for login in ["bob@example.com", "cy", "bob"] {
        let (status, page) = Visitor::new(&app).ask(login).await;
        assert_eq!(status, 200);
        assert_eq!(
            page.replace(login, "X"),
            unknown.replace("nobody@example.com", "X"),
            "{login}"
        );
    }
    assert_eq!(
        all_mail(&app).await,
        0,
        "no mail to a disabled or deleted account"
    );
    let events = events_about(&app, bob.id).await;
    assert!(
        events
            .iter()
            .all(|(e, o)| e == "password_reset_requested" && o == "failure"),
        "{events:?}"
    );
}

async fn asking_again_is_limited_silently(app: TestApp) {
    app.add_user("ada").await;
    let visitor = Visitor::new(&app);
    let (_, first) = visitor.ask("ada").await;
    let (status, again) = visitor.ask("ada").await;
    assert_eq!(status, 200);
    assert_eq!(first, again, "the same page when nothing was sent");
    assert_eq!(all_mail(&app).await, 1, "at most one mail a minute");

    for n in 2..=5 {
        app.clock.advance(Duration::from_secs(61));
        visitor.ask("ada").await;
        app.nth_mail_to("ada@example.com", n).await;
    }
    app.clock.advance(Duration::from_secs(61));
    let (status, _) = visitor.ask("ada").await;
    assert_eq!(status, 200);
    assert_eq!(all_mail(&app).await, 5, "at most five an hour");

    app.clock.advance(Duration::from_secs(3600));
    visitor.ask("ada").await;
    app.nth_mail_to("ada@example.com", 6).await;
}

async fn a_reset_sets_the_password_ends_every_session_and_token_and_says_so(app: TestApp) {
    let ada = app.add_user("ada").await;
    // Signed in at an app, in `app.http`'s browser: tokens and a session.
    let (client, secret) = app.add_client(web_app(CALLBACK)).await;
    let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;
    let (tokens, _) = rp
        .sign_in_and_exchange(&app, &["openid", "email"], "ada")
        .await;
    let access = openidconnect::OAuth2TokenResponse::access_token(&tokens)
        .secret()
        .clone();
    let refresh = openidconnect::OAuth2TokenResponse::refresh_token(&tokens)
        .expect("refresh token")
        .secret()
        .clone();
    assert_eq!(app.userinfo(&access).await.0, 200, "live before");
    let now = app.clock.now();
    assert_eq!(
        app.state
            .store
            .sessions
            .list_for_user(ada.id, now)
            .await
            .expect("sessions")
            .len(),
        1
    );

    let visitor = Visitor::new(&app);
    visitor.ask("ada@example.com").await;
    let mail = app.mail_to("ada@example.com").await;
    visitor.open(&mail.link_path()).await;
    let (status, form, _) = visitor.get("/reset-password/new").await;
    assert_eq!(status, 200, "{form}");
    assert!(form.contains("autocomplete=\"new-password\""), "{form}");
    assert_eq!(
        hidden(&form, "username").as_deref(),
        Some("ada"),
        "password managers learn whose password this is"
    );
    assert!(
        !form.contains(&mail.link_path()),
        "the form page does not carry the link"
    );
    let (status, done) = visitor.choose(NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("Your password is set"), "{done}");
    assert!(!done.contains(NEW_PASSWORD), "never shown back");
    let now = app.clock.now();
    let sessions = app
        .state
        .store
        .sessions
        .list_for_user(ada.id, now)
        .await
        .expect("sessions");
    assert!(sessions.is_empty(), "every session ended: {sessions:?}");

    assert!(
        !works(&app, "ada", PASSWORD).await,
        "the old password is refused"
    );
    assert!(works(&app, "ada", NEW_PASSWORD).await, "the new one works");

    let (status, _, body) = app
        .post_token(
            rp.auth(),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"], "invalid_grant",
        "the old refresh token is dead"
    );
    let (_, introspected) = app.introspect(rp.auth(), &[("token", &access)]).await;
    assert_eq!(
        introspected["active"], false,
        "the old access token is dead"
    );
    assert_eq!(app.userinfo(&access).await.0, 401);

    // The browser that was signed in is signed out: the app's next sign-in asks again.
    let again = rp.start(&["openid", "email"]);
    let r = app.http.get(&again.url).send().await.expect("authorize");
    let location = r.headers()["location"].to_str().expect("location");
    assert!(
        location.starts_with("/login"),
        "asked to sign in: {location}"
    );

    let changed = app.nth_mail_to("ada@example.com", 2).await;
    assert!(
        changed.subject.contains("password was changed"),
        "{}",
        changed.subject
    );
    assert!(
        changed.text.contains("signed out"),
        "the mail says what happened: {}",
        changed.text
    );

    let user = app
        .state
        .accounts
        .user(ada.id)
        .await
        .expect("user")
        .expect("ada");
    assert!(
        user.email_verified,
        "following the mailed link proved the address"
    );
    let events: Vec<String> = events_about(&app, ada.id)
        .await
        .into_iter()
        .filter(|(_, o)| o == "success")
        .map(|(e, _)| e)
        .collect();
    for kind in [
        "password_reset_requested",
        "password_reset",
        "email_verified",
    ] {
        assert!(events.iter().any(|e| e == kind), "{kind} in {events:?}");
    }
    let serialized = format!("{:?}", app.state.audit.recent(50).await.expect("audit"));
    assert!(
        !serialized.contains(NEW_PASSWORD),
        "no password in the audit trail"
    );
    let token = mail.link().rsplit('=').next().expect("token").to_owned();
    assert!(!serialized.contains(&token), "no link in the audit trail");
}

async fn the_link_works_once(app: TestApp) {
    app.add_user("ada").await;
    let visitor = Visitor::new(&app);
    visitor.ask("ada").await;
    let link = app.mail_to("ada@example.com").await.link_path();
    visitor.open(&link).await;
    // A second browser opens the same link before the first is done.
    let other = Visitor::new(&app);
    other.open(&link).await;
    let other_csrf = other.csrf("/reset-password/new").await;
    let (status, _) = visitor.choose(NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200);

    let late = "another fine password";
    let (status, page) = other
        .post(
            "/reset-password/new",
            &[("csrf", &other_csrf), ("password", late), ("confirm", late)],
        )
        .await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains(USED), "{page}");
    assert!(
        page.contains("href=\"/reset-password\""),
        "offers a new link"
    );
    let (status, page, _) = Visitor::new(&app).get(&link).await;
    assert_eq!(status, 410);
    assert!(page.contains(USED), "{page}");
    let (status, page, _) = visitor.get("/reset-password/new").await;
    assert_eq!(status, 400, "the used link left the session");
    assert!(
        page.contains("Open the link from the email again"),
        "{page}"
    );
    assert!(
        works(&app, "ada", NEW_PASSWORD).await,
        "the first one set it"
    );
    assert!(!works(&app, "ada", late).await);
}

async fn a_newer_link_ends_the_older_one(app: TestApp) {
    app.add_user("ada").await;
    let visitor = Visitor::new(&app);
    visitor.ask("ada").await;
    app.clock.advance(Duration::from_secs(61));
    visitor.ask("ada").await;
    let older = app.nth_mail_to("ada@example.com", 1).await.link_path();
    let newer = app.nth_mail_to("ada@example.com", 2).await.link_path();
    assert_ne!(older, newer);

    let (status, page, _) = visitor.get(&older).await;
    assert_eq!(status, 410);
    assert!(page.contains(USED), "{page}");
    visitor.open(&newer).await;
    assert_eq!(visitor.choose(NEW_PASSWORD, NEW_PASSWORD).await.0, 200);
}

async fn a_link_expires_after_reset_ttl_even_with_the_form_open(app: TestApp) {
    app.add_user("ada").await;
    let visitor = Visitor::new(&app);
    visitor.ask("ada").await;
    let link = app.mail_to("ada@example.com").await.link_path();

    app.clock.advance(Duration::from_secs(29 * 60));
    visitor.open(&link).await;
    let csrf = visitor.csrf("/reset-password/new").await;
    app.clock.advance(Duration::from_secs(61));
    let (status, page) = visitor
        .post(
            "/reset-password/new",
            &[
                ("csrf", &csrf),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains(EXPIRED), "{page}");
    assert!(page.contains(">Send a new one?</a>"), "{page}");

    let (status, page, _) = Visitor::new(&app).get(&link).await;
    assert_eq!(status, 410);
    assert!(page.contains(EXPIRED), "{page}");
    assert!(works(&app, "ada", PASSWORD).await, "nothing changed");
}

async fn a_weak_or_mismatched_password_is_refused_and_changes_nothing(app: TestApp) {
    app.add_user("ada").await;
    let visitor = Visitor::new(&app);
    visitor.ask("ada").await;
    visitor
        .open(&app.mail_to("ada@example.com").await.link_path())
        .await;

    let (status, page) = visitor.choose("short", "short").await;
    assert_eq!(status, 400);
    assert!(page.contains("Use at least 10 characters."), "{page}");
    assert!(
        page.contains("id=\"password-error\""),
        "next to the field: {page}"
    );
    assert!(
        !page.contains("value=\"short\""),
        "the password is not kept"
    );

    let (status, page) = visitor.choose("", "").await;
    assert_eq!(status, 400);
    assert!(page.contains("Enter a password."), "{page}");

    let long = "x".repeat(257);
    let (status, page) = visitor.choose(&long, &long).await;
    assert_eq!(status, 400);
    assert!(page.contains("Use at most 256 characters."), "{page}");

    let (status, page) = visitor.choose(NEW_PASSWORD, "violet tandem").await;
    assert_eq!(status, 400);
    assert!(page.contains("id=\"confirm-error\""), "{page}");
    assert!(page.contains("are not the same"), "{page}");
    assert!(!page.contains(NEW_PASSWORD));

    assert!(works(&app, "ada", PASSWORD).await, "nothing changed");
    assert_eq!(all_mail(&app).await, 1, "no 'changed' mail");
    let (status, _) = visitor.choose(NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200, "the link still works");
}

async fn a_missing_or_wrong_csrf_token_changes_nothing(app: TestApp) {
    app.add_user("ada").await;
    let visitor = Visitor::new(&app);
    visitor.csrf("/reset-password").await;
    for form in [
        vec![("login", "ada")],
        vec![("csrf", "wrong"), ("login", "ada")],
    ] {
        let (status, page) = visitor.post("/reset-password", &form).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("nothing was sent"), "{page}");
        assert!(
            page.contains("value=\"ada\""),
            "keeps what was typed: {page}"
        );
    }
    assert_eq!(all_mail(&app).await, 0);
    assert!(
        app.state
            .audit
            .recent(10)
            .await
            .expect("audit")
            .iter()
            .all(|e| e.event != "password_reset_requested"),
        "nothing written"
    );

    visitor.ask("ada").await;
    visitor
        .open(&app.mail_to("ada@example.com").await.link_path())
        .await;
    for csrf in [None, Some("wrong")] {
        let mut form = vec![("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let (status, page) = visitor.post("/reset-password/new", &form).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("your password was not changed"), "{page}");
    }
    assert!(works(&app, "ada", PASSWORD).await, "nothing changed");
    assert_eq!(visitor.choose(NEW_PASSWORD, NEW_PASSWORD).await.0, 200);
}

async fn control_characters_and_overlong_input_are_refused_plainly(app: TestApp) {
    app.add_user("ada").await;
    let visitor = Visitor::new(&app);
    let csrf = visitor.csrf("/reset-password").await;
    for login in ["ada\0", "ada\u{7}@example.com", "\u{1b}[2Jada"] {
        let (status, page) = visitor
            .post("/reset-password", &[("csrf", &csrf), ("login", login)])
            .await;
        assert_eq!(status, 400, "{login:?}: {page}");
        assert!(page.contains("characters that are not allowed"), "{page}");
    }
    let long = format!("{}@example.com", "a".repeat(250));
    let (status, page) = visitor
        .post("/reset-password", &[("csrf", &csrf), ("login", &long)])
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("254 characters at most"), "{page}");
    assert!(page.contains("id=\"login-error\""), "next to the field");
    assert!(page.contains(&long), "keeps what was typed");
    let (status, page) = visitor
        .post("/reset-password", &[("csrf", &csrf), ("login", "   ")])
        .await;
    assert_eq!(status, 400);
    assert!(
        page.contains("Enter the email address or username"),
        "{page}"
    );
    assert_eq!(all_mail(&app).await, 0);

    visitor.ask("ada").await;
    visitor
        .open(&app.mail_to("ada@example.com").await.link_path())
        .await;
    let csrf = visitor.csrf("/reset-password/new").await;
    let bad = format!("{NEW_PASSWORD}\0");
    let (status, page) = visitor
        .post(
            "/reset-password/new",
            &[("csrf", &csrf), ("password", &bad), ("confirm", &bad)],
        )
        .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("characters that are not allowed"), "{page}");
    assert!(works(&app, "ada", PASSWORD).await, "nothing changed");
    assert_eq!(visitor.choose(NEW_PASSWORD, NEW_PASSWORD).await.0, 200);
}

async fn a_link_for_an_account_disabled_since_no_longer_works(app: TestApp) {
    let ada = app.add_user("ada").await;
    let visitor = Visitor::new(&app);
    visitor.ask("ada").await;
    let link = app.mail_to("ada@example.com").await.link_path();
    visitor.open(&link).await;
    let csrf = visitor.csrf("/reset-password/new").await;
    app.state
        .store
        .users
        .set_disabled(ada.id, true, app.clock.now())
        .await
        .expect("disable");
    let (status, page) = visitor
        .post(
            "/reset-password/new",
            &[
                ("csrf", &csrf),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains(INVALID), "{page}");
    let (status, _, _) = Visitor::new(&app).get(&link).await;
    assert_eq!(status, 400);
    let user = app
        .state
        .accounts
        .user(ada.id)
        .await
        .expect("user")
        .expect("ada");
    assert!(
        app.state
            .hasher
            .verify(Secret::new(PASSWORD), Some(user.password_hash))
            .await
            .expect("verify"),
        "the password did not change"
    );
}

async fn broken_links_say_so_and_never_error(app: TestApp) {
    let visitor = Visitor::new(&app);
    let long = format!("/reset-password?token={}", "a".repeat(5000));
    for path in [
        "/reset-password?token=nonsense",
        "/reset-password?token=a%20b",
        "/reset-password?token=%C3%A4",
        "/reset-password?token=x&token=y",
        long.as_str(),
    ] {
        let (status, page, _) = visitor.get(path).await;
        assert_eq!(status, 400, "{path}: {page}");
        assert!(page.contains(INVALID), "{path}: {page}");
    }
    for path in ["/reset-password?token=a%00b", "/reset-password?token=%0a"] {
        let (status, page, _) = visitor.get(path).await;
        assert_eq!(status, 400, "{path}: {page}");
        assert!(page.contains("characters that are not allowed"), "{page}");
    }
    let (status, page, _) = visitor.get("/reset-password/new").await;
    assert_eq!(status, 400, "no link opened: {page}");
    assert!(
        page.contains("Open the link from the email again"),
        "{page}"
    );
    let (status, page) = visitor
        .post(
            "/reset-password/new",
            &[("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(status, 400, "{page}");
    let (status, _) = visitor
        .post("/reset-password", &[("login", "x"), ("login", "y")])
        .await;
    assert!(status.is_client_error(), "{status}");
}
