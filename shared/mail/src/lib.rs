//! Transactional mail on the platform outbox (`platform::outbox`): a job is a
//! `mail_outbox` row written in the transaction of the event that causes it, its id
//! goes to SQS after COMMIT, and the mail-send function claims it and sends it
//! through SES v2 as raw MIME.
//!
//! ```text
//! request ─ BEGIN; …event…; mail::enqueue(&tx, job); COMMIT ─► queue.dispatch(ids)
//!                                    │                                │ SQS {"jobId": n}
//!                                    ▼                                ▼
//!                              mail_outbox row  ◄── claim ── mail-send (Sender) ── SES
//!                                    ▲
//!                                    └── sweep (every minute): lost or unsent jobs
//! ```
//!
//! The outbox module explains why this shape and the one duplicate window left (a
//! sender that dies after SES accepted the mail but before `sent` was recorded). For
//! password resets and verifications a rare duplicate is the right side to err on;
//! campaigns, where it matters more, will add per-recipient records on top.
//!
//! A retryable failure (throttling, a timeout) comes back through SQS at once, up to
//! [`MAX_ATTEMPTS`] claims. The SES side ([`Sender`]) is behind the `ses` feature:
//! functions that only write mail link no SES client.

mod config;
mod mailbox;
pub mod mime;
mod outbox;
#[cfg(feature = "ses")]
mod sender;
pub mod template;

use std::time::Duration;

pub use config::MailConfig;
pub use mailbox::{InvalidMailbox, Mailbox};
use platform::{
    Platform,
    error::{Error, Result},
    outbox::{Queue, RowId, Spec},
};
#[cfg(feature = "ses")]
pub use sender::{MailConsumer, Sender};
use tokio_postgres::types::Type;

use identity::email::Email;

/// SQS's redelivery is a mail's retry: no wait between attempts.
const RETRY_AFTER: [Duration; 4] = [Duration::ZERO; 4];

/// The `mail_outbox` table as the platform outbox drives it.
pub static OUTBOX: Spec = Spec {
    table: "mail_outbox",
    field: "jobId",
    done: "sent",
    done_at: "sent_at",
    receipt: "ses_message_id",
    receipt_type: Type::TEXT,
    // The variables hold the links mailed (verification, password reset): once SES
    // has the mail they are not kept.
    forget_when_done: Some("variables"),
    // Far longer than the mail-send function may run (template.yaml: 60 s).
    lease: Duration::from_secs(10 * 60),
    retry_after: &RETRY_AFTER,
    resend_lost_claims: true,
};

/// Claims per job before it is given up; matches the queue's `maxReceiveCount`.
pub const MAX_ATTEMPTS: i32 = RETRY_AFTER.len() as i32 + 1;

/// The queue mail job ids go to (`MAIL_QUEUE_URL`).
pub fn queue(platform: &Platform, config: &MailConfig) -> Queue {
    Queue::new(&OUTBOX, platform, config.queue_url.clone())
}

/// One mail to send, as the code that causes it describes it.
#[derive(Debug, Clone)]
pub struct MailJob {
    /// One of [`template::NAMES`], e.g. `verify-email`.
    pub template: &'static str,
    pub to: Email,
    /// The template's variables, a JSON object (e.g. `{"name": …, "link": …}`).
    pub variables: serde_json::Value,
}

/// Writes `job` to the outbox inside `tx` and returns its id, for
/// [`Queue::dispatch`] once `tx` has committed.
///
/// The job is rendered once here, so an unknown template or a missing variable fails
/// the request that caused it, where the bug is, and never reaches the queue.
pub async fn enqueue(tx: &impl platform::db::Transactional, job: &MailJob) -> Result<RowId> {
    template::render(job.template, &job.variables).map_err(Error::internal)?;
    outbox::insert(tx, job.template, job.to.as_str(), &job.variables).await
}
