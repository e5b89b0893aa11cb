//! Transactional mail: an outbox in PostgreSQL, SQS to fan out, SES to send.
//!
//! ```text
//! request ─ BEGIN; …event…; mail::enqueue(&tx, job); COMMIT ─► platform.mail.dispatch(ids)
//!                                    │                                   │ SQS {"jobId": n}
//!                                    ▼                                   ▼
//!                              mail_outbox row  ◄── claim ── mail-send function ── SES
//!                                    ▲
//!                                    └── sweeper (every minute): lost or unsent jobs
//! ```
//!
//! Why this shape:
//! - The job is a row written in the event's own transaction, so a mail exists if
//!   and only if its event committed: a rolled-back registration sends nothing, and a
//!   committed one cannot lose its mail to a crash between COMMIT and sending.
//! - `dispatch` after COMMIT is only a nudge carrying job ids. If it fails (SQS down,
//!   the sandbox frozen mid-way) the job is still pending and the sweeper sends it on.
//! - The mail-send function claims a job with one conditional UPDATE
//!   (`pending → sending`, with a lease) before calling SES, and only the claimer
//!   sends. A redelivered or duplicated SQS message, or a sweeper's re-dispatch racing
//!   the original, finds the row taken or finished and does nothing.
//!
//! What is and is not exactly-once: the claim makes sending at-most-once per claim,
//! and claims are exclusive. The one window left is a sender that dies after SES
//! accepted the mail but before `sent` was recorded (a crash, a timeout, the database
//! unreachable at that instant). Its lease then expires and the sweeper hands the job
//! to a new claim, which sends the mail a second time. SES offers no idempotency key
//! to close that window, so the design keeps it small (one UPDATE right after SES
//! answers) and bounded (the lease is longer than the function can run, so a live
//! sender's claim never expires under it). For password resets and verifications a
//! rare duplicate is the right side to err on; campaigns, where it matters more, will
//! add per-recipient records on top.

mod mailbox;
mod mailer;
pub mod mime;
mod outbox;
pub mod template;

pub use crate::queue::{Sweep, SweepReport};
pub use mailbox::{InvalidMailbox, Mailbox};
pub use mailer::{Clients, Delivery, JOB_FIELD, MAX_ATTEMPTS, Mailer};

use crate::{
    email::Email,
    error::{Error, Result},
};

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
/// [`Mailer::dispatch`] once `tx` has committed.
///
/// The job is rendered once here, so an unknown template or a missing variable fails
/// the request that caused it, where the bug is, and never reaches the queue.
pub async fn enqueue(tx: &tokio_postgres::Transaction<'_>, job: &MailJob) -> Result<i64> {
    template::render(job.template, &job.variables).map_err(Error::internal)?;
    outbox::insert(tx, job.template, job.to.as_str(), &job.variables).await
}
