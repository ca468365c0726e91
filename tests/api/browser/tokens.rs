//! What happens to a code and its tokens after the browser has done its part: a code
//! works once, PKCE binds it, and a tampered or revoked access token is refused.

use openidconnect::{AuthorizationCode, OAuth2TokenResponse, PkceCodeVerifier, RequestTokenError};

use super::{exchange, sign_in_and_allow, web_rp, with_browser};
use crate::{both_backends, helpers::TestApp, rp::Rp};

/// The OAuth error code the token endpoint answers an exchange with; panics on success.
async fn exchange_error(rp: &Rp, code: &str, verifier: &str) -> String {
    let answer = rp
        .client
        .exchange_code(AuthorizationCode::new(code.into()))
        .expect("token endpoint")
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.into()))
        .request_async(&rp.http)
        .await;
    match answer {
        Err(RequestTokenError::ServerResponse(e)) => e.error().to_string(),
        Err(other) => panic!("not an OAuth error response: {other:?}"),
        Ok(_) => panic!("the exchange was accepted"),
    }
}

/// What `/userinfo` says to a bearer token: the status and the `WWW-Authenticate` header.
async fn userinfo(app: &TestApp, token: &str) -> (u16, String) {
    let (status, headers, _) = app.userinfo(token).await;
    let challenge = headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status.as_u16(), challenge)
}

fn assert_refused((status, challenge): (u16, String), what: &str) {
    assert_eq!(status, 401, "{what} is refused");
    assert!(
        challenge.starts_with("Bearer") && challenge.contains(r#"error="invalid_token""#),
        "{what}: RFC 6750 challenge, got {challenge:?}"
    );
}

/// A JWT with one character in the middle of its signature changed.
fn tampered(jwt: &str) -> String {
    let signature = jwt.rfind('.').expect("a JWS") + 1;
    let at = signature + (jwt.len() - signature) / 2;
    let mut bytes = jwt.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ascii")
}

both_backends!(
    a_code_works_once_and_its_replay_revokes_what_it_gave,
    a_wrong_pkce_verifier_gets_no_tokens,
    tampered_and_revoked_access_tokens_are_refused,
);

async fn a_code_works_once_and_its_replay_revokes_what_it_gave(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid"]);
        let params = sign_in_and_allow(&b, &app, &started, "ada").await;
        let code = params["code"].clone();
        let verifier = started.verifier.secret().clone();

        let tokens = rp
            .exchange(&code, PkceCodeVerifier::new(verifier.clone()))
            .await
            .expect("the first exchange");
        assert_eq!(userinfo(&app, tokens.access_token().secret()).await.0, 200);

        assert_eq!(exchange_error(&rp, &code, &verifier).await, "invalid_grant");
        assert_refused(
            userinfo(&app, tokens.access_token().secret()).await,
            "the access token from the replayed code",
        );
    })
    .await;
}

async fn a_wrong_pkce_verifier_gets_no_tokens(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid"]);
        let params = sign_in_and_allow(&b, &app, &started, "ada").await;
        let wrong = "x".repeat(43);
        assert_ne!(started.verifier.secret(), &wrong);
        assert_eq!(
            exchange_error(&rp, &params["code"], &wrong).await,
            "invalid_grant"
        );
    })
    .await;
}

async fn tampered_and_revoked_access_tokens_are_refused(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid"]);
        let params = sign_in_and_allow(&b, &app, &started, "ada").await;
        let tokens = exchange(&rp, &params, started).await;
        let token = tokens.access_token().secret();
        assert_eq!(
            userinfo(&app, token).await.0,
            200,
            "the token as issued works"
        );

        assert_refused(userinfo(&app, &tampered(token)).await, "a tampered token");

        let form = [
            ("token", token.as_str()),
            ("token_type_hint", "access_token"),
        ];
        let revoked = app.revoke(rp.auth(), &form).await;
        assert_eq!(revoked.as_u16(), 200);
        assert_refused(userinfo(&app, token).await, "a revoked token");
    })
    .await;
}
