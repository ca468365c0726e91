//! The audit trail: what is recorded for sign-in, consent, sign-out and detected
//! replays, that an event commits or rolls back with its change, that nothing secret
//! goes in, and that retention purges old events — on both engines.

use std::time::Duration;

use openidconnect::OAuth2TokenResponse;
use portcullis::audit::{Actor, Event, EventKind};

use crate::{
    both_backends,
    helpers::{PASSWORD, TestApp, web_app},
    rp::Rp,
};

const CALLBACK: &str = "http://127.0.0.1:1/callback";

both_backends!(
    a_sign_in_consent_reuse_and_sign_out_leave_their_events,
    an_event_commits_or_rolls_back_with_its_change,
    events_past_retention_are_purged,
);

async fn a_sign_in_consent_reuse_and_sign_out_leave_their_events(app: TestApp) {
    let ada = app.add_user("ada").await;
    let (client, secret) = app.add_client(web_app(CALLBACK)).await;
    let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;
    let (tokens, _) = rp.sign_in_and_exchange(&app, &["openid"], "ada").await;
    let refresh = tokens.refresh_token().expect("refresh").secret().clone();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    assert_eq!(app.post_token(rp.auth(), &form).await.0, 200);
    // The rotated-out token again: reuse, which revokes the grant and is recorded.
    assert_eq!(app.post_token(rp.auth(), &form).await.0, 400);
    let logout = app.get("/logout").await.text().await.expect("html");
    let csrf = crate::helpers::hidden(&logout, "csrf").expect("confirm form");
    let r = app
        .post_form("/logout", &[("csrf", &csrf), ("confirm", "yes")])
        .await;
    assert!(r.status().is_success(), "{}", r.status());

    let events = app.state.audit.for_user(ada.id, 50).await.expect("events");
    let kinds: Vec<&str> = events.iter().rev().map(|e| e.event.as_str()).collect();
    for kind in [
        "sign_in",
        "consent_given",
        "refresh_token_reuse",
        "sign_out",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let consent = events
        .iter()
        .find(|e| e.event == "consent_given")
        .expect("consent");
    assert_eq!(
        consent.client_id.as_deref(),
        Some(client.client_id.as_str())
    );
    assert_eq!(consent.detail["scope"], "openid");
    assert_eq!(consent.actor, format!("user:{}", ada.id));
    let reuse = events
        .iter()
        .find(|e| e.event == "refresh_token_reuse")
        .expect("reuse");
    assert_eq!(
        (reuse.actor.as_str(), reuse.outcome.as_str()),
        ("system", "failure")
    );
    let sign_in = events
        .iter()
        .find(|e| e.event == "sign_in")
        .expect("sign-in");
    assert_eq!(
        sign_in.ip.as_deref(),
        Some("127.0.0.1"),
        "where it came from"
    );
    assert!(sign_in.user_agent.is_some());
    let all = format!("{events:?}");
    assert!(
        !all.contains(PASSWORD) && !all.contains(&refresh),
        "no secrets: {all}"
    );

    // A wrong password is recorded against the account, with its reason.
    let page = app.get("/login").await.text().await.expect("html");
    let csrf = crate::helpers::hidden(&page, "csrf").expect("csrf");
    app.post_form(
        "/login",
        &[
            ("csrf", &csrf),
            ("login", "ADA"),
            ("password", "wrong password here"),
        ],
    )
    .await;
    let failed = app.state.audit.for_user(ada.id, 1).await.expect("events");
    assert_eq!(failed[0].event, "sign_in");
    assert_eq!(failed[0].outcome, "failure");
    assert_eq!(failed[0].detail["reason"], "invalid_credentials");
    assert_eq!(failed[0].actor, "anonymous");
    assert!(!format!("{failed:?}").contains("wrong password here"));
}

async fn an_event_commits_or_rolls_back_with_its_change(app: TestApp) {
    let ada = app.add_user("ada").await;
    let now = app.clock.now();
    let event = || Event::new(EventKind::AccountDisabled, Actor::Cli).about(ada.id);
    let mut tx = app.state.store.db.begin_write().await.expect("tx");
    app.state
        .store
        .users
        .set_disabled_in(&mut tx, ada.id, true, now)
        .await
        .expect("disable");
    app.state
        .audit
        .record_in(&mut tx, event(), now)
        .await
        .expect("event");
    drop(tx);
    assert!(
        app.state
            .audit
            .for_user(ada.id, 10)
            .await
            .expect("events")
            .is_empty()
    );
    assert!(app.state.accounts.is_active(ada.id).await.expect("active"));

    let mut tx = app.state.store.db.begin_write().await.expect("tx");
    app.state
        .store
        .users
        .set_disabled_in(&mut tx, ada.id, true, now)
        .await
        .expect("disable");
    app.state
        .audit
        .record_in(&mut tx, event(), now)
        .await
        .expect("event");
    tx.commit().await.expect("commit");
    let events = app.state.audit.for_user(ada.id, 10).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "account_disabled");
    assert_eq!(events[0].actor, "cli");
    assert!(!app.state.accounts.is_active(ada.id).await.expect("active"));
}

async fn events_past_retention_are_purged(app: TestApp) {
    let ada = app.add_user("ada").await;
    let old = app.clock.now();
    app.state
        .audit
        .record(Event::by_user(EventKind::ProfileUpdated, ada.id), old)
        .await;
    app.clock.advance(Duration::from_secs(300 * 86400));
    let recent = app.clock.now();
    app.state
        .audit
        .record(Event::by_user(EventKind::PasswordChanged, ada.id), recent)
        .await;
    app.clock.advance(Duration::from_secs(100 * 86400));
    let retention = app.state.config.audit.retention.as_secs() as i64;
    assert_eq!(retention, 365 * 86400, "the default keeps a year");
    let purged = app
        .state
        .store
        .purge_audit_before(app.clock.now() - retention)
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    let left: Vec<String> = app
        .state
        .audit
        .for_user(ada.id, 10)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(left, ["password_changed"]);
}
