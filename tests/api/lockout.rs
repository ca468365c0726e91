//! Lockout over HTTP and through the accounts service, on both engines: five wrong
//! passwords lock an account; while locked the right password gets the very page a
//! wrong one does; the lock ends with time (the test clock), by a password reset or by
//! `portcullis user unlock`; each next lock lasts twice as long; the owner is mailed
//! once per streak; parallel failures are each counted exactly once.

use std::time::Duration;

use portcullis::{accounts::reset::ResetLink, audit::Origin, crypto::Secret};
use reqwest::StatusCode;

use crate::{
    both_backends,
    helpers::{PASSWORD, TestApp, hidden},
};

const WRONG: &str = "not the password at all";
const NEW_PASSWORD: &str = "violet tandem quarry lighthouse";
const WRONG_TEXT: &str = "That username or password is not right.";
const LOCKED_SUBJECT: &str = "account was locked";

/// Each named body on both engines, spawned with `overlay` laid over the defaults.
macro_rules! both_backends_with {
    ($overlay:expr, $($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::helpers::{Backend, TestApp, postgres_available};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(TestApp::spawn_with(Backend::Sqlite, $overlay).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !postgres_available() {
                    return;
                }
                super::$name(TestApp::spawn_with(Backend::Postgres, $overlay).await).await;
            }
        }
    )+};
}

both_backends!(
    five_wrong_passwords_lock_and_the_right_one_then_gets_the_same_page,
    a_lock_ends_with_time_and_the_next_one_lasts_twice_as_long,
    the_owner_is_mailed_the_first_time_only,
    a_password_reset_lifts_the_lock,
    an_admin_unlock_lifts_the_lock,
    the_unlock_command_says_what_it_did,
    wrong_second_factor_codes_count_towards_the_same_lock,
    an_unknown_username_is_never_locked,
    a_hundred_failures_in_a_row_lock_until_a_reset,
);

both_backends_with!(
    "[security]\nlockout_threshold = 25\n",
    parallel_wrong_passwords_are_each_counted_once,
);

fn origin() -> Origin {
    Origin {
        ip: Some("192.0.2.1".into()),
        user_agent: Some("tests".into()),
    }
}

/// One sign-in attempt through the page, as a browser makes it.
async fn attempt(app: &TestApp, login: &str, password: &str) -> (StatusCode, String) {
    let html = app.get("/login").await.text().await.expect("page");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/login",
            &[("csrf", &csrf), ("login", login), ("password", password)],
        )
        .await;
    let status = r.status();
    let retry_after = r.headers().get("retry-after").cloned();
    let body = r.text().await.expect("body");
    if status == StatusCode::TOO_MANY_REQUESTS {
        assert!(retry_after.is_some(), "a lock says when to come back");
    }
    (status, body)
}

/// Signs in with the right password, then signs out again (a fresh cookie jar is not
/// needed: the session id changes at sign-in).
async fn signs_in(app: &TestApp) -> bool {
    let (status, _) = attempt(app, "ada", PASSWORD).await;
    status == StatusCode::SEE_OTHER
}

async fn lock(app: &TestApp) -> String {
    for i in 1..5 {
        let (status, body) = attempt(app, "ada", WRONG).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "attempt {i}: {body}");
        assert!(body.contains(WRONG_TEXT), "{body}");
    }
    let (status, body) = attempt(app, "ada", WRONG).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    body
}

async fn events(app: &TestApp, user: uuid::Uuid, kind: &str) -> usize {
    app.state
        .audit
        .for_user(user, 200)
        .await
        .expect("events")
        .iter()
        .filter(|e| e.event == kind)
        .count()
}

async fn five_wrong_passwords_lock_and_the_right_one_then_gets_the_same_page(app: TestApp) {
    let ada = app.add_user("ada").await;
    let body = lock(&app).await;
    assert!(
        body.contains("Too many attempts. Try again in 1 minute, or")
            && body.contains("<a href=\"/reset-password\">reset your password</a>"),
        "{body}"
    );
    let (right_status, right) = attempt(&app, "ada", PASSWORD).await;
    let (wrong_status, wrong) = attempt(&app, "ada", WRONG).await;
    assert_eq!(right_status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        (right_status, &right),
        (wrong_status, &wrong),
        "the page must not say whether the password was right"
    );
    // The same session signs in by email too: still locked, it is one account.
    let (status, _) = attempt(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(events(&app, ada.id, "account_locked").await, 1);
    let until = app.state.accounts.locked_until(ada.id).await.expect("read");
    assert_lasts_a_minute(&app, until);
}

/// `until` is about a minute from now (the test clock follows the wall clock, and a
/// loaded machine takes its time between the lock and this look).
fn assert_lasts_a_minute(app: &TestApp, until: Option<i64>) {
    let left = until.expect("locked") - app.state.clock.now();
    assert!((30..=60).contains(&left), "{left} s left");
}

async fn a_lock_ends_with_time_and_the_next_one_lasts_twice_as_long(app: TestApp) {
    app.add_user("ada").await;
    lock(&app).await;
    // Margins of ten seconds and more: the test clock also moves with the wall.
    app.clock.advance(Duration::from_secs(45));
    assert!(!signs_in(&app).await, "still locked after 45 s");
    app.clock.advance(Duration::from_secs(16));
    // The lock is over, but not the streak: five more wrong ones lock for 2 minutes.
    let body = lock(&app).await;
    assert!(body.contains("Try again in 2 minutes"), "{body}");
    app.clock.advance(Duration::from_secs(61));
    assert!(!signs_in(&app).await, "still locked after 61 s of 120");
    let body = lock_again_or_page(&app).await;
    assert!(body.contains("Try again in 1 minute"), "{body}");
    app.clock.advance(Duration::from_secs(60));
    assert!(signs_in(&app).await, "the lock is over after 120 s");
    // A complete sign-in ended the streak: the next lock is a minute again.
    let body = lock(&app).await;
    assert!(body.contains("Try again in 1 minute,"), "{body}");
}

/// The page a locked account gets now.
async fn lock_again_or_page(app: &TestApp) -> String {
    let (status, body) = attempt(app, "ada", WRONG).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    body
}

async fn the_owner_is_mailed_the_first_time_only(app: TestApp) {
    app.add_user("ada").await;
    lock(&app).await;
    let mail = app.mail_to("ada@example.com").await;
    assert!(mail.subject.contains(LOCKED_SUBJECT), "{}", mail.subject);
    assert!(mail.text.contains("locked for 1 minute"), "{}", mail.text);
    assert!(mail.text.contains("/reset-password"), "{}", mail.text);
    assert!(!mail.text.contains(WRONG), "never what was typed");
    app.clock.advance(Duration::from_secs(61));
    lock(&app).await;
    app.mail_settled().await;
    let locked = app
        .mails_to("ada@example.com")
        .iter()
        .filter(|m| m.subject.contains(LOCKED_SUBJECT))
        .count();
    assert_eq!(
        locked, 1,
        "a re-lock within the streak sends no second mail"
    );
}

async fn a_password_reset_lifts_the_lock(app: TestApp) {
    let ada = app.add_user("ada").await;
    lock(&app).await;
    let accounts = &app.state.accounts;
    accounts
        .request_reset("ada", &origin())
        .await
        .expect("asked");
    // The first mail said the account was locked; the second is the link.
    let mail = app.nth_mail_to("ada@example.com", 2).await;
    assert!(mail.subject.contains("Reset your"), "{}", mail.subject);
    let link = mail.link();
    let token = link.split("token=").nth(1).expect("token");
    let link = ResetLink::from_token(token).expect("ours");
    accounts
        .reset_password(&link, Secret::new(NEW_PASSWORD), &origin())
        .await
        .expect("reset");
    assert_eq!(accounts.locked_until(ada.id).await.expect("read"), None);
    assert_eq!(events(&app, ada.id, "account_unlocked").await, 1);
    let (status, body) = attempt(&app, "ada", NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    // The streak went with it: four wrong ones do not lock.
    for _ in 0..4 {
        assert_eq!(attempt(&app, "ada", WRONG).await.0, StatusCode::BAD_REQUEST);
    }
}

async fn an_admin_unlock_lifts_the_lock(app: TestApp) {
    let ada = app.add_user("ada").await;
    lock(&app).await;
    let (user, was_locked) = portcullis::commands::user::user_unlock(&app.config(), "ADA")
        .await
        .expect("unlock");
    assert_eq!((user.id, was_locked), (ada.id, true));
    assert!(signs_in(&app).await);
    let events = app.state.audit.for_user(ada.id, 50).await.expect("events");
    let unlocked = events
        .iter()
        .find(|e| e.event == "account_unlocked")
        .expect("recorded");
    assert_eq!(unlocked.actor, "cli");
    let (_, was_locked) = portcullis::commands::user::user_unlock(&app.config(), "ada")
        .await
        .expect("unlock");
    assert!(!was_locked, "nothing to lift the second time");
    let e = portcullis::commands::user::user_unlock(&app.config(), "nobody\u{1b}[2J")
        .await
        .expect_err("unknown");
    assert!(e.to_string().contains("no account"), "{e}");
    assert!(!e.to_string().contains('\u{1b}'), "{e}");
}

async fn wrong_second_factor_codes_count_towards_the_same_lock(app: TestApp) {
    let ada = app.add_user("ada").await;
    let accounts = &app.state.accounts;
    // Two wrong passwords, then three wrong codes (as the second-factor page reports
    // them): five in a row.
    for _ in 0..2 {
        assert_eq!(attempt(&app, "ada", WRONG).await.0, StatusCode::BAD_REQUEST);
    }
    for _ in 0..2 {
        let locked = accounts
            .count_failure(ada.id, &origin())
            .await
            .expect("count");
        assert_eq!(locked, None);
    }
    let until = accounts
        .count_failure(ada.id, &origin())
        .await
        .expect("count");
    assert_lasts_a_minute(&app, until);
    // Locked: further failures do not count and say until when.
    let again = accounts
        .count_failure(ada.id, &origin())
        .await
        .expect("count");
    assert_eq!(again, until);
    assert!(!signs_in(&app).await);
    assert_eq!(events(&app, ada.id, "account_locked").await, 1);
    // count_success during a lock lifts nothing.
    accounts.count_success(ada.id).await.expect("success");
    assert_eq!(accounts.locked_until(ada.id).await.expect("read"), until);
}

async fn an_unknown_username_is_never_locked(app: TestApp) {
    for _ in 0..8 {
        let (status, body) = attempt(&app, "nobody", WRONG).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains(WRONG_TEXT));
    }
}

async fn parallel_wrong_passwords_are_each_counted_once(app: TestApp) {
    let ada = app.add_user("ada").await;
    // 24 at once, over as many connections as the pool gives: one short of the lock.
    let attempts: Vec<_> = (0..24)
        .map(|_| {
            let accounts = app.state.accounts.clone();
            tokio::spawn(async move {
                accounts
                    .login("ada", Secret::new(WRONG), &origin(), None)
                    .await
            })
        })
        .collect();
    for a in attempts {
        let outcome = a.await.expect("joined");
        assert!(
            matches!(
                outcome,
                Err(portcullis::accounts::LoginError::InvalidCredentials)
            ),
            "{outcome:?}"
        );
    }
    let accounts = &app.state.accounts;
    assert_eq!(accounts.locked_until(ada.id).await.expect("read"), None);
    // The 25th locks: had one been lost it would not, had one counted twice the
    // lock would have come already.
    let outcome = accounts
        .login("ada", Secret::new(WRONG), &origin(), None)
        .await;
    assert!(
        matches!(
            outcome,
            Err(portcullis::accounts::LoginError::Locked { .. })
        ),
        "{outcome:?}"
    );
    assert_eq!(events(&app, ada.id, "account_locked").await, 1);
}

/// `portcullis <args>` over the app's database; exit code, stdout, stderr.
async fn portcullis(app: &TestApp, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args(args)
        .env("PORTCULLIS_DATABASE_URL", &app.database_url)
        .env("PORTCULLIS_ISSUER", &app.base)
        .env("RUST_LOG", "warn");
    let out = tokio::task::spawn_blocking(move || command.output().expect("run portcullis"))
        .await
        .expect("join");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn the_unlock_command_says_what_it_did(app: TestApp) {
    app.add_user("ada").await;
    lock(&app).await;
    let (code, stdout, stderr) = portcullis(&app, &["user", "unlock", "--username", "ada"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "unlocked ada; they may sign in again");
    assert!(signs_in(&app).await);
    let (code, stdout, _) = portcullis(&app, &["user", "unlock", "--username", "ada"]).await;
    assert_eq!(code, Some(0));
    assert!(stdout.contains("was not locked"), "{stdout}");
    let (code, stdout, stderr) =
        portcullis(&app, &["user", "unlock", "--username", "nobody"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("no account has the username `nobody`"),
        "{stderr}"
    );
}

/// NIST SP 800-63B 5.2.2: no more than 100 consecutive failed attempts on one account.
/// The hundredth failure of a streak locks it until a reset or an unlock: waiting does
/// not end that lock, and the page says what does.
async fn a_hundred_failures_in_a_row_lock_until_a_reset(app: TestApp) {
    let ada = app.add_user("ada").await;
    let mut failures = 0;
    while failures < 100 {
        let until = app
            .state
            .accounts
            .count_failure(ada.id, &origin())
            .await
            .expect("count");
        failures += 1;
        if let Some(until) = until
            && failures < 100
        {
            // Wait the lock out, as a patient attacker would.
            let wait = until - app.state.clock.now() + 1;
            assert!(wait <= 3601, "at most an hour before the hundredth: {wait}");
            app.clock.advance(Duration::from_secs(wait.max(0) as u64));
        }
    }
    let until = app
        .state
        .accounts
        .locked_until(ada.id)
        .await
        .expect("read")
        .expect("locked");
    assert!(portcullis::accounts::lockout::until_reset(
        until - app.state.clock.now()
    ));
    app.clock.advance(Duration::from_secs(30 * 86_400));
    let html = app.get("/login").await.text().await.expect("page");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/login",
            &[("csrf", &csrf), ("login", "ada"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "a month later");
    assert!(
        r.headers().get("retry-after").is_none(),
        "no time to wait for"
    );
    let body = r.text().await.expect("body");
    assert!(
        body.contains("stays locked until its password is reset"),
        "{body}"
    );
    app.state
        .accounts
        .unlock_by_admin("ada")
        .await
        .expect("unlock");
    assert!(
        signs_in(&app).await,
        "an admin's unlock lets the right password in"
    );
}
