//! The delivery worker: claims due messages from the outbox, hands each to the
//! transport (SMTP or the outbox folder), deletes it once handed over, and retries
//! failures with exponential backoff. It runs beside the server, never inside a
//! request: a slow or down mail server delays mail, not pages.
//!
//! Any number of instances may run one: a claim is a lease in the database (see
//! `storage::outbox`), so each message is handed over once. "Once" is as good as SMTP
//! allows: a server that takes a message and then loses the connection before saying so
//! gets it again on the retry, with the same `Message-ID`.
//!
//! Logs name a message by its outbox id and subject, never by its recipient (personal
//! data) and never with its body (the link is a secret).

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;

use super::transport::{Failure, FailureKind, Handed, Sender};
pub use super::transport::{SmtpUrl, TlsMode, Transport, TransportError};
use crate::{
    clock::Clock,
    storage::{OutboxStore, QueuedMail, StorageError},
};

/// How long a claimed message is ours before another worker may try it: a worker that
/// dies mid-send delays its mail by at most this.
pub const LEASE: i64 = 300;
/// How long one message may take to hand over, the whole SMTP conversation included.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// A message is only started with this much of the lease left: a send is over (done or
/// cut off) before anyone else may claim the message, with room for clocks that differ
/// a little between instances.
const LEASE_NEEDED: i64 = 60 + 30;
// A send always ends (done or cut off) before its lease does.
const _: () = assert!(LEASE_NEEDED > SEND_TIMEOUT.as_secs() as i64 && LEASE > LEASE_NEEDED);

/// Messages claimed per round.
const BATCH: i64 = 16;
/// Retries stop after this many attempts: about ten hours with the backoff below.
pub const MAX_ATTEMPTS: i64 = 12;
/// The longest wait between two attempts.
const MAX_BACKOFF: i64 = 3 * 3600;
/// How often the worker looks for due mail when nobody wakes it.
const POLL: Duration = Duration::from_secs(1);

/// The delivery worker's handle: `wake` asks it to look now (after a commit that
/// queued mail) instead of at its next poll. Never waits.
#[derive(Clone, Debug, Default)]
pub struct Wakeup(Arc<Notify>);

impl Wakeup {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// How long to wait after the `attempts`-th failed attempt: 30 s, doubling, capped.
pub fn backoff(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    30i64.saturating_mul(1i64 << exp).min(MAX_BACKOFF)
}

/// One instance's deliverer: its outbox, transport, sender and clock.
#[derive(Clone, Debug)]
pub struct Worker {
    outbox: OutboxStore,
    transport: Transport,
    sender: Sender,
    clock: Clock,
}

impl Worker {
    /// Checks `from` (it must be an address lettre can write) once, at start.
    pub fn new(
        outbox: OutboxStore,
        transport: Transport,
        from: &str,
        clock: Clock,
    ) -> Result<Self, TransportError> {
        Ok(Self {
            outbox,
            transport,
            sender: Sender::parse(from)?,
            clock,
        })
    }

    /// Runs deliveries until the process ends: a round whenever woken, or every second.
    pub fn spawn(self, wakeup: Wakeup) {
        tracing::info!("{}", self.transport.describe());
        tokio::spawn(async move {
            self.report_backlog().await;
            loop {
                match self.round().await {
                    // A full batch: there may be more due right now.
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "reading the mail outbox failed"),
                }
                tokio::select! {
                    () = wakeup.0.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        });
    }

    /// Says at start what waits from before and what was given up, so stuck mail is
    /// seen by whoever reads the log.
    async fn report_backlog(&self) {
        match self.outbox.summary().await {
            Ok(s) if s.given_up > 0 => tracing::warn!(
                waiting = s.waiting,
                retrying = s.retrying,
                given_up = s.given_up,
                "mail delivery was given up for some messages; they stay in the mail_outbox \
                 table (failed_at set, last_error says why) for an operator"
            ),
            Ok(s) if s.waiting > 0 => tracing::info!(
                waiting = s.waiting,
                retrying = s.retrying,
                "mail from before this start is waiting in the outbox"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading the mail outbox failed"),
        }
    }

    /// One round: claims what is due and tries each. Returns how many were claimed.
    pub async fn round(&self) -> Result<usize, StorageError> {
        let now = self.clock.now();
        if !self.outbox.any_due(now).await? {
            return Ok(0);
        }
        let lease = now + LEASE;
        let batch = self.outbox.claim_due(now, lease, BATCH).await?;
        let claimed = batch.len();
        let mut batch = batch.into_iter();
        while let Some(mail) = batch.next() {
            if self.clock.now() + LEASE_NEEDED > lease {
                // A slow server ate the lease: hand the rest back rather than send
                // them after another worker may have claimed them.
                for mail in std::iter::once(mail).chain(batch.by_ref()) {
                    self.outbox.release(mail.id, lease).await?;
                }
                break;
            }
            self.attempt(&mail, lease).await?;
        }
        Ok(claimed)
    }

    /// Tries one message claimed under `lease` and records the outcome.
    async fn attempt(&self, mail: &QueuedMail, lease: i64) -> Result<(), StorageError> {
        let sent = match self.sender.build(mail) {
            Ok(message) => tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message, mail))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::transient(format!(
                        "the mail server did not finish within {SEND_TIMEOUT:?}"
                    )))
                }),
            Err(failure) => Err(failure),
        };
        match sent {
            Ok(handed) => {
                match &handed {
                    Handed::Smtp => tracing::info!(
                        mail_id = %mail.id, subject = %mail.subject, "mail handed to the SMTP server"
                    ),
                    Handed::Folder(path) => tracing::info!(
                        mail_id = %mail.id, subject = %mail.subject, path = %path.display(),
                        "mail written to the outbox folder (no SMTP server is configured)"
                    ),
                }
                if let Err(e) = self.outbox.delivered(mail.id).await {
                    tracing::error!(
                        mail_id = %mail.id, error = %e,
                        "mail was handed over but is still in the outbox; it will be sent again"
                    );
                }
                Ok(())
            }
            Err(failure) => self.failed(mail, lease, &failure).await,
        }
    }

    /// Schedules the retry, or gives up, and says so in the log.
    async fn failed(
        &self,
        mail: &QueuedMail,
        lease: i64,
        failure: &Failure,
    ) -> Result<(), StorageError> {
        let now = self.clock.now();
        let give_up = failure.kind == FailureKind::Refused || mail.attempts >= MAX_ATTEMPTS;
        let retry_at = (!give_up).then(|| now + backoff(mail.attempts));
        let (id, attempts, error) = (mail.id, mail.attempts, &failure.reason);
        match (&failure.kind, retry_at) {
            (FailureKind::Refused, _) => tracing::warn!(
                mail_id = %id, attempts, error = %error,
                "the mail server refused this recipient; giving up on this message"
            ),
            (_, None) => tracing::error!(
                mail_id = %id, attempts, error = %error,
                "mail delivery failed too often; giving up on this message (it stays in the outbox, marked failed)"
            ),
            (FailureKind::Setup, Some(at)) => tracing::error!(
                mail_id = %id, attempts, error = %error, retry_in_s = at - now,
                "the mail server refused us; check PORTCULLIS_SMTP_URL and the server. The message will be retried"
            ),
            (FailureKind::Transient, Some(at)) => tracing::warn!(
                mail_id = %id, attempts, error = %error, retry_in_s = at - now,
                "mail delivery failed; it will be retried"
            ),
        }
        if !self.outbox.failed(id, lease, error, retry_at, now).await? {
            tracing::warn!(
                mail_id = %id,
                "a mail attempt outlasted its lease; another worker has the message now"
            );
        }
        Ok(())
    }
}

/// Starts this instance's worker (from `AppState::spawn_mail_worker`).
pub fn spawn(
    outbox: OutboxStore,
    transport: Transport,
    from: &str,
    clock: Clock,
    wakeup: Wakeup,
) -> Result<(), TransportError> {
    Worker::new(outbox, transport, from, clock)?.spawn(wakeup);
    Ok(())
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
        assert_eq!(backoff(0), 30);
        assert_eq!(backoff(-5), 30);
    }

    #[test]
    fn retries_span_about_ten_hours_before_giving_up() {
        let total: i64 = (1..MAX_ATTEMPTS).map(backoff).sum();
        assert!((9 * 3600..12 * 3600).contains(&total), "{total} s");
    }
}
