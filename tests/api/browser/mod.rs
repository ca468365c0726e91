//! The sign-in pages in a real headless Chromium, driven over WebDriver by fantoccini.
//!
//! One chromedriver serves the whole test process: started on first use on a free port,
//! and stopped by a watchdog shell when this process exits (the pipe to it closes). Each
//! test gets its own WebDriver session with a fresh profile, at most two at a time (the
//! CI machine has two cores), and a hard time limit. Without chromedriver and Chromium
//! on the PATH the tests are skipped with a note, except under CI, where they fail.

mod account;
pub(crate) mod admin;
mod admin_audit;
mod admin_registration;
mod lockout;
mod logout;
mod passkeys;
mod refusals;
mod register;
mod reset;
mod screenshots;
mod sign_in;
mod tokens;
mod totp;

use std::{
    future::Future,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use openidconnect::core::CoreTokenResponse;
use serde_json::json;
use tokio::sync::{OnceCell, Semaphore};
use url::Url;

use crate::{
    helpers::{PASSWORD, TestApp, web_app},
    rp::{Rp, Started, callback_params},
};

/// Screenshots of every page for the README: a no-op unless PORTCULLIS_SCREENSHOTS
/// names a folder (see `screenshots`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_every_page() {
    screenshots::run().await;
}

/// Browser sessions alive at once in this process.
static SESSIONS: Semaphore = Semaphore::const_new(2);
/// The chromedriver URL, or why it could not start.
static DRIVER: OnceCell<Result<String, String>> = OnceCell::const_new();
/// The watchdog that owns chromedriver; never dropped, so its stdin closes only when
/// this process exits.
static WATCHDOG: Mutex<Option<Child>> = Mutex::new(None);

/// The longest a browser test may run once it has its browser.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// The longest we wait for one thing to happen on a page.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// The flags every session's Chromium runs with. The machine has no network: without
/// these Chromium keeps trying to reach Google's services.
const CHROME_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--password-store=basic",
    "--use-mock-keychain",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--lang=en-US",
    "--window-size=1280,800",
];

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// chromedriver and Chromium, or `None` (with a note) when the tests must be skipped.
/// Under CI a missing browser fails the test instead.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let driver = on_path("chromedriver");
    let chrome = on_path("chromium").or_else(|| on_path("chromium-browser"));
    match (driver, chrome) {
        (Some(d), Some(c)) => Some((d, c)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromedriver and chromium must be on the PATH under CI: the browser tests \
                 cannot be skipped there"
            );
            eprintln!("skipped: chromedriver or chromium is not on the PATH");
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs chromedriver (`$0`, on port `$1`) in a process group of its own, waits until
/// its stdin closes, then ends the whole group: chromedriver leaves the browsers it
/// started running when it is killed, so they must go with it.
const WATCHDOG_SCRIPT: &str = r#"
if command -v setsid >/dev/null; then group=setsid; else group=; fi
$group "$0" --port="$1" --log-level=OFF &
pid=$!
cat >/dev/null
kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid"
sleep 2
kill -KILL "-$pid" 2>/dev/null
"#;

/// Starts chromedriver behind a watchdog that kills it when our end of its stdin closes,
/// that is when this test process exits, however it exits.
async fn start_driver(chromedriver: &Path) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg(chromedriver)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run sh for chromedriver: {e}"))?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let ready = match http.get(format!("{url}/status")).send().await {
                Ok(r) => r
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == json!(true)),
                Err(_) => false,
            };
            if ready {
                *WATCHDOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
                return Ok(url);
            }
            tokio::time::sleep(POLL).await;
        }
        // Closing its stdin makes the watchdog end this chromedriver's process group.
        drop(child.stdin.take());
        last = format!("chromedriver did not become ready on port {port}");
    }
    Err(last)
}

/// A new WebDriver session on a fresh profile; a second try if Chromium fails to start
/// once (it can, on a busy machine).
async fn open_session(driver: &str, chromium: &Path) -> (Client, tempfile::TempDir) {
    let mut failure = String::new();
    for _ in 0..2 {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = CHROME_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": 15_000, "script": 5_000, "implicit": 0},
            "goog:chromeOptions": {"binary": chromium, "args": args},
        });
        let capabilities: fantoccini::wd::Capabilities =
            serde_json::from_value(capabilities).expect("capabilities");
        let mut builder = ClientBuilder::rustls().expect("rustls");
        let connecting = builder.capabilities(capabilities).connect(driver);
        match tokio::time::timeout(Duration::from_secs(30), connecting).await {
            Ok(Ok(client)) => return (client, profile),
            Ok(Err(e)) => failure = e.to_string(),
            Err(_) => failure = "no answer within 30 s".into(),
        }
    }
    panic!("no browser session: {failure}");
}

/// A page in Chromium, signed in as nobody yet, and the test server it talks to.
pub(crate) struct Browser {
    pub client: Client,
    pub base: String,
}

/// Runs `test` with a fresh browser session: skipped when there is no browser, limited
/// to [`TEST_LIMIT`], and the session is closed whether the test passes or panics.
pub(crate) async fn with_browser<F, Fut>(app: TestApp, test: F)
where
    F: FnOnce(TestApp, Browser) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some((chromedriver, chromium)) = tools() else {
        return;
    };
    let _permit = SESSIONS.acquire().await.expect("semaphore");
    let driver = DRIVER
        .get_or_init(|| start_driver(&chromedriver))
        .await
        .clone()
        .unwrap_or_else(|e| panic!("{e}"));
    // Both ring and aws-lc-rs are in the tree, so rustls cannot pick one by itself.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (client, profile) = open_session(&driver, &chromium).await;
    let browser = Browser {
        client: client.clone(),
        base: app.base.clone(),
    };
    let run = tokio::spawn(tokio::time::timeout(TEST_LIMIT, test(app, browser)));
    let outcome = run.await;
    let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
    drop(profile);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(_)) => panic!("the browser test did not finish within {TEST_LIMIT:?}"),
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the browser test was cancelled: {e}"),
        },
    }
}

impl Browser {
    /// Opens `url` and waits for the page to load.
    pub(crate) async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    pub(crate) async fn url(&self) -> Url {
        self.client.current_url().await.expect("current url")
    }

    /// Polls until the page's URL satisfies `ready` and the page has loaded.
    pub(crate) async fn wait_for_url(&self, what: &str, ready: impl Fn(&Url) -> bool) -> Url {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.url().await;
            if ready(&url) && self.loaded().await {
                return url;
            }
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} for {what}; the browser is at {url}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the browser is back at the app's callback (or any URL starting with
    /// `prefix`), and returns its query.
    pub(crate) async fn wait_for_callback(
        &self,
        prefix: &str,
    ) -> std::collections::HashMap<String, String> {
        let url = self
            .wait_for_url(&format!("a redirect to {prefix}"), |u| {
                u.as_str().starts_with(prefix)
            })
            .await;
        callback_params(url.as_str())
    }

    async fn loaded(&self) -> bool {
        self.client
            .execute("return document.readyState", vec![])
            .await
            .is_ok_and(|v| v == json!("complete"))
    }

    /// Waits for an element on the page.
    pub(crate) async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let url = self.url().await;
        self.client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` at {url}: {e}"))
    }

    pub(crate) async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .is_empty()
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// The current value of a form field.
    pub(crate) async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// The HTTP status of the page on screen, as the browser received it.
    pub(crate) async fn status(&self) -> u16 {
        let v = self
            .client
            .execute(
                "return performance.getEntriesByType('navigation')[0].responseStatus",
                vec![],
            )
            .await
            .expect("navigation timing");
        let status = v.as_u64().unwrap_or_else(|| panic!("no status: {v}"));
        u16::try_from(status).expect("status")
    }

    /// Clicks the button whose visible label is `label`.
    pub(crate) async fn click_button(&self, label: &str) {
        let xpath = format!("//button[normalize-space()='{label}']");
        let url = self.url().await;
        let button = self
            .client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no “{label}” button at {url}: {e}"));
        // Every button here submits a form: wait until its answer has replaced this page,
        // so that nothing is read from the page being left.
        self.client
            .execute("window.portcullisLeaving = true", vec![])
            .await
            .expect("mark the page");
        button.click().await.expect("click");
        let deadline = Instant::now() + WAIT;
        loop {
            let arrived = self
                .client
                .execute(
                    "return !window.portcullisLeaving && document.readyState === 'complete'",
                    vec![],
                )
                .await
                .is_ok_and(|v| v == json!(true));
            if arrived {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "“{label}” at {url} led nowhere within {WAIT:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Types into the login form on screen and presses "Sign in".
    pub(crate) async fn fill_login(&self, login: &str, password: &str) {
        let field = self.find("#login").await;
        field.clear().await.expect("clear");
        field.send_keys(login).await.expect("type the username");
        self.find("#password")
            .await
            .send_keys(password)
            .await
            .expect("type the password");
        self.click_button("Sign in").await;
    }

    /// On the login page: waits for it, checks it, and signs in as `username`.
    pub(crate) async fn sign_in_as(&self, username: &str) {
        self.wait_for_url("the login page", |u| u.path() == "/login")
            .await;
        assert_eq!(self.text("h1").await, "Sign in");
        self.fill_login(username, PASSWORD).await;
    }

    /// On the consent page: waits for it, and clicks `label` ("Allow" or "Deny").
    pub(crate) async fn consent(&self, label: &str) {
        self.wait_for_url("the consent page", |u| u.path() == "/consent")
            .await;
        self.click_button(label).await;
    }
}

/// The app's redirect URI: a page on the test server itself (our 404 page), so the
/// browser's URL shows what the app was sent.
pub(crate) fn callback(app: &TestApp) -> String {
    format!("{}/callback", app.base)
}

/// A confidential web app redirecting to [`callback`], as an Rp.
pub(crate) async fn web_rp(app: &TestApp) -> Rp {
    let (client, secret) = app.add_client(web_app(&callback(app))).await;
    Rp::discover(app, &client.client_id, secret.as_deref(), &callback(app)).await
}

/// `url` with extra query parameters.
pub(crate) fn with_params(url: &str, extra: &[(&str, &str)]) -> String {
    let mut url = Url::parse(url).expect("url");
    url.query_pairs_mut().extend_pairs(extra);
    url.to_string()
}

/// Signs in through the pages and consents, returning the callback's query.
pub(crate) async fn sign_in_and_allow(
    b: &Browser,
    app: &TestApp,
    started: &Started,
    username: &str,
) -> std::collections::HashMap<String, String> {
    b.goto(&started.url).await;
    b.sign_in_as(username).await;
    b.consent("Allow").await;
    b.wait_for_callback(&callback(app)).await
}

/// The tokens for a callback's code.
pub(crate) async fn exchange(
    rp: &Rp,
    params: &std::collections::HashMap<String, String>,
    started: Started,
) -> CoreTokenResponse {
    let code = params
        .get("code")
        .unwrap_or_else(|| panic!("no code: {params:?}"));
    rp.exchange(code, started.verifier)
        .await
        .expect("code exchange")
}
