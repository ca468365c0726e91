//! `portcullis backup FILE`: a copy of the SQLite database taken while the server
//! writes opens, migrates cleanly and holds what was there; an existing FILE and a
//! PostgreSQL database are refused in plain words, with nothing written.

use std::time::{Duration, Instant};

use portcullis::{
    commands::{CommandError, backup_to},
    config::DatabaseUrl,
    oidc::clients::ClientRegistration,
    storage::{Db, Store},
};

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_server_writes_opens_migrates_and_holds_the_data() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let ada = app.add_user("ada").await;
    let (machine, secret) = app
        .add_client(ClientRegistration {
            name: "Machine".into(),
            grant_types: vec!["client_credentials".into()],
            ..Default::default()
        })
        .await;
    let secret = secret.expect("secret");

    // Writes all through the copy: every client_credentials call adds a grant and a token.
    let writer = {
        let (http, url, id) = (
            app.http.clone(),
            app.url("/token"),
            machine.client_id.clone(),
        );
        let secret = secret.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut issued = 0;
            while started.elapsed() < Duration::from_secs(2) {
                let r = http
                    .post(&url)
                    .basic_auth(&id, Some(&secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .expect("token");
                assert_eq!(r.status(), 200);
                issued += 1;
            }
            issued
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("portcullis-backup.db");
    backup_to(&app.config(), &dest).await.expect("backup");
    let issued = writer.await.unwrap();
    assert!(issued > 0);

    // The copy stands alone: no -wal beside it, and it opens and migrates as it is.
    assert!(!dir.path().join("portcullis-backup.db-wal").exists());
    let url = DatabaseUrl::parse(&format!("sqlite://{}", dest.display())).unwrap();
    let db = Db::connect(&url, 2).await.expect("open the copy");
    db.migrate(portcullis::clock::Clock::system().now())
        .await
        .expect("the copy migrates cleanly");
    let store = Store::new(db);
    let users = store.users.list().await.unwrap();
    assert!(users.iter().any(|u| u.id == ada.id), "{users:?}");
    let copied = store
        .clients
        .find_by_client_id(&machine.client_id)
        .await
        .unwrap();
    assert!(copied.is_some(), "the client is in the copy");
    let grants: i64 = match &store.db {
        Db::Sqlite { reads, .. } => sqlx::query_scalar("SELECT COUNT(*) FROM grants")
            .fetch_one(reads)
            .await
            .unwrap(),
        Db::Postgres(_) => unreachable!(),
    };
    assert!(
        grants >= 1,
        "grants written before the copy are in it: {grants}"
    );
    store.db.close().await;

    // A second backup to the same name is refused; the first is left as it was.
    let before = std::fs::read(&dest).unwrap();
    let err = backup_to(&app.config(), &dest).await.expect_err("refused");
    assert!(matches!(err, CommandError::Usage(_)), "{err:?}");
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&dest).unwrap(), before);

    // A folder that is not there, and the binary's own answer and exit code.
    let nowhere = dir.path().join("missing").join("b.db");
    let err = backup_to(&app.config(), &nowhere)
        .await
        .expect_err("no folder");
    assert!(err.to_string().contains("no folder"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["backup", dest.to_str().unwrap()])
        .env("PORTCULLIS_DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read(&dest).unwrap(), before);

    // The binary's success path prints where the copy went.
    let fresh = dir.path().join("second.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["backup", fresh.to_str().unwrap()])
        .env("PORTCULLIS_DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("backed up the database to"));
    assert!(fresh.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_sqlite_database_is_not_created_by_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let config = portcullis::config::Config::from_toml(&format!(
        "issuer = \"http://127.0.0.1:1\"\nbind = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}\"\n",
        db.display()
    ))
    .unwrap();
    let dest = dir.path().join("b.db");
    let err = backup_to(&config, &dest).await.expect_err("no database");
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(!db.exists(), "no database was created");
    assert!(!dest.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_backup_names_the_tools_to_use_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("b.db");
    // The database need not even be reachable: nothing is connected to.
    let config = portcullis::config::Config::from_toml(
        "issuer = \"http://127.0.0.1:1\"\nbind = \"127.0.0.1:0\"\n\
         database_url = \"postgres://nobody:x@127.0.0.1:1/none\"\n",
    )
    .unwrap();
    let err = backup_to(&config, &dest).await.expect_err("refused");
    assert_eq!(err.exit_code(), 2);
    let told = err.to_string();
    assert!(
        told.contains("pg_dump") && told.contains("pg_basebackup"),
        "{told}"
    );
    assert!(!dest.exists());
}
