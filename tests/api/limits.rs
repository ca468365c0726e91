//! The request body limit, answered in the caller's format: an RFC 6749 section 5.2 JSON
//! error from the protocol's endpoints, the error page from everything else, whether
//! the body declares its length or arrives chunked.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{both_backends, helpers::TestApp};

both_backends!(
    an_oversized_body_to_a_protocol_endpoint_is_a_json_413,
    an_oversized_chunked_body_to_a_protocol_endpoint_is_a_json_413,
    an_oversized_form_to_a_page_is_a_413_error_page,
    an_oversized_chunked_form_to_a_page_is_a_413_error_page,
    a_body_of_exactly_the_limit_still_reaches_the_endpoint,
);

/// The limit: 64 KiB.
const LIMIT: usize = 64 * 1024;

const PROTOCOL_PATHS: [&str; 4] = ["/token", "/revoke", "/introspect", "/userinfo"];
const PAGE_PATHS: [&str; 5] = ["/login", "/consent", "/logout", "/authorize", "/nope"];

/// A form body of exactly `len` bytes.
fn form_of(len: usize) -> String {
    let head = "grant_type=client_credentials&padding=";
    format!("{head}{}", "a".repeat(len - head.len()))
}

struct Answer {
    status: u16,
    content_type: String,
    cache_control: String,
    body: String,
}

/// Posts `body` as a form with its Content-Length.
async fn post_sized(app: &TestApp, path: &str, body: String) -> Answer {
    let r = app
        .http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post");
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default()
    };
    Answer {
        status: r.status().as_u16(),
        content_type: header("content-type"),
        cache_control: header("cache-control"),
        body: r.text().await.expect("body"),
    }
}

/// Posts `body` as a form in 4 KiB chunks, with no Content-Length, reading the answer
/// while it writes: the server may answer before the body ends.
async fn post_chunked(app: &TestApp, path: &str, body: String) -> Answer {
    let addr = app.base.trim_start_matches("http://");
    let (mut reader, mut writer) = TcpStream::connect(addr)
        .await
        .expect("connect")
        .into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for chunk in body.as_bytes().chunks(4096) {
            writer
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            writer.write_all(chunk).await?;
            writer.write_all(b"\r\n").await?;
        }
        writer.write_all(b"0\r\n\r\n").await?;
        writer.flush().await?;
        // Returned, not dropped: dropping the write half would half-close the connection.
        Ok::<_, std::io::Error>(writer)
    });
    let mut raw = Vec::new();
    // A reset after the answer still leaves the answer in `raw`.
    let _reset = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut raw))
        .await
        .expect("answered in time");
    // The server may stop reading once it has answered; a write cut short is fine.
    drop(writing.await.expect("writer task"));
    parse(&raw)
}

/// An HTTP/1.1 response: status, the two headers we check, and the body (de-chunked).
fn parse(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|l| l.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let body = if header("transfer-encoding").eq_ignore_ascii_case("chunked") {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Answer {
        status,
        content_type: header("content-type"),
        cache_control: header("cache-control"),
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    body
}

fn assert_json_413(path: &str, a: &Answer) {
    assert_eq!(a.status, 413, "{path}: {}", a.body);
    assert_eq!(a.content_type, "application/json", "{path}");
    assert_eq!(a.cache_control, "no-store", "{path}");
    let body: serde_json::Value = serde_json::from_str(&a.body).expect("a JSON body");
    assert_eq!(
        body,
        serde_json::json!({
            "error": "invalid_request",
            "error_description": "the request body is too large",
        }),
        "{path}"
    );
}

fn assert_page_413(path: &str, a: &Answer) {
    assert_eq!(a.status, 413, "{path}: {}", a.body);
    assert!(
        a.content_type.starts_with("text/html"),
        "{path}: {}",
        a.content_type
    );
    assert!(
        a.body.contains("This form is too large"),
        "{path}: {}",
        a.body
    );
}

async fn an_oversized_body_to_a_protocol_endpoint_is_a_json_413(app: TestApp) {
    for path in PROTOCOL_PATHS {
        assert_json_413(path, &post_sized(&app, path, form_of(LIMIT + 1)).await);
    }
}

async fn an_oversized_chunked_body_to_a_protocol_endpoint_is_a_json_413(app: TestApp) {
    for path in PROTOCOL_PATHS {
        assert_json_413(path, &post_chunked(&app, path, form_of(LIMIT + 1)).await);
    }
}

async fn an_oversized_form_to_a_page_is_a_413_error_page(app: TestApp) {
    for path in PAGE_PATHS {
        assert_page_413(path, &post_sized(&app, path, form_of(LIMIT + 1)).await);
    }
}

async fn an_oversized_chunked_form_to_a_page_is_a_413_error_page(app: TestApp) {
    for path in PAGE_PATHS {
        assert_page_413(path, &post_chunked(&app, path, form_of(LIMIT + 1)).await);
    }
}

async fn a_body_of_exactly_the_limit_still_reaches_the_endpoint(app: TestApp) {
    let sized = post_sized(&app, "/token", form_of(LIMIT)).await;
    let chunked = post_chunked(&app, "/token", form_of(LIMIT)).await;
    for a in [sized, chunked] {
        assert_eq!(a.status, 401, "{}", a.body);
        assert!(a.body.contains(r#""error":"invalid_client""#), "{}", a.body);
    }
}
