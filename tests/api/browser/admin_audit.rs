//! The console's audit log, keys and overview in a real browser: an admin filters the
//! log to one person's failed sign-ins, and schedules a key rotation and sees the new
//! key published at once. Screenshots of each page at desktop and phone size.

use std::path::PathBuf;

use super::{
    Browser,
    admin::sign_in_to_console,
    screenshots::{DESKTOP, PHONE, shoot, viewport},
    with_browser,
};
use crate::{
    admin::add_admin,
    both_backends,
    helpers::{Backend, TestApp},
};

both_backends!(
    an_admin_filters_the_log_to_one_persons_failed_sign_ins,
    an_admin_schedules_a_rotation_and_sees_the_new_key,
);

async fn fail_sign_in(b: &Browser, app: &TestApp, login: &str) {
    b.goto(&app.url("/login")).await;
    b.fill_login(login, "not the password").await;
    b.find("#login-error").await;
}

/// Fills the audit filter form and submits it.
async fn filter(b: &Browser, user: &str, event: &str, outcome: &str) {
    let field = b.find("#user").await;
    field.clear().await.expect("clear");
    field.send_keys(user).await.expect("type");
    b.find("#event")
        .await
        .select_by_value(event)
        .await
        .expect("event");
    b.find("#outcome")
        .await
        .select_by_value(outcome)
        .await
        .expect("outcome");
    b.click_button("Filter").await;
}

async fn an_admin_filters_the_log_to_one_persons_failed_sign_ins(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        app.add_user("bob").await;
        add_admin(&app, "grace").await;
        fail_sign_in(&b, &app, "ada").await;
        fail_sign_in(&b, &app, "ada").await;
        fail_sign_in(&b, &app, "bob").await;
        sign_in_to_console(&app, &b, "grace", "/admin/audit").await;
        assert_eq!(b.text("h1").await, "Audit log");
        filter(&b, "ada", "sign_in", "failure").await;
        let url = b.url().await;
        assert!(url.query().unwrap_or("").contains("user=ada"), "{url}");
        assert_eq!(b.text("#audit-count").await, "Events 1–2 of 2.");
        let rows = b
            .client
            .find_all(fantoccini::Locator::Css("#audit-events tbody tr"))
            .await
            .expect("rows");
        assert_eq!(rows.len(), 2);
        for row in rows {
            let text = row.text().await.expect("row");
            assert!(
                text.contains("Signed in") && text.contains("Failed") && text.contains("ada"),
                "{text}"
            );
        }
        // The form keeps what was asked.
        assert_eq!(b.value("#user").await, "ada");
        assert_eq!(b.value("#event").await, "sign_in");
        // A user who does not exist: the error by the field, what was typed kept.
        filter(&b, "nobody", "sign_in", "failure").await;
        assert_eq!(
            b.find("#user")
                .await
                .attr("aria-invalid")
                .await
                .expect("attr")
                .as_deref(),
            Some("true")
        );
        assert!(
            b.text("#user-error").await.contains("no account"),
            "{}",
            b.text("#user-error").await
        );
        assert_eq!(b.value("#user").await, "nobody");
    })
    .await;
}

async fn an_admin_schedules_a_rotation_and_sees_the_new_key(app: TestApp) {
    with_browser(app, |app, b| async move {
        add_admin(&app, "grace").await;
        let before = app.state.keys.signing_kid();
        sign_in_to_console(&app, &b, "grace", "/admin/keys").await;
        assert_eq!(b.text("h1").await, "Signing keys");
        b.click_button("Schedule a rotation").await;
        assert_eq!(b.url().await.path(), "/admin/keys");
        assert!(b.text("#keys-notice").await.contains("is published now"));
        let states = app.state.keys.states(app.clock.now());
        let new = states
            .iter()
            .find(|k| k.kid != before)
            .expect("a new key in the ring");
        let row = b.find(&format!("tr[data-kid='{}']", new.kid)).await;
        assert!(row.text().await.expect("row").contains("published"));
        assert_eq!(
            app.state.keys.signing_kid(),
            before,
            "the old key still signs"
        );
        // A stale sign-in may not replace the keys.
        app.clock.advance(std::time::Duration::from_secs(16 * 60));
        b.goto(&app.url("/admin/keys/replace")).await;
        assert_eq!(b.text("h1").await, "Confirm it’s you");
        assert_eq!(app.state.keys.signing_kid(), before);
    })
    .await;
}

/// Each of the pages at desktop and phone size, into PORTCULLIS_SCREENSHOTS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_audit() {
    let Some(dir) = std::env::var_os("PORTCULLIS_SCREENSHOTS").map(PathBuf::from) else {
        return;
    };
    std::fs::create_dir_all(&dir).expect("folder");
    let app = TestApp::spawn(Backend::Sqlite).await;
    with_browser(app, move |app, b| async move {
        app.add_user("ada").await;
        add_admin(&app, "grace").await;
        fail_sign_in(&b, &app, "ada").await;
        fail_sign_in(&b, &app, "nobody").await;
        sign_in_to_console(&app, &b, "grace", "/admin").await;
        let pages = [
            ("admin-overview", "/admin".to_owned()),
            ("admin-audit", "/admin/audit".to_owned()),
            (
                "admin-audit-filtered",
                "/admin/audit?user=ada&event=sign_in&outcome=failure".to_owned(),
            ),
            (
                "admin-audit-empty",
                "/admin/audit?event=keys_replaced".to_owned(),
            ),
            (
                "admin-audit-error",
                "/admin/audit?from=2026-12-02T13:00&to=2026-12-01T13:00".to_owned(),
            ),
            ("admin-keys", "/admin/keys".to_owned()),
            ("admin-keys-replace", "/admin/keys/replace".to_owned()),
        ];
        for (name, path) in &pages {
            b.goto(&app.url(path)).await;
            viewport(&b, DESKTOP).await;
            shoot(&b, &dir, &format!("{name}.png")).await;
            viewport(&b, PHONE).await;
            shoot(&b, &dir, &format!("{name}-mobile.png")).await;
        }
        viewport(&b, DESKTOP).await;
        b.goto(&app.url("/admin/keys")).await;
        b.click_button("Schedule a rotation").await;
        shoot(&b, &dir, "admin-keys-scheduled.png").await;
    })
    .await;
}
