//! `/metrics`: Prometheus text exposition format, checked line by line; its counters
//! move with traffic; the token on the main port, the 404 without settings, the
//! listener of its own; and `X-Request-Id` on every kind of answer.
//!
//! Every server in this test binary shares the process's one recorder, and tests run in
//! parallel, so counters are compared as before/after deltas.

use std::{collections::HashMap, time::Duration};

use reqwest::StatusCode;

use crate::helpers::{Backend, PASSWORD, TestApp, hidden, postgres_available, web_app};

const TOKEN: &str = "metrics-token-0123456789abcdef";
const WITH_TOKEN: &str = "[metrics]\ntoken = \"metrics-token-0123456789abcdef\"\n";

/// A sample's name and labels as written (`name{a="b"}`), to its value.
type Samples = HashMap<String, f64>;

/// Checks `text` against the text exposition format (version 0.0.4), line by line,
/// and returns its samples: `# HELP name text` and `# TYPE name kind` (at most once per
/// family, before its samples), and `name{label="value",...} value` lines whose family
/// was typed; histograms with `_bucket` (an `le` label, ending at `+Inf`), `_sum`,
/// `_count`.
fn parse_exposition(text: &str) -> Samples {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Samples::new();
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let (keyword, rest) = rest.split_once(' ').expect(&at);
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(valid_name(name), "{at}: metric name");
            match keyword {
                "HELP" => assert!(!tail.is_empty(), "{at}: help text"),
                "TYPE" => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&tail),
                        "{at}: type"
                    );
                    assert!(
                        types.insert(name.to_owned(), tail.to_owned()).is_none(),
                        "{at}: typed twice"
                    );
                }
                _ => panic!("{at}: unknown comment keyword"),
            }
            continue;
        }
        assert!(!line.starts_with('#'), "{at}: comment");
        let (series, value) = match line.find('{') {
            Some(open) => {
                let close = open + labels_end(&line[open..]).expect(&at);
                (&line[..=close], line[close + 1..].trim_start())
            }
            None => line.split_once(' ').expect(&at),
        };
        let name = series.split('{').next().expect(&at);
        assert!(valid_name(name), "{at}: sample name");
        let value = value.split(' ').next().expect(&at);
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().unwrap_or_else(|_| panic!("{at}: value")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "{at}: no # TYPE for {family}");
        if family != name && name.ends_with("_bucket") {
            assert!(series.contains("le=\""), "{at}: a bucket has le");
        }
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "{at}: the same series twice"
        );
    }
    for (family, kind) in &types {
        if kind == "histogram" && samples.keys().any(|k| k.starts_with(&format!("{family}_"))) {
            assert!(
                samples.keys().any(
                    |k| k.starts_with(&format!("{family}_bucket")) && k.contains("le=\"+Inf\"")
                ),
                "{family}: a +Inf bucket"
            );
        }
    }
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The index of the `}` that closes the label set at the start of `text`, having
/// checked each `name="value"` pair (values with `\\`, `\"` and `\n` escapes).
fn labels_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    loop {
        if bytes.get(i) == Some(&b'}') {
            return Some(i);
        }
        let start = i;
        while bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            i += 1;
        }
        if i == start || bytes.get(i) != Some(&b'=') || bytes.get(i + 1) != Some(&b'"') {
            return None;
        }
        i += 2;
        loop {
            match bytes.get(i)? {
                b'\\' => {
                    if !matches!(bytes.get(i + 1)?, b'\\' | b'"' | b'n') {
                        return None;
                    }
                    i += 2;
                }
                b'"' => break,
                b'\n' => return None,
                _ => i += 1,
            }
        }
        i += 1;
        match bytes.get(i)? {
            b',' => i += 1,
            b'}' => return Some(i),
            _ => return None,
        }
    }
}

/// A sample's value, 0 when it is not there yet (a counter never moved).
fn value(samples: &Samples, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

async fn scrape(app: &TestApp) -> Samples {
    let r = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/plain; version=0.0.4"),
    );
    parse_exposition(&r.text().await.expect("body"))
}

#[test]
fn the_format_checker_refuses_what_prometheus_would() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"\"} 3\n";
    assert_eq!(
        value(&parse_exposition(good), "a_total{x=\"1\",y=\"q\\\"\"}"),
        3.0
    );
    for bad in [
        "a_total 3\n",                                      // no TYPE
        "# TYPE a_total counter\na_total{x=1} 3\n",         // unquoted label
        "# TYPE a_total counter\na_total{x=\"1\"} three\n", // not a number
        "# TYPE 1a counter\n",                              // bad name
        "# TYPE a gauge\n# TYPE a gauge\n",                 // typed twice
        "# TYPE a_total counter\na_total 3",                // no final newline
    ] {
        let result = std::panic::catch_unwind(|| parse_exposition(bad));
        assert!(result.is_err(), "accepted {bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_the_main_port_need_the_token_on_sqlite() {
    metrics_on_the_main_port_need_the_token(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_the_main_port_need_the_token_on_postgres() {
    if postgres_available() {
        metrics_on_the_main_port_need_the_token(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_with_traffic_on_sqlite() {
    counters_move_with_traffic(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_with_traffic_on_postgres() {
    if postgres_available() {
        counters_move_with_traffic(Backend::Postgres).await;
    }
}

async fn metrics_on_the_main_port_need_the_token(backend: Backend) {
    let app = TestApp::spawn_with(backend, WITH_TOKEN).await;
    for auth in [None, Some("wrong-token-0123456789abcdef"), Some("")] {
        let mut req = app.http.get(app.url("/metrics"));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.expect("get");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .expect("text")
                .starts_with("Bearer"),
        );
        let body = r.text().await.expect("body");
        assert!(!body.contains("portcullis_"), "nothing measured is told");
    }
    let samples = scrape(&app).await;
    assert_eq!(
        value(
            &samples,
            &format!(
                "portcullis_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    assert!(
        samples
            .keys()
            .any(|k| k.starts_with("portcullis_db_connections{") && k.contains("in_use")),
        "{samples:?}"
    );
    assert!(samples.contains_key("portcullis_mail_queue_messages{state=\"given_up\"}"));
}

async fn counters_move_with_traffic(backend: Backend) {
    let app = TestApp::spawn_with(backend, WITH_TOKEN).await;
    app.add_user("ada").await;
    let mut reg = web_app("https://app.example.com/cb");
    reg.grant_types = vec!["client_credentials".into()];
    reg.scopes = vec!["api:read".into()];
    let (client, secret) = app.add_client(reg).await;
    let secret = secret.expect("secret");

    let tokens = "portcullis_tokens_issued_total{grant_type=\"client_credentials\"}";
    let token_ok =
        "portcullis_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"}";
    let token_timed =
        "portcullis_http_request_duration_seconds_count{route=\"/token\",method=\"POST\"}";
    let failed = "portcullis_sign_ins_total{method=\"password\",outcome=\"failure\"}";
    let unmatched =
        "portcullis_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}";
    let before = scrape(&app).await;

    let got = app
        .post_token(
            Some((&client.client_id, &secret)),
            &[("grant_type", "client_credentials"), ("scope", "api:read")],
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{:?}", got.2);
    let html = app.get("/login").await.text().await.expect("page");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/login",
            &[
                ("csrf", &csrf),
                ("login", "ada"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a wrong password");
    let r = app.get("/no/such/page?code=secret").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let after = scrape(&app).await;
    for series in [tokens, token_ok, token_timed, failed, unmatched] {
        assert!(
            value(&after, series) >= value(&before, series) + 1.0,
            "{series}: {} then {}",
            value(&before, series),
            value(&after, series)
        );
    }
    assert!(
        !after
            .keys()
            .any(|k| k.contains("/no/such") || k.contains("ada") || k.contains(&client.client_id)),
        "no raw path, user or client in a label"
    );
    // The right password is a success, not a failure.
    let success = "portcullis_sign_ins_total{method=\"password\",outcome=\"success\"}";
    let html = app.get("/login").await.text().await.expect("page");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/login",
            &[("csrf", &csrf), ("login", "ada"), ("password", PASSWORD)],
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let last = scrape(&app).await;
    assert!(value(&last, success) >= value(&after, success) + 1.0);
    let waited = "portcullis_password_hash_wait_seconds_count";
    assert!(
        value(&last, waited) >= value(&before, waited) + 2.0,
        "two hashes waited"
    );

    // Five wrong passwords lock bob's account (the default threshold); the next
    // attempt is counted as locked.
    app.add_user("bob").await;
    let lockouts = "portcullis_lockouts_total";
    let locked = "portcullis_sign_ins_total{method=\"password\",outcome=\"locked\"}";
    for _ in 0..6 {
        let html = app.get("/login").await.text().await.expect("page");
        let csrf = hidden(&html, "csrf").expect("csrf");
        app.post_form(
            "/login",
            &[("csrf", &csrf), ("login", "bob"), ("password", "wrong")],
        )
        .await;
    }
    let locked_now = scrape(&app).await;
    assert!(value(&locked_now, lockouts) >= value(&last, lockouts) + 1.0);
    assert!(value(&locked_now, locked) >= value(&last, locked) + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_settings_metrics_is_a_404_like_any_unknown_path() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), StatusCode::NOT_FOUND);
    let metrics = metrics.text().await.expect("body");
    let unknown = app.get("/no-such-page").await.text().await.expect("body");
    assert_eq!(metrics, unknown);
    // A token sent anyway opens nothing.
    let r = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_serves_metrics_and_nothing_else() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &format!("[metrics]\nbind = \"127.0.0.1:{port}\"\n"),
    )
    .await;
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(&metrics).await {
            answer = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = answer.expect("the metrics listener answers");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let samples = parse_exposition(&r.text().await.expect("body"));
    assert!(
        samples
            .keys()
            .any(|k| k.starts_with("portcullis_build_info"))
    );
    let other = reqwest::get(format!("http://127.0.0.1:{port}/token"))
        .await
        .expect("get");
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    // Not on the main port: no token is set.
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-Id on a {}", r.status()))
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_a_request_id_and_a_client_cannot_choose_it() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        "[security.rate_limits]\nauthorize = \"1000/s\"\nsign_in = \"1000/s\"\n\
         second_factor = \"1000/s\"\naccount_mail = \"1000/s\"\n\
         token_per_ip = \"1/min\"\ntoken_per_client = \"1000/s\"\n",
    )
    .await;
    let ok = app.get("/healthz").await;
    let missing = app.get("/no-such-page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let first = app.post_token(None, &[("grant_type", "nonsense")]).await;
    assert_eq!(first.0, StatusCode::UNAUTHORIZED, "no client credentials");
    let limited = app
        .http
        .post(app.url("/token"))
        .form(&[("grant_type", "nonsense")])
        .send()
        .await
        .expect("post");
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let ids = [request_id(&ok), request_id(&missing), request_id(&limited)];
    assert!(first.1.contains_key("x-request-id"));
    for id in &ids {
        assert_eq!(
            uuid::Uuid::parse_str(id).expect("a UUID").get_version_num(),
            7
        );
    }
    assert!(ids[0] != ids[1] && ids[1] != ids[2]);
    // 127.0.0.1 is no trusted proxy here: what it sends is not taken.
    let r = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .expect("get");
    assert_ne!(request_id(&r), "chosen-by-the-client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_request_when_its_id_is_sane() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        "[http]\ntrusted_proxies = [\"127.0.0.1\"]\n",
    )
    .await;
    let sent = |id: &str| {
        app.http
            .get(app.url("/healthz"))
            .header("x-request-id", id)
            .send()
    };
    let r = sent("edge-7f3a:1").await.expect("get");
    assert_eq!(request_id(&r), "edge-7f3a:1");
    let long = "a".repeat(129);
    for insane in ["has space", long.as_str(), "tab\tin"] {
        let r = sent(insane).await.expect("get");
        let id = request_id(&r);
        assert_ne!(id, insane);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "replaced by ours: {id}");
    }
    let r = app
        .http
        .get(app.url("/healthz"))
        .header(
            "x-request-id",
            reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").expect("v"),
        )
        .send()
        .await
        .expect("get");
    assert!(uuid::Uuid::parse_str(&request_id(&r)).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeouts_503_has_a_request_id_and_is_counted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &format!("{WITH_TOKEN}[http]\nrequest_timeout = \"1s\"\n"),
    )
    .await;
    let series = "portcullis_http_requests_total{route=\"/token\",method=\"POST\",status=\"503\"}";
    let before = value(&scrape(&app).await, series);
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect");
    // A body that never ends: the handler waits for it until the request timeout.
    stream
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
              grant_type=",
        )
        .await
        .expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 503 "), "{answer}");
    assert!(answer.contains("\r\nx-request-id: "), "{answer}");
    let after = value(&scrape(&app).await, series);
    assert!(after >= before + 1.0, "{before} then {after}");
}
