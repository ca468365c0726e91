//! `portcullis user list | set-password | disable | enable`, and the password policy at
//! `user add`: the real binary against the database of a running server, so what an
//! admin changes at the command line is what the server sees at once (sign-in refused,
//! tokens dead, sessions ended).

use std::{
    io::Write,
    process::{Command, Stdio},
};

use portcullis::storage::{AuditRecord, StoredUser};
use serde_json::Value;

use crate::{
    both_backends,
    helpers::{PASSWORD, TestApp, hidden, web_app},
    rp::Rp,
};

both_backends!(
    user_list_shows_every_account_and_its_state_as_text_and_json,
    set_password_replaces_the_password_and_ends_every_session_and_token,
    a_refused_password_says_why_and_changes_nothing,
    disable_signs_out_everywhere_and_enable_lets_the_person_back_in,
    unknown_and_deleted_accounts_get_one_line_and_exit_code_2,
    user_add_applies_the_password_policy,
);

const CALLBACK: &str = "http://127.0.0.1:1/cb";
const NEW_PASSWORD: &str = "tangerine orbit whisper canal";

/// What one run of the binary left.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn assert_ok(&self) {
        assert_eq!(self.code, Some(0), "{}", self.stderr);
    }

    /// Failed with exit code 2 and one line on standard error that contains `says`.
    fn assert_refused(&self, says: &str) {
        assert_eq!(self.code, Some(2), "exit code: {}", self.stderr);
        assert_eq!(self.stderr.trim().lines().count(), 1, "{}", self.stderr);
        assert!(self.stderr.contains(says), "{says:?} in {}", self.stderr);
        assert!(self.stdout.is_empty(), "{}", self.stdout);
    }
}

/// Runs `portcullis <args>` over the app's database and issuer, with `stdin` as its
/// standard input.
async fn portcullis(app: &TestApp, args: &[&str], stdin: &str) -> Ran {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args(args)
        .env("PORTCULLIS_DATABASE_URL", &app.database_url)
        .env("PORTCULLIS_ISSUER", &app.base)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("spawn portcullis");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    })
    .await
    .expect("join");
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Whether `login` and `password` sign in at /login, in a browser of their own; the
/// page's words when they do not.
async fn signs_in(app: &TestApp, login: &str, password: &str) -> Result<(), String> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = browser.get(app.url("/login")).send().await.expect("get");
    let csrf = hidden(&page.text().await.expect("html"), "csrf").expect("csrf");
    let response = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("login", login),
            ("password", password),
        ])
        .send()
        .await
        .expect("post");
    // Signed in with no app waiting: on to the account page.
    let signed_in = response.status() == reqwest::StatusCode::SEE_OTHER
        && response.headers()["location"] == "/account";
    let html = response.text().await.expect("html");
    if signed_in {
        Ok(())
    } else if html.contains("is not right") {
        Err("wrong username or password".into())
    } else if html.contains("This account is disabled") {
        Err("disabled".into())
    } else {
        Err(html)
    }
}

/// What a signed-in person's app holds, and the person.
struct SignedIn {
    user: StoredUser,
    client_id: String,
    secret: String,
    access: String,
    refresh: String,
}

impl SignedIn {
    fn auth(&self) -> Option<(&str, &str)> {
        Some((self.client_id.as_str(), self.secret.as_str()))
    }

    /// Whether the app can still use its refresh token (which rotates on success).
    async fn refresh_works(&mut self, app: &TestApp) -> bool {
        let (status, _, body) = app
            .post_token(
                self.auth(),
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &self.refresh),
                ],
            )
            .await;
        if status == 200 {
            self.refresh = body["refresh_token"].as_str().expect("rotated").to_owned();
            true
        } else {
            assert_eq!(body["error"], "invalid_grant", "{body}");
            false
        }
    }

    async fn access_is_active(&self, app: &TestApp) -> bool {
        let (_, body) = app
            .introspect(self.auth(), &[("token", self.access.as_str())])
            .await;
        body["active"] == true
    }

    async fn sessions(&self, app: &TestApp) -> usize {
        app.state
            .store
            .sessions
            .list_for_user(self.user.id, app.clock.now())
            .await
            .expect("sessions")
            .len()
    }
}

/// Adds `username`, signs them in at a web app through the pages (leaving a browser
/// session in `app.http`) and exchanges the code for tokens.
async fn signed_in(app: &TestApp, username: &str) -> SignedIn {
    let user = app.add_user(username).await;
    let (client, secret) = app.add_client(web_app(CALLBACK)).await;
    let secret = secret.expect("secret");
    let rp = Rp::discover(app, &client.client_id, Some(&secret), CALLBACK).await;
    let (tokens, _) = rp
        .sign_in_and_exchange(app, &["openid", "email"], username)
        .await;
    let signed_in = SignedIn {
        user,
        client_id: client.client_id,
        secret,
        access: openidconnect::OAuth2TokenResponse::access_token(&tokens)
            .secret()
            .clone(),
        refresh: openidconnect::OAuth2TokenResponse::refresh_token(&tokens)
            .expect("refresh token")
            .secret()
            .clone(),
    };
    assert!(signed_in.access_is_active(app).await);
    assert_eq!(signed_in.sessions(app).await, 1);
    signed_in
}

async fn events(app: &TestApp, user: &StoredUser) -> Vec<AuditRecord> {
    app.state.audit.for_user(user.id, 50).await.expect("events")
}

async fn user_list_shows_every_account_and_its_state_as_text_and_json(app: TestApp) {
    let empty = portcullis(&app, &["user", "list"], "").await;
    empty.assert_ok();
    assert!(empty.stdout.contains("no users yet"), "{}", empty.stdout);
    let empty = portcullis(&app, &["user", "list", "--json"], "").await;
    assert_eq!(empty.stdout.trim(), "[]");

    let store = &app.state.store;
    let now = app.clock.now();
    let ada = portcullis::commands::user_add(
        &app.config(),
        "ada",
        "ada@example.com",
        PASSWORD.into(),
        &["admin".into(), "ops".into()],
    )
    .await
    .expect("ada");
    let bob = app.add_user("bob").await;
    let carol = app.add_user("carol").await;
    let mut tx = store.db.begin_write().await.expect("begin");
    assert!(
        store
            .users
            .confirm_email_in(&mut tx, ada.id, &ada.email, now)
            .await
            .expect("confirm")
    );
    store
        .users
        .tombstone_in(&mut tx, carol.id, now)
        .await
        .expect("tombstone");
    tx.commit().await.expect("commit");
    portcullis(&app, &["user", "disable", "--username", "bob"], "")
        .await
        .assert_ok();

    let text = portcullis(&app, &["user", "list"], "").await;
    text.assert_ok();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", text.stdout);
    assert!(
        lines[0].starts_with(
            "ada  ada@example.com  (active; email verified; roles: admin, ops)  created 20"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("bob  bob@example.com  (disabled; email not verified; no roles)"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("carol  -  (deleted;"),
        "a tombstone shows as deleted: {}",
        lines[2]
    );

    let json = portcullis(&app, &["user", "list", "--json"], "").await;
    json.assert_ok();
    assert!(
        !json.stdout.contains("argon2") && !json.stdout.contains("password"),
        "never a password hash: {}",
        json.stdout
    );
    let list: Value = serde_json::from_str(json.stdout.trim()).expect("one JSON array");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 3);
    let (a, b, c) = (&list[0], &list[1], &list[2]);
    assert_eq!(a["id"], ada.id.to_string());
    assert_eq!(a["username"], "ada");
    assert_eq!(a["email"], "ada@example.com");
    assert_eq!(a["email_verified"], true);
    assert_eq!(a["state"], "active");
    assert_eq!(a["roles"], serde_json::json!(["admin", "ops"]));
    assert_eq!(a["self_registered"], false);
    assert!(
        a["created_at"].as_str().expect("time").ends_with('Z'),
        "{a}"
    );
    assert!(a["deleted_at"].is_null());
    assert_eq!(b["id"], bob.id.to_string());
    assert_eq!(b["state"], "disabled");
    assert_eq!(b["email_verified"], false);
    assert_eq!(c["state"], "deleted");
    assert!(c["email"].is_null(), "{c}");
    assert!(c["deleted_at"].is_string(), "{c}");
}

async fn set_password_replaces_the_password_and_ends_every_session_and_token(app: TestApp) {
    let mut ada = signed_in(&app, "ada").await;
    // Any case: the username is found by its key.
    let ran = portcullis(
        &app,
        &[
            "user",
            "set-password",
            "--username",
            "ADA",
            "--password-stdin",
        ],
        &format!("{NEW_PASSWORD}\n"),
    )
    .await;
    ran.assert_ok();
    assert!(
        ran.stdout.contains("set the password of ada") && ran.stdout.contains("1 session"),
        "{}",
        ran.stdout
    );
    assert_eq!(ada.sessions(&app).await, 0, "signed out everywhere");
    assert!(
        !ada.access_is_active(&app).await,
        "the access token is dead"
    );
    assert!(!ada.refresh_works(&app).await, "the refresh token is dead");
    assert_eq!(
        signs_in(&app, "ada", PASSWORD).await,
        Err("wrong username or password".into()),
        "the old password no longer works"
    );
    assert_eq!(signs_in(&app, "ada", NEW_PASSWORD).await, Ok(()));

    let events = events(&app, &ada.user).await;
    let set = events
        .iter()
        .find(|e| e.event == "password_set_by_admin")
        .expect("an audit event");
    assert_eq!(set.actor, "cli");
    assert_eq!(set.outcome, "success");
    assert_eq!(set.detail["sessions_ended"], 1);
    assert!(!set.detail.to_string().contains(NEW_PASSWORD));
    let mail = app.mail_to("ada@example.com").await;
    assert!(mail.text.contains("was just changed"), "{}", mail.text);
}

async fn a_refused_password_says_why_and_changes_nothing(app: TestApp) {
    let mut ada = signed_in(&app, "ada").await;
    let hash_before = ada.user.password_hash.clone();
    let set = [
        "user",
        "set-password",
        "--username",
        "ada",
        "--password-stdin",
    ];
    for (password, says) in [
        (
            "qwertyuiop",
            "password refused: This password is one of the most common",
        ),
        ("rfkbybyuhfl", "has appeared in a data breach"),
        ("ada1815ada!", "built from your username"),
        ("ada@example", "built from your email address"),
        ("short", "Use at least 10 characters"),
        ("abcdefghijkl", "Sequences like abc"),
        ("tangerine\torbit whisper", "control character"),
        ("", "the password is empty"),
    ] {
        portcullis(&app, &set, &format!("{password}\n"))
            .await
            .assert_refused(says);
    }
    let long = "tangerine orbit whisper canal ".repeat(9);
    portcullis(&app, &set, &format!("{long}\n"))
        .await
        .assert_refused("Use at most 256 characters");

    let now = app.state.accounts.user(ada.user.id).await.expect("read");
    assert_eq!(
        now.expect("still there").password_hash.expose(),
        hash_before.expose(),
        "the password is as it was"
    );
    assert_eq!(signs_in(&app, "ada", PASSWORD).await, Ok(()));
    assert_eq!(
        ada.sessions(&app).await,
        2,
        "the first session is still there"
    );
    assert!(ada.access_is_active(&app).await);
    assert!(
        ada.refresh_works(&app).await,
        "the refresh token still works"
    );
    assert!(
        !events(&app, &ada.user)
            .await
            .iter()
            .any(|e| e.event == "password_set_by_admin"),
        "no event for a refusal"
    );
    assert_eq!(app.state.store.outbox.pending().await.expect("outbox"), 0);
    assert!(app.mails_to("ada@example.com").is_empty());
}

async fn disable_signs_out_everywhere_and_enable_lets_the_person_back_in(app: TestApp) {
    let mut ada = signed_in(&app, "élodie").await;
    // Decomposed and upper case: the same username once folded.
    let decomposed = "E\u{301}LODIE";
    let ran = portcullis(&app, &["user", "disable", "--username", decomposed], "").await;
    ran.assert_ok();
    assert!(
        ran.stdout.contains("disabled élodie; signed out 1 session"),
        "{}",
        ran.stdout
    );
    assert_eq!(ada.sessions(&app).await, 0, "signed out everywhere");
    assert!(!ada.access_is_active(&app).await);
    assert!(!ada.refresh_works(&app).await);
    assert_eq!(
        signs_in(&app, "élodie", PASSWORD).await,
        Err("disabled".into())
    );
    let again = portcullis(&app, &["user", "disable", "--username", "élodie"], "").await;
    again.assert_ok();
    assert!(
        again.stdout.contains("already disabled"),
        "{}",
        again.stdout
    );

    let ran = portcullis(&app, &["user", "enable", "--username", "élodie"], "").await;
    ran.assert_ok();
    assert_eq!(ran.stdout.trim(), "enabled élodie");
    assert_eq!(signs_in(&app, "élodie", PASSWORD).await, Ok(()));
    assert!(
        !ada.refresh_works(&app).await,
        "tokens revoked at disable stay revoked once enabled"
    );
    let again = portcullis(&app, &["user", "enable", "--username", "élodie"], "").await;
    assert!(again.stdout.contains("already enabled"), "{}", again.stdout);

    let events = events(&app, &ada.user).await;
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.event.starts_with("account_"))
        .map(|e| (e.event.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [("account_enabled", "cli"), ("account_disabled", "cli")],
        "one event each, newest first; nothing for the no-ops"
    );
}

async fn unknown_and_deleted_accounts_get_one_line_and_exit_code_2(app: TestApp) {
    let carol = app.add_user("carol").await;
    let mut tx = app.state.store.db.begin_write().await.expect("begin");
    app.state
        .store
        .users
        .tombstone_in(&mut tx, carol.id, app.clock.now())
        .await
        .expect("tombstone");
    tx.commit().await.expect("commit");
    for name in ["nobody", "carol"] {
        let says = if name == "carol" {
            "`carol` is a deleted account".to_owned()
        } else {
            format!("no account has the username `{name}`")
        };
        portcullis(
            &app,
            &[
                "user",
                "set-password",
                "--username",
                name,
                "--password-stdin",
            ],
            &format!("{NEW_PASSWORD}\n"),
        )
        .await
        .assert_refused(&says);
        for verb in ["disable", "enable"] {
            portcullis(&app, &["user", verb, "--username", name], "")
                .await
                .assert_refused(&says);
        }
    }
    // An email address is not a username here: the change lands on the account named.
    app.add_user("dora").await;
    portcullis(
        &app,
        &["user", "disable", "--username", "dora@example.com"],
        "",
    )
    .await
    .assert_refused("no account has the username `dora@example.com`");
    assert_eq!(signs_in(&app, "dora", PASSWORD).await, Ok(()));
}

async fn user_add_applies_the_password_policy(app: TestApp) {
    let add = |name: &'static str| {
        [
            "user",
            "add",
            "--username",
            name,
            "--email",
            "grace@example.com",
            "--password-stdin",
        ]
    };
    for (password, says) in [
        ("short", "Use at least 10 characters"),
        ("password123", "password refused:"),
        ("gracehopper1906", "built from your username"),
    ] {
        portcullis(&app, &add("gracehopper"), &format!("{password}\n"))
            .await
            .assert_refused(says);
    }
    let list = portcullis(&app, &["user", "list", "--json"], "").await;
    assert_eq!(list.stdout.trim(), "[]", "nothing was written");
    let ok = portcullis(&app, &add("grace"), &format!("{NEW_PASSWORD}\n")).await;
    ok.assert_ok();
    assert!(ok.stdout.contains("added user grace"), "{}", ok.stdout);
    assert_eq!(signs_in(&app, "grace", NEW_PASSWORD).await, Ok(()));
}
