//! Requests Portcullis must refuse on its own pages, never by sending the browser on:
//! a return address the app never registered, an app nobody registered, and a form
//! posted without its CSRF token.

use super::{Browser, callback, web_rp, with_browser, with_params};
use crate::{
    both_backends,
    helpers::{TestApp, web_app},
    rp::Rp,
};

/// Where an attacker would like the code to go.
const ELSEWHERE: &str = "https://attacker.example/callback";

/// Words a person should not have to read.
const JARGON: &[&str] = &[
    "redirect_uri",
    "client_id",
    "invalid_request",
    "unauthorized_client",
];

/// Asserts the browser shows Portcullis's error page titled `title`, and returns its
/// message.
async fn error_page(b: &Browser, title: &str, status: u16) -> String {
    let url = b.url().await;
    assert!(
        url.as_str().starts_with(&b.base),
        "the browser stays on Portcullis, but it is at {url}"
    );
    assert!(url.query_pairs().all(|(k, _)| k != "code"), "{url}");
    assert_eq!(b.text("h1").await, title, "at {url}");
    assert_eq!(b.status().await, status, "at {url}");
    let message = b.text(".alert").await;
    for word in JARGON {
        assert!(
            !message.contains(word),
            "plain words, not “{word}”: {message}"
        );
    }
    assert!(!b.has("form").await, "nothing to submit on an error page");
    message
}

both_backends!(
    a_bad_sign_in_link_gets_an_error_page_not_a_redirect,
    a_form_without_its_csrf_token_has_expired,
);

async fn a_bad_sign_in_link_gets_an_error_page_not_a_redirect(app: TestApp) {
    with_browser(app, |app, b| async move {
        // A registered app, but a return address it never registered.
        let (client, secret) = app.add_client(web_app(&callback(&app))).await;
        let rp = Rp::discover(&app, &client.client_id, secret.as_deref(), ELSEWHERE).await;
        b.goto(&rp.start(&["openid"]).url).await;
        let message = error_page(&b, "This sign-in link is not valid", 400).await;
        let says = |words: &str| message.contains(words);
        assert!(
            says("return address") && says("not registered"),
            "{message}"
        );

        // An app nobody registered.
        let rp = Rp::discover(&app, "no-such-app", None, ELSEWHERE).await;
        b.goto(&rp.start(&["openid"]).url).await;
        let message = error_page(&b, "This sign-in link is not valid", 400).await;
        assert!(message.contains("not registered"), "{message}");
    })
    .await;
}

async fn a_form_without_its_csrf_token_has_expired(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        let rp = web_rp(&app).await;
        let started = rp.start(&["openid"]);
        b.goto(&started.url).await;
        b.wait_for_url("the login page", |u| u.path() == "/login")
            .await;
        b.client
            .execute(
                "document.querySelector('input[name=csrf]').remove()",
                vec![],
            )
            .await
            .expect("remove the CSRF field");
        assert!(!b.has("input[name=csrf]").await);
        b.fill_login("ada", crate::helpers::PASSWORD).await;

        let message = error_page(&b, "This form has expired", 403).await;
        assert!(!message.is_empty(), "the page says what to do");
        // The password was right, but nobody was signed in.
        b.goto(&with_params(
            &rp.start(&["openid"]).url,
            &[("prompt", "none")],
        ))
        .await;
        let params = b.wait_for_callback(&callback(&app)).await;
        assert_eq!(params["error"], "login_required", "{params:?}");
    })
    .await;
}
