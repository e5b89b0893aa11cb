//! What Lambda's SQS event source mapping and an EventBridge `rate(…)` rule do for a
//! queue consumer function in AWS, done locally against moto.
//!
//! [`consume`] creates the queue, long-polls it and invokes the consumer's handler
//! with the same JSON event Lambda would build, deleting the messages the answer
//! does not list in `batchItemFailures`; the rest come back after the visibility
//! timeout, as in AWS. Every [`SWEEP_EVERY`] it also invokes the handler with a
//! scheduled event, like the `rate(1 minute)` rule.

use std::{collections::HashSet, sync::Arc, time::Duration};

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Long-poll wait: short enough that a stopped stack lets go of moto quickly.
const WAIT_SECONDS: i32 = 5;
/// How long a failed message stays invisible before it is delivered again.
const VISIBILITY_TIMEOUT_SECONDS: &str = "30";

/// A consumer's handler, as the function crates expose it.
pub type Handler = Arc<dyn Fn(Value) -> platform::runtime::EventFuture + Send + Sync>;

/// Creates the queue at `queue_url`, then polls it and sweeps in the background
/// until the returned task is aborted. `name` tells the logs which pipeline it is.
pub async fn consume(
    sqs: aws_sdk_sqs::Client,
    queue_url: &str,
    region: Option<&str>,
    name: &'static str,
    handler: Handler,
) -> Result<JoinHandle<()>, String> {
    let queue = Queue::from_url(queue_url, region)?;
    sqs.create_queue()
        .queue_name(&queue.name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY_TIMEOUT_SECONDS,
        )
        .send()
        .await
        .map_err(|e| format!("creating SQS queue {}: {}", queue.name, display(e)))?;
    let poller = poll(sqs, queue, name, handler.clone());
    let sweeper = async move {
        let mut ticks = tokio::time::interval(SWEEP_EVERY);
        loop {
            ticks.tick().await;
            if let Err(err) = handler(scheduled_event()).await {
                tracing::warn!(error = %err, name, "local sweep failed");
            }
        }
    };
    Ok(tokio::spawn(async move {
        tokio::join!(poller, sweeper);
    }))
}

pub fn display(err: impl std::error::Error) -> String {
    aws_sdk_sqs::error::DisplayErrorContext(err).to_string()
}

/// What the queue URL says about the queue: `…/{account}/{name}`.
struct Queue {
    url: String,
    name: String,
    arn: String,
    region: String,
}

impl Queue {
    fn from_url(url: &str, region: Option<&str>) -> Result<Self, String> {
        let mut segments = url.trim_end_matches('/').rsplit('/');
        let (Some(name), Some(account)) = (segments.next(), segments.next()) else {
            return Err(format!("queue URL `{url}` does not end in /ACCOUNT/NAME"));
        };
        let region = region.unwrap_or("us-east-1").to_owned();
        Ok(Self {
            url: url.to_owned(),
            name: name.to_owned(),
            arn: format!("arn:aws:sqs:{region}:{account}:{name}"),
            region,
        })
    }
}

async fn poll(sqs: aws_sdk_sqs::Client, queue: Queue, name: &'static str, handler: Handler) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .wait_time_seconds(WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages().to_vec(),
            Err(err) => {
                tracing::warn!(error = %display(err), name, "local poller: receive failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let retry: HashSet<String> = match handler(sqs_event(&queue, &messages)).await {
            Ok(answer) => answer["batchItemFailures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                .collect(),
            // A failed invocation returns the whole batch to the queue.
            Err(err) => {
                tracing::warn!(error = %err, name, "local consumer invocation failed");
                continue;
            }
        };
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| m.message_id().is_some_and(|id| !retry.contains(id)))
            .filter_map(|m| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(m.message_id().unwrap_or_default())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        if done.is_empty() {
            continue;
        }
        if let Err(err) = sqs
            .delete_message_batch()
            .queue_url(&queue.url)
            .set_entries(Some(done))
            .send()
            .await
        {
            tracing::warn!(error = %display(err), name, "local poller: delete failed");
        }
    }
}

/// The event Lambda's SQS event source mapping sends.
fn sqs_event(queue: &Queue, messages: &[Message]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), Value::from(v.as_str())))
                .collect();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue.arn,
                "awsRegion": queue.region,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The event an EventBridge `rate(…)` rule sends.
pub fn scheduled_event() -> Value {
    let now = chrono::Utc::now();
    json!({
        "version": "0",
        "id": format!("local-{}", now.timestamp_nanos_opt().unwrap_or_default()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/local-schedule"],
        "detail": {}
    })
}
