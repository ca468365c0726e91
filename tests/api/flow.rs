//! The authorization code flow end to end, with the openidconnect crate as the app.

use openidconnect::{
    AccessTokenHash, OAuth2TokenResponse, TokenIntrospectionResponse, TokenResponse,
};

use crate::{
    both_backends,
    helpers::{TestApp, web_app},
    rp::{Rp, callback_params},
};

const CALLBACK: &str = "http://127.0.0.1:1/callback";

async fn confidential(app: &TestApp) -> Rp {
    let (client, secret) = app.add_client(web_app(CALLBACK)).await;
    Rp::discover(app, &client.client_id, secret.as_deref(), CALLBACK).await
}

both_backends!(
    a_confidential_app_signs_a_person_in_and_uses_every_endpoint,
    revoking_an_access_token_stops_userinfo_and_introspection,
    a_public_spa_signs_in_with_pkce_and_no_secret,
    a_second_authorization_skips_consent_already_given,
);

async fn a_confidential_app_signs_a_person_in_and_uses_every_endpoint(app: TestApp) {
    let user = app.add_user("ada").await;
    let rp = confidential(&app).await;
    let started = rp.start(&["openid", "profile", "email"]);
    let callback = app.sign_in(&started.url, "ada", true).await;
    assert!(callback.starts_with(CALLBACK), "{callback}");
    let params = callback_params(&callback);
    assert_eq!(
        params["state"],
        *started.state.secret(),
        "state is echoed exactly"
    );
    assert_eq!(params["iss"], app.base, "RFC 9207 iss");

    let tokens = rp
        .exchange(&params["code"], started.verifier)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token for scope openid");
    let verifier = rp.client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &started.nonce)
        .expect("the ID token verifies through the JWKS");
    assert_eq!(claims.subject().as_str(), user.id.to_string());
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("ada"));
    assert!(claims.auth_time().is_some());
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&verifier).expect("key"),
    )
    .expect("hash");
    assert_eq!(claims.access_token_hash(), Some(&at_hash));

    let info = rp
        .userinfo(tokens.access_token().secret())
        .await
        .expect("userinfo");
    assert_eq!(
        info.subject(),
        claims.subject(),
        "userinfo sub equals the ID token's"
    );
    assert_eq!(info.email().map(|e| e.as_str()), Some("ada@example.com"));

    let introspected = rp
        .client
        .introspect(tokens.access_token())
        .request_async(&rp.http)
        .await
        .expect("introspect");
    assert!(introspected.active());
    assert_eq!(introspected.sub(), Some(user.id.to_string().as_str()));
    assert_eq!(
        introspected.client_id().map(|c| c.as_str()),
        Some(rp.client.client_id().as_str())
    );

    let refresh = tokens.refresh_token().expect("a refresh token");
    let refreshed = rp
        .client
        .exchange_refresh_token(refresh)
        .expect("endpoint")
        .request_async(&rp.http)
        .await
        .expect("refresh");
    let new_refresh = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(new_refresh.secret(), refresh.secret());
    assert!(rp.userinfo(refreshed.access_token().secret()).await.is_ok());

    // Reusing the rotated refresh token revokes the whole family.
    let reused = rp
        .client
        .exchange_refresh_token(refresh)
        .expect("endpoint")
        .request_async(&rp.http)
        .await;
    assert!(reused.is_err());
    assert!(
        rp.userinfo(refreshed.access_token().secret())
            .await
            .is_err(),
        "the family's access token is dead"
    );
    let after = rp
        .client
        .exchange_refresh_token(&new_refresh)
        .expect("endpoint")
        .request_async(&rp.http)
        .await;
    assert!(after.is_err(), "the family's newest refresh token is dead");
}

async fn revoking_an_access_token_stops_userinfo_and_introspection(app: TestApp) {
    app.add_user("ada").await;
    let rp = confidential(&app).await;
    let (tokens, _) = rp.sign_in_and_exchange(&app, &["openid"], "ada").await;
    assert_eq!(
        app.revoke(rp.auth(), &[("token", tokens.access_token().secret())])
            .await,
        200
    );
    let err = rp
        .userinfo(tokens.access_token().secret())
        .await
        .expect_err("refused");
    assert!(
        err.contains("401") || err.contains("invalid_token"),
        "{err}"
    );
    let introspected = rp
        .client
        .introspect(tokens.access_token())
        .request_async(&rp.http)
        .await
        .expect("introspect");
    assert!(!introspected.active());
    // Revoking the refresh token ends the grant; revoking garbage is still 200.
    let refresh = tokens.refresh_token().expect("refresh").clone();
    assert_eq!(
        app.revoke(rp.auth(), &[("token", refresh.secret())]).await,
        200
    );
    assert!(
        rp.client
            .exchange_refresh_token(&refresh)
            .expect("endpoint")
            .request_async(&rp.http)
            .await
            .is_err()
    );
    assert_eq!(
        app.revoke(rp.auth(), &[("token", "not-a-token")]).await,
        200,
        "unknown tokens get 200"
    );
}

async fn a_public_spa_signs_in_with_pkce_and_no_secret(app: TestApp) {
    app.add_user("ada").await;
    let mut reg = web_app("http://localhost:5173/cb");
    reg.public = true;
    let (client, secret) = app.add_client(reg).await;
    assert!(secret.is_none());
    let rp = Rp::discover(&app, &client.client_id, None, "http://localhost:5173/cb").await;
    let (tokens, nonce) = rp
        .sign_in_and_exchange(&app, &["openid", "offline_access"], "ada")
        .await;
    assert!(
        tokens
            .id_token()
            .expect("id token")
            .claims(&rp.client.id_token_verifier(), &nonce)
            .is_ok()
    );
    assert!(
        tokens.refresh_token().is_some(),
        "offline_access is honoured"
    );
}

async fn a_second_authorization_skips_consent_already_given(app: TestApp) {
    app.add_user("ada").await;
    let rp = confidential(&app).await;
    let first = rp.start(&["openid", "email"]);
    app.sign_in(&first.url, "ada", true).await;
    let second = rp.start(&["openid"]);
    let r = app.http.get(&second.url).send().await.expect("authorize");
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with(CALLBACK) && location.contains("code="),
        "no pages the second time: {location}"
    );
}
