//! The SQS side of the outboxes (`shared::mail`, `shared::webhooks`): messages carry
//! nothing but one outbox row id, `{"<field>": n}`; the row is the truth.
//!
//! Producers call [`send_ids`] after COMMIT. Consumers are Lambdas with two
//! triggers, both handled by [`handler`] over a [`Consumer`]: an SQS batch, answered
//! with only the records to try again (for `ReportBatchItemFailures`), and an
//! EventBridge schedule that sweeps the outbox.

use std::{pin::Pin, sync::Arc, time::Duration};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures_util::future::join_all;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    Platform,
    error::{Error, Result},
};

/// SQS takes at most ten messages per `SendMessageBatch`.
const SQS_BATCH: usize = 10;

/// Sends one message per distinct id and returns the ids SQS accepted.
pub async fn send_ids(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    field: &str,
    ids: &[i64],
) -> Result<Vec<i64>> {
    // Entry ids must be distinct within a batch; one message per row is enough.
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut queued = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(SQS_BATCH) {
        let entries = chunk
            .iter()
            .map(|id| {
                SendMessageBatchRequestEntry::builder()
                    .id(id.to_string())
                    .message_body(json!({ field: id }).to_string())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(Error::internal)?;
        let output = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| Error::internal(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        for failed in output.failed() {
            tracing::warn!(
                id = failed.id(),
                code = failed.code(),
                queue_url,
                "SQS refused an outbox message"
            );
        }
        queued.extend(
            output
                .successful()
                .iter()
                .filter_map(|s| s.id().parse::<i64>().ok()),
        );
    }
    Ok(queued)
}

/// When the sweeper considers a pending outbox row lost.
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

/// An outbox a consumer function drains: `Mailer`, `Webhooks`.
pub trait Consumer: Send + Sync {
    /// The field of a queue message that names a row, e.g. `jobId`.
    const FIELD: &'static str;
    /// Delivers the row; answers whether its message must come back.
    fn handle(&self, id: i64) -> impl Future<Output = Result<bool>> + Send;
    /// Recovers what the happy path missed; runs on a schedule.
    fn sweep_due(&self, policy: &Sweep) -> impl Future<Output = Result<SweepReport>> + Send;
}

pub type EventFuture = Pin<Box<dyn Future<Output = Result<Value>> + Send>>;

/// The whole event handler of a consumer function, for the Lambda runtime and the
/// local stack: an SQS batch goes row by row through [`Consumer::handle`] and is
/// answered with `batchItemFailures`; a scheduled event runs
/// [`Consumer::sweep_due`] and is answered with its report, for the logs.
pub fn handler<C: Consumer + 'static>(
    platform: Arc<Platform>,
    consumer: fn(&Platform) -> &C,
) -> impl Fn(Value) -> EventFuture + Send + Sync + 'static {
    move |event| {
        let platform = platform.clone();
        Box::pin(async move {
            let consumer = consumer(&platform);
            match Trigger::parse(event)? {
                Trigger::Queue(event) => {
                    let answer = deliver_batch(&event, C::FIELD, |id| redeliver(consumer, id));
                    serde_json::to_value(answer.await).map_err(Error::internal)
                }
                Trigger::Schedule => {
                    let report = consumer.sweep_due(&Sweep::default()).await?;
                    serde_json::to_value(report).map_err(Error::internal)
                }
            }
        })
    }
}

/// Whether a row's message must come back: when it asks to, or when handling it
/// failed (the database unreachable, say).
async fn redeliver<C: Consumer>(consumer: &C, id: i64) -> bool {
    match consumer.handle(id).await {
        Ok(again) => again,
        Err(err) => {
            tracing::error!(id, field = C::FIELD, error = %err, "outbox delivery failed");
            sentry::capture_error(&err);
            true
        }
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

/// Runs `deliver` on every record's id, concurrently; `deliver` answers whether the
/// record must come back. The answer names the records SQS should redeliver, so one
/// failing row never makes SQS redeliver the others.
async fn deliver_batch<F, Fut>(event: &SqsEvent, field: &str, deliver: F) -> SqsBatchResponse
where
    F: Fn(i64) -> Fut,
    Fut: Future<Output = bool>,
{
    let outcomes = join_all(event.records.iter().map(|record| {
        let id = record
            .body
            .as_deref()
            .and_then(|body| serde_json::from_str::<Value>(body).ok())
            .and_then(|body| body.get(field).and_then(Value::as_i64));
        let deliver = &deliver;
        async move {
            match id {
                Some(id) => deliver(id).await,
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
