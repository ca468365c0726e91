//! Outgoing mail: messages are rendered and written to the outbox table in the
//! transaction of what they report (`Mailer::queue_in`); the delivery worker sends
//! them over SMTP, or writes them to the outbox folder when no SMTP is configured.

pub mod message;
mod transport;
pub mod worker;

use uuid::Uuid;

pub use message::{Message, Rendered};
pub use transport::{SmtpUrl, TlsMode, Transport, TransportError};

use crate::storage::{OutboxStore, QueuedMail, StorageError, WriteTx};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("a mail template failed: {0}")]
    Template(#[from] askama::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Queues mail; cheap to clone.
#[derive(Clone, Debug)]
pub struct Mailer {
    outbox: OutboxStore,
    /// How mail names us: the issuer's host.
    service: String,
    wakeup: worker::Wakeup,
}

impl Mailer {
    pub fn new(outbox: OutboxStore, service: impl Into<String>) -> Self {
        Self {
            outbox,
            service: service.into(),
            wakeup: worker::Wakeup::default(),
        }
    }

    /// Tells this instance's delivery worker that mail was committed, so it sends now
    /// rather than at its next poll.
    pub fn wake(&self) {
        self.wakeup.wake();
    }

    /// What the delivery worker listens on.
    pub fn wakeup(&self) -> worker::Wakeup {
        self.wakeup.clone()
    }

    /// The name mail and pages call this service by.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Renders `message` for `to` and queues it inside `tx`: it is sent if and only if
    /// `tx` commits.
    pub async fn queue_in(
        &self,
        tx: &mut WriteTx,
        to: &str,
        message: &Message,
        now: i64,
    ) -> Result<(), MailError> {
        let rendered = message.render(&self.service)?;
        let mail = QueuedMail {
            id: Uuid::now_v7(),
            recipient: to.to_owned(),
            subject: rendered.subject,
            text_body: rendered.text,
            html_body: rendered.html,
            created_at: now,
            attempts: 0,
        };
        self.outbox.insert_in(tx, &mail).await?;
        Ok(())
    }
}
