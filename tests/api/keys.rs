//! Key rotation: a rotation made elsewhere shows in a running server's JWKS within
//! `keys.reload_interval`, and keys encrypted at rest still sign.

use std::time::{Duration, Instant};

use crate::{
    both_backends,
    helpers::{Backend, TestApp},
};

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let (_, jwks) = app.get_json("/jwks.json").await;
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

async fn rotation_reaches_a_running_server(backend: Backend) {
    let app = TestApp::spawn_with(backend, "[keys]\nreload_interval = \"1s\"").await;
    let before = jwks_kids(&app).await;
    assert_eq!(before.len(), 1);
    let new_kid = portcullis::commands::keys_rotate(&app.config())
        .await
        .expect("rotate");
    let started = Instant::now();
    loop {
        let kids = jwks_kids(&app).await;
        if kids.len() == 2 {
            assert!(
                kids.contains(&new_kid) && kids.contains(&before[0]),
                "{kids:?}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "rotation not seen in 5 s: {kids:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.state.keys.signing_kid(), new_kid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_reaches_a_running_server_on_sqlite() {
    rotation_reaches_a_running_server(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_reaches_a_running_server_on_postgres() {
    if crate::helpers::postgres_available() {
        rotation_reaches_a_running_server(Backend::Postgres).await;
    }
}

both_backends!(keys_sealed_at_rest_are_not_stored_in_the_clear_and_still_sign);

async fn keys_sealed_at_rest_are_not_stored_in_the_clear_and_still_sign(app: TestApp) {
    let mut config = app.config();
    config.keys.encryption_key = Some(portcullis::config::EncryptionKey([9; 32]));
    let kid = portcullis::commands::keys_rotate(&config)
        .await
        .expect("rotate");
    let stored = app
        .state
        .store
        .keys
        .published(app.state.clock.now())
        .await
        .expect("keys");
    let sealed = stored.iter().find(|k| k.kid == kid).expect("new key");
    assert!(sealed.private_key.expose().starts_with("aes256gcm:"));
    assert!(!sealed.private_key.expose().contains("PRIVATE KEY"));
    // Without the key the ring refuses to load rather than sign with nothing.
    assert!(app.state.keys.reload().await.is_err());
    let sealed_ring = portcullis::crypto::KeyRing::open(
        app.state.store.keys.clone(),
        config.keys.encryption_key.clone(),
        app.state.clock.clone(),
    )
    .await
    .expect("opens with the key");
    assert_eq!(sealed_ring.signing_kid(), kid);
    let payload = josekit::jwt::JwtPayload::new();
    let token = sealed_ring.sign(&payload, "JWT").expect("signs");
    assert!(sealed_ring.verify(&token).await.is_ok());
}

/// Two instances starting together on an empty database: one first key wins, and both
/// sign with it (before, each generated its own and their tokens did not verify against
/// the other's JWKS). Three fresh databases, since a lost race is a matter of timing.
async fn instances_starting_together_agree_on_one_first_key(backend: Backend) {
    for round in 0..3 {
        let (url, _dir) = crate::helpers::fresh_database(backend).await;
        let url = portcullis::config::DatabaseUrl::parse(&url).expect("url");
        // Two instances: a pool each, connected and migrated before they race.
        let db = portcullis::storage::Db::connect(&url, 4)
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        let other = portcullis::storage::Db::connect(&url, 4)
            .await
            .expect("connect");
        let open = |db: &portcullis::storage::Db| {
            let keys = portcullis::storage::KeyStore::new(db.clone());
            portcullis::crypto::KeyRing::open(keys, None, portcullis::clock::Clock::system())
        };
        let (a, b) = tokio::join!(open(&db), open(&other));
        let (a, b) = (a.expect("first instance"), b.expect("second instance"));
        assert_eq!(a.signing_kid(), b.signing_kid(), "round {round}");
        let now = portcullis::clock::Clock::system().now();
        let keys = portcullis::storage::KeyStore::new(db.clone())
            .published(now)
            .await
            .expect("keys");
        assert_eq!(keys.len(), 1, "round {round}: one key, and it signs");
        db.close().await;
        other.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_agree_on_one_first_key_on_sqlite() {
    instances_starting_together_agree_on_one_first_key(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_agree_on_one_first_key_on_postgres() {
    if crate::helpers::postgres_available() {
        instances_starting_together_agree_on_one_first_key(Backend::Postgres).await;
    }
}
