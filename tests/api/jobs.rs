//! Background jobs: the purge clears every kind of row past keeping and leaves live ones,
//! works a backlog off in bounded batches over several runs, and the lease rows let one
//! instance run a job at a time, handing it over once a dead holder's lease runs out —
//! on both engines.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use portcullis::{
    jobs::{Jobs, purge::Purge},
    storage::{Db, IssuedTokens, NewCode, NewGrant, Purpose, QueuedMail},
};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, web_app},
};

both_backends!(
    rows_past_keeping_are_purged_and_live_ones_stay,
    a_lease_is_held_by_one_holder_until_it_expires,
    two_instances_never_run_one_job_at_once_and_a_dead_holders_lease_is_taken_over,
);

mod a_backlog_larger_than_a_batch_is_cleared_over_several_runs {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::backlog(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if crate::helpers::postgres_available() {
            super::backlog(Backend::Postgres).await;
        }
    }
}

const DAY: i64 = 86_400;

/// The rows of `table` (a trusted name) matching `filter`.
async fn count(db: &Db, table: &str, filter: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {filter}");
    match db {
        Db::Sqlite { writes, .. } => sqlx::query_scalar(&sql).fetch_one(writes).await,
        Db::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn execute(db: &Db, sql: &str) {
    match db {
        Db::Sqlite { writes, .. } => sqlx::query(sql).execute(writes).await.map(|_| ()),
        Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn grant(id: &str, client_id: &str) -> NewGrant {
    NewGrant {
        id: id.into(),
        client_id: client_id.into(),
        user_id: None,
        scope: "openid".into(),
        auth_time: None,
        amr: vec![],
        sid: None,
        acr: None,
    }
}

fn code(hash: &str, client_id: &str, user: uuid::Uuid, expires_at: i64) -> NewCode {
    NewCode {
        code_hash: hash.into(),
        client_id: client_id.into(),
        user_id: user,
        redirect_uri: "https://app.example.com/cb".into(),
        redirect_uri_sent: true,
        scope: "openid".into(),
        nonce: None,
        code_challenge: None,
        auth_time: 0,
        amr: vec![],
        sid: "s".into(),
        expires_at,
        acr: None,
    }
}

async fn rows_past_keeping_are_purged_and_live_ones_stay(app: TestApp) {
    let user = app.add_user("ada").await;
    let (client, _) = app.add_client(web_app("https://app.example.com/cb")).await;
    let cid = client.client_id.as_str();
    let store = &app.state.store;
    let db = &store.db;
    let t = app.clock.now();
    let soon = t + 100;
    let far = t + 100 * DAY;

    // Grants: "spent" has only an access token that expires soon (a client_credentials
    // call); "refreshable" has a live refresh token beside its dying access token;
    // "coded" has no token yet but a code that names it (its first use is signing).
    let mut tx = db.begin_write().await.unwrap();
    for (id, access, refresh) in [
        ("spent", "at-spent", None),
        ("refreshable", "at-refreshable", Some(("rt-live", far))),
        ("coded", "at-coded", None),
    ] {
        store
            .grants
            .insert_in(&mut tx, &grant(id, cid), t)
            .await
            .unwrap();
        let issued = IssuedTokens {
            access_jti: access,
            access_expires_at: soon,
            refresh,
        };
        store
            .grants
            .insert_tokens_in(&mut tx, id, &issued)
            .await
            .unwrap();
    }
    let issued = IssuedTokens {
        access_jti: "at-live",
        access_expires_at: far,
        refresh: None,
    };
    store
        .grants
        .insert_in(&mut tx, &grant("accessible", cid), t)
        .await
        .unwrap();
    store
        .grants
        .insert_tokens_in(&mut tx, "accessible", &issued)
        .await
        .unwrap();
    // Account links: one dies soon, one lives.
    for (hash, expires) in [("link-dead", soon), ("link-live", far)] {
        store
            .account_tokens
            .issue_in(
                &mut tx,
                Purpose::ResetPassword,
                hash,
                user.id,
                "ada@example.com",
                t,
                expires,
            )
            .await
            .unwrap();
    }
    // Mail: one given up at once (below), one still waiting.
    for (id, subject) in [
        (uuid::Uuid::new_v4(), "given up"),
        (uuid::Uuid::new_v4(), "waiting"),
    ] {
        let mail = QueuedMail {
            id,
            recipient: "ada@example.com".into(),
            subject: subject.into(),
            text_body: "hello".into(),
            html_body: "<p>hello</p>".into(),
            // Due only then, so that the server's mail worker leaves both alone.
            created_at: far,
            attempts: 0,
        };
        store.outbox.insert_in(&mut tx, &mail).await.unwrap();
    }
    tx.commit().await.unwrap();
    execute(
        db,
        &format!("UPDATE mail_outbox SET failed_at = {t} WHERE subject = 'given up'"),
    )
    .await;

    store
        .codes
        .insert(&code("code-dead", cid, user.id, soon))
        .await
        .unwrap();
    store
        .codes
        .insert(&code("code-live", cid, user.id, far))
        .await
        .unwrap();
    execute(db, "UPDATE authorization_codes SET consumed_at = 1, grant_id = 'coded' WHERE code_hash = 'code-live'").await;
    for (id, expires) in [("session-dead", soon), ("session-live", far)] {
        assert!(
            store
                .sessions
                .create(id, b"{}", expires, &Default::default())
                .await
                .unwrap()
        );
    }
    store
        .authorization_posts
        .insert("post-dead", &[], soon)
        .await
        .unwrap();
    store
        .authorization_posts
        .insert("post-live", &[], far)
        .await
        .unwrap();
    // Audit: one event a year and a month old (retention is 365 days), one recent.
    for (id, at) in [("old", t - 396 * DAY), ("recent", t)] {
        execute(
            db,
            &format!(
                "INSERT INTO audit_events (id, at, event, outcome, actor, detail) \
                 VALUES ('{id}', {at}, 'test', 'success', 'system', '{{}}')"
            ),
        )
        .await;
    }

    // A month and a day on: past every "soon", past the spent-code memory (a day),
    // the dead-link memory (a week) and given-up mail's keeping (30 days).
    app.clock.advance(Duration::from_secs(31 * 86_400));
    // What it deleted is not counted here: the server's own purge may run too.
    Purge::new(&app.state).run().await.expect("purge");

    let gone = [
        ("grants", "id = 'spent'"),
        (
            "access_tokens",
            "jti IN ('at-spent', 'at-refreshable', 'at-coded')",
        ),
        ("authorization_codes", "code_hash = 'code-dead'"),
        ("browser_sessions", "id = 'session-dead'"),
        ("authorization_posts", "id = 'post-dead'"),
        ("account_tokens", "token_hash = 'link-dead'"),
        ("audit_events", "id = 'old'"),
        ("mail_outbox", "subject = 'given up'"),
    ];
    for (table, filter) in gone {
        assert_eq!(
            count(db, table, filter).await,
            0,
            "{table} {filter} should be purged"
        );
    }
    let kept = [
        ("grants", "id = 'refreshable'"),
        ("grants", "id = 'coded'"),
        ("grants", "id = 'accessible'"),
        ("refresh_tokens", "jti = 'rt-live'"),
        ("access_tokens", "jti = 'at-live'"),
        ("authorization_codes", "code_hash = 'code-live'"),
        ("browser_sessions", "id = 'session-live'"),
        ("authorization_posts", "id = 'post-live'"),
        ("account_tokens", "token_hash = 'link-live'"),
        ("audit_events", "id = 'recent'"),
        ("mail_outbox", "subject = 'waiting'"),
    ];
    for (table, filter) in kept {
        assert_eq!(
            count(db, table, filter).await,
            1,
            "{table} {filter} should stay"
        );
    }
    // The refresh token still works: its grant was not taken from under it.
    assert!(
        store
            .grants
            .refresh_token_is_live("rt-live", app.clock.now())
            .await
            .unwrap()
    );
    assert!(
        store
            .grants
            .access_token_is_live("at-live", app.clock.now())
            .await
            .unwrap()
    );

    // Once the code that names it is past memory, the grant it named goes too.
    app.clock.advance(Duration::from_secs(75 * 86_400));
    Purge::new(&app.state).run().await.expect("purge");
    for id in ["coded", "refreshable", "accessible"] {
        assert_eq!(
            count(db, "grants", &format!("id = '{id}'")).await,
            0,
            "{id}"
        );
    }
    assert_eq!(count(db, "refresh_tokens", "1 = 1").await, 0);
}

/// 50 expired sessions, batches of 10, two batches a run: 20, 20, then the last 10.
async fn backlog(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        "[jobs]\npurge_every = \"1h\"\npurge_batch_size = 10\npurge_batches_per_run = 2\n",
    )
    .await;
    let store = &app.state.store;
    let t = app.clock.now();
    for i in 0..50 {
        store
            .sessions
            .create(&format!("s{i}"), b"{}", t + 10, &Default::default())
            .await
            .unwrap();
    }
    store
        .sessions
        .create("live", b"{}", t + 10 * DAY, &Default::default())
        .await
        .unwrap();
    app.clock.advance(Duration::from_secs(60));
    let purge = Purge::new(&app.state);
    let mut left = Vec::new();
    for _ in 0..3 {
        purge.run().await.expect("purge");
        left.push(count(&store.db, "browser_sessions", "1 = 1").await);
    }
    assert_eq!(left, [31, 11, 1], "bounded batches, the live session kept");
}

async fn a_lease_is_held_by_one_holder_until_it_expires(app: TestApp) {
    let leases = &app.state.store.leases;
    let t = app.clock.now();
    assert!(
        leases.acquire("test-lease", "a", t, t + 30).await.unwrap(),
        "a new lease is taken"
    );
    assert!(
        !leases
            .acquire("test-lease", "b", t + 1, t + 31)
            .await
            .unwrap(),
        "held by a"
    );
    assert!(
        leases
            .acquire("test-lease", "a", t + 10, t + 40)
            .await
            .unwrap(),
        "a renews"
    );
    assert!(
        !leases
            .acquire("test-lease", "b", t + 35, t + 65)
            .await
            .unwrap(),
        "renewed to t+40"
    );
    assert_eq!(
        leases
            .holder("test-lease", t + 35)
            .await
            .unwrap()
            .as_deref(),
        Some("a")
    );
    leases.release("test-lease", "b").await.unwrap();
    assert_eq!(
        leases
            .holder("test-lease", t + 35)
            .await
            .unwrap()
            .as_deref(),
        Some("a"),
        "only the holder releases"
    );
    assert!(
        leases
            .acquire("test-lease", "b", t + 40, t + 70)
            .await
            .unwrap(),
        "expired: b takes it"
    );
    assert!(
        !leases
            .acquire("test-lease", "a", t + 41, t + 71)
            .await
            .unwrap()
    );
    leases.release("test-lease", "b").await.unwrap();
    assert_eq!(leases.holder("test-lease", t + 41).await.unwrap(), None);
    assert!(
        leases
            .acquire("test-lease", "a", t + 41, t + 71)
            .await
            .unwrap(),
        "released: free"
    );
    assert!(
        leases
            .acquire("other-lease", "b", t + 41, t + 71)
            .await
            .unwrap(),
        "leases are per name"
    );
}

async fn two_instances_never_run_one_job_at_once_and_a_dead_holders_lease_is_taken_over(
    app: TestApp,
) {
    // A second instance: its own pool, its own holder id, the same database and clock.
    let other = portcullis::storage::LeaseStore::new(app.second_db().await);
    let a = Jobs::new(app.state.store.leases.clone(), app.clock.clone());
    let b = Jobs::new(other, app.clock.clone());
    let running = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let job = {
        let (running, overlaps, runs) = (running.clone(), overlaps.clone(), runs.clone());
        move || {
            let (running, overlaps, runs) = (running.clone(), overlaps.clone(), runs.clone());
            async move {
                if running.fetch_add(1, Ordering::SeqCst) > 0 {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(1)
            }
        }
    };
    let every = Duration::from_secs(5);
    let mut winners = Vec::new();
    for _ in 0..10 {
        let (ra, rb) = tokio::join!(
            a.run_once("test-job", every, &job),
            b.run_once("test-job", every, &job)
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(
            ra.is_some() != rb.is_some(),
            "exactly one runs: {ra:?} {rb:?}"
        );
        winners.push(if ra.is_some() { "a" } else { "b" });
    }
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
    assert_eq!(runs.load(Ordering::SeqCst), 10);
    assert!(
        winners.windows(2).all(|w| w[0] == w[1]),
        "the holder keeps it: {winners:?}"
    );

    // The holder dies (stops renewing). Until its lease (3 x 5 s, at least 10 s) runs
    // out, the other waits; then it takes over.
    let (holder, survivor) = if winners[0] == "a" {
        (&a, &b)
    } else {
        (&b, &a)
    };
    app.clock.advance(Duration::from_secs(14));
    assert_eq!(
        survivor.run_once("test-job", every, &job).await.unwrap(),
        None
    );
    app.clock.advance(Duration::from_secs(2));
    assert_eq!(
        survivor.run_once("test-job", every, &job).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        holder.run_once("test-job", every, &job).await.unwrap(),
        None,
        "it moved"
    );
    let now = app.clock.now();
    assert_eq!(
        app.state
            .store
            .leases
            .holder("test-job", now)
            .await
            .unwrap()
            .as_deref(),
        Some(survivor.holder())
    );
}
