//! The one transactional outbox: mail, content webhooks (and later campaigns) are
//! rows written in the caller's transaction, nudged through SQS, claimed with a
//! lease, delivered, marked, and swept up when something went missing.
//!
//! ```text
//! BEGIN; …event…; <domain>::enqueue(&tx, …) → ids; COMMIT ─► Queue::dispatch(ids)
//!                        │                                        │ SQS {"<field>": id}
//!                        │                                        │  (or a group: {"<field>": [ids]})
//!                        ▼                                        ▼
//!                  outbox row ◄── claim (lease) ── Consumer::deliver ── Job::send
//!                        ▲
//!                        └── Consumer::sweep (schedule): expired leases, lost rows, due retries
//! ```
//!
//! Why this shape:
//! - A row exists if and only if its event committed: a rolled-back request sends
//!   nothing, and a committed one cannot lose its delivery to a crash after COMMIT.
//! - `dispatch` after COMMIT is only a nudge carrying ids. If it fails (SQS down, the
//!   sandbox frozen mid-way) the row is still pending and the sweep sends it on.
//! - A consumer claims a row with one conditional UPDATE (`pending → sending`, with
//!   a lease) before sending, and only the claimer sends: a redelivered or duplicated
//!   SQS message, or a sweep racing the original, finds the row taken or finished.
//!
//! What is and is not exactly-once: sending is at-most-once per claim, and claims are
//! exclusive. The one window left is a sender that dies after the far side accepted
//! but before the outcome was recorded; its lease then expires and the sweep hands
//! the row to a new claim. Neither SES nor a webhook receiver offers a way to close
//! that window on our side, so it is kept small (one UPDATE right after the answer)
//! and bounded (the lease outlives the function's timeout, so a live sender's claim
//! never expires under it); receivers of webhooks dedupe on the row id.
//!
//! A domain owns its table (its columns beyond the state machine and its INSERT) and
//! describes it in a [`Spec`]; this module owns the state machine:
//!
//! ```text
//! pending ──claim (next_attempt_at has come)──► sending ──accepted──► <done>
//!    ▲                                             │
//!    └── retryable failure: wait, then again ──────┤ lease expired (the sender died)
//!                                                  └──► failed (permanent, or out of attempts)
//! ```

use std::{sync::Arc, time::Duration};
use tracing::Instrument;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, future::join_all};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tokio_postgres::types::{ToSql, Type};
use url::Url;

use crate::db::{Client, GenericClient};
use crate::{
    Platform,
    config::AwsConfig,
    db::Db,
    error::{Error, Result},
    runtime::EventFuture,
};

/// An outbox table as its domain declares it. Every name is an SQL identifier
/// compiled into the program, never input. The table has the state-machine columns
/// `id, status, attempts, next_attempt_at, claimed_until, enqueued_at, last_error`
/// besides the two named here.
#[derive(Debug)]
pub struct Spec {
    pub table: &'static str,
    /// The field of a queue message that names a row, e.g. `jobId`.
    pub field: &'static str,
    /// The status of a row whose delivery succeeded, e.g. `sent`.
    pub done: &'static str,
    /// The column stamped with the time of success, e.g. `sent_at`.
    pub done_at: &'static str,
    /// The column recording what the far side answered (a message id, a status
    /// code), and its type.
    pub receipt: &'static str,
    pub receipt_type: Type,
    /// A column set back to its default once the row is done: what was only needed
    /// to send it, and must not stay at rest (a mail's links).
    pub forget_when_done: Option<&'static str>,
    /// How long a claim lasts: far longer than the consumer may run, so only a dead
    /// sender's claim ever expires.
    pub lease: Duration,
    /// The wait after each failed attempt; after the last, the row fails. A zero
    /// wait retries through SQS at once (the message comes back); a longer one
    /// leaves the retry to the sweep, when the wait is over.
    pub retry_after: &'static [Duration],
    /// Whether a row whose claim expired (its sender died, maybe after the far side
    /// accepted) is sent again. Yes for mail and webhooks, where a rare duplicate is
    /// the right side to err on; no where a duplicate must never happen (campaign
    /// mail): the row fails instead.
    pub resend_lost_claims: bool,
}

impl Spec {
    /// Claims per row before it is given up.
    pub const fn max_attempts(&self) -> i32 {
        self.retry_after.len() as i32 + 1
    }

    /// The wait before the attempt after `attempt` (1-based), or `None`: give up.
    pub fn retry_after(&self, attempt: i32) -> Option<Duration> {
        usize::try_from(attempt - 1)
            .ok()
            .and_then(|i| self.retry_after.get(i).copied())
    }

    /// Rows created from `from` (inclusive) to `to` (exclusive) that failed for good,
    /// every attempt spent: what an overview counts as failed deliveries.
    pub async fn failed_between(
        &self,
        client: &impl GenericClient,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<i64> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE status = 'failed' AND created_at >= $1 AND created_at < $2",
            self.table
        );
        Ok(client
            .query_typed(
                &sql,
                &[(&from, Type::TIMESTAMPTZ), (&to, Type::TIMESTAMPTZ)],
            )
            .await?
            .first()
            .map_or(Ok(0), |row| row.try_get(0))?)
    }
}

/// A row's id, as enqueued in the caller's transaction and dispatched after COMMIT.
pub type RowId = i64;

/// SQS takes at most ten messages per `SendMessageBatch`.
const SQS_BATCH: usize = 10;

/// `SendMessageBatch` calls in flight at once when dispatching many rows.
const SQS_CALLS_IN_FLIGHT: usize = 4;

/// Rows of one grouped queue message sent at once.
const GROUP_CONCURRENCY: usize = 16;

/// Rows one consumer sends at once, whatever the messages: each send holds a
/// connection and its buffers, and a Lambda's memory is small (a campaign batch
/// would otherwise have 10 × [`GROUP_CONCURRENCY`] in flight).
const IN_FLIGHT: usize = 32;

/// Errors are kept for operators, not forever-growing.
fn truncate(error: &str) -> String {
    error.chars().take(1000).collect()
}

/// The producing side of an outbox: what a function that writes rows needs to send
/// their ids to the queue after COMMIT. Connects nowhere until it dispatches.
#[derive(Debug)]
pub struct Queue {
    spec: &'static Spec,
    db: Db,
    url: Option<Url>,
    aws: AwsConfig,
    sqs: OnceCell<aws_sdk_sqs::Client>,
    /// Rows named by one queue message.
    per_message: usize,
}

impl Queue {
    /// `url` is optional so a stack without AWS or moto still starts: without it
    /// rows wait in the outbox and `dispatch` only logs (template.yaml always sets it).
    pub fn new(spec: &'static Spec, platform: &Platform, url: Option<Url>) -> Self {
        Self {
            spec,
            db: platform.db.clone(),
            url,
            aws: platform.config.aws.clone(),
            sqs: OnceCell::new(),
            per_message: 1,
        }
    }

    /// Names up to `per_message` rows in each queue message (`{"<field>": [ids]}`):
    /// for tables that fill by the thousand (a campaign's recipients), so neither
    /// dispatching nor consuming costs a message per row. The consumer sends a
    /// message's rows [`GROUP_CONCURRENCY`] at a time.
    pub fn grouped(mut self, per_message: usize) -> Self {
        self.per_message = per_message.max(1);
        self
    }

    pub fn spec(&self) -> &'static Spec {
        self.spec
    }

    pub fn url(&self) -> Option<&str> {
        self.url.as_ref().map(Url::as_str)
    }

    /// The SQS client, built on first use: a cold start that dispatches nothing never
    /// pays for loading AWS configuration.
    pub async fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs
            .get_or_init(|| async {
                aws_sdk_sqs::Client::new(&crate::aws::sdk_config(&self.aws).await)
            })
            .await
    }

    /// Queues rows after the transaction that wrote them committed. Best effort by
    /// design: a failure is logged and the sweep sends them later, so a request never
    /// fails because the queue did.
    pub async fn dispatch(&self, ids: &[RowId]) {
        if let Err(err) = self.send(ids).await {
            tracing::warn!(error = %err, table = self.spec.table, ?ids, "dispatch failed; the sweep will retry");
        }
    }

    /// Sends the ids to SQS and records which went; returns how many.
    pub async fn send(&self, ids: &[RowId]) -> Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let Some(url) = self.url() else {
            tracing::warn!(
                table = self.spec.table,
                ?ids,
                "no queue is configured; the rows wait in the outbox"
            );
            return Ok(0);
        };
        let queued = send_ids(
            self.sqs().await,
            url,
            self.spec.field,
            ids,
            self.per_message,
        )
        .await?;
        if !queued.is_empty() {
            // Whatever the status: the row may well be delivered before this runs.
            self.db
                .client()
                .await?
                .query_typed(
                    &format!(
                        "UPDATE {} SET enqueued_at = now() WHERE id = ANY($1)",
                        self.spec.table
                    ),
                    &[(&queued, Type::INT8_ARRAY)],
                )
                .await?;
        }
        Ok(queued.len())
    }
}

/// Sends the distinct ids, `per_message` to a message, and returns the ids SQS
/// accepted.
async fn send_ids(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    field: &str,
    ids: &[RowId],
    per_message: usize,
) -> Result<Vec<RowId>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let groups: Vec<Vec<RowId>> = ids.chunks(per_message).map(<[RowId]>::to_vec).collect();
    let mut calls = Vec::with_capacity(groups.len().div_ceil(SQS_BATCH));
    for batch in groups.chunks(SQS_BATCH) {
        calls.push(send_batch(
            sqs,
            queue_url,
            field,
            batch.to_vec(),
            per_message,
        ));
    }
    let mut queued = Vec::with_capacity(ids.len());
    let mut calls = futures_util::stream::iter(calls).buffer_unordered(SQS_CALLS_IN_FLIGHT);
    while let Some(accepted) = calls.next().await {
        queued.extend(accepted?);
    }
    Ok(queued)
}

/// One `SendMessageBatch` of up to ten groups; the ids of the groups accepted.
async fn send_batch(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    field: &str,
    batch: Vec<Vec<RowId>>,
    per_message: usize,
) -> Result<Vec<RowId>> {
    // Entry ids must be distinct within a call: the group's place in it.
    let entries = batch
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let body = match group.as_slice() {
                [id] if per_message == 1 => json!({ field: id }),
                group => json!({ field: group }),
            };
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body.to_string())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::internal)?;
    let output = sqs
        .send_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .instrument(crate::telemetry::aws_span("SQS", "SendMessageBatch"))
        .await
        .map_err(|e| Error::internal(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
    for failed in output.failed() {
        tracing::warn!(
            entry = failed.id(),
            code = failed.code(),
            queue_url,
            "SQS refused an outbox message"
        );
    }
    Ok(output
        .successful()
        .iter()
        .filter_map(|s| s.id().parse::<usize>().ok())
        .filter_map(|i| batch.get(i))
        .flat_map(|group| group.iter().copied())
        .collect())
}

/// Why a send did not succeed.
#[derive(Debug)]
pub struct Failure<R> {
    pub message: String,
    /// Whether trying again may help (a timeout, throttling, a 5xx).
    pub retryable: bool,
    /// What the far side answered, if it answered.
    pub receipt: Option<R>,
}

impl<R> Failure<R> {
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            receipt: None,
        }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            receipt: None,
        }
    }
}

/// The domain's half of a consumer: what a claimed row holds, and how it is sent.
pub trait Job: Send + Sync {
    /// The row's payload as the sender needs it.
    type Row: Send + Sync;
    /// What the far side answered on success, stored in [`Spec::receipt`].
    type Receipt: ToSql + Sync + Send + std::fmt::Debug + Clone + PartialEq;

    /// Reads a row this consumer has just claimed.
    fn load(&self, client: &Client, id: RowId) -> impl Future<Output = Result<Self::Row>> + Send;

    /// Waits until one more row may be sent (a pace shared with other senders).
    /// Runs before each claim, so a row is claimed only when it can go at once and
    /// a pause or cancel between the two still holds it back.
    fn ready(&self) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Sends it once.
    fn send(
        &self,
        id: RowId,
        row: &Self::Row,
    ) -> impl Future<Output = Result<Self::Receipt, Failure<Self::Receipt>>> + Send;
}

/// What delivering one row came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery<R> {
    /// The far side accepted it; its receipt.
    Done(R),
    /// Nothing to do: finished already, being sent by another claim, not due yet, or
    /// the row does not exist (its transaction rolled back).
    Skipped,
    /// A retryable failure; the row is pending again.
    Retry(String),
    /// Given up: permanent failure, or no attempts left.
    Failed(String),
}

/// When the sweep considers a pending row lost.
#[derive(Debug, Clone, Copy)]
pub struct Sweep {
    /// Never dispatched this long after it was due: `dispatch` failed or never ran.
    pub undispatched_after: Duration,
    /// Dispatched this long ago and still pending: its message was lost or
    /// dead-lettered. Longer than SQS's own redelivery cycle.
    pub redispatch_after: Duration,
    /// Rows dispatched per sweep at most, oldest first.
    pub limit: i64,
}

impl Default for Sweep {
    fn default() -> Self {
        Self {
            undispatched_after: Duration::from_secs(60),
            redispatch_after: Duration::from_secs(15 * 60),
            limit: 500,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Expired claims returned to pending.
    pub requeued: u64,
    /// Expired claims that had no attempts left.
    pub failed: u64,
    /// Rows sent to the queue.
    pub dispatched: usize,
}

/// The consuming side: a queue and the job that sends its rows.
#[derive(Debug)]
pub struct Consumer<J> {
    queue: Queue,
    job: J,
    in_flight: tokio::sync::Semaphore,
}

impl<J: Job> Consumer<J> {
    pub fn new(queue: Queue, job: J) -> Self {
        Self {
            queue,
            job,
            in_flight: tokio::sync::Semaphore::new(IN_FLIGHT),
        }
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    pub fn job(&self) -> &J {
        &self.job
    }

    fn spec(&self) -> &'static Spec {
        self.queue.spec
    }

    /// Sends one row, at most once per claim.
    pub async fn deliver(&self, id: RowId) -> Result<Delivery<J::Receipt>> {
        match self.deliver_many(&[id]).await.pop() {
            Some((_, outcome)) => outcome,
            None => Ok(Delivery::Skipped),
        }
    }

    /// Sends the rows of one queue message, [`GROUP_CONCURRENCY`] at a time, each at
    /// most once per claim. Answers each claimed row's outcome; rows it could not
    /// claim (finished, being sent, not due, gone) are skipped and left out.
    pub async fn deliver_many(&self, ids: &[RowId]) -> Vec<(RowId, Result<Delivery<J::Receipt>>)> {
        // Collected first: a stream over a borrowing closure would not be `Send`
        // for every lifetime, as the Lambda handler's future must be.
        let sends: Vec<_> = ids.iter().map(|&id| self.deliver_tagged(id)).collect();
        futures_util::stream::iter(sends)
            .buffer_unordered(GROUP_CONCURRENCY)
            .filter_map(std::future::ready)
            .collect()
            .await
    }

    /// One row's outcome with its id; `None` when it was not claimable.
    async fn deliver_tagged(&self, id: RowId) -> Option<(RowId, Result<Delivery<J::Receipt>>)> {
        self.deliver_one(id)
            .await
            .transpose()
            .map(|outcome| (id, outcome))
    }

    /// Claims, loads, sends and records one row; `None` when it was not claimable.
    async fn deliver_one(&self, id: RowId) -> Result<Option<Delivery<J::Receipt>>> {
        let spec = self.spec();
        let _sending = self.in_flight.acquire().await.map_err(Error::internal)?;
        self.job.ready().await?;
        let (row, attempts) = {
            let client = self.queue.db.client().await?;
            let claimed = client
                .query_typed(
                    &format!(
                        "UPDATE {} SET status = 'sending', attempts = attempts + 1,
                                claimed_until = now() + make_interval(secs => $2)
                          WHERE id = $1 AND status = 'pending' AND next_attempt_at <= now()
                      RETURNING attempts",
                        spec.table
                    ),
                    &[(&id, Type::INT8), (&spec.lease.as_secs_f64(), Type::FLOAT8)],
                )
                .await?;
            let Some(attempts) = claimed.first().map(|r| r.get::<_, i32>(0)) else {
                return Ok(None);
            };
            match self.job.load(&client, id).await {
                Ok(row) => (row, attempts),
                Err(err) => {
                    self.unclaim(&client, id).await;
                    return Err(err);
                }
            }
        };
        let outcome = self.job.send(id, &row).await;
        self.record(id, attempts, outcome).await.map(Some)
    }

    /// Hands a claimed row back untouched when it could not even be read: nothing
    /// was sent. Best effort: if this fails too, its lease expires.
    async fn unclaim(&self, client: &Client, id: RowId) {
        let released = client
            .query_typed(
                &format!(
                    "UPDATE {} SET status = 'pending', attempts = attempts - 1, claimed_until = NULL
                      WHERE id = $1 AND status = 'sending'",
                    self.spec().table
                ),
                &[(&id, Type::INT8)],
            )
            .await;
        if let Err(err) = released {
            tracing::warn!(error = %err, id, table = self.spec().table, "claim not handed back; its lease will expire");
        }
    }

    /// Records what sending a claimed row came to.
    async fn record(
        &self,
        id: RowId,
        attempts: i32,
        outcome: Result<J::Receipt, Failure<J::Receipt>>,
    ) -> Result<Delivery<J::Receipt>> {
        let spec = self.spec();
        // A fresh connection: none was held while the far side was being called.
        let client = self.queue.db.client().await?;
        match outcome {
            Ok(receipt) => {
                let forget = spec
                    .forget_when_done
                    .map(|column| format!(", {column} = DEFAULT"))
                    .unwrap_or_default();
                client
                    .query_typed(
                        &format!(
                            "UPDATE {} SET status = '{}', {} = now(), {} = $2,
                                    claimed_until = NULL, last_error = NULL{forget}
                              WHERE id = $1 AND status = 'sending'",
                            spec.table, spec.done, spec.done_at, spec.receipt
                        ),
                        &[(&id, Type::INT8), (&receipt, spec.receipt_type.clone())],
                    )
                    .await?;
                tracing::info!(table = spec.table, id, ?receipt, "outbox row delivered");
                Ok(Delivery::Done(receipt))
            }
            Err(failure) => {
                let wait = failure
                    .retryable
                    .then(|| spec.retry_after(attempts))
                    .flatten();
                let retried = self.mark_failed(&client, id, &failure, wait).await?;
                tracing::warn!(
                    table = spec.table,
                    id,
                    attempt = attempts,
                    error = %failure.message,
                    given_up = !retried,
                    "outbox row not delivered"
                );
                Ok(if retried {
                    Delivery::Retry(failure.message)
                } else {
                    Delivery::Failed(failure.message)
                })
            }
        }
    }

    /// Back to `pending` after `wait`, or `failed` for good when there is none.
    /// A zero wait leaves `next_attempt_at` alone: the SQS message comes back and the
    /// sweep does not send a second one. Answers whether the row will be retried.
    async fn mark_failed(
        &self,
        client: &Client,
        id: RowId,
        failure: &Failure<J::Receipt>,
        wait: Option<Duration>,
    ) -> Result<bool> {
        let spec = self.spec();
        let wait_secs = wait.map(|d| d.as_secs_f64());
        let rows = client
            .query_typed(
                &format!(
                    "UPDATE {} SET
                        status = CASE WHEN $3::float8 IS NULL THEN 'failed' ELSE 'pending' END,
                        next_attempt_at = CASE WHEN $3 > 0 THEN now() + make_interval(secs => $3)
                                               ELSE next_attempt_at END,
                        claimed_until = NULL, last_error = $2, {} = $4
                      WHERE id = $1 AND status = 'sending'
                  RETURNING status",
                    spec.table, spec.receipt
                ),
                &[
                    (&id, Type::INT8),
                    (&truncate(&failure.message), Type::TEXT),
                    (&wait_secs, Type::FLOAT8),
                    (&failure.receipt, spec.receipt_type.clone()),
                ],
            )
            .await?;
        Ok(rows
            .first()
            .is_some_and(|r| r.get::<_, &str>(0) == "pending"))
    }

    /// Recovers what the happy path missed: claims whose sender died (dispatched again
    /// at once), retries whose wait is over, and pending rows no queue message will
    /// deliver. Runs on a schedule.
    pub async fn sweep(&self, policy: &Sweep) -> Result<SweepReport> {
        let spec = self.spec();
        let (requeued, failed, mut due) = {
            let client = self.queue.db.client().await?;
            let expired = client
                .query_typed(
                    &format!(
                        "UPDATE {} SET status = CASE WHEN attempts < $1 AND $2 THEN 'pending' ELSE 'failed' END,
                                claimed_until = NULL, enqueued_at = NULL,
                                last_error = CASE WHEN $2
                                    THEN 'lease expired: the sender stopped before recording the outcome'
                                    ELSE 'lease expired: not sent again, the sender may have sent it' END
                          WHERE status = 'sending' AND claimed_until < now()
                      RETURNING id, status",
                        spec.table
                    ),
                    &[
                        (&spec.max_attempts(), Type::INT4),
                        (&spec.resend_lost_claims, Type::BOOL),
                    ],
                )
                .await?;
            let (requeued, failed): (Vec<_>, Vec<_>) = expired
                .iter()
                .partition(|row| row.get::<_, &str>(1) == "pending");
            let requeued: Vec<RowId> = requeued.iter().map(|row| row.get(0)).collect();
            // Due and no message on its way: never dispatched (within
            // `undispatched_after`), a retry whose wait ended after its last message,
            // or a message older than `redispatch_after` (lost or dead-lettered).
            let due = client
                .query_typed(
                    &format!(
                        "SELECT id FROM {} WHERE status = 'pending' AND next_attempt_at <= now()
                            AND ((enqueued_at IS NULL AND next_attempt_at <= now() - make_interval(secs => $1))
                                 OR enqueued_at < next_attempt_at
                                 OR enqueued_at <= now() - make_interval(secs => $2))
                          ORDER BY next_attempt_at
                          LIMIT $3",
                        spec.table
                    ),
                    &[
                        (&policy.undispatched_after.as_secs_f64(), Type::FLOAT8),
                        (&policy.redispatch_after.as_secs_f64(), Type::FLOAT8),
                        (&policy.limit, Type::INT8),
                    ],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect::<Vec<RowId>>();
            (requeued, failed.len() as u64, due)
        };
        due.extend(&requeued);
        let dispatched = self.queue.send(&due).await?;
        let report = SweepReport {
            requeued: requeued.len() as u64,
            failed,
            dispatched,
        };
        if report != SweepReport::default() {
            tracing::info!(table = spec.table, ?report, "outbox sweep");
        }
        Ok(report)
    }

    /// Whether a message naming `ids` must come back: one of its rows is a retry
    /// without a wait, or handling failed (the database unreachable, say). Rows it
    /// did send are skipped when it does.
    async fn redeliver(&self, ids: Vec<RowId>) -> bool {
        let retry_at_once = self
            .spec()
            .retry_after
            .first()
            .is_some_and(Duration::is_zero);
        let failed = |err: &Error, id: RowId| {
            tracing::error!(id, table = self.spec().table, error = %err, "outbox delivery failed");
            sentry::capture_error(err);
            true
        };
        self.deliver_many(&ids)
            .await
            .iter()
            .fold(false, |again, (id, outcome)| {
                let this = match outcome {
                    Ok(Delivery::Retry(_)) => retry_at_once,
                    Ok(_) => false,
                    Err(err) => failed(err, *id),
                };
                again | this
            })
    }
}

/// The whole event handler of a consumer function, for the Lambda runtime and the
/// local stack: an SQS batch goes row by row through [`Consumer::deliver`] and is
/// answered with `batchItemFailures` (for `ReportBatchItemFailures`); a scheduled
/// event runs [`Consumer::sweep`] and is answered with its report, for the logs.
pub fn handler<J: Job + 'static>(
    consumer: Arc<Consumer<J>>,
) -> impl Fn(Value) -> EventFuture + Send + Sync + 'static {
    move |event| {
        let consumer = consumer.clone();
        Box::pin(async move {
            match Trigger::parse(event)? {
                Trigger::Queue(event) => {
                    let field = consumer.spec().field;
                    let answer = deliver_batch(&event, field, |ids| consumer.redeliver(ids));
                    serde_json::to_value(answer.await).map_err(Error::internal)
                }
                Trigger::Schedule => {
                    let report = consumer.sweep(&Sweep::default()).await?;
                    serde_json::to_value(report).map_err(Error::internal)
                }
            }
        })
    }
}

/// What invoked a consumer function.
enum Trigger {
    Queue(SqsEvent),
    Schedule,
}

impl Trigger {
    fn parse(event: Value) -> Result<Self> {
        if event.get("Records").is_some() {
            return serde_json::from_value(event)
                .map(Trigger::Queue)
                .map_err(|e| Error::validation(format!("not an SQS event: {e}")));
        }
        if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
            return Ok(Trigger::Schedule);
        }
        Err(Error::validation(
            "expected an SQS event or an EventBridge scheduled event",
        ))
    }
}

/// Runs `deliver` on every record's ids (one, or a group), concurrently; `deliver`
/// answers whether the record must come back. The answer names the records SQS should redeliver, so one
/// failing row never makes SQS redeliver the others.
async fn deliver_batch<F, Fut>(event: &SqsEvent, field: &str, deliver: F) -> SqsBatchResponse
where
    F: Fn(Vec<RowId>) -> Fut,
    Fut: Future<Output = bool>,
{
    let outcomes = join_all(event.records.iter().map(|record| {
        let id = record
            .body
            .as_deref()
            .and_then(|body| serde_json::from_str::<Value>(body).ok())
            .and_then(|body| match body.get(field)? {
                Value::Array(group) => group.iter().map(Value::as_i64).collect(),
                one => one.as_i64().map(|id| vec![id]),
            })
            .filter(|ids: &Vec<RowId>| !ids.is_empty());
        let deliver = &deliver;
        async move {
            match id {
                Some(ids) => deliver(ids).await,
                // A body that names no row can never succeed: redelivering sends it
                // to the dead-letter queue, where someone will look at it.
                None => {
                    tracing::error!(
                        message_id = record.message_id.as_deref().unwrap_or_default(),
                        body = record.body.as_deref().unwrap_or_default(),
                        field,
                        "SQS message names no outbox row"
                    );
                    true
                }
            }
        }
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (record, redeliver) in event.records.iter().zip(outcomes) {
        if redeliver {
            response.add_failure(record.message_id.clone().unwrap_or_default());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(300)];
    const SPEC: Spec = Spec {
        table: "t",
        field: "id",
        done: "done",
        done_at: "done_at",
        receipt: "receipt",
        receipt_type: Type::TEXT,
        forget_when_done: None,
        lease: Duration::from_secs(60),
        retry_after: &BACKOFF,
        resend_lost_claims: true,
    };

    #[test]
    fn retries_follow_the_spec_then_give_up() {
        assert_eq!(SPEC.max_attempts(), 3);
        assert_eq!(SPEC.retry_after(1), Some(Duration::from_secs(60)));
        assert_eq!(SPEC.retry_after(2), Some(Duration::from_secs(300)));
        assert_eq!(SPEC.retry_after(3), None);
        assert_eq!(SPEC.retry_after(0), None);
    }

    #[tokio::test]
    async fn a_batch_answers_only_the_records_to_redeliver() {
        let event: SqsEvent = serde_json::from_value(json!({ "Records": [
            { "messageId": "a", "body": "{\"id\": 1}" },
            { "messageId": "b", "body": "{\"id\": 2}" },
            { "messageId": "c", "body": "not json" },
            { "messageId": "d", "body": "{\"id\": [3, 4]}" },
            { "messageId": "e", "body": "{\"id\": [2, 5]}" },
            { "messageId": "f", "body": "{\"id\": []}" },
        ]}))
        .unwrap();
        let answer = deliver_batch(&event, "id", |ids| async move { ids.contains(&2) }).await;
        let ids: Vec<_> = answer
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["b", "c", "e", "f"]);
    }
}
