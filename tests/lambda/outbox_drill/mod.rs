//! The three outbox workers (mail-send, campaign-send, webhook-send) run as their
//! binaries, fed from a real (moto) SQS queue as Lambda's event source mapping feeds
//! them, with the far side (SES, a webhook receiver) behind a relay the test makes
//! throttle, fail or hang. Each drill: a failed send comes back and goes out once; a
//! redelivered or duplicated message sends nothing again; a worker killed mid-batch
//! loses nothing, and what it had claimed is settled once its lease is over.

use aws_sdk_sqs::types::MessageSystemAttributeName;
use bianxian_e2e::{FaultyUpstream, TestStack};
use platform::outbox::Spec;
use serde_json::{Value, json};

use crate::runtime_api::Function;

mod campaigns;
mod mail;
mod webhooks;

/// A queue of the drill's own, as the event source mapping reads it.
struct EventSource {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
}

impl EventSource {
    async fn create(stack: &TestStack, worker: &str) -> Self {
        let sdk = platform::aws::sdk_config(&stack.platform.config.aws).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let name = format!("{}-drill-{worker}", stack.db.name);
        let url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("create the queue")
            .queue_url
            .expect("a queue URL");
        Self {
            sqs,
            url,
            arn: format!("arn:aws:sqs:us-east-1:123456789012:{name}"),
        }
    }

    async fn send(&self, body: &Value) {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body.to_string())
            .send()
            .await
            .expect("send a message");
    }

    /// Receives `count` messages (hidden for `visibility` seconds) as one Lambda SQS
    /// event, with each message's receive count; waits up to 20 s for them.
    async fn receive(&self, count: usize, visibility: i32) -> (Value, Vec<(String, String)>) {
        let mut records = Vec::new();
        let mut handles = Vec::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while records.len() < count && tokio::time::Instant::now() < deadline {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages((count - records.len()).min(10) as i32)
                .visibility_timeout(visibility)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .expect("receive");
            for message in received.messages.unwrap_or_default() {
                let id = message.message_id.clone().unwrap_or_default();
                let handle = message.receipt_handle.clone().unwrap_or_default();
                let receives = message
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .cloned()
                    .unwrap_or_default();
                records.push(json!({
                    "messageId": id,
                    "receiptHandle": handle,
                    "body": message.body.unwrap_or_default(),
                    "attributes": { "ApproximateReceiveCount": receives },
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": "us-east-1",
                }));
                handles.push((id, handle));
            }
        }
        assert_eq!(records.len(), count, "messages received: {records:?}");
        (json!({ "Records": records }), handles)
    }

    /// What the event source mapping does with a batch response: deletes every
    /// message but those the function handed back.
    async fn settle(&self, handles: &[(String, String)], answer: &Value) -> Vec<String> {
        let back: Vec<String> = answer["batchItemFailures"]
            .as_array()
            .expect("a batch response")
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_owned())
            .collect();
        for (id, handle) in handles {
            if !back.contains(id) {
                self.sqs
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("delete");
            }
        }
        back
    }
}

/// One worker's drill: its function, its outbox, its own queue, the relay in front
/// of the far side, and the environment its binary starts with.
struct Drill<'a> {
    stack: &'a TestStack,
    function: &'static str,
    spec: &'static Spec,
    source: EventSource,
    relay: FaultyUpstream,
    env: Vec<(String, String)>,
}

impl<'a> Drill<'a> {
    /// `stack` must run without an in-process consumer of `queue_var` (set empty),
    /// which would race the binary for the rows.
    async fn new(
        stack: &'a TestStack,
        function: &'static str,
        spec: &'static Spec,
        queue_var: &str,
    ) -> Self {
        let source = EventSource::create(stack, function).await;
        let relay = FaultyUpstream::start().await;
        let mut env = stack.env();
        env.retain(|(name, _)| name != queue_var);
        env.push((queue_var.to_owned(), source.url.clone()));
        Self {
            stack,
            function,
            spec,
            source,
            relay,
            env,
        }
    }

    /// Puts the relay in front of every AWS call the binary makes (SES, and SQS
    /// for the sweep's dispatch), moto behind it.
    fn relay_aws(&mut self, moto: &str) {
        self.relay.relay_to(moto);
        self.env.retain(|(name, _)| name != "AWS_ENDPOINT_URL");
        self.env
            .push(("AWS_ENDPOINT_URL".to_owned(), self.relay.url.clone()));
    }

    async fn worker(&self) -> Function {
        Function::start(self.function, &self.env).await
    }

    /// (status, attempts) of each row.
    async fn rows(&self, ids: &[i64]) -> Vec<(String, i32)> {
        let client = self.stack.db.client().await;
        let sql = format!(
            "SELECT status, attempts FROM {} WHERE id = $1",
            self.spec.table
        );
        let mut out = Vec::new();
        for id in ids {
            let row = client.query_one(&sql, &[id]).await.expect("the row");
            out.push((row.get(0), row.get(1)));
        }
        out
    }

    async fn assert_rows(&self, ids: &[i64], status: &str, attempts: i32) {
        let rows = self.rows(ids).await;
        assert!(
            rows.iter().all(|(s, n)| s == status && *n == attempts),
            "expected {status} after {attempts} attempts: {rows:?}"
        );
    }

    /// Receives `count` messages (hidden for `visibility` seconds), hands them to
    /// `worker` as one batch and settles them as the event source mapping would.
    /// Answers the event and the records handed back.
    async fn run_batch(
        &self,
        worker: &Function,
        count: usize,
        visibility: i32,
    ) -> (Value, Vec<String>) {
        let (event, handles) = self.source.receive(count, visibility).await;
        let answer = worker.invoke(event.clone()).await.response();
        let back = self.source.settle(&handles, &answer).await;
        (event, back)
    }

    /// A batch of `count` messages none of which may come back.
    async fn deliver(&self, worker: &Function, count: usize) {
        let (event, back) = self.run_batch(worker, count, 30).await;
        assert!(back.is_empty(), "{back:?} of {event}");
    }

    /// Hands `messages` messages to a new sandbox while the far side hangs, and
    /// kills it (SIGKILL) once `claims` of `ids` are claimed. Answers the rows the
    /// dead sandbox left claimed.
    async fn kill_mid_batch(&self, messages: usize, ids: &[i64], claims: usize) -> Vec<i64> {
        let mut doomed = self.worker().await;
        self.relay.set(bianxian_e2e::Fault::Hang);
        let (event, _) = self.source.receive(messages, 2).await;
        let _unanswered = doomed.hand_over("doomed", event);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        let claimed = |rows: &[(String, i32)]| rows.iter().filter(|(s, _)| s == "sending").count();
        while claimed(&self.rows(ids).await) < claims {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the rows were never claimed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        doomed.kill().await;
        self.relay.set(bianxian_e2e::Fault::None);
        let rows = self.rows(ids).await;
        ids.iter()
            .zip(rows)
            .filter(|(_, (status, _))| status == "sending")
            .map(|(id, _)| *id)
            .collect()
    }

    /// The leases run out (minutes); the test moves them into the past rather
    /// than wait.
    async fn expire_leases(&self, ids: &[i64]) {
        let sql = format!(
            "UPDATE {} SET claimed_until = now() - interval '1 second' WHERE id = ANY($1)",
            self.spec.table
        );
        self.stack
            .db
            .client()
            .await
            .execute(&sql, &[&ids])
            .await
            .expect("expire the leases");
    }

    /// What the function's schedule does: the sweep's report.
    async fn sweep(&self, worker: &Function) -> Value {
        worker
            .invoke(bianxian_local::queue::scheduled_event())
            .await
            .response()
    }
}
