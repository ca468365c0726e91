//! Reading the mail the server sent: `.eml` files from the outbox folder (the default
//! with no SMTP server), or raw messages an SMTP receiver took. Decodes what lettre
//! encodes (quoted-printable, base64) so tests read the text a person would.

use std::{path::Path, time::Duration};

use base64::Engine;

use crate::helpers::TestApp;

/// One message as a person reads it.
#[derive(Clone, Debug)]
pub(crate) struct Mail {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The whole message as it travelled.
    pub raw: String,
}

impl Mail {
    /// Parses a MIME message with a text/plain and a text/html part.
    pub(crate) fn parse(raw: &str) -> Self {
        let raw = raw.replace("\r\n", "\n");
        let (head, _) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let header = |name: &str| -> String {
            let mut out = String::new();
            let mut on = false;
            for line in head.lines() {
                if on && line.starts_with([' ', '\t']) {
                    out.push_str(line.trim_start());
                    continue;
                }
                on = false;
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case(name)
                {
                    out = v.trim().to_owned();
                    on = true;
                }
            }
            decode_words(&out)
        };
        Self {
            to: header("To"),
            from: header("From"),
            subject: header("Subject"),
            text: part(&raw, "text/plain"),
            html: part(&raw, "text/html"),
            raw: raw.clone(),
        }
    }

    /// The one `http(s)://` link in the plain-text part.
    pub(crate) fn link(&self) -> String {
        let links: Vec<&str> = self
            .text
            .split_whitespace()
            .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
            .collect();
        assert_eq!(links.len(), 1, "one link expected in: {}", self.text);
        links[0].to_owned()
    }

    /// The link's path and query, to follow on the test server.
    pub(crate) fn link_path(&self) -> String {
        let url = url::Url::parse(&self.link()).expect("link is a URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }
}

/// RFC 2047 encoded words (`=?utf-8?b?...?=` and `?q?`) in a header.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    for word in value.split_whitespace() {
        let decoded = word
            .strip_prefix("=?")
            .and_then(|w| w.strip_suffix("?="))
            .and_then(|w| {
                let mut it = w.splitn(3, '?');
                let (_charset, enc, text) = (it.next()?, it.next()?, it.next()?);
                match enc {
                    "b" | "B" => base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok()),
                    "q" | "Q" => Some(quoted_printable(&text.replace('_', " "))),
                    _ => None,
                }
            });
        match decoded {
            Some(d) => out.push_str(&d),
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
    }
    out
}

/// The decoded body of the first part whose Content-Type is `kind`.
fn part(raw: &str, kind: &str) -> String {
    let Some(start) = raw
        .to_ascii_lowercase()
        .find(&format!("content-type: {kind}"))
    else {
        return String::new();
    };
    let rest = &raw[start..];
    let (head, body) = rest.split_once("\n\n").unwrap_or((rest, ""));
    // The part ends at the next boundary line, not at any line that starts with "--"
    // (the text part's signature does).
    let body = match boundary(raw) {
        Some(b) => body.split(&format!("\n--{b}")).next().unwrap_or(""),
        None => body,
    };
    let head = head.to_ascii_lowercase();
    if head.contains("content-transfer-encoding: quoted-printable") {
        quoted_printable(body)
    } else if head.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(joined)
                .expect("base64 part"),
        )
        .expect("utf-8 part")
    } else {
        body.to_owned()
    }
}

/// The multipart boundary named in the message's Content-Type.
fn boundary(raw: &str) -> Option<String> {
    let at = raw.find("boundary=")? + "boundary=".len();
    let rest = raw[at..].trim_start_matches('"');
    let end = rest.find(['"', ';', '\n']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every message in the outbox folder, oldest first.
pub(crate) fn read_folder(dir: &Path) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    // Names are UUIDv7: time-ordered.
    files.sort();
    files
        .iter()
        .map(|p| Mail::parse(&std::fs::read_to_string(p).expect("read mail")))
        .collect()
}

impl TestApp {
    /// Every message sent to `address` so far, oldest first.
    pub(crate) fn mails_to(&self, address: &str) -> Vec<Mail> {
        read_folder(&self.outbox)
            .into_iter()
            .filter(|m| m.to.contains(address))
            .collect()
    }

    /// Waits (up to 10 s) for the `n`-th message (from 1) to `address` and returns it.
    pub(crate) async fn nth_mail_to(&self, address: &str, n: usize) -> Mail {
        for _ in 0..200 {
            let mails = self.mails_to(address);
            if mails.len() >= n {
                return mails[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no mail number {n} to {address} within 10 s");
    }

    /// Waits for the first message to `address`.
    pub(crate) async fn mail_to(&self, address: &str) -> Mail {
        self.nth_mail_to(address, 1).await
    }

    /// Waits until the outbox table is empty: every queued message has been handed over.
    pub(crate) async fn mail_settled(&self) {
        for _ in 0..200 {
            if self.state.store.outbox.pending().await.expect("outbox") == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mail still waiting in the outbox after 10 s");
    }
}
