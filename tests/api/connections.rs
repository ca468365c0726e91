//! How connections are served: a client that half-closes after sending its request
//! (RFC 9112 section 9.6, what `nc -N` does) still gets its answer, and shutdown lets
//! the request in flight finish.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{both_backends, helpers::TestApp};

both_backends!(
    a_half_closed_healthz_request_still_gets_its_answer,
    a_half_closed_token_request_still_gets_its_error,
    shutdown_lets_the_request_in_flight_finish_and_refuses_new_connections,
);

/// How many times each half-closed request is sent: a race lost half the time is
/// caught with near certainty.
const TRIES: usize = 20;

/// Sends `request` on a fresh connection, half-closes it, and reads until the server
/// closes: the whole answer, or "" when there was none.
async fn half_closed(app: &TestApp, request: &str) -> String {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.shutdown().await.expect("half-close");
    let mut answer = Vec::new();
    // A reset still leaves in `answer` what arrived before it.
    let _reset = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection in time");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends `request` `TRIES` times; the answers that did not satisfy `answered`.
async fn unanswered(app: &TestApp, request: &str, answered: impl Fn(&str) -> bool) -> Vec<String> {
    let mut missed = Vec::new();
    for _ in 0..TRIES {
        let answer = half_closed(app, request).await;
        if !answered(&answer) {
            missed.push(answer);
        }
    }
    missed
}

async fn a_half_closed_healthz_request_still_gets_its_answer(app: TestApp) {
    let request = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let missed = unanswered(&app, request, |a| a.starts_with("HTTP/1.1 200 ")).await;
    assert!(
        missed.is_empty(),
        "{} of {TRIES} half-closed requests got no 200: {missed:?}",
        missed.len()
    );
}

async fn a_half_closed_token_request_still_gets_its_error(app: TestApp) {
    let body = "grant_type=client_credentials";
    let request = format!(
        "POST /token HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let missed = unanswered(&app, &request, |a| {
        (a.starts_with("HTTP/1.1 401 ") || a.starts_with("HTTP/1.1 400 "))
            && a.to_ascii_lowercase()
                .contains("content-type: application/json")
            && a.contains(r#""error":"#)
    })
    .await;
    assert!(
        missed.is_empty(),
        "{} of {TRIES} half-closed token requests got no RFC 6749 error: {missed:?}",
        missed.len()
    );
}

async fn shutdown_lets_the_request_in_flight_finish_and_refuses_new_connections(app: TestApp) {
    let state = portcullis::AppState::with_db(
        app.config(),
        app.state.store.db.clone(),
        portcullis::clock::Clock::system(),
    )
    .await
    .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(portcullis::serve(state, listener, async {
        let _ = stopped.await;
    }));

    // A request in flight: its head is sent, its body not yet.
    let body = "grant_type=client_credentials";
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    // An idle connection, which shutdown may close at once.
    let idle = TcpStream::connect(addr).await.expect("connect idle");
    tokio::time::sleep(Duration::from_millis(200)).await;

    stop.send(()).expect("signal shutdown");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "a new connection after shutdown is refused"
    );

    stream.write_all(body.as_bytes()).await.expect("write body");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 401 "), "{answer}");
    assert!(answer.contains(r#""error":"invalid_client""#), "{answer}");

    let served = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns once the request in flight is done")
        .expect("serve task");
    assert!(served.is_ok(), "{served:?}");
    drop(idle);
}
