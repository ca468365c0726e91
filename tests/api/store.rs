//! The stores, on both engines: uniqueness, atomic spending, sessions.

use portcullis::storage::{
    CodeUse, IssuedTokens, NewCode, NewGrant, RefreshUse, SessionMeta, StorageError,
};

use crate::{
    both_backends,
    helpers::{TestApp, web_app},
};

/// Store methods are handed the time; these tests hand them the wall clock's.
fn now() -> i64 {
    portcullis::clock::Clock::system().now()
}

both_backends!(
    sessions_are_listed_and_ended_per_person,
    usernames_and_emails_are_unique_ignoring_case,
    a_client_round_trips_with_its_lists,
    a_code_is_spent_exactly_once_even_when_raced,
    reusing_a_refresh_token_revokes_its_grant_and_its_access_tokens,
    sessions_expire_and_are_purged,
    a_second_instance_sees_the_same_data,
);

async fn usernames_and_emails_are_unique_ignoring_case(app: TestApp) {
    let ada = app.add_user("ada").await;
    let found = app
        .state
        .accounts
        .find_by_login("ADA@EXAMPLE.COM")
        .await
        .expect("query")
        .expect("found");
    assert_eq!(found.id, ada.id);
    assert_eq!(found.roles, Vec::<String>::new());
    assert!(found.password_hash.expose().starts_with("$argon2id$"));
    let again = portcullis::commands::user_add(
        &app.config(),
        "ADA",
        "other@example.com",
        "long enough pw".into(),
        &[],
    )
    .await;
    assert!(
        matches!(
            again,
            Err(portcullis::commands::CommandError::Account(
                portcullis::accounts::AccountError::Taken("username")
            ))
        ),
        "{again:?}"
    );
    let again = portcullis::commands::user_add(
        &app.config(),
        "bob",
        "Ada@Example.com",
        "long enough pw".into(),
        &[],
    )
    .await;
    assert!(
        matches!(
            again,
            Err(portcullis::commands::CommandError::Account(
                portcullis::accounts::AccountError::Taken("email")
            ))
        ),
        "{again:?}"
    );
    assert_eq!(app.state.store.users.list().await.expect("list").len(), 1);
}

async fn a_client_round_trips_with_its_lists(app: TestApp) {
    let mut reg = web_app("https://app.example.com/cb");
    reg.post_logout_redirect_uris = vec!["https://app.example.com/bye".into()];
    let (client, secret) = app.add_client(reg).await;
    let stored = app
        .state
        .store
        .clients
        .find_by_client_id(&client.client_id)
        .await
        .expect("query")
        .expect("found");
    assert_eq!(stored, client);
    assert_eq!(stored.redirect_uris, vec!["https://app.example.com/cb"]);
    assert_eq!(
        stored.post_logout_redirect_uris,
        vec!["https://app.example.com/bye"]
    );
    assert!(portcullis::oidc::clients::secret_matches(
        &stored,
        &secret.expect("secret")
    ));
    assert!(!portcullis::oidc::clients::secret_matches(&stored, "guess"));
    assert!(
        app.state
            .store
            .clients
            .find_by_client_id("nope")
            .await
            .expect("query")
            .is_none()
    );
}

async fn a_code_is_spent_exactly_once_even_when_raced(app: TestApp) {
    let user = app.add_user("ada").await;
    let (client, _) = app.add_client(web_app("https://app.example.com/cb")).await;
    let store = app.state.store.codes.clone();
    store
        .insert(&NewCode {
            code_hash: "h".into(),
            client_id: client.client_id.clone(),
            user_id: user.id,
            redirect_uri: "https://app.example.com/cb".into(),
            redirect_uri_sent: true,
            scope: "openid".into(),
            nonce: None,
            code_challenge: None,
            auth_time: now(),
            amr: vec!["pwd".into()],
            sid: "s".into(),
            expires_at: now() + 60,
            acr: None,
        })
        .await
        .expect("insert");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.consume("h", &format!("g{i}"), now()).await
        }));
    }
    let mut first = 0;
    let mut replayed = 0;
    for t in tasks {
        match t.await.expect("join").expect("query") {
            CodeUse::First(_) => first += 1,
            CodeUse::Replayed(_) => replayed += 1,
            CodeUse::Unknown => {}
        }
    }
    assert_eq!((first, replayed), (1, 7));
    assert!(matches!(
        store.consume("other", "g", now()).await.expect("query"),
        CodeUse::Unknown
    ));
}

async fn reusing_a_refresh_token_revokes_its_grant_and_its_access_tokens(app: TestApp) {
    let user = app.add_user("ada").await;
    let (client, _) = app.add_client(web_app("https://app.example.com/cb")).await;
    let store = app.state.store.grants.clone();
    let grant = NewGrant {
        id: "g1".into(),
        client_id: client.client_id,
        user_id: Some(user.id),
        scope: "openid".into(),
        auth_time: Some(now()),
        amr: vec![],
        sid: None,
        acr: None,
    };
    let mut tx = app.state.store.db.begin_write().await.expect("begin");
    store
        .insert_in(&mut tx, &grant, now())
        .await
        .expect("insert");
    store
        .insert_tokens_in(
            &mut tx,
            "g1",
            &IssuedTokens {
                access_jti: "a1",
                access_expires_at: now() + 60,
                refresh: Some(("r1", now() + 600)),
            },
        )
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    assert!(
        store
            .access_token_is_live("a1", now())
            .await
            .expect("query")
    );
    assert!(matches!(
        store.use_refresh_token("r1", now()).await.expect("use"),
        RefreshUse::First(_)
    ));
    let mut tx = app.state.store.db.begin_write().await.expect("begin");
    store
        .insert_tokens_in(
            &mut tx,
            "g1",
            &IssuedTokens {
                access_jti: "a2",
                access_expires_at: now() + 60,
                refresh: Some(("r2", now() + 600)),
            },
        )
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    assert!(matches!(
        store.use_refresh_token("r1", now()).await.expect("use"),
        RefreshUse::Replayed
    ));
    assert!(
        !store
            .access_token_is_live("a1", now())
            .await
            .expect("query")
    );
    assert!(
        !store
            .access_token_is_live("a2", now())
            .await
            .expect("query")
    );
    assert!(matches!(
        store.use_refresh_token("r2", now()).await.expect("use"),
        RefreshUse::Invalid
    ));
    assert!(matches!(
        store
            .use_refresh_token("unknown", now())
            .await
            .expect("use"),
        RefreshUse::Invalid
    ));
}

async fn sessions_expire_and_are_purged(app: TestApp) {
    let s = &app.state.store.sessions;
    let anon = SessionMeta::default();
    assert!(
        s.create("id1", b"{}", now() + 60, &anon)
            .await
            .expect("create")
    );
    assert!(
        !s.create("id1", b"{}", now() + 60, &anon)
            .await
            .expect("create"),
        "a taken id is not overwritten"
    );
    assert!(
        s.create("id2", b"{}", now() - 1, &anon)
            .await
            .expect("create")
    );
    assert!(s.load("id1", now()).await.expect("load").is_some());
    assert!(
        s.load("id2", now()).await.expect("load").is_none(),
        "expired is not loaded"
    );
    // The server's own purger may run first, so check which rows remain, not counts.
    app.state.store.purge_expired(now()).await.expect("purge");
    assert!(
        s.load("id2", now() - 100).await.expect("load").is_none(),
        "expired is purged"
    );
    assert!(
        s.load("id1", now()).await.expect("load").is_some(),
        "live is kept"
    );
    s.delete("id1").await.expect("delete");
    assert!(s.load("id1", now()).await.expect("load").is_none());
    assert!(
        !s.save("id1", b"{}", now() + 60, &anon).await.expect("save"),
        "a session ended elsewhere is not brought back by a save"
    );
    assert!(s.load("id1", now()).await.expect("load").is_none());
}

async fn sessions_are_listed_and_ended_per_person(app: TestApp) {
    let ada = app.add_user("ada").await;
    let bob = app.add_user("bob").await;
    let s = &app.state.store.sessions;
    let meta = |user: &portcullis::storage::StoredUser, sid: &str, seen: i64| SessionMeta {
        user_id: Some(user.id),
        sid: Some(sid.to_owned()),
        user_agent: Some("Firefox".into()),
        ip: Some("192.0.2.1".into()),
        signed_in_at: Some(now() - 100),
        last_seen_at: seen,
    };
    s.create("a1", b"{}", now() + 60, &meta(&ada, "sid-a1", now() - 5))
        .await
        .expect("create");
    s.create("a2", b"{}", now() + 60, &meta(&ada, "sid-a2", now()))
        .await
        .expect("create");
    s.create("a3", b"{}", now() + 60, &meta(&ada, "sid-a3", now() - 9))
        .await
        .expect("create");
    s.create("b1", b"{}", now() + 60, &meta(&bob, "sid-b1", now()))
        .await
        .expect("create");
    s.create("x", b"{}", now() + 60, &SessionMeta::default())
        .await
        .expect("create");
    let listed: Vec<String> = s
        .list_for_user(ada.id, now())
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.sid)
        .collect();
    assert_eq!(
        listed,
        ["sid-a2", "sid-a1", "sid-a3"],
        "newest seen first, only ada's"
    );
    let mut tx = app.state.store.db.begin_write().await.expect("tx");
    let n = s
        .end_for_user_in(&mut tx, ada.id, Some("sid-a1"), None)
        .await
        .expect("end one");
    assert_eq!(n, 1);
    let n = s
        .end_for_user_in(&mut tx, ada.id, Some("sid-b1"), None)
        .await
        .expect("end another's");
    assert_eq!(n, 0, "one person cannot end another's session by its sid");
    tx.commit().await.expect("commit");
    let mut tx = app.state.store.db.begin_write().await.expect("tx");
    let n = s
        .end_for_user_in(&mut tx, ada.id, None, Some("sid-a2"))
        .await
        .expect("end the rest");
    assert_eq!(n, 1, "every session but the kept one");
    tx.commit().await.expect("commit");
    let left: Vec<String> = s
        .list_for_user(ada.id, now())
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.sid)
        .collect();
    assert_eq!(left, ["sid-a2"]);
    assert!(
        s.load("b1", now()).await.expect("load").is_some(),
        "bob's untouched"
    );
    assert!(
        s.load("x", now()).await.expect("load").is_some(),
        "anonymous untouched"
    );
}

async fn a_second_instance_sees_the_same_data(app: TestApp) {
    app.add_user("ada").await;
    let other = portcullis::storage::Store::new(app.second_db().await);
    assert!(
        other
            .users
            .find_by_keys("ada", None)
            .await
            .expect("query")
            .is_some()
    );
    let conflict = other
        .clients
        .insert(
            portcullis::storage::NewClient {
                client_id: "dup".into(),
                secret_hash: None,
                name: "x".into(),
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                grant_types: vec![],
                public: true,
                token_endpoint_auth_methods: vec!["none".into()],
                allowed_scopes: vec![],
                first_party: false,
                resource_audiences: vec![],
                origins: vec![],
                require_second_factor: false,
            },
            now(),
        )
        .await;
    assert!(conflict.is_ok());
    let again = app
        .state
        .store
        .clients
        .insert(
            portcullis::storage::NewClient {
                client_id: "dup".into(),
                secret_hash: None,
                name: "y".into(),
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                grant_types: vec![],
                public: true,
                token_endpoint_auth_methods: vec!["none".into()],
                allowed_scopes: vec![],
                first_party: false,
                resource_audiences: vec![],
                origins: vec![],
                require_second_factor: false,
            },
            now(),
        )
        .await;
    assert!(matches!(again, Err(StorageError::Conflict("client_id"))));
}
