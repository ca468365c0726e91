//! The admin console's door: a signed-out browser signs in and comes back to the page
//! it asked for; someone who is not an admin gets a plain 403 page; the header links
//! every section.

use super::{Browser, with_browser};
use crate::{admin::add_admin, both_backends, helpers::TestApp};

both_backends!(
    a_signed_out_admin_signs_in_and_comes_back_to_the_console,
    someone_who_is_not_an_admin_is_turned_away,
);

/// Opens `path` of the console signed out, signs in as `username`, and waits to be back.
pub(crate) async fn sign_in_to_console(app: &TestApp, b: &Browser, username: &str, path: &str) {
    b.goto(&app.url(path)).await;
    b.sign_in_as(username).await;
    b.wait_for_url("the console", |u| u.path() == path).await;
}

async fn a_signed_out_admin_signs_in_and_comes_back_to_the_console(app: TestApp) {
    with_browser(app, |app, b| async move {
        add_admin(&app, "grace").await;
        sign_in_to_console(&app, &b, "grace", "/admin").await;
        assert_eq!(b.text("h1").await, "Overview");
        assert_eq!(
            b.text(".console-nav a[aria-current=page]").await,
            "Overview"
        );
        assert!(b.text(".console-who").await.contains("grace"));
        // A return path is only ever one of the console's: the account page otherwise.
        b.goto(&app.url("/login")).await;
        b.fill_login("grace", crate::helpers::PASSWORD).await;
        b.wait_for_url("the account page", |u| u.path() == "/account")
            .await;
    })
    .await;
}

async fn someone_who_is_not_an_admin_is_turned_away(app: TestApp) {
    with_browser(app, |app, b| async move {
        app.add_user("ada").await;
        b.goto(&app.url("/admin")).await;
        b.sign_in_as("ada").await;
        b.wait_for_url("the console's address", |u| u.path() == "/admin")
            .await;
        assert_eq!(b.text("h1").await, "Administrators only");
        assert_eq!(b.status().await, 403);
    })
    .await;
}
