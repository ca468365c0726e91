//! Keys: a rotation publishes the new key at once and signs with it only after
//! `keys.publish_ahead`; retired keys stay in the JWKS until their tokens expired; the
//! emergency rotation removes the old keys at once; the automatic rotation comes when due,
//! once; another instance sees a rotation within 2 s; instances starting together agree
//! on one first key; keys sealed at rest still sign.

use std::time::{Duration, Instant};

use openidconnect::OAuth2TokenResponse as _;
use portcullis::{
    AppState,
    clock::Clock,
    crypto::{
        KeyRing,
        keys::{KeyState, RotationPolicy, schedule_rotation},
    },
    jobs::keys::{EVERY, KeysJob},
    storage::{Db, KeyStore},
};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, fresh_database, postgres_available},
    rp::Rp,
};

both_backends!(
    a_scheduled_rotation_publishes_at_once_but_signs_only_after_publish_ahead,
    another_instance_sees_a_rotation_within_two_seconds,
    retired_keys_stay_in_the_jwks_until_their_tokens_expired_then_the_job_removes_them,
    an_emergency_rotation_removes_the_old_key_and_its_tokens_stop_verifying,
    keys_list_shows_each_state_and_instant,
    keys_sealed_at_rest_are_not_stored_in_the_clear_and_still_sign,
    a_failed_check_keeps_the_keys_and_a_check_without_a_change_reads_no_keys,
);

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let (_, jwks) = app.get_json("/jwks.json").await;
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

/// The `kid` in the header of a token the ring signs now.
fn kid_of_a_new_token(ring: &KeyRing) -> String {
    let token = ring
        .sign(&josekit::jwt::JwtPayload::new(), "JWT")
        .expect("sign");
    let header = josekit::jwt::decode_header(&token).expect("header");
    header
        .claim("kid")
        .and_then(|v| v.as_str())
        .expect("kid")
        .to_owned()
}

const CALLBACK: &str = "http://127.0.0.1:1/callback";

fn policy(app: &TestApp) -> RotationPolicy {
    RotationPolicy::from_config(&app.state.config)
}

/// A rotation scheduled at the test clock's `now` (the CLI reads the wall clock, which
/// the test clock leaves once a test moves it).
async fn schedule(app: &TestApp) -> String {
    let rotation = schedule_rotation(&app.state.store.keys, None, &policy(app), app.clock.now())
        .await
        .expect("rotate");
    assert!(rotation.added);
    rotation.kid
}

/// The key events in the audit trail, newest first: (event, actor, kid).
async fn key_events(app: &TestApp) -> Vec<(String, String, String)> {
    let records = app.state.store.audit.recent(50).await.expect("audit");
    records
        .into_iter()
        .filter(|r| r.event.starts_with("key"))
        .map(|r| {
            (
                r.event,
                r.actor,
                r.detail["kid"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn a_scheduled_rotation_publishes_at_once_but_signs_only_after_publish_ahead(app: TestApp) {
    let old = app.state.keys.signing_kid();
    let new = portcullis::commands::keys_rotate(&app.config())
        .await
        .expect("rotate");
    assert_ne!(new, old);
    app.state.keys.check().await.expect("check");
    let response = app.get("/jwks.json").await;
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=300",
        "keys.jwks_max_age"
    );
    let kids = jwks_kids(&app).await;
    assert!(kids.contains(&new) && kids.contains(&old), "{kids:?}");
    assert_eq!(kid_of_a_new_token(&app.state.keys), old, "not yet");

    // A real token from the token endpoint, too.
    app.add_user("ada").await;
    let (client, secret) = app.add_client(crate::helpers::web_app(CALLBACK)).await;
    let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;
    let (tokens, _) = rp.sign_in_and_exchange(&app, &["openid"], "ada").await;
    let access = tokens.access_token().secret().clone();
    let header = josekit::jwt::decode_header(&access).expect("header");
    assert_eq!(header.claim("kid").and_then(|v| v.as_str()), Some(&*old));

    // publish_ahead is 1h: a minute before, still the old key; a second after, the new.
    app.clock.advance(Duration::from_secs(3600 - 60));
    assert_eq!(kid_of_a_new_token(&app.state.keys), old, "59 min after");
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(kid_of_a_new_token(&app.state.keys), new, "1 h 1 s after");
    assert_eq!(app.state.keys.signing_kid(), new);
    // The old key still verifies what it signed (the token itself has expired by now).
    assert!(app.state.keys.verify(&access).await.is_ok());
    let kids = jwks_kids(&app).await;
    assert!(kids.contains(&new) && kids.contains(&old), "{kids:?}");
}

async fn another_instance_sees_a_rotation_within_two_seconds(app: TestApp) {
    // Another instance: its own pools and key ring on the same database, same clock.
    let other = AppState::start_with_clock(app.config(), app.clock.clone())
        .await
        .expect("second instance");
    let new = portcullis::commands::keys_rotate(&app.config())
        .await
        .expect("rotate");
    let started = Instant::now();
    loop {
        let seen = other.keys.states(other.clock.now());
        if seen.iter().any(|k| k.kid == new) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "rotation not seen in 2 s: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    println!("a rotation reached another instance in {took:?}");
    assert!(other.jwks_has(&new));
    app.clock.advance(Duration::from_secs(3601));
    assert_eq!(
        other.keys.signing_kid(),
        new,
        "switches with no reload: {:?}",
        other.keys.states(other.clock.now())
    );
    // The serving instance's JWKS over HTTP, too, by its own periodic check.
    while !jwks_kids(&app).await.contains(&new) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "rotation not in the server's JWKS in 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.state.keys.signing_kid(), new);
}

trait JwksHas {
    fn jwks_has(&self, kid: &str) -> bool;
}

impl JwksHas for AppState {
    fn jwks_has(&self, kid: &str) -> bool {
        self.keys.jwks().contains(&format!("\"kid\":\"{kid}\""))
    }
}

async fn retired_keys_stay_in_the_jwks_until_their_tokens_expired_then_the_job_removes_them(
    app: TestApp,
) {
    let old = app.state.keys.signing_kid();
    let new = schedule(&app).await;
    app.state.keys.check().await.expect("check");
    let job = KeysJob::from_state(&app.state);
    let run = || job.run();
    // Every token the old key signed is dead by publish_ahead + the longest lifetime.
    let keep = app.state.config.tokens.longest_token_ttl().as_secs();
    app.clock.advance(Duration::from_secs(3600 + keep - 10));
    let states = app.state.keys.states(app.clock.now());
    assert_eq!(
        states.iter().map(|s| s.state).collect::<Vec<_>>(),
        [KeyState::Active, KeyState::Retired]
    );
    assert!(
        app.state.jwks_has(&old),
        "still published 10 s before the end"
    );
    assert_eq!(
        app.state
            .jobs
            .run_once("keys", EVERY, &run)
            .await
            .expect("job"),
        Some(0)
    );
    assert_eq!(app.state.store.keys.all().await.expect("keys").len(), 2);

    app.clock.advance(Duration::from_secs(10));
    // The JWKS drops it at the instant, before the job runs (no reload).
    let kids = jwks_kids(&app).await;
    assert_eq!(kids, std::slice::from_ref(&new), "gone from the JWKS");
    assert_eq!(
        app.state
            .jobs
            .run_once("keys", EVERY, &run)
            .await
            .expect("job"),
        Some(1)
    );
    let left = app.state.store.keys.all().await.expect("keys");
    assert_eq!(
        left.iter().map(|k| &k.kid).collect::<Vec<_>>(),
        [&new],
        "deleted"
    );
}

async fn an_emergency_rotation_removes_the_old_key_and_its_tokens_stop_verifying(app: TestApp) {
    app.add_user("ada").await;
    let (client, secret) = app.add_client(crate::helpers::web_app(CALLBACK)).await;
    let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), CALLBACK).await;
    let (tokens, _) = rp.sign_in_and_exchange(&app, &["openid"], "ada").await;
    let access = tokens.access_token().secret().clone();
    assert_eq!(app.userinfo(&access).await.0, 200);
    let old = app.state.keys.signing_kid();
    // A scheduled key waiting too: the emergency removes it as well.
    let waiting = schedule(&app).await;

    let new = portcullis::commands::keys_rotate_now(&app.config())
        .await
        .expect("rotate --now");
    app.state.keys.check().await.expect("check");
    assert_eq!(jwks_kids(&app).await, std::slice::from_ref(&new));
    assert_eq!(kid_of_a_new_token(&app.state.keys), new, "signs at once");
    let stored = app.state.store.keys.all().await.expect("keys");
    assert_eq!(stored.len(), 1, "{old} and {waiting} deleted");
    assert_eq!(app.userinfo(&access).await.0, 401, "userinfo refuses it");
    let (status, body) = app
        .introspect(rp.auth(), &[("token", access.as_str())])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], false, "introspection: not active");
    assert_eq!(
        key_events(&app).await,
        [("keys_replaced".to_owned(), "cli".to_owned(), new)],
        "the emergency is in the audit trail, by the CLI"
    );
}

/// The keys job of `state` with a short schedule (publish 1 h ahead, rotate every
/// 2 h). The serving instance keeps the default schedule (90 days), so its own keys
/// job, ticking on the wall clock, is never due while these tests move the test clock
/// and cannot rotate before the job under test does.
fn short_job(state: &AppState) -> KeysJob {
    let mut job = KeysJob::from_state(state);
    job.policy.publish_ahead = Duration::from_secs(3600);
    job.policy.rotate_every = Duration::from_secs(2 * 3600);
    job
}

async fn the_automatic_rotation_comes_when_due_and_not_before(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.state.keys.signing_kid();
    let job = short_job(&app.state);
    let run = || job.run();
    let run_once = || app.state.jobs.run_once("keys", EVERY, &run);
    assert_eq!(
        run_once().await.expect("job"),
        Some(0),
        "a new key: not due"
    );
    // Due when the key has signed rotate_every - publish_ahead (1 h): its successor then
    // signs at 2 h.
    app.clock.advance(Duration::from_secs(3600 - 30));
    assert_eq!(run_once().await.expect("job"), Some(0), "30 s early");
    app.clock.advance(Duration::from_secs(30));
    assert_eq!(run_once().await.expect("job"), Some(1), "due");
    let states = app.state.keys.states(app.clock.now());
    assert_eq!(
        key_events(&app).await,
        [(
            "key_rotation_scheduled".to_owned(),
            "system".to_owned(),
            states[0].kid.clone()
        )],
        "the automatic rotation is in the audit trail"
    );
    assert_eq!(
        states.iter().map(|s| s.state).collect::<Vec<_>>(),
        [KeyState::Published, KeyState::Active]
    );
    assert_eq!(app.state.keys.signing_kid(), first);
    assert_eq!(
        run_once().await.expect("job"),
        Some(0),
        "one waiting: no more"
    );
    app.clock.advance(Duration::from_secs(3600));
    assert_ne!(
        app.state.keys.signing_kid(),
        first,
        "the successor signs at 2 h"
    );
    assert_eq!(states[0].kid, app.state.keys.signing_kid());
}

async fn two_instances_running_the_job_at_once_rotate_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other = AppState::start_with_clock(app.config(), app.clock.clone())
        .await
        .expect("second instance");
    app.clock.advance(Duration::from_secs(3600));
    // Under the lease: only one of the two instances runs it.
    let (a, b) = (short_job(&app.state), short_job(&other));
    let (run_a, run_b) = (|| a.run(), || b.run());
    let (ra, rb) = tokio::join!(
        app.state.jobs.run_once("keys", EVERY, &run_a),
        other.jobs.run_once("keys", EVERY, &run_b),
    );
    let ran: Vec<u64> = [ra.expect("a"), rb.expect("b")]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ran, [1], "one instance held the lease and rotated");
    // Without the lease too (two runs at the same instant): the insert itself wins once.
    app.clock.advance(Duration::from_secs(3600 * 2));
    let (ra, rb) = tokio::join!(a.run(), b.run());
    assert_eq!(ra.expect("a") + rb.expect("b"), 1, "one rotation");
    let all = app.state.store.keys.all().await.expect("keys");
    let waiting = all
        .iter()
        .filter(|k| k.activate_at > app.clock.now())
        .count();
    assert_eq!(waiting, 1, "one key waiting");
}

/// Each `async fn name(backend: Backend)` on both engines.
macro_rules! on_both_engines {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use crate::helpers::{Backend, postgres_available};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if postgres_available() {
                    super::$name(Backend::Postgres).await;
                }
            }
        }
    )+};
}

on_both_engines!(
    the_automatic_rotation_comes_when_due_and_not_before,
    two_instances_running_the_job_at_once_rotate_once,
    keys_rotate_on_a_database_no_server_has_started_on_makes_a_first_key_that_signs_at_once,
);

async fn keys_rotate_on_a_database_no_server_has_started_on_makes_a_first_key_that_signs_at_once(
    backend: Backend,
) {
    let (url, _dir) = fresh_database(backend).await;
    let config = portcullis::config::Config::from_toml(&format!("database_url = \"{url}\""))
        .expect("config");
    let first = portcullis::commands::keys_schedule(&config)
        .await
        .expect("rotate");
    assert!(first.added);
    let listed = portcullis::commands::keys_list(&config)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].kid, first.kid);
    assert_eq!(
        listed[0].state,
        KeyState::Active,
        "nothing to publish ahead of"
    );
    // The next one is scheduled as usual.
    let second = portcullis::commands::keys_schedule(&config)
        .await
        .expect("rotate");
    assert!(second.added && second.activate_at > first.activate_at + 3000);
}

async fn keys_list_shows_each_state_and_instant(app: TestApp) {
    let old = app.state.keys.signing_kid();
    let new = portcullis::commands::keys_rotate(&app.config())
        .await
        .expect("rotate");
    let listed = portcullis::commands::keys_list(&app.config())
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0].kid.as_str(), listed[0].state),
        (new.as_str(), KeyState::Published)
    );
    assert_eq!(
        (listed[1].kid.as_str(), listed[1].state),
        (old.as_str(), KeyState::Active)
    );
    assert_eq!(listed[1].retire_at, Some(listed[0].activate_at));
    let keep = i64::try_from(app.state.config.tokens.longest_token_ttl().as_secs()).expect("i64");
    assert_eq!(listed[1].unpublish_at, Some(listed[0].activate_at + keep));
    assert!((listed[0].activate_at - listed[0].created_at - 3600).abs() <= 1);
    // The ring gives the console the same listing.
    app.state.keys.check().await.expect("check");
    assert_eq!(app.state.keys.states(app.clock.now()), listed);

    // The printed forms, from the binary.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .env("PORTCULLIS_DATABASE_URL", &app.database_url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run portcullis");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = cli(&["keys", "list"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("KID") && lines[0].contains("ACTIVATES"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&new) && lines[1].contains(" published "),
        "{text}"
    );
    assert!(
        lines[2].starts_with(&old) && lines[2].contains(" active "),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&cli(&["keys", "list", "--json"])).expect("json");
    assert_eq!(json[0]["kid"], new.as_str());
    assert_eq!(json[0]["state"], "published");
    assert_eq!(json[1]["state"], "active");
    assert!(json[0]["retires"].is_null());
    assert!(json[1]["activates"].as_str().expect("time").ends_with('Z'));
    // A second `keys rotate` while one waits adds nothing and says so.
    let again = cli(&["keys", "rotate"]);
    assert!(
        again.contains("already scheduled") && again.contains(&new),
        "{again}"
    );
    assert_eq!(app.state.store.keys.all().await.expect("keys").len(), 2);
    let emergency = cli(&["keys", "rotate", "--now"]);
    assert!(
        emergency.contains("every other key was removed"),
        "{emergency}"
    );
    // One event per change, none for the rotation that added nothing.
    let events: Vec<(String, String)> = key_events(&app)
        .await
        .into_iter()
        .map(|(event, actor, _)| (event, actor))
        .collect();
    assert_eq!(
        events,
        [
            ("keys_replaced".to_owned(), "cli".to_owned()),
            ("key_rotation_scheduled".to_owned(), "cli".to_owned()),
        ]
    );
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["keys", "rotate", "--help"])
        .output()
        .expect("help");
    assert!(String::from_utf8_lossy(&help.stdout).contains("stops verifying"));
}

async fn keys_sealed_at_rest_are_not_stored_in_the_clear_and_still_sign(app: TestApp) {
    let mut config = app.config();
    config.keys.encryption_key = Some(portcullis::config::EncryptionKey([9; 32]));
    let kid = portcullis::commands::keys_rotate(&config)
        .await
        .expect("rotate");
    let stored = app.state.store.keys.all().await.expect("keys");
    let sealed = stored.iter().find(|k| k.kid == kid).expect("new key");
    assert!(sealed.private_key.expose().starts_with("aes256gcm:"));
    assert!(!sealed.private_key.expose().contains("PRIVATE KEY"));
    // Without the key the ring refuses to load the waiting key rather than sign with
    // nothing when it activates.
    assert!(app.state.keys.reload().await.is_err());
    let sealed_ring = KeyRing::open(
        app.state.store.keys.clone(),
        config.keys.encryption_key.clone(),
        app.state.clock.clone(),
    )
    .await
    .expect("opens with the key");
    app.clock.advance(Duration::from_secs(3601));
    assert_eq!(sealed_ring.signing_kid(), kid);
    let token = sealed_ring
        .sign(&josekit::jwt::JwtPayload::new(), "JWT")
        .expect("signs");
    assert!(sealed_ring.verify(&token).await.is_ok());
}

async fn a_failed_check_keeps_the_keys_and_a_check_without_a_change_reads_no_keys(app: TestApp) {
    let db = app.second_db().await;
    let ring = KeyRing::open(KeyStore::new(db.clone()), None, app.clock.clone())
        .await
        .expect("opens");
    assert!(
        !ring.check().await.expect("check"),
        "nothing changed: no reload"
    );
    let kid = ring.signing_kid();
    let jwks = ring.jwks();
    let before = ring
        .sign(&josekit::jwt::JwtPayload::new(), "JWT")
        .expect("signs");
    // The database goes away: the check fails, and the ring keeps what it has.
    db.close().await;
    assert!(ring.check().await.is_err());
    assert_eq!(ring.signing_kid(), kid);
    assert_eq!(ring.jwks(), jwks);
    let during = ring
        .sign(&josekit::jwt::JwtPayload::new(), "JWT")
        .expect("still signs");
    assert!(ring.verify(&before).await.is_ok());
    assert!(ring.verify(&during).await.is_ok());
    // A token naming a kid nobody has is refused, not a panic nor a hang.
    let forged = during.replacen(
        &during[..during.find('.').expect("header")],
        "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vYm9keSJ9",
        1,
    );
    assert!(ring.verify(&forged).await.is_err());
}

/// Eight instances starting together on an empty database: one first key wins, and all
/// sign with it (before, each generated its own and their tokens did not verify against
/// the others' JWKS). Fresh databases, since a lost race is a matter of timing.
async fn instances_starting_together_agree_on_one_first_key(backend: Backend) {
    for round in 0..2 {
        let (url, _dir) = fresh_database(backend).await;
        let url = portcullis::config::DatabaseUrl::parse(&url).expect("url");
        let first = Db::connect(&url, 2).await.expect("connect");
        first
            .migrate(portcullis::clock::Clock::system().now())
            .await
            .expect("migrate");
        // A pool each, connected before they race.
        let mut pools = vec![first];
        for _ in 1..8 {
            pools.push(Db::connect(&url, 2).await.expect("connect"));
        }
        let mut opening = tokio::task::JoinSet::new();
        for db in &pools {
            opening.spawn(KeyRing::open(
                KeyStore::new(db.clone()),
                None,
                Clock::system(),
            ));
        }
        let kids: Vec<String> = opening
            .join_all()
            .await
            .into_iter()
            .map(|r| r.expect("opens").signing_kid())
            .collect();
        assert!(
            kids.iter().all(|k| *k == kids[0]),
            "round {round}: {kids:?}"
        );
        let keys = KeyStore::new(pools[0].clone()).all().await.expect("keys");
        assert_eq!(keys.len(), 1, "round {round}: one row");
        for db in pools {
            db.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_agree_on_one_first_key_on_sqlite() {
    instances_starting_together_agree_on_one_first_key(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_agree_on_one_first_key_on_postgres() {
    if postgres_available() {
        instances_starting_together_agree_on_one_first_key(Backend::Postgres).await;
    }
}
