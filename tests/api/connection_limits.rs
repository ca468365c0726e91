//! The connection limits of `[http]`, with raw sockets against the real server: a
//! request's headers must arrive in time, an idle keep-alive connection is closed, a
//! slow request is cut off with a 503, and past `max_connections` a connection waits
//! until another closes. They do not touch the database, so they run on SQLite only.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{Backend, TestApp};

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";

async fn spawn(http: &str) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, &format!("[http]\n{http}\n")).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Reads until the server closes the connection (or resets it); what arrived and when
/// it closed. Fails the test if it is still open after `patience`.
async fn until_closed(stream: &mut TcpStream, patience: Duration) -> (String, Instant) {
    let mut got = Vec::new();
    let _reset = tokio::time::timeout(patience, stream.read_to_end(&mut got))
        .await
        .expect("the server closes the connection in time");
    (String::from_utf8_lossy(&got).into_owned(), Instant::now())
}

/// Reads one whole answer to `/healthz` (its body is short and has a Content-Length),
/// leaving the connection open.
async fn one_answer(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(
                n > 0,
                "closed before the answer: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    break;
                }
            }
        }
    })
    .await
    .expect("an answer in time");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_half_sent_request_is_closed_within_the_header_timeout() {
    let app = spawn("header_read_timeout = \"1s\"\nkeep_alive_timeout = \"30s\"").await;
    let mut stream = connect(&app).await;
    let sent = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("write");
    let (got, closed) = until_closed(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(got, "", "no answer to half a request");
    let held = closed - sent;
    assert!(
        held >= Duration::from_millis(900),
        "closed after {held:?}, before the timeout"
    );
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_within_the_header_timeout() {
    let app = spawn("header_read_timeout = \"1s\"\nkeep_alive_timeout = \"30s\"").await;
    let mut stream = connect(&app).await;
    let (got, _) = until_closed(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(got, "");
}

#[tokio::test]
async fn headers_dribbled_a_byte_at_a_time_are_still_cut_at_the_header_timeout() {
    let app = spawn("header_read_timeout = \"2s\"\nkeep_alive_timeout = \"30s\"").await;
    let mut stream = connect(&app).await;
    let started = Instant::now();
    let mut closed = false;
    // A slowloris: one byte every 200 ms never finishes the headers.
    for byte in "GET /healthz HTTP/1.1\r\nX-Slow: "
        .bytes()
        .cycle()
        .take(200)
    {
        if stream.write_all(&[byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "the slow client was never cut off");
    let held = started.elapsed();
    assert!(
        held < Duration::from_secs(8),
        "held for {held:?}, well past the header timeout"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_served_again_then_closed_after_its_timeout() {
    let app = spawn("header_read_timeout = \"1s\"\nkeep_alive_timeout = \"3s\"").await;
    let mut stream = connect(&app).await;
    stream.write_all(HEALTHZ.as_bytes()).await.expect("write");
    assert!(one_answer(&mut stream).await.starts_with("HTTP/1.1 200 "));
    // Idle for longer than the header timeout, shorter than the keep-alive one: still open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stream.write_all(HEALTHZ.as_bytes()).await.expect("write");
    assert!(one_answer(&mut stream).await.starts_with("HTTP/1.1 200 "));
    let idle = Instant::now();
    let (got, closed) = until_closed(&mut stream, Duration::from_secs(15)).await;
    assert_eq!(got, "");
    let held = closed - idle;
    assert!(
        held >= Duration::from_millis(2500),
        "an idle connection was closed after {held:?}, before its keep-alive timeout"
    );
}

#[tokio::test]
async fn a_request_whose_body_never_ends_gets_a_503_at_the_request_timeout() {
    let app = spawn("request_timeout = \"1s\"").await;
    let mut stream = connect(&app).await;
    let started = Instant::now();
    stream
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
              grant_type=",
        )
        .await
        .expect("write");
    let answer = one_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert!(answer.contains("took too long"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn past_max_connections_a_connection_waits_and_is_served_when_one_closes() {
    let app = spawn("max_connections = 2\nheader_read_timeout = \"30s\"").await;
    // Two connections that hold their slots by sending nothing.
    let first = connect(&app).await;
    let mut second = connect(&app).await;
    second.write_all(HEALTHZ.as_bytes()).await.expect("write");
    assert!(one_answer(&mut second).await.starts_with("HTTP/1.1 200 "));
    // The third is let in by the kernel, but not served while both slots are held.
    let mut third = connect(&app).await;
    third.write_all(HEALTHZ.as_bytes()).await.expect("write");
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(1500), third.read(&mut buf)).await;
    assert!(early.is_err(), "served past the cap: {early:?}");
    // One closes: the waiting one is served, request intact.
    drop(first);
    let answer = one_answer(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    drop(second);
    // And the server goes on accepting.
    let mut fourth = connect(&app).await;
    fourth.write_all(HEALTHZ.as_bytes()).await.expect("write");
    assert!(one_answer(&mut fourth).await.starts_with("HTTP/1.1 200 "));
}

#[test]
fn a_cap_of_no_connections_is_refused_at_start() {
    let e = portcullis::config::Config::from_toml("[http]\nmax_connections = 0\n")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("http.max_connections"), "{e}");
    assert!(e.contains("at least 1"), "{e}");
}
