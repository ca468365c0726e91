//! Sessions that cannot be abused: a visitor who only looks costs no row, what a
//! pending sign-in keeps is small and short-lived, a sign-in ends at its absolute
//! lifetime however active, the cookies are `__Host-` under https, CSRF still holds
//! with the cookie-bound token, and a sign-out is not undone by a request in flight.

use std::time::Duration;

use portcullis::storage::SessionMeta;
use reqwest::StatusCode;

use crate::{
    both_backends,
    helpers::{Backend, PASSWORD, TestApp, hidden, web_app},
};

const CALLBACK: &str = "http://127.0.0.1:1/callback";

both_backends!(
    a_thousand_anonymous_page_views_write_no_session_row,
    the_sign_in_form_needs_its_cookie_bound_token,
    a_signed_in_form_with_a_missing_or_wrong_token_is_refused,
    a_pending_sign_in_is_small_and_expires_after_its_short_life,
    many_pending_sign_ins_with_long_parameters_stay_within_the_cap,
    a_sign_out_is_not_undone_by_requests_that_loaded_the_session_before,
    a_sign_in_with_a_huge_user_agent_keeps_a_small_record,
    a_sign_in_and_a_password_change_each_give_the_session_a_new_id,
    the_store_never_writes_back_a_deleted_session,
    the_store_never_moves_an_ended_session_on,
);

async fn rows(app: &TestApp) -> i64 {
    app.state.store.sessions.count().await.expect("count")
}

/// A client with no cookie jar, like a script hammering the pages.
fn cookieless() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// `name`'s value in a `Set-Cookie` of `r`, and the whole header.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_owned();
            (value, v.to_owned())
        })
}

fn authorize_path(client_id: &str, state: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid")
        .append_pair("state", state)
        .append_pair(
            "code_challenge",
            &"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"[..43],
        )
        .append_pair("code_challenge_method", "S256");
    format!("/authorize?{}", q.finish())
}

/// Signs in at `/login` on its own, with the app's cookie jar.
async fn sign_in_directly(app: &TestApp, username: &str) {
    let html = app.get("/login").await.text().await.expect("html");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/login",
            &[("csrf", &csrf), ("login", username), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

/// Whether the app's cookie jar is signed in: `/account` shows the page, not a redirect.
async fn signed_in(app: &TestApp) -> bool {
    let r = app.get("/account").await;
    r.status() == StatusCode::OK
}

async fn a_thousand_anonymous_page_views_write_no_session_row(app: TestApp) {
    let (client, _) = app.add_client(web_app(CALLBACK)).await;
    let before = rows(&app).await;
    let bare = cookieless();
    // An authorization request that fails its client check keeps nothing either.
    let bad_authorize = "/authorize?client_id=nope&response_type=code".to_owned();
    let pages = [
        "/login",
        "/register",
        "/reset-password",
        "/",
        "/account",
        "/logout",
        bad_authorize.as_str(),
    ];
    for i in 0..1000 {
        let page = pages[i % pages.len()];
        let r = bare.get(app.url(page)).send().await.expect("get");
        assert!(!r.status().is_server_error(), "{page}: {}", r.status());
        assert!(
            set_cookie(&r, "portcullis_session").is_none(),
            "{page} set a session"
        );
    }
    // The same with a browser that keeps its cookies (the CSRF cookie, say).
    for page in pages {
        let r = app.get(page).await;
        assert!(!r.status().is_server_error(), "{page}");
    }
    assert_eq!(
        rows(&app).await,
        before,
        "anonymous page views wrote session rows"
    );
    // While a real pending sign-in is kept: one row.
    let r = bare
        .get(app.url(&authorize_path(&client.client_id, "s")))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(rows(&app).await, before + 1);
}

async fn the_sign_in_form_needs_its_cookie_bound_token(app: TestApp) {
    app.add_user("ada").await;
    let r = app.get("/login").await;
    let (cookie, _) = set_cookie(&r, "portcullis_csrf").expect("a CSRF cookie");
    let html = r.text().await.expect("html");
    let csrf = hidden(&html, "csrf").expect("csrf");
    assert_eq!(csrf, cookie, "the form carries the cookie's token");
    // The page again: the same cookie is kept, not replaced (other tabs' forms work).
    let again = app.get("/login").await;
    assert!(set_cookie(&again, "portcullis_csrf").is_none());
    let login = |token: &'static str| [("login", "ada"), ("password", PASSWORD), ("csrf", token)];
    // Missing, wrong, and someone else's token (a token without its cookie).
    let r = app
        .post_form("/login", &[("login", "ada"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .post_form("/login", &login("not-the-token-at-all-not-the-token"))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let stolen = cookieless()
        .post(app.url("/login"))
        .form(&[
            ("login", "ada"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(
        stolen.status(),
        StatusCode::FORBIDDEN,
        "a token is bound to its cookie"
    );
    // A cookie that is not one of ours is not a token either.
    let forged = cookieless()
        .post(app.url("/login"))
        .header("cookie", "portcullis_csrf=x")
        .form(&[("login", "ada"), ("password", PASSWORD), ("csrf", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(rows(&app).await, 0, "refused forms wrote nothing");
    // The right one signs in.
    let r = app
        .post_form(
            "/login",
            &[
                ("login", "ada"),
                ("password", PASSWORD),
                ("csrf", csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(signed_in(&app).await);
    assert_eq!(rows(&app).await, 1);
}

async fn a_signed_in_form_with_a_missing_or_wrong_token_is_refused(app: TestApp) {
    app.add_user("ada").await;
    sign_in_directly(&app, "ada").await;
    let html = app.get("/account").await.text().await.expect("html");
    let csrf = hidden(&html, "csrf").expect("csrf");
    fn form(token: Option<&str>) -> Vec<(&str, &str)> {
        let mut f = vec![("name", "Ada L")];
        if let Some(t) = token {
            f.push(("csrf", t));
        }
        f
    }
    for token in [None, Some(""), Some("wrong-wrong-wrong-wrong-wrong-wrong")] {
        let r = app.post_form("/account/profile", &form(token)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{token:?}");
    }
    let r = app.post_form("/account/profile", &form(Some(&csrf))).await;
    assert!(r.status().is_redirection(), "{}", r.status());
}

async fn a_pending_sign_in_is_small_and_expires_after_its_short_life(app: TestApp) {
    let (client, _) = app.add_client(web_app(CALLBACK)).await;
    let r = app.get(&authorize_path(&client.client_id, "state-1")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (id, cookie) = set_cookie(&r, "portcullis_session").expect("a session");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let login = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let (size, expires_at) = app
        .state
        .store
        .sessions
        .size_and_expiry(&id)
        .await
        .expect("query")
        .expect("the row");
    assert!(size < 1024, "a pending sign-in takes {size} bytes");
    let now = app.clock.now();
    assert!(
        (now + 29 * 60..=now + 31 * 60).contains(&expires_at),
        "expires in {} s, not 30 min",
        expires_at - now
    );
    // The login page still finds it within its life, but not after.
    let r = app.get(&login).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.clock.advance(Duration::from_secs(31 * 60));
    let r = app.get(&login).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains("This sign-in has expired")
    );
}

async fn many_pending_sign_ins_with_long_parameters_stay_within_the_cap(app: TestApp) {
    let (client, _) = app.add_client(web_app(CALLBACK)).await;
    let long = "s".repeat(2048);
    let mut id = None;
    for _ in 0..12 {
        let r = app.get(&authorize_path(&client.client_id, &long)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        if let Some((v, _)) = set_cookie(&r, "portcullis_session") {
            id = Some(v);
        }
    }
    let id = id.expect("a session");
    let (size, _) = app
        .state
        .store
        .sessions
        .size_and_expiry(&id)
        .await
        .expect("query")
        .expect("the row");
    assert!(size > 4 * 2048, "several are kept ({size} bytes)");
    assert!(size <= 17 * 1024, "the record grew to {size} bytes");
    assert_eq!(rows(&app).await, 1);
}

async fn a_sign_out_is_not_undone_by_requests_that_loaded_the_session_before(app: TestApp) {
    let ada = app.add_user("ada").await;
    let (client, _) = app.add_client(web_app(CALLBACK)).await;
    for round in 0..5 {
        sign_in_directly(&app, "ada").await;
        let html = app.get("/logout").await.text().await.expect("html");
        let csrf = hidden(&html, "csrf").expect("confirm form");
        // Requests that load the signed-in session and write it back (a new pending
        // sign-in), raced against the sign-out.
        let mut racers = Vec::new();
        for i in 0..12 {
            let http = app.http.clone();
            let url = app.url(&authorize_path(&client.client_id, &format!("r{round}-{i}")));
            racers.push(tokio::spawn(async move {
                http.get(url).send().await.map(|r| r.status())
            }));
        }
        let out = app
            .post_form("/logout", &[("csrf", &csrf), ("confirm", "yes")])
            .await;
        assert!(out.status().is_success(), "{}", out.status());
        for r in racers {
            let status = r.await.expect("join").expect("get");
            assert!(!status.is_server_error(), "{status}");
        }
        let live = app
            .state
            .store
            .sessions
            .list_for_user(ada.id, app.clock.now())
            .await
            .expect("list");
        assert!(
            live.is_empty(),
            "round {round}: a signed-out session came back: {live:?}"
        );
        assert!(!signed_in(&app).await, "round {round}: still signed in");
    }
}

#[tokio::test]
async fn a_sign_in_ends_at_its_absolute_lifetime_however_active() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        "[sessions]\nttl = \"1h\"\nabsolute_ttl = \"3h\"\nanonymous_ttl = \"30m\"\n",
    )
    .await;
    app.add_user("ada").await;
    sign_in_directly(&app, "ada").await;
    // Used every 50 minutes: the idle timeout of an hour never ends it...
    for step in 0..3 {
        app.clock.advance(Duration::from_secs(50 * 60));
        assert!(signed_in(&app).await, "signed out at step {step}");
    }
    // ...but three hours after the sign-in, it is over.
    app.clock.advance(Duration::from_secs(31 * 60));
    assert!(
        !signed_in(&app).await,
        "still signed in past the absolute lifetime"
    );
}

#[tokio::test]
async fn a_sign_in_left_unused_ends_at_its_idle_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, "[sessions]\nttl = \"1h\"\n").await;
    app.add_user("ada").await;
    sign_in_directly(&app, "ada").await;
    app.clock.advance(Duration::from_secs(59 * 60));
    assert!(signed_in(&app).await);
    app.clock.advance(Duration::from_secs(61 * 60));
    assert!(
        !signed_in(&app).await,
        "an unused session outlived its idle timeout"
    );
}

#[tokio::test]
async fn under_an_https_issuer_the_cookies_are_host_prefixed() {
    let app = TestApp::spawn_with(Backend::Sqlite, "issuer = \"https://id.example.com\"\n").await;
    let (client, _) = app.add_client(web_app(CALLBACK)).await;
    let bare = cookieless();
    let r = bare.get(app.url("/login")).send().await.expect("login");
    let (_, csrf) = set_cookie(&r, "__Host-portcullis_csrf").expect("a __Host- CSRF cookie");
    let r = bare
        .get(app.url(&authorize_path(&client.client_id, "s")))
        .send()
        .await
        .expect("authorize");
    let (_, session) =
        set_cookie(&r, "__Host-portcullis_session").expect("a __Host- session cookie");
    for cookie in [csrf, session] {
        assert!(cookie.contains("Secure"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        assert!(!cookie.to_ascii_lowercase().contains("domain"), "{cookie}");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
    }
    assert!(set_cookie(&r, "portcullis_session").is_none());
    // The cookie may last a whole sign-in (the row ends sooner), so that use, which
    // moves the row's expiry on without sending the cookie again, keeps it working.
    let (_, session) = set_cookie(&r, "__Host-portcullis_session").expect("session cookie");
    assert!(session.contains("Max-Age=604800"), "{session}");
}

async fn the_store_never_writes_back_a_deleted_session(app: TestApp) {
    let store = &app.state.store.sessions;
    let now = app.clock.now();
    let meta = SessionMeta {
        last_seen_at: now,
        ..SessionMeta::default()
    };
    assert!(
        store
            .create("one", b"{}", now + 600, &meta)
            .await
            .expect("create")
    );
    assert!(
        !store
            .create("one", b"{}", now + 600, &meta)
            .await
            .expect("create"),
        "id taken"
    );
    assert!(
        store
            .save("one", b"{\"a\":1}", now + 600, &meta)
            .await
            .expect("save")
    );
    store.delete("one").await.expect("delete");
    assert!(
        !store
            .save("one", b"{\"a\":2}", now + 600, &meta)
            .await
            .expect("save"),
        "a save after the delete reports it wrote nothing"
    );
    assert_eq!(store.load("one", now).await.expect("load"), None);
    assert_eq!(rows(&app).await, 0);
}

async fn the_store_never_moves_an_ended_session_on(app: TestApp) {
    let store = &app.state.store.sessions;
    let now = app.clock.now();
    let meta = SessionMeta {
        last_seen_at: now,
        ..SessionMeta::default()
    };
    assert!(
        store
            .create("short", b"{}", now + 10, &meta)
            .await
            .expect("create")
    );
    // Touched while live: moved on.
    store
        .touch("short", now + 100, now + 5)
        .await
        .expect("touch");
    assert!(store.load("short", now + 50).await.expect("load").is_some());
    // Touched once expired: stays expired.
    store
        .touch("short", now + 1000, now + 200)
        .await
        .expect("touch");
    assert_eq!(store.load("short", now + 200).await.expect("load"), None);
    // Touching a deleted one creates nothing.
    store.delete("short").await.expect("delete");
    store.touch("short", now + 1000, now).await.expect("touch");
    assert_eq!(rows(&app).await, 0);
}

async fn a_sign_in_with_a_huge_user_agent_keeps_a_small_record(app: TestApp) {
    app.add_user("ada").await;
    let huge = format!("Mozilla/5.0 {}", "x".repeat(50_000));
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(huge)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let html = browser
        .get(app.url("/login"))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("html");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let r = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("login", "ada"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (id, _) = set_cookie(&r, "portcullis_session").expect("a session");
    let (size, _) = app
        .state
        .store
        .sessions
        .size_and_expiry(&id)
        .await
        .expect("query")
        .expect("the row");
    assert!(size < 2048, "the record takes {size} bytes");
}

async fn a_sign_in_and_a_password_change_each_give_the_session_a_new_id(app: TestApp) {
    let (client, _) = app.add_client(web_app(CALLBACK)).await;
    app.add_user("ada").await;
    // A session before sign-in (a pending request), then the sign-in.
    let r = app.get(&authorize_path(&client.client_id, "s")).await;
    let (before, _) = set_cookie(&r, "portcullis_session").expect("a session");
    let login = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let html = app.get(&login).await.text().await.expect("html");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let request = hidden(&html, "request").expect("request");
    let r = app
        .post_form(
            "/login",
            &[
                ("csrf", csrf.as_str()),
                ("request", request.as_str()),
                ("login", "ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (signed_in_id, _) = set_cookie(&r, "portcullis_session").expect("a new cookie");
    assert_ne!(signed_in_id, before, "no session fixation at sign-in");
    let store = &app.state.store.sessions;
    assert_eq!(store.size_and_expiry(&before).await.expect("query"), None);
    // A password change, a privilege change too.
    let html = app.get("/account").await.text().await.expect("html");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/account/password",
            &[
                ("csrf", csrf.as_str()),
                ("current_password", PASSWORD),
                ("new_password", "plum orchard lantern 1987"),
                ("confirm_password", "plum orchard lantern 1987"),
            ],
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let (changed_id, _) = set_cookie(&r, "portcullis_session").expect("a new cookie");
    assert_ne!(changed_id, signed_in_id);
    assert_eq!(
        store.size_and_expiry(&signed_in_id).await.expect("query"),
        None
    );
    assert!(signed_in(&app).await, "still signed in, under the new id");
}
