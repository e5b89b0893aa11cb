//! `Mailer`: the AWS side of the pipeline. It dispatches job ids to SQS, delivers one
//! job through SES (claim, render, send, record), and sweeps up jobs that fell
//! between the cracks.

use std::time::Duration;

use aws_sdk_sesv2::{
    primitives::Blob,
    types::{Destination, EmailContent, RawMessage},
};
use tokio::sync::OnceCell;

use super::{
    Mailbox,
    mime::Message,
    outbox::{self, Claimed, Next},
    template,
};
use crate::{
    config::{AwsConfig, Config, MailConfig},
    db::Db,
    email::Email,
    error::Result,
    queue::{Consumer, Sweep, SweepReport},
};

/// Claims per job before it is given up; matches the queue's `maxReceiveCount`.
pub const MAX_ATTEMPTS: i32 = 5;

/// How long a claim lasts. Far longer than the mail-send function may run
/// (template.yaml: 60 s), so only a dead sender's claim ever expires.
const LEASE: Duration = Duration::from_secs(10 * 60);

/// The field of a queue message that names the job: `{"jobId": n}`.
pub const JOB_FIELD: &str = "jobId";

/// The SDK clients, built on first use: a cold start that sends no mail never pays
/// for loading AWS configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub ses: aws_sdk_sesv2::Client,
}

#[derive(Debug)]
pub struct Mailer {
    db: Db,
    config: MailConfig,
    aws: AwsConfig,
    clients: OnceCell<Clients>,
}

/// What delivering one job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// SES accepted it; its message id.
    Sent(String),
    /// Nothing to do: sent or failed already, being sent by another claim, or the
    /// job does not exist (its transaction rolled back).
    Skipped,
    /// A retryable failure; the job is pending again and its message should come back.
    Retry(String),
    /// Given up: the mail cannot be built, SES refused it, or attempts ran out.
    Failed(String),
}

struct SendFailure {
    message: String,
    retryable: bool,
}

impl Mailer {
    /// Connects nowhere; the AWS clients are built on first use.
    pub fn new(config: &Config, db: Db) -> Self {
        Self {
            db,
            config: config.mail.clone(),
            aws: config.aws.clone(),
            clients: OnceCell::new(),
        }
    }

    pub fn from(&self) -> &Mailbox {
        &self.config.from
    }

    pub fn queue_url(&self) -> Option<&str> {
        self.config.queue_url.as_ref().map(url::Url::as_str)
    }

    pub async fn clients(&self) -> &Clients {
        self.clients
            .get_or_init(|| async {
                let sdk = crate::aws::sdk_config(&self.aws).await;
                let mut ses = aws_sdk_sesv2::config::Builder::from(&sdk);
                if let Some(region) = &self.config.ses_region {
                    ses = ses.region(aws_sdk_sesv2::config::Region::new(region.clone()));
                }
                Clients {
                    sqs: aws_sdk_sqs::Client::new(&sdk),
                    ses: aws_sdk_sesv2::Client::from_conf(ses.build()),
                }
            })
            .await
    }

    /// Queues the jobs for sending, after the transaction that wrote them committed.
    /// Best effort by design: a failure is logged and the sweeper sends them later,
    /// so a request never fails because the queue did.
    pub async fn dispatch(&self, job_ids: &[i64]) {
        if let Err(err) = self.send_to_queue(job_ids).await {
            tracing::warn!(error = %err, ?job_ids, "mail dispatch failed; the sweeper will retry");
        }
    }

    /// Sends the ids to SQS and records which went; returns how many.
    async fn send_to_queue(&self, job_ids: &[i64]) -> Result<usize> {
        if job_ids.is_empty() {
            return Ok(0);
        }
        let Some(queue_url) = self.queue_url() else {
            tracing::warn!(
                ?job_ids,
                "MAIL_QUEUE_URL is not set; mail jobs stay in the outbox"
            );
            return Ok(0);
        };
        let sqs = &self.clients().await.sqs;
        let queued = crate::queue::send_ids(sqs, queue_url, JOB_FIELD, job_ids).await?;
        outbox::mark_enqueued(&*self.db.client().await?, &queued).await?;
        Ok(queued.len())
    }

    /// Sends one job, at most once per claim (see the module docs of `shared::mail`).
    pub async fn deliver(&self, job_id: i64) -> Result<Delivery> {
        let Some(job) = outbox::claim(&*self.db.client().await?, job_id, LEASE).await? else {
            return Ok(Delivery::Skipped);
        };
        let outcome = match self.compose(&job) {
            Ok((to, raw)) => self.send(&to, raw).await,
            Err(message) => Err(SendFailure {
                message,
                retryable: false,
            }),
        };
        // A fresh connection: none was held while SES was being called.
        let client = self.db.client().await?;
        match outcome {
            Ok(ses_message_id) => {
                outbox::mark_sent(&client, job_id, &ses_message_id).await?;
                tracing::info!(job = job_id, template = %job.template, %ses_message_id, "mail sent");
                Ok(Delivery::Sent(ses_message_id))
            }
            Err(failure) => {
                let next = outbox::mark_failed(
                    &client,
                    job_id,
                    &failure.message,
                    failure.retryable,
                    MAX_ATTEMPTS,
                )
                .await?;
                tracing::warn!(
                    job = job_id,
                    template = %job.template,
                    attempt = job.attempts,
                    error = %failure.message,
                    given_up = next == Next::GiveUp,
                    "mail not sent"
                );
                Ok(match next {
                    Next::Retry => Delivery::Retry(failure.message),
                    Next::GiveUp => Delivery::Failed(failure.message),
                })
            }
        }
    }

    /// Renders the job into raw MIME; an error here will not go away on retry.
    fn compose(&self, job: &Claimed) -> Result<(Email, Vec<u8>), String> {
        let to = Email::parse(&job.recipient).map_err(|e| format!("recipient: {e}"))?;
        let rendered =
            template::render(&job.template, &job.variables).map_err(|e| e.to_string())?;
        let raw = Message {
            from: &self.config.from,
            to: &to,
            subject: &rendered.subject,
            text: &rendered.text,
            html: &rendered.html,
            headers: &[],
        }
        .to_raw()
        .map_err(|e| e.to_string())?;
        Ok((to, raw))
    }

    async fn send(&self, to: &Email, raw: Vec<u8>) -> Result<String, SendFailure> {
        let permanent = |message: String| SendFailure {
            message,
            retryable: false,
        };
        let raw = RawMessage::builder()
            .data(Blob::new(raw))
            .build()
            .map_err(|e| permanent(e.to_string()))?;
        let result = self
            .clients()
            .await
            .ses
            .send_email()
            .from_email_address(self.config.from.address.as_str())
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.message_id().unwrap_or_default().to_owned()),
            Err(err) => {
                // The message itself is wrong: sending it again cannot help. Everything
                // else (throttling, paused sending, timeouts) may pass.
                let retryable = !err
                    .as_service_error()
                    .is_some_and(|e| e.is_message_rejected() || e.is_bad_request_exception());
                Err(SendFailure {
                    message: aws_sdk_sesv2::error::DisplayErrorContext(err).to_string(),
                    retryable,
                })
            }
        }
    }

    /// Recovers what the happy path missed: claims whose sender died (dispatched
    /// again at once), and pending jobs no queue message will deliver. Runs on a
    /// schedule.
    pub async fn sweep(&self, policy: &Sweep) -> Result<SweepReport> {
        let (expired, mut due) = {
            let client = self.db.client().await?;
            let expired = outbox::expire_leases(&client, MAX_ATTEMPTS).await?;
            let due = outbox::due(
                &client,
                policy.undispatched_after,
                policy.redispatch_after,
                policy.limit,
            )
            .await?;
            (expired, due)
        };
        due.extend(&expired.requeued);
        let dispatched = self.send_to_queue(&due).await?;
        let report = SweepReport {
            requeued: expired.requeued.len() as u64,
            failed: expired.failed,
            dispatched,
        };
        if report != SweepReport::default() {
            tracing::info!(?report, "mail sweep");
        }
        Ok(report)
    }
}

impl Consumer for Mailer {
    const FIELD: &'static str = JOB_FIELD;

    /// Only a retryable failure comes back: SQS's redelivery is the mail's retry.
    async fn handle(&self, id: i64) -> Result<bool> {
        Ok(matches!(self.deliver(id).await?, Delivery::Retry(_)))
    }

    async fn sweep_due(&self, policy: &Sweep) -> Result<SweepReport> {
        self.sweep(policy).await
    }
}
