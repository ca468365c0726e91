//! Mail delivery over real SMTP (the in-process receiver in `smtp_receiver.rs`) and to
//! the outbox folder: sent if and only if its transaction commits, retried through a
//! down server, given up and kept when nothing helps, and handed over once however many
//! workers race for it. Time in the outbox is the server's test clock, moved forward;
//! the worker itself polls every second in real time, so the tests wake it or wait a
//! little for it.

use std::{collections::HashSet, sync::Arc, time::Duration};

use portcullis::{
    mail::{
        Message, Transport,
        worker::{self, LEASE, MAX_ATTEMPTS, Worker},
    },
    storage::{OutboxEntry, OutboxStore},
};
use tokio::sync::Mutex;

use crate::{
    helpers::{Backend, TestApp},
    mailbox::read_folder,
    smtp_receiver::SmtpReceiver,
};

/// Runs `async fn name(backend: Backend)` on SQLite and on PostgreSQL: these tests set
/// up their own `TestApp`, pointed at their own SMTP receiver.
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::helpers::{Backend, postgres_available};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !postgres_available() {
                    return;
                }
                super::$name(Backend::Postgres).await;
            }
        }
    )+};
}

on_both!(
    a_committed_message_arrives_over_smtp_with_both_parts_signed_in_with_the_url_credentials,
    a_rolled_back_transaction_sends_nothing,
    without_smtp_each_message_is_one_eml_file_and_nothing_stays_queued,
    mail_waits_out_a_down_server_and_arrives_once_it_is_back,
    a_stalled_mail_server_blocks_neither_queueing_nor_pages,
    mail_that_never_gets_through_is_given_up_and_kept_for_an_operator,
    a_recipient_refused_for_good_is_given_up_at_once_and_the_rest_still_goes,
    a_refused_sign_in_is_retried_not_given_up,
    a_message_held_by_a_worker_that_died_is_sent_after_its_lease,
    two_instances_racing_deliver_fifty_messages_exactly_once,
    concurrent_claims_never_take_one_message_twice,
);

const FROM: &str = "Portcullis Test <no-reply@id.example.com>";

/// A TestApp whose mail goes to `receiver`, signing in with `userinfo`.
async fn app_with(backend: Backend, receiver: &SmtpReceiver, userinfo: &str) -> TestApp {
    let overlay = format!(
        "{}\n[mail]\nfrom = \"{}\"\n",
        receiver.overlay(userinfo),
        FROM.replace('"', "\\\"")
    );
    TestApp::spawn_with(backend, &overlay).await
}

fn verify(name: &str, link: &str) -> Message {
    Message::VerifyEmail {
        name: name.into(),
        link: link.into(),
        valid_for: "24 hours".into(),
    }
}

/// Queues `message` to `to` in a transaction of its own, committed at `now`, then
/// wakes the worker.
async fn queue_at(app: &TestApp, to: &str, message: &Message, now: i64) {
    let mut tx = app.state.store.db.begin_write().await.expect("begin");
    app.state
        .mailer
        .queue_in(&mut tx, to, message, now)
        .await
        .expect("queue");
    tx.commit().await.expect("commit");
    app.state.mailer.wake();
}

async fn queue(app: &TestApp, to: &str, message: &Message) {
    queue_at(app, to, message, app.clock.now()).await;
}

async fn entries(app: &TestApp) -> Vec<OutboxEntry> {
    app.state.store.outbox.entries(100).await.expect("entries")
}

/// Waits (up to 10 s) until the outbox's only message satisfies `done`.
async fn wait_entry(app: &TestApp, what: &str, done: impl Fn(&OutboxEntry) -> bool) -> OutboxEntry {
    for _ in 0..200 {
        if let [entry] = entries(app).await.as_slice()
            && done(entry)
        {
            return entry.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{what}: not within 10 s; the outbox holds {:?}",
        entries(app).await
    );
}

/// Waits until the one message's `attempts`-th attempt has failed and been recorded.
async fn wait_failed_attempt(app: &TestApp, attempts: i64) -> OutboxEntry {
    wait_entry(app, &format!("failed attempt {attempts}"), |e| {
        e.attempts == attempts && e.claimed_until.is_none() && e.last_error.is_some()
    })
    .await
}

/// Moves the server's clock on and wakes its worker.
fn advance(app: &TestApp, secs: i64) {
    app.clock
        .advance(Duration::from_secs(u64::try_from(secs).expect("positive")));
    app.state.mailer.wake();
}

async fn a_committed_message_arrives_over_smtp_with_both_parts_signed_in_with_the_url_credentials(
    backend: Backend,
) {
    let receiver = SmtpReceiver::start().await;
    // A user and a password with characters a URL must percent-encode.
    let app = app_with(
        backend,
        &receiver,
        "no-reply%40id.example.com:p%40ss%3Aw%2Frd",
    )
    .await;
    // Long enough for quoted-printable soft line breaks, with an & to escape in HTML.
    let token = "Zk3_x-".repeat(12);
    let link = format!("{}/verify-email?token={token}&next=%2Faccount", app.base);
    let name = "Zoë Ångström-Łukasiewicz";
    queue(&app, "ada@example.com", &verify(name, &link)).await;

    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let received = &got[0];
    assert_eq!(
        received.auth,
        Some(("no-reply@id.example.com".to_owned(), "p@ss:w/rd".to_owned())),
        "signed in with the URL's user and password, percent-decoded"
    );
    assert_eq!(received.mail_from, "no-reply@id.example.com");
    assert_eq!(received.rcpt_to, vec!["ada@example.com".to_owned()]);

    let mail = received.mail();
    assert!(mail.from.contains("Portcullis Test"), "{}", mail.from);
    assert!(
        mail.from.contains("<no-reply@id.example.com>"),
        "{}",
        mail.from
    );
    assert!(mail.to.contains("ada@example.com"), "{}", mail.to);
    assert!(
        mail.subject.starts_with("Confirm your email address for"),
        "{}",
        mail.subject
    );
    assert_eq!(mail.link(), link, "the link survives the transfer encoding");
    assert!(mail.text.contains(name), "{}", mail.text);
    assert!(mail.text.contains("Why you got this"), "{}", mail.text);
    assert!(
        mail.text
            .trim_end()
            .ends_with("Do not reply to this message."),
        "whole: {}",
        mail.text
    );
    assert_eq!(href(&mail.html), link, "the HTML part links the same place");
    assert!(mail.html.contains("Why you got this"), "{}", mail.html);
    let raw = mail.raw.to_ascii_lowercase();
    for header in [
        "date:",
        "message-id:",
        "mime-version: 1.0",
        "auto-submitted: auto-generated",
    ] {
        assert!(raw.contains(header), "{header} in {}", mail.raw);
    }
    assert!(raw.contains("multipart/alternative"), "{}", mail.raw);
    assert!(
        raw.contains("quoted-printable") || raw.contains("base64"),
        "the test exercises a transfer encoding: {}",
        mail.raw
    );

    app.mail_settled().await;
    assert!(
        entries(&app).await.is_empty(),
        "delivered mail leaves the table"
    );
    assert!(
        read_folder(&app.outbox).is_empty(),
        "with SMTP, no .eml files"
    );
}

/// The first `href` of an HTML part, its entities undone.
fn href(html: &str) -> String {
    let start = html.find("href=\"").expect("a link") + 6;
    let end = start + html[start..].find('"').expect("closing quote");
    html[start..end]
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
}

async fn a_rolled_back_transaction_sends_nothing(backend: Backend) {
    let receiver = SmtpReceiver::start().await;
    let app = app_with(backend, &receiver, "").await;
    let mut tx = app.state.store.db.begin_write().await.expect("begin");
    app.state
        .mailer
        .queue_in(
            &mut tx,
            "rolled@example.com",
            &verify("R", "https://x/1"),
            app.clock.now(),
        )
        .await
        .expect("queue");
    drop(tx);
    app.state.mailer.wake();
    // A later message that does commit: once it has arrived, the worker has been round.
    queue(&app, "kept@example.com", &verify("K", "https://x/2")).await;
    let got = receiver.wait_for(1).await;
    app.mail_settled().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let got_now = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got_now.len(), 1, "nothing more arrived");
    assert_eq!(got_now[0].rcpt_to, vec!["kept@example.com".to_owned()]);
    assert!(entries(&app).await.is_empty());
}

async fn without_smtp_each_message_is_one_eml_file_and_nothing_stays_queued(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..3 {
        let link = format!("https://id.example.com/verify-email?token=t{i}");
        queue(&app, &format!("p{i}@example.com"), &verify("P", &link)).await;
    }
    let third = app.mail_to("p2@example.com").await;
    app.mail_settled().await;
    assert_eq!(third.link(), "https://id.example.com/verify-email?token=t2");
    let mails = read_folder(&app.outbox);
    assert_eq!(mails.len(), 3, "one .eml per message");
    let files: Vec<_> = std::fs::read_dir(&app.outbox)
        .expect("outbox folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 3, "no temporary files left: {files:?}");
    for (i, file) in files.iter().enumerate() {
        assert_eq!(
            file.extension().and_then(|x| x.to_str()),
            Some("eml"),
            "{i}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file).expect("meta").permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "{}: readable by its owner only",
                file.display()
            );
        }
    }
    for mail in &mails {
        assert!(mail.from.contains("no-reply@"), "{}", mail.from);
        assert!(!mail.text.is_empty() && !mail.html.is_empty());
    }
    assert!(entries(&app).await.is_empty(), "nothing left in the table");
}

async fn mail_waits_out_a_down_server_and_arrives_once_it_is_back(backend: Backend) {
    let receiver = SmtpReceiver::start().await;
    receiver.stop().await;
    let app = app_with(backend, &receiver, "").await;
    let queued_at = app.clock.now();
    queue(
        &app,
        "ada@example.com",
        &verify("Ada", "https://id.example.com/v?token=1"),
    )
    .await;

    let first = wait_failed_attempt(&app, 1).await;
    assert!(first.failed_at.is_none());
    assert!(
        first.next_attempt_at >= queued_at + worker::backoff(1),
        "retried only after the backoff: {first:?}"
    );
    assert_eq!(app.state.store.outbox.pending().await.expect("pending"), 1);

    // Not due yet: waking the worker changes nothing.
    app.state.mailer.wake();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        entries(&app).await[0].attempts,
        1,
        "no retry before the backoff"
    );

    advance(&app, worker::backoff(1) + 1);
    wait_failed_attempt(&app, 2).await;

    receiver.restart().await;
    advance(&app, worker::backoff(2) + 1);
    let got = receiver.wait_for(1).await;
    app.mail_settled().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].mail().link(), "https://id.example.com/v?token=1");
    assert!(entries(&app).await.is_empty(), "nothing lost, nothing left");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.received().len(), 1, "delivered once");
}

async fn a_stalled_mail_server_blocks_neither_queueing_nor_pages(backend: Backend) {
    let receiver = SmtpReceiver::start().await;
    receiver.stall();
    let app = app_with(backend, &receiver, "").await;
    queue(&app, "first@example.com", &verify("F", "https://x/1")).await;
    // Give the worker time to be stuck in the conversation that never starts.
    wait_entry(&app, "claimed", |e| e.claimed_until.is_some()).await;
    let started = std::time::Instant::now();
    queue(&app, "second@example.com", &verify("S", "https://x/2")).await;
    let page = app.get("/login").await;
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "queueing and a page took {:?} while the mail server hangs",
        started.elapsed()
    );
    assert_eq!(app.state.store.outbox.pending().await.expect("pending"), 2);
}

async fn mail_that_never_gets_through_is_given_up_and_kept_for_an_operator(backend: Backend) {
    let receiver = SmtpReceiver::start().await;
    receiver.refuse_recipient(None, "451 4.3.0 <ada@example.com> try again later");
    let app = app_with(backend, &receiver, "").await;
    queue(
        &app,
        "ada@example.com",
        &verify("Ada", "https://id.example.com/v?token=1"),
    )
    .await;
    for attempt in 1..MAX_ATTEMPTS {
        let entry = wait_failed_attempt(&app, attempt).await;
        assert!(
            entry.failed_at.is_none(),
            "still retried after attempt {attempt}"
        );
        advance(&app, worker::backoff(attempt) + 1);
    }
    let given_up = wait_entry(&app, "given up", |e| e.failed_at.is_some()).await;
    assert_eq!(given_up.attempts, MAX_ATTEMPTS);
    let error = given_up.last_error.expect("why");
    assert!(error.contains("451"), "{error}");
    assert!(
        !error.contains("ada@example.com"),
        "no address in the error: {error}"
    );
    let summary = app.state.store.outbox.summary().await.expect("summary");
    assert_eq!((summary.waiting, summary.given_up), (0, 1));
    assert_eq!(app.state.store.outbox.pending().await.expect("pending"), 0);

    // Given up means no more attempts, however much time passes.
    let answers = receiver.rcpt_answers();
    assert_eq!(answers, usize::try_from(MAX_ATTEMPTS).expect("small"));
    advance(&app, 24 * 3600);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.rcpt_answers(), answers);
    assert!(receiver.received().is_empty());
    assert_eq!(entries(&app).await.len(), 1, "kept for an operator");
}

async fn a_recipient_refused_for_good_is_given_up_at_once_and_the_rest_still_goes(
    backend: Backend,
) {
    let receiver = SmtpReceiver::start().await;
    receiver.refuse_recipient(
        Some("gone@example.com"),
        "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown",
    );
    let app = app_with(backend, &receiver, "").await;
    let mut tx = app.state.store.db.begin_write().await.expect("begin");
    let now = app.clock.now();
    for to in ["gone@example.com", "here@example.com"] {
        app.state
            .mailer
            .queue_in(&mut tx, to, &verify("X", "https://x/1"), now)
            .await
            .expect("queue");
    }
    tx.commit().await.expect("commit");
    app.state.mailer.wake();
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].rcpt_to, vec!["here@example.com".to_owned()]);
    let refused = wait_entry(&app, "given up", |e| e.failed_at.is_some()).await;
    assert_eq!(refused.attempts, 1, "a permanent refusal is not retried");
    let error = refused.last_error.expect("why");
    assert!(error.contains("550") && error.contains("5.1.1"), "{error}");
    assert!(!error.contains("gone@example.com"), "{error}");
}

async fn a_refused_sign_in_is_retried_not_given_up(backend: Backend) {
    let receiver = SmtpReceiver::start().await;
    receiver.refuse_auth("535 5.7.8 Authentication credentials invalid");
    let app = app_with(backend, &receiver, "no-reply:wrong").await;
    queue(&app, "ada@example.com", &verify("Ada", "https://x/1")).await;
    let entry = wait_failed_attempt(&app, 1).await;
    assert!(
        entry.failed_at.is_none(),
        "our setting, not the message: kept trying"
    );
    assert!(
        entry
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("535")),
        "{entry:?}"
    );
    // The operator fixes it (here: the server changes its mind).
    receiver.accept_all();
    advance(&app, worker::backoff(1) + 1);
    let got = receiver.wait_for(1).await;
    assert_eq!(
        got[0].auth,
        Some(("no-reply".to_owned(), "wrong".to_owned()))
    );
    app.mail_settled().await;
}

async fn a_message_held_by_a_worker_that_died_is_sent_after_its_lease(backend: Backend) {
    let receiver = SmtpReceiver::start().await;
    let app = app_with(backend, &receiver, "").await;
    // Queued for a moment the app's own worker has not reached yet, so the "dead"
    // worker below is the one to claim it.
    let later = app.clock.now() + 1000;
    queue_at(
        &app,
        "ada@example.com",
        &verify("Ada", "https://x/1"),
        later,
    )
    .await;
    let dead = OutboxStore::new(app.second_db().await);
    let claimed = dead
        .claim_due(later, later + LEASE, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    drop(dead); // dies without a word

    advance(&app, 1000);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(receiver.received().is_empty(), "not while the lease runs");
    assert_eq!(entries(&app).await[0].attempts, 1);

    advance(&app, LEASE + 1);
    let got = receiver.wait_for(1).await;
    app.mail_settled().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, vec!["ada@example.com".to_owned()]);
}

async fn two_instances_racing_deliver_fifty_messages_exactly_once(backend: Backend) {
    let receiver = SmtpReceiver::start().await;
    let app = app_with(backend, &receiver, "").await;
    // Queued ahead of every worker's clock, so all of them start when it moves.
    let later = app.clock.now() + 1000;
    let mut tx = app.state.store.db.begin_write().await.expect("begin");
    for i in 0..50 {
        let to = format!("p{i}@example.com");
        let message = verify("P", &format!("https://x/{i}"));
        app.state
            .mailer
            .queue_in(&mut tx, &to, &message, later)
            .await
            .expect("queue");
    }
    tx.commit().await.expect("commit");

    // Two more instances, each with its own pool and transport, beside the app's own.
    let mut workers = Vec::new();
    for store in [
        OutboxStore::new(app.second_db().await),
        OutboxStore::new(app.second_db().await).without_skip_locked(),
    ] {
        let transport = Transport::from_config(&app.config()).expect("transport");
        workers.push(Worker::new(store, transport, FROM, app.clock.clone()).expect("worker"));
    }
    advance(&app, 1000);
    let racing: Vec<_> = workers
        .into_iter()
        .map(|w| {
            tokio::spawn(async move {
                // Rounds until five in a row find nothing left to claim.
                let (mut claimed, mut idle) = (0, 0);
                while idle < 5 {
                    let n = w.round().await.expect("round");
                    claimed += n;
                    idle = if n == 0 { idle + 1 } else { 0 };
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                claimed
            })
        })
        .collect();
    let mut claimed_by_racers = 0;
    for r in racing {
        claimed_by_racers += r.await.expect("worker");
    }
    let got = receiver.wait_for(50).await;
    app.mail_settled().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let got_after = receiver.received();
    assert_eq!(got.len(), 50);
    assert_eq!(got_after.len(), 50, "no duplicates trickled in");
    let recipients: HashSet<_> = got_after.iter().flat_map(|r| r.rcpt_to.clone()).collect();
    assert_eq!(recipients.len(), 50, "each message once");
    let ids: HashSet<_> = got_after
        .iter()
        .map(|r| {
            r.data
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                .expect("message-id")
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 50);
    assert!(claimed_by_racers > 0, "the extra workers took part");
}

async fn concurrent_claims_never_take_one_message_twice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Due only at `later`: the app's own worker, on its own clock, leaves them alone.
    let later = app.clock.now() + 10_000;
    let mut tx = app.state.store.db.begin_write().await.expect("begin");
    for i in 0..50 {
        app.state
            .mailer
            .queue_in(
                &mut tx,
                &format!("p{i}@example.com"),
                &verify("P", "https://x"),
                later,
            )
            .await
            .expect("queue");
    }
    tx.commit().await.expect("commit");
    let second = app.second_db().await;
    let stores = [
        app.state.store.outbox.clone(),
        OutboxStore::new(second.clone()),
        app.state.store.outbox.clone().without_skip_locked(),
        OutboxStore::new(second).without_skip_locked(),
    ];
    let claimed = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = stores[i % stores.len()].clone();
        let claimed = claimed.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..100 {
                if claimed.lock().await.len() >= 50 {
                    break;
                }
                let batch = store
                    .claim_due(later, later + LEASE, 3)
                    .await
                    .expect("claim");
                claimed.lock().await.extend(batch.into_iter().map(|m| m.id));
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let claimed = claimed.lock().await.clone();
    let unique: HashSet<_> = claimed.iter().collect();
    assert_eq!(unique.len(), claimed.len(), "a message was claimed twice");
    assert_eq!(claimed.len(), 50, "every message was claimed");
    // And none again while the leases run.
    let again = app
        .state
        .store
        .outbox
        .claim_due(later + 1, later + 1 + LEASE, 100)
        .await;
    assert!(again.expect("claim").is_empty());
}

/// What a newcomer on the embedded default sees: `portcullis serve` says in its log
/// where the mail goes, the folder named in full.
#[tokio::test]
async fn serve_says_where_mail_goes_when_no_smtp_is_configured() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("dir");
    let outbox = dir.path().join("outbox");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("serve")
        .env(
            "PORTCULLIS_DATABASE_URL",
            format!("sqlite://{}/p.db", dir.path().display()),
        )
        .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
        .env("PORTCULLIS_ISSUER", format!("http://127.0.0.1:{port}"))
        .env("PORTCULLIS_MAIL__OUTBOX_DIR", &outbox)
        .env_remove("PORTCULLIS_SMTP_URL")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn portcullis");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let wanted = outbox.display().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut log = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) if line.contains(&wanted) => break Some(line),
            Ok(line) => log.push(line),
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = found.unwrap_or_else(|| panic!("no line naming {wanted} in: {log:#?}"));
    assert!(line.contains("PORTCULLIS_SMTP_URL"), "{line}");
    assert!(line.contains(".eml"), "{line}");
}

/// A mistyped SMTP URL is found when the settings are read, not at the first mail.
#[tokio::test]
async fn a_bad_smtp_url_stops_the_start_with_one_line_naming_it() {
    let dir = tempfile::tempdir().expect("dir");
    for url in [
        "smtp://no-reply:hunter2@mail.example.com?tls=bogus",
        "smtp://no-reply:hunter2@mail.example.com?tsl=none",
        "smtps://no-reply:hunter2@mail.example.com?tls=none",
        "smtp://no-reply@mail.example.com",
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .arg("migrate")
            .env(
                "PORTCULLIS_DATABASE_URL",
                format!("sqlite://{}/p.db", dir.path().display()),
            )
            .env("PORTCULLIS_SMTP_URL", url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run portcullis");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{url}: {err}");
        assert!(err.contains("`smtp_url`"), "{url}: {err}");
        assert!(!err.contains("hunter2"), "{url}: {err}");
    }
}
