//! Where mail goes, and how one message gets there: an SMTP server named by
//! `PORTCULLIS_SMTP_URL` (lettre), or, with none, one `.eml` file per message in the
//! outbox folder. Also how a failure is judged: worth retrying, or refused for good.

use std::{
    error::Error as _,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    message::{
        Mailbox, MultiPart,
        header::{HeaderName, HeaderValue},
    },
    transport::smtp::{
        self,
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use crate::{config::Config, storage::QueuedMail};

/// How long one SMTP command may wait for the server.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("PORTCULLIS_SMTP_URL: {0}")]
    Url(String),
    #[error("mail.from: {0}")]
    From(String),
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// `smtps://`: TLS from the first byte (port 465).
    Implicit,
    /// `smtp://…?tls=required`: STARTTLS, or no mail at all.
    Required,
    /// `smtp://` (or `?tls=opportunistic`): STARTTLS when the server offers it.
    Opportunistic,
    /// `smtp://…?tls=none`: plain text, for a relay on the same host or a test.
    None,
}

/// A parsed `PORTCULLIS_SMTP_URL`. Its `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// User and password, percent-decoded.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

impl SmtpUrl {
    /// `smtp://user:password@host:port` (STARTTLS when offered, port 587;
    /// `?tls=required` insists on it, `?tls=none` never tries, port 25) or
    /// `smtps://user:password@host:port` (TLS from the first byte, port 465). User and
    /// password are percent-encoded, as in any URL (`p%40ss` for `p@ss`).
    pub fn parse(raw: &str) -> Result<Self, TransportError> {
        let bad = |m: &str| TransportError::Url(m.to_owned());
        let url = url::Url::parse(raw).map_err(|e| TransportError::Url(e.to_string()))?;
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad("the URL has no host (smtp://host:port)")),
        };
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(bad(
                "the URL has a path or fragment; only ?tls= may follow the host",
            ));
        }
        let mut tls_param = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" if tls_param.is_none() => tls_param = Some(value.into_owned()),
                "tls" => return Err(bad("tls= is given twice")),
                other => {
                    return Err(TransportError::Url(format!(
                        "`{other}` is not a setting here; only tls= is"
                    )));
                }
            }
        }
        let (default_port, tls) = match (url.scheme(), tls_param.as_deref()) {
            ("smtps", None) => (465, TlsMode::Implicit),
            ("smtps", Some(_)) => {
                return Err(bad(
                    "smtps:// is TLS from the first byte; tls= belongs to smtp:// URLs",
                ));
            }
            ("smtp", None | Some("opportunistic")) => (587, TlsMode::Opportunistic),
            ("smtp", Some("required")) => (587, TlsMode::Required),
            ("smtp", Some("none")) => (25, TlsMode::None),
            ("smtp", Some(other)) => {
                return Err(TransportError::Url(format!(
                    "tls={other} is not one of required, opportunistic, none"
                )));
            }
            (scheme, _) => {
                return Err(TransportError::Url(format!(
                    "{scheme}:// is not smtp:// or smtps://"
                )));
            }
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad("the user or password is not valid percent-encoded UTF-8"))
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => return Err(bad("the URL has a password but no user")),
            (_, None) => return Err(bad("the URL has a user but no password")),
            (user, Some(password)) => Some((decode(user)?, decode(password)?)),
        };
        Ok(Self {
            host,
            port: url.port().unwrap_or(default_port),
            tls,
            credentials,
        })
    }

    /// Checks a URL when the settings are read, so a bad one stops the start with one
    /// line naming `smtp_url` (exit code 2). The reason never repeats the URL, which may
    /// hold a password.
    pub fn check(raw: &str) -> Result<(), String> {
        Self::parse(raw).map(|_| ()).map_err(|e| match e {
            TransportError::Url(reason) => reason,
            other => other.to_string(),
        })
    }

    /// For the start-up log: where, how protected, whether we sign in; never who or
    /// with what password.
    pub fn describe(&self) -> String {
        let tls = match self.tls {
            TlsMode::Implicit => "TLS",
            TlsMode::Required => "STARTTLS required",
            TlsMode::Opportunistic => "STARTTLS when the server offers it",
            TlsMode::None => "no TLS",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let auth = if self.credentials.is_some() {
            ", signing in with the URL's user and password"
        } else {
            ""
        };
        format!(
            "mail is sent over SMTP to {host}:{} ({tls}{auth})",
            self.port
        )
    }

    fn client(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, TransportError> {
        let params = || {
            TlsParameters::new(self.host.clone()).map_err(|e| TransportError::Url(e.to_string()))
        };
        let tls = match self.tls {
            TlsMode::Implicit => Tls::Wrapper(params()?),
            TlsMode::Required => Tls::Required(params()?),
            TlsMode::Opportunistic => Tls::Opportunistic(params()?),
            TlsMode::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }
}

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    Smtp {
        client: AsyncSmtpTransport<Tokio1Executor>,
        url: SmtpUrl,
    },
    /// No SMTP configured: one `.eml` file per message in this folder.
    Folder(PathBuf),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { url, .. } => f.debug_tuple("Transport::Smtp").field(url).finish(),
            Self::Folder(p) => f.debug_tuple("Transport::Folder").field(p).finish(),
        }
    }
}

impl Transport {
    /// From the settings: SMTP when `smtp_url` is set, else the outbox folder.
    pub fn from_config(config: &Config) -> Result<Self, TransportError> {
        match &config.smtp_url {
            Some(raw) => {
                let url = SmtpUrl::parse(raw.expose())?;
                Ok(Self::Smtp {
                    client: url.client()?,
                    url,
                })
            }
            None => Ok(Self::Folder(config.mail.outbox_dir.clone())),
        }
    }

    /// Says where mail goes, once, at start. The folder is named in full, so a person
    /// on the embedded default knows where to look for the links.
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp { url, .. } => url.describe(),
            Self::Folder(p) => format!(
                "no SMTP server is configured (PORTCULLIS_SMTP_URL), so mail is not sent: \
                 each message is written to {} as an .eml file",
                std::path::absolute(p)
                    .unwrap_or_else(|_| p.clone())
                    .display()
            ),
        }
    }

    /// Hands one message over. Returns where it went, for the log.
    pub(super) async fn send(
        &self,
        message: lettre::Message,
        mail: &QueuedMail,
    ) -> Result<Handed, Failure> {
        match self {
            Self::Smtp { client, .. } => client
                .send(message)
                .await
                .map(|_| Handed::Smtp)
                .map_err(|e| judge(&e)),
            Self::Folder(dir) => write_eml(dir, &message.formatted(), mail)
                .await
                .map(Handed::Folder)
                .map_err(Failure::transient),
        }
    }
}

/// Where a message went.
#[derive(Debug)]
pub(super) enum Handed {
    Smtp,
    Folder(PathBuf),
}

/// Writes `<id>.eml` whole or not at all: a temporary file, then a rename, so a reader
/// of the folder never sees half a message. Readable by the owner only: it holds a link.
async fn write_eml(dir: &Path, bytes: &[u8], mail: &QueuedMail) -> Result<PathBuf, String> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!("{}.eml", mail.id));
    let tmp = dir.join(format!(".{}.eml.tmp", mail.id));
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let written = async {
        let mut file = options.open(&tmp).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await?;
        file.sync_all().await?;
        tokio::fs::rename(&tmp, &path).await
    }
    .await;
    if let Err(e) = written {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(path)
}

/// Who mail comes from, checked once at start.
#[derive(Clone, Debug)]
pub(super) struct Sender {
    from: Mailbox,
}

impl Sender {
    pub(super) fn parse(from: &str) -> Result<Self, TransportError> {
        from.parse()
            .map(|from| Self { from })
            .map_err(|e: lettre::address::AddressError| TransportError::From(e.to_string()))
    }

    /// The MIME message: plain text and HTML alternatives. `Date` is when the message
    /// was queued (what a "valid for 30 minutes" counts from), and `Message-ID` is made
    /// from the outbox id, so a retry that reaches the server twice carries the same id
    /// and a receiving system can tell it is one message.
    pub(super) fn build(&self, mail: &QueuedMail) -> Result<lettre::Message, Failure> {
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|e| Failure::refused(format!("the recipient address is not usable: {e}")))?;
        let queued = SystemTime::UNIX_EPOCH
            + Duration::from_secs(u64::try_from(mail.created_at).unwrap_or(0));
        lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .date(queued)
            .message_id(Some(format!(
                "<{}@{}>",
                mail.id.simple(),
                self.from.email.domain()
            )))
            // RFC 3834: no vacation replies or other auto-answers to a machine.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".to_owned(),
            ))
            .multipart(MultiPart::alternative_plain_html(
                mail.text_body.clone(),
                mail.html_body.clone(),
            ))
            .map_err(|e| Failure::refused(format!("the message cannot be built: {e}")))
    }
}

/// Why a delivery failed, and so what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum FailureKind {
    /// The server is down, slow, busy or said "try later" (4xx): retry with backoff.
    Transient,
    /// The server refused us rather than this message (sign-in, relaying, TLS, a 5xx
    /// that names no address): retried like a transient failure, since every message
    /// would be lost while the setting is fixed, but logged as an error for the operator.
    Setup,
    /// The server refused this recipient for good (no such mailbox or domain, a bad
    /// address): sending it again cannot help (RFC 5321 section 4.2.1), so it is given
    /// up at once.
    Refused,
}

/// A failed delivery: its kind and a reason fit for the log (no address, no body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Failure {
    pub(super) kind: FailureKind,
    pub(super) reason: String,
}

impl Failure {
    pub(super) fn transient(reason: String) -> Self {
        Self {
            kind: FailureKind::Transient,
            reason: scrub(&reason),
        }
    }

    fn refused(reason: String) -> Self {
        Self {
            kind: FailureKind::Refused,
            reason: scrub(&reason),
        }
    }
}

/// Judges an SMTP failure. A permanent reply is about the recipient when its code says
/// so (551 user not local, 553 mailbox name not allowed) or its enhanced status is
/// 5.1.x, "addressing" (RFC 3463: 5.1.1 no such mailbox, 5.1.2 no such domain, ...).
fn judge(e: &smtp::Error) -> Failure {
    let reason = scrub(&e.to_string());
    let kind = if e.is_permanent() {
        let code = e.status().map(|c| c.to_string()).unwrap_or_default();
        let text = e.source().map(ToString::to_string).unwrap_or_default();
        if matches!(code.as_str(), "551" | "553") || text.trim_start().starts_with("5.1.") {
            FailureKind::Refused
        } else {
            FailureKind::Setup
        }
    } else if e.is_tls() || e.is_client() {
        // A certificate the system does not trust, STARTTLS required but not offered,
        // no sign-in method in common: the setting or the server needs a person.
        FailureKind::Setup
    } else {
        FailureKind::Transient
    };
    Failure { kind, reason }
}

/// Takes addresses out of a server's words: the recipient's address is personal data,
/// and a rejection often echoes it ("<ada@example.com>: Recipient address rejected").
fn scrub(text: &str) -> String {
    text.split(' ')
        .map(|w| if w.contains('@') { "[address]" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> SmtpUrl {
        SmtpUrl::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn smtp_urls_pick_tls_and_the_usual_port() {
        let u = parse("smtp://mail.example.com");
        assert_eq!((u.port, u.tls), (587, TlsMode::Opportunistic));
        let u = parse("smtp://mail.example.com?tls=required");
        assert_eq!((u.port, u.tls), (587, TlsMode::Required));
        let u = parse("smtp://127.0.0.1?tls=none");
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("127.0.0.1", 25, TlsMode::None)
        );
        let u = parse("smtps://mail.example.com");
        assert_eq!((u.port, u.tls), (465, TlsMode::Implicit));
        let u = parse("smtp://mail.example.com:2525/");
        assert_eq!(u.port, 2525);
        assert_eq!(u.credentials, None);
    }

    #[test]
    fn user_and_password_are_percent_decoded() {
        let u = parse("smtps://no-reply%40example.com:p%40ss%3Aw%2Frd%20%C3%A9@mail.example.com");
        assert_eq!(
            u.credentials,
            Some(("no-reply@example.com".to_owned(), "p@ss:w/rd é".to_owned()))
        );
    }

    #[tokio::test]
    async fn an_ipv6_host_loses_its_brackets_and_keeps_its_port() {
        let u = parse("smtp://[::1]:2525?tls=none");
        assert_eq!((u.host.as_str(), u.port), ("::1", 2525));
        assert!(u.describe().contains("[::1]:2525"), "{}", u.describe());
        assert!(u.client().is_ok());
    }

    #[test]
    fn bad_smtp_urls_are_refused_with_a_reason() {
        for raw in [
            "http://mail.example.com",
            "smtp://",
            "smtp:mail.example.com",
            "smtp://:2525",
            "smtp://mail.example.com?tls=sometimes",
            "smtp://mail.example.com?tsl=none",
            "smtp://mail.example.com?tls=none&tls=required",
            "smtps://mail.example.com?tls=none",
            "smtp://mail.example.com/relay",
            "smtp://user@mail.example.com",
            "smtp://:secret@mail.example.com",
            "smtp://us%FFer:pw@mail.example.com",
            "not a url",
        ] {
            let e = SmtpUrl::parse(raw).expect_err(raw);
            assert!(
                e.to_string().starts_with("PORTCULLIS_SMTP_URL: "),
                "{raw}: {e}"
            );
        }
    }

    #[test]
    fn neither_debug_nor_the_description_shows_the_password() {
        let u = parse("smtp://ada:hunter2@mail.example.com");
        assert!(!format!("{u:?}").contains("hunter2"));
        assert!(!u.describe().contains("hunter2"));
        assert!(!u.describe().contains("ada"));
    }

    #[test]
    fn the_folder_is_named_in_full() {
        let t = Transport::Folder(PathBuf::from("data/outbox"));
        let d = t.describe();
        assert!(d.contains("PORTCULLIS_SMTP_URL"), "{d}");
        let cwd = std::env::current_dir().expect("cwd");
        assert!(
            d.contains(&cwd.join("data/outbox").display().to_string()),
            "{d}"
        );
    }

    #[test]
    fn addresses_are_scrubbed_from_server_replies() {
        assert_eq!(
            scrub("permanent error (550): 5.1.1 <ada@example.com>: Recipient address rejected"),
            "permanent error (550): 5.1.1 [address] Recipient address rejected"
        );
    }

    #[test]
    fn a_message_carries_a_stable_id_its_queue_time_and_both_parts() {
        let sender = Sender::parse("Portcullis <no-reply@id.example.com>").expect("from");
        let mail = QueuedMail {
            id: uuid::Uuid::now_v7(),
            recipient: "ada@example.com".into(),
            subject: "Hello".into(),
            text_body: "text".into(),
            html_body: "<p>html</p>".into(),
            created_at: 1_700_000_000,
            attempts: 1,
        };
        let raw =
            String::from_utf8(sender.build(&mail).expect("builds").formatted()).expect("ascii");
        let id = format!("Message-ID: <{}@id.example.com>", mail.id.simple());
        assert!(raw.contains(&id), "{raw}");
        assert!(
            raw.contains("Date: Tue, 14 Nov 2023 22:13:20 +0000"),
            "{raw}"
        );
        assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/plain") && raw.contains("text/html"),
            "{raw}"
        );
        let again =
            String::from_utf8(sender.build(&mail).expect("builds").formatted()).expect("ascii");
        assert!(again.contains(&id), "a retry carries the same Message-ID");
    }

    #[test]
    fn an_unusable_recipient_is_refused_not_retried() {
        let sender = Sender::parse("Portcullis <no-reply@id.example.com>").expect("from");
        let mail = QueuedMail {
            id: uuid::Uuid::now_v7(),
            recipient: "not an address".into(),
            subject: "Hello".into(),
            text_body: "text".into(),
            html_body: "html".into(),
            created_at: 0,
            attempts: 1,
        };
        let failure = sender.build(&mail).expect_err("refused");
        assert_eq!(failure.kind, FailureKind::Refused);
    }
}
