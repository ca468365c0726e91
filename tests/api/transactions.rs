//! One write transaction across several stores: it commits as one or not at all.

use portcullis::storage::{IssuedTokens, NewCode, NewGrant};

use crate::{
    both_backends,
    helpers::{TestApp, web_app},
};

both_backends!(
    a_dropped_transaction_writes_nothing_in_any_store,
    a_purge_spans_codes_tokens_and_sessions_in_one_transaction,
);

/// A transaction holding a new grant and its tokens, not yet committed.
async fn grant_with_tokens(
    store: &portcullis::storage::Store,
    grant: &NewGrant,
    tokens: &IssuedTokens<'_>,
    now: i64,
) -> portcullis::storage::WriteTx {
    let mut tx = store.db.begin_write().await.expect("begin");
    store
        .grants
        .insert_in(&mut tx, grant, now)
        .await
        .expect("grant");
    store
        .grants
        .insert_tokens_in(&mut tx, &grant.id, tokens)
        .await
        .expect("tokens");
    tx
}

async fn a_dropped_transaction_writes_nothing_in_any_store(app: TestApp) {
    let user = app.add_user("ada").await;
    let (client, _) = app.add_client(web_app("https://app.example.com/cb")).await;
    let store = &app.state.store;
    let now = app.state.clock.now();
    let grant = NewGrant {
        id: "g1".into(),
        client_id: client.client_id,
        user_id: Some(user.id),
        scope: "openid".into(),
        auth_time: Some(now),
        amr: vec![],
        sid: None,
        acr: None,
    };
    let tokens = IssuedTokens {
        access_jti: "a1",
        access_expires_at: now + 60,
        refresh: Some(("r1", now + 600)),
    };
    drop(grant_with_tokens(store, &grant, &tokens, now).await);
    assert!(store.grants.find("g1").await.expect("find").is_none());
    assert!(
        !store
            .grants
            .access_token_is_live("a1", now)
            .await
            .expect("live")
    );

    grant_with_tokens(store, &grant, &tokens, now)
        .await
        .commit()
        .await
        .expect("commit");
    assert!(store.grants.find("g1").await.expect("find").is_some());
    assert!(
        store
            .grants
            .access_token_is_live("a1", now)
            .await
            .expect("live")
    );
    assert!(
        store
            .grants
            .refresh_token_is_live("r1", now)
            .await
            .expect("live")
    );
}

async fn a_purge_spans_codes_tokens_and_sessions_in_one_transaction(app: TestApp) {
    let user = app.add_user("ada").await;
    let (client, _) = app.add_client(web_app("https://app.example.com/cb")).await;
    let store = &app.state.store;
    // Rows that expire soon, purged as of three days on: the server's own purger, which
    // runs on today's time, cannot touch them.
    let now = app.state.clock.now();
    let soon = now + 100;
    let later = now + 3 * 24 * 3600;
    store
        .codes
        .insert(&NewCode {
            code_hash: "old".into(),
            client_id: client.client_id.clone(),
            user_id: user.id,
            redirect_uri: "https://app.example.com/cb".into(),
            redirect_uri_sent: true,
            scope: "openid".into(),
            nonce: None,
            code_challenge: None,
            auth_time: now,
            amr: vec![],
            sid: "s".into(),
            expires_at: soon,
            acr: None,
        })
        .await
        .expect("code");
    assert!(
        store
            .sessions
            .create("old", b"{}", soon, &Default::default())
            .await
            .expect("session")
    );

    // Rolled back: the session and the code are both still there.
    let mut tx = store.db.begin_write().await.expect("begin");
    let purged = store
        .codes
        .purge_expired_in(&mut tx, later, 100)
        .await
        .expect("codes")
        + store
            .sessions
            .purge_expired_in(&mut tx, later, 100)
            .await
            .expect("sessions");
    assert_eq!(purged, 2);
    drop(tx);
    assert!(
        store
            .sessions
            .load("old", now)
            .await
            .expect("load")
            .is_some()
    );
    let code = store.codes.consume("old", "g", now).await.expect("consume");
    assert!(
        matches!(code, portcullis::storage::CodeUse::First(_)),
        "{code:?}"
    );

    // Committed: both are gone, together.
    assert!(store.purge_expired(later).await.expect("purge") >= 2);
    assert!(
        store
            .sessions
            .load("old", now)
            .await
            .expect("load")
            .is_none()
    );
    let code = store.codes.consume("old", "g", now).await.expect("consume");
    assert!(
        matches!(code, portcullis::storage::CodeUse::Unknown),
        "{code:?}"
    );
}
