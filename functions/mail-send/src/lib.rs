//! The mail-send function: delivers outbox jobs named by SQS messages, and sweeps the
//! outbox when EventBridge's schedule fires.
//!
//! SQS invokes it with up to ten records; each names one job (`{"jobId": n}`). The
//! answer lists only the records to try again (`batchItemFailures`, with
//! `ReportBatchItemFailures` on the event source), so one failing mail never makes
//! SQS redeliver the others. What sending means, and why a redelivered record is
//! harmless, is `shared::mail`'s business.

use std::{pin::Pin, sync::Arc};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::future::join_all;
use serde::Deserialize;
use serde_json::Value;
use shared::{
    Error, Platform, Result,
    mail::{Delivery, Sweep},
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobMessage {
    job_id: i64,
}

/// What invoked the function.
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

/// Delivers every record's job; the answer names the records SQS should redeliver.
async fn deliver_batch(platform: &Platform, event: SqsEvent) -> SqsBatchResponse {
    let outcomes = join_all(
        event
            .records
            .iter()
            .map(|record| deliver_record(platform, record)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for (record, redeliver) in event.records.iter().zip(outcomes) {
        if redeliver {
            response.add_failure(record.message_id.clone().unwrap_or_default());
        }
    }
    response
}

/// Whether the record must come back.
async fn deliver_record(platform: &Platform, record: &SqsMessage) -> bool {
    let message_id = record.message_id.as_deref().unwrap_or_default();
    let body = record.body.as_deref().unwrap_or_default();
    // A body that is not a job can never succeed: redelivering sends it to the
    // dead-letter queue, where someone will look at it.
    let Ok(JobMessage { job_id }) = serde_json::from_str(body) else {
        tracing::error!(message_id, body, "SQS message is not a mail job");
        return true;
    };
    match platform.mail.deliver(job_id).await {
        Ok(Delivery::Sent(_) | Delivery::Skipped | Delivery::Failed(_)) => false,
        Ok(Delivery::Retry(_)) => true,
        Err(err) => {
            tracing::error!(message_id, job = job_id, error = %err, "mail delivery failed");
            sentry::capture_error(&err);
            true
        }
    }
}

type EventFuture = Pin<Box<dyn Future<Output = Result<Value>> + Send>>;

/// The event handler the Lambda runtime and the local stack invoke.
pub fn handler(platform: Arc<Platform>) -> impl Fn(Value) -> EventFuture + Send + Sync + 'static {
    move |event| {
        let platform = platform.clone();
        Box::pin(async move {
            match Trigger::parse(event)? {
                Trigger::Queue(event) => {
                    let response = deliver_batch(&platform, event).await;
                    serde_json::to_value(response).map_err(Error::internal)
                }
                Trigger::Schedule => {
                    let report = platform.mail.sweep(&Sweep::default()).await?;
                    serde_json::to_value(report).map_err(Error::internal)
                }
            }
        })
    }
}
