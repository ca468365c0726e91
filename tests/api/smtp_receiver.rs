//! A small SMTP server for the tests, in-process on tokio: real SMTP over TCP, so mail
//! travels exactly as it would to a relay (lettre's own client, pool, AUTH and
//! dot-stuffing included), with nothing mocked. It speaks what a submission client
//! needs: EHLO/HELO, AUTH PLAIN and LOGIN (accepted and recorded), MAIL FROM, RCPT TO,
//! DATA, RSET, NOOP, QUIT. It can be told to refuse a recipient or a sign-in with any
//! reply, and be stopped and started again on the same port (a mail server that goes
//! down and comes back).
//!
//! Written here rather than taken from crates.io: the crate made for embedding an SMTP
//! server, mailin-embedded, serves with blocking I/O on a thread pool and brings a TLS
//! stack, and scripting its replies per recipient, hanging on purpose, or going down
//! and coming back on one port would take about as much code as this file.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream, tcp::OwnedReadHalf},
    task::JoinHandle,
};

use crate::mailbox::Mail;

/// One message as the server took it.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`) that were accepted.
    pub rcpt_to: Vec<String>,
    /// The message as sent after `DATA`, dot-stuffing undone.
    pub data: String,
    /// The user and password the client signed in with on this connection.
    pub auth: Option<(String, String)>,
}

impl Received {
    pub(crate) fn mail(&self) -> Mail {
        Mail::parse(&self.data)
    }
}

/// What the server answers instead of accepting.
#[derive(Clone, Debug, Default)]
struct Rules {
    /// `RCPT TO` refused with this reply, for this address or (None) every one.
    refuse_rcpt: Vec<(Option<String>, String)>,
    /// `AUTH` refused with this reply.
    refuse_auth: Option<String>,
    /// Accept connections but never greet: a server that hangs.
    stall: bool,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    rules: Mutex<Rules>,
    /// How many `RCPT TO` the server has answered, accepted or not.
    rcpt_answers: Mutex<usize>,
    connections: Mutex<Vec<JoinHandle<()>>>,
}

pub(crate) struct SmtpReceiver {
    port: u16,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl SmtpReceiver {
    /// Starts on a free port of 127.0.0.1.
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("addr").port();
        let receiver = Self {
            port,
            shared: Arc::default(),
            accept: Mutex::new(None),
        };
        receiver.listen(listener);
        receiver
    }

    /// `smtp://user:password@127.0.0.1:<port>?tls=none` as `PORTCULLIS_SMTP_URL`
    /// (`userinfo` already percent-encoded, or empty for no sign-in).
    pub(crate) fn url(&self, userinfo: &str) -> String {
        let at = if userinfo.is_empty() { "" } else { "@" };
        format!("smtp://{userinfo}{at}127.0.0.1:{}?tls=none", self.port)
    }

    /// The settings overlay that points a `TestApp` here.
    pub(crate) fn overlay(&self, userinfo: &str) -> String {
        format!("smtp_url = \"{}\"\n", self.url(userinfo))
    }

    fn listen(&self, listener: TcpListener) {
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let conn = tokio::spawn(session(stream, shared.clone()));
                shared.connections.lock().unwrap().push(conn);
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Goes down: the port is closed (connections are refused) and every open
    /// connection is cut, pooled ones included.
    pub(crate) async fn stop(&self) {
        let accept = self.accept.lock().unwrap().take();
        if let Some(task) = accept {
            task.abort();
            let _ = task.await;
        }
        let conns: Vec<_> = self.shared.connections.lock().unwrap().drain(..).collect();
        for conn in conns {
            conn.abort();
            let _ = conn.await;
        }
    }

    /// Comes back on the same port.
    pub(crate) async fn restart(&self) {
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", self.port)).await {
                self.listen(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("port {} could not be bound again", self.port);
    }

    /// Refuses `RCPT TO` for `address` (or every address) with `reply`, e.g.
    /// `"451 4.3.0 try again later"`.
    pub(crate) fn refuse_recipient(&self, address: Option<&str>, reply: &str) {
        let mut rules = self.shared.rules.lock().unwrap();
        rules
            .refuse_rcpt
            .push((address.map(str::to_owned), reply.to_owned()));
    }

    /// Refuses every sign-in with `reply`, e.g. `"535 5.7.8 bad credentials"`.
    pub(crate) fn refuse_auth(&self, reply: &str) {
        self.shared.rules.lock().unwrap().refuse_auth = Some(reply.to_owned());
    }

    /// Takes connections but never says a word.
    pub(crate) fn stall(&self) {
        self.shared.rules.lock().unwrap().stall = true;
    }

    /// Accepts everything again.
    pub(crate) fn accept_all(&self) {
        *self.shared.rules.lock().unwrap() = Rules::default();
    }

    /// Every message taken so far, in order.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// How many recipients were answered, accepted or refused: proof of an attempt.
    pub(crate) fn rcpt_answers(&self) -> usize {
        *self.shared.rcpt_answers.lock().unwrap()
    }

    /// Waits (up to 15 s) until at least `n` messages were taken; returns them all.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..300 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the SMTP receiver got {} messages, not {n}, within 15 s",
            self.received().len()
        );
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        for conn in self.shared.connections.lock().unwrap().drain(..) {
            conn.abort();
        }
    }
}

/// One SMTP conversation; ends on QUIT, on a closed connection or on an I/O error.
async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let _ = converse(stream, &shared).await;
}

async fn converse(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    if shared.rules.lock().unwrap().stall {
        std::future::pending::<()>().await;
    }
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write
        .write_all(b"220 receiver.test ESMTP ready\r\n")
        .await?;
    let mut auth: Option<(String, String)> = None;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut read).await? else {
            return Ok(());
        };
        let upper = line.to_ascii_uppercase();
        let rules = shared.rules.lock().unwrap().clone();
        let reply = if upper.starts_with("EHLO") {
            "250-receiver.test\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SIZE 10485760"
                .to_owned()
        } else if upper.starts_with("HELO") {
            "250 receiver.test".to_owned()
        } else if upper.starts_with("AUTH PLAIN") {
            let mut initial = line[10..].trim().to_owned();
            if initial.is_empty() {
                write.write_all(b"334 \r\n").await?;
                initial = read_line(&mut read).await?.unwrap_or_default();
            }
            let decoded = b64(&initial);
            let mut parts = decoded.split('\0').skip(1);
            let user = parts.next().unwrap_or_default().to_owned();
            let password = parts.next().unwrap_or_default().to_owned();
            signed_in(&rules, &mut auth, user, password)
        } else if upper.starts_with("AUTH LOGIN") {
            let mut user = line[10..].trim().to_owned();
            if user.is_empty() {
                write.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                user = read_line(&mut read).await?.unwrap_or_default();
            }
            write.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
            let password = read_line(&mut read).await?.unwrap_or_default();
            signed_in(&rules, &mut auth, b64(&user), b64(&password))
        } else if upper.starts_with("MAIL FROM:") {
            mail_from = Some(address(&line[10..]));
            rcpt_to.clear();
            "250 2.1.0 sender ok".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            let to = address(&line[8..]);
            *shared.rcpt_answers.lock().unwrap() += 1;
            let refusal = rules
                .refuse_rcpt
                .iter()
                .find(|(only, _)| only.as_deref().is_none_or(|a| a == to))
                .map(|(_, reply)| reply.clone());
            match (mail_from.is_some(), refusal) {
                (false, _) => "503 5.5.1 MAIL first".to_owned(),
                (true, Some(reply)) => reply,
                (true, None) => {
                    rcpt_to.push(to);
                    "250 2.1.5 recipient ok".to_owned()
                }
            }
        } else if upper == "DATA" {
            if rcpt_to.is_empty() {
                "503 5.5.1 RCPT first".to_owned()
            } else {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    let Some(l) = read_line(&mut read).await? else {
                        return Ok(());
                    };
                    if l == "." {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                    data.push_str("\r\n");
                }
                shared.received.lock().unwrap().push(Received {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                    auth: auth.clone(),
                });
                "250 2.0.0 queued".to_owned()
            }
        } else if upper == "RSET" {
            mail_from = None;
            rcpt_to.clear();
            "250 2.0.0 ok".to_owned()
        } else if upper == "NOOP" {
            "250 2.0.0 ok".to_owned()
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 command not recognized".to_owned()
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

fn signed_in(
    rules: &Rules,
    auth: &mut Option<(String, String)>,
    user: String,
    password: String,
) -> String {
    match &rules.refuse_auth {
        Some(reply) => reply.clone(),
        None => {
            *auth = Some((user, password));
            "235 2.7.0 authenticated".to_owned()
        }
    }
}

/// A line without its CRLF; None at the end of the stream.
async fn read_line(read: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    if read.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// `<ada@example.com> SIZE=123` -> `ada@example.com`.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_owned(),
        _ => arg.split_whitespace().next().unwrap_or_default().to_owned(),
    }
}

fn b64(s: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}
