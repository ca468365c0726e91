//! The delivery worker: claims due messages from the outbox, sends each over SMTP or
//! writes it to the outbox folder, deletes it once handed over, and retries failures
//! with exponential backoff. Any number of instances may run one: a claim is a lease in
//! the database, so each message is handed over once.

use std::{path::PathBuf, sync::Arc, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    message::{Mailbox, MultiPart, header},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use tokio::sync::Notify;

use crate::{
    clock::Clock,
    config::Config,
    storage::{OutboxStore, QueuedMail},
};

/// How long a claimed message is ours before another worker may try it.
const LEASE: i64 = 120;
/// Messages claimed per round.
const BATCH: i64 = 16;
/// Retries stop after this many attempts (about a day with the backoff below).
const MAX_ATTEMPTS: i64 = 12;
/// The longest wait between two attempts.
const MAX_BACKOFF: i64 = 3 * 3600;
/// How often the worker looks for due mail when nobody wakes it.
const POLL: Duration = Duration::from_secs(1);
/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// No SMTP configured: one `.eml` file per message in this folder.
    Folder(PathBuf),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp(_) => f.write_str("Transport::Smtp"),
            Self::Folder(p) => f.debug_tuple("Transport::Folder").field(p).finish(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("PORTCULLIS_SMTP_URL: {0}")]
    Url(String),
}

impl Transport {
    /// From the settings: SMTP when `smtp_url` is set, else the outbox folder.
    pub fn from_config(config: &Config) -> Result<Self, TransportError> {
        match &config.smtp_url {
            Some(url) => smtp(url.expose()).map(Self::Smtp),
            None => Ok(Self::Folder(config.mail.outbox_dir.clone())),
        }
    }

    /// Says where mail goes, once, at start.
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp(_) => "mail is sent over SMTP".to_owned(),
            Self::Folder(p) => format!(
                "no SMTP server is configured (PORTCULLIS_SMTP_URL): mail is written to {} as .eml files",
                p.display()
            ),
        }
    }
}

/// `smtp://user:pass@host:port` (STARTTLS when the server offers it;
/// `?tls=required` to insist) or `smtps://…` (TLS from the first byte).
fn smtp(raw: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, TransportError> {
    let url = url::Url::parse(raw).map_err(|e| TransportError::Url(e.to_string()))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| TransportError::Url("the URL has no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tls_param = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let params =
        || TlsParameters::new(host.clone()).map_err(|e| TransportError::Url(e.to_string()));
    let (port, tls) = match (url.scheme(), tls_param.as_deref()) {
        ("smtps", _) => (465, Tls::Wrapper(params()?)),
        ("smtp", Some("required")) => (587, Tls::Required(params()?)),
        ("smtp", None | Some("opportunistic")) => (587, Tls::Opportunistic(params()?)),
        ("smtp", Some("none")) => (25, Tls::None),
        (_, Some(other)) => {
            return Err(TransportError::Url(format!(
                "tls={other} is not one of required, opportunistic, none"
            )));
        }
        (scheme, None) => {
            return Err(TransportError::Url(format!(
                "{scheme}:// is not smtp:// or smtps://"
            )));
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(url.port().unwrap_or(port))
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if !url.username().is_empty() {
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| TransportError::Url("bad percent-encoding".into()))
        };
        builder = builder.credentials(Credentials::new(
            decode(url.username())?,
            decode(url.password().unwrap_or(""))?,
        ));
    }
    Ok(builder.build())
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// The delivery worker's handle: `wake` asks it to look now (after a commit that
/// queued mail) instead of at its next poll.
#[derive(Clone, Debug, Default)]
pub struct Wakeup(Arc<Notify>);

impl Wakeup {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Builds the MIME message: plain text and HTML alternatives.
fn build(from: &str, mail: &QueuedMail) -> Result<lettre::Message, String> {
    let from: Mailbox = from.parse().map_err(|e| format!("mail.from: {e}"))?;
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|e| format!("recipient: {e}"))?;
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .header(header::MIME_VERSION_1_0)
        .multipart(MultiPart::alternative_plain_html(
            mail.text_body.clone(),
            mail.html_body.clone(),
        ))
        .map_err(|e| e.to_string())
}

/// How long to wait after the `attempts`-th failed attempt: 30 s, doubling, capped.
pub fn backoff(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    30i64.saturating_mul(1i64 << exp).min(MAX_BACKOFF)
}

/// Runs deliveries until the process ends.
pub fn spawn(
    outbox: OutboxStore,
    transport: Transport,
    from: String,
    clock: Clock,
    wakeup: Wakeup,
) {
    let notify = wakeup.0;
    tracing::info!("{}", transport.describe());
    tokio::spawn(async move {
        loop {
            match deliver_due(&outbox, &transport, &from, &clock).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the mail outbox failed"),
            }
            tokio::select! {
                () = notify.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    });
}

/// One round: claims what is due and tries each. Returns how many were claimed.
pub async fn deliver_due(
    outbox: &OutboxStore,
    transport: &Transport,
    from: &str,
    clock: &Clock,
) -> Result<usize, crate::storage::StorageError> {
    let now = clock.now();
    let batch = outbox.claim_due(now, now + LEASE, BATCH).await?;
    let claimed = batch.len();
    for mail in batch {
        match send(transport, from, &mail).await {
            Ok(()) => {
                tracing::info!(mail_id = %mail.id, subject = %mail.subject, "mail handed over");
                outbox.delivered(mail.id).await?;
            }
            Err(e) => {
                let now = clock.now();
                let retry_at = (mail.attempts < MAX_ATTEMPTS).then(|| now + backoff(mail.attempts));
                match retry_at {
                    Some(_) => tracing::warn!(
                        mail_id = %mail.id, attempts = mail.attempts, error = %e,
                        "mail delivery failed; it will be retried"
                    ),
                    None => tracing::error!(
                        mail_id = %mail.id, attempts = mail.attempts, error = %e,
                        "mail delivery failed too often; giving up on this message"
                    ),
                }
                outbox.failed(mail.id, &e, retry_at, now).await?;
            }
        }
    }
    Ok(claimed)
}

async fn send(transport: &Transport, from: &str, mail: &QueuedMail) -> Result<(), String> {
    let message = build(from, mail)?;
    match transport {
        Transport::Smtp(smtp) => smtp
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Transport::Folder(dir) => {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let path = dir.join(format!("{}.eml", mail.id));
            let tmp = dir.join(format!(".{}.eml.tmp", mail.id));
            tokio::fs::write(&tmp, message.formatted())
                .await
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
            tokio::fs::rename(&tmp, &path)
                .await
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), to = %mail.recipient, "mail written to the outbox folder");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_up_to_three_hours() {
        assert_eq!(backoff(1), 30);
        assert_eq!(backoff(2), 60);
        assert_eq!(backoff(3), 120);
        assert_eq!(backoff(12), MAX_BACKOFF);
        assert_eq!(backoff(400), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn smtp_urls_are_read_or_refused() {
        assert!(smtp("smtp://127.0.0.1:2525").is_ok());
        assert!(smtp("smtps://user:p%40ss@mail.example.com").is_ok());
        assert!(smtp("smtp://mail.example.com?tls=required").is_ok());
        assert!(smtp("smtp://mail.example.com?tls=sometimes").is_err());
        assert!(smtp("http://mail.example.com").is_err());
    }
}
