//! The mail-send binary fed from a real (moto) SQS queue as Lambda's event source
//! feeds it, with SES (moto) behind a relay the test makes throttle or hang:
//! throttled sends come back through SQS and go out once; a redelivered or duplicated
//! message sends nothing again; a worker killed mid-batch loses nothing, and what it
//! had claimed goes out once, after its lease, through the sweep.

use aws_sdk_sqs::types::MessageSystemAttributeName;
use bianxian_e2e::{
    Fault, FaultyUpstream, StackOptions, TestStack, random_suffix, spawn_stack_with,
};
use identity::email::Email;
use mail::MailJob;
use serde_json::{Value, json};

use crate::runtime_api::Function;

/// A queue of the test's own, as the event source mapping reads it.
struct EventSource {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
}

impl EventSource {
    async fn create(stack: &TestStack) -> Self {
        let sdk = platform::aws::sdk_config(&stack.platform.config.aws).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let name = format!("{}-drill-mail", stack.db.name);
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

async fn enqueue(stack: &TestStack, source: &EventSource, recipients: &[String]) -> Vec<i64> {
    let mut client = stack.db.client().await;
    let tx = client.transaction().await.expect("begin");
    let mut ids = Vec::new();
    for to in recipients {
        let job = MailJob {
            template: "password-changed",
            to: Email::parse(to).expect("email"),
            variables: json!({ "name": "" }),
        };
        ids.push(mail::enqueue(&tx, &job).await.expect("enqueue"));
    }
    tx.commit().await.expect("commit");
    for id in &ids {
        source.send(&json!({ "jobId": id })).await;
    }
    ids
}

/// (status, attempts) of each row.
async fn rows(stack: &TestStack, ids: &[i64]) -> Vec<(String, i32)> {
    let client = stack.db.client().await;
    let mut out = Vec::new();
    for id in ids {
        let row = client
            .query_one(
                "SELECT status, attempts FROM mail_outbox WHERE id = $1",
                &[id],
            )
            .await
            .expect("the row");
        out.push((row.get(0), row.get(1)));
    }
    out
}

async fn assert_each_sent_once(stack: &TestStack, recipients: &[String]) {
    for to in recipients {
        stack.wait_for_mail(to, 1).await;
    }
    // Anything sent twice would have reached moto by now too.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for to in recipients {
        assert_eq!(stack.sent_mail(to).await.len(), 1, "{to}");
    }
}

/// Receives `count` messages, hands them to `worker` as one batch and settles them as
/// the event source mapping would: none may come back.
async fn deliver(worker: &Function, source: &EventSource, count: usize) {
    let (event, handles) = source.receive(count, 30).await;
    let answer = worker.invoke(event).await.response();
    assert!(
        source.settle(&handles, &answer).await.is_empty(),
        "{answer}"
    );
}

async fn assert_sent_after(stack: &TestStack, ids: &[i64], attempts: i32) {
    let rows = rows(stack, ids).await;
    assert!(
        rows.iter()
            .all(|(status, n)| status == "sent" && *n == attempts),
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mail_survives_ses_throttling_redelivery_and_a_worker_killed_mid_batch() {
    // No mail queue in the stack itself: its in-process consumer and sweeper would
    // race the binary for the rows. The sender identity is verified here instead.
    let stack = spawn_stack_with(StackOptions {
        env: vec![("MAIL_QUEUE_URL", String::new())],
        ..Default::default()
    })
    .await;
    let Some(moto) = stack.aws_endpoint.clone() else {
        eprintln!("skipped: needs moto (TEST_AWS_ENDPOINT_URL)");
        return;
    };
    let config: mail::MailConfig = stack.platform.config.section().expect("mail settings");
    bianxian_local::mail::verify_sender(&stack.platform, &config)
        .await
        .expect("the sender identity");
    let source = EventSource::create(&stack).await;
    let ses = FaultyUpstream::start().await;
    ses.relay_to(&moto);
    let mut env = stack.env();
    env.retain(|(name, _)| name != "AWS_ENDPOINT_URL" && name != "MAIL_QUEUE_URL");
    env.push(("AWS_ENDPOINT_URL".to_owned(), ses.url.clone()));
    env.push(("MAIL_QUEUE_URL".to_owned(), source.url.clone()));
    let recipients = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| format!("drill-{}@example.com", random_suffix()))
            .collect()
    };

    // SES throttles every send: each record comes back, nothing is sent.
    let first = recipients(5);
    let ids = enqueue(&stack, &source, &first).await;
    let worker = Function::start("mail-send", &env).await;
    ses.set(Fault::Throttle);
    let (event, handles) = source.receive(5, 2).await;
    let answer = worker.invoke(event).await.response();
    assert_eq!(source.settle(&handles, &answer).await.len(), 5, "{answer}");
    assert!(
        rows(&stack, &ids)
            .await
            .iter()
            .all(|r| r == &("pending".to_owned(), 1))
    );
    for to in &first {
        assert!(stack.sent_mail(to).await.is_empty(), "{to}");
    }

    // SES takes mail again; SQS redelivers the five once they are visible again.
    ses.set(Fault::None);
    let (event, handles) = source.receive(5, 30).await;
    let records = event["Records"].as_array().expect("records");
    assert!(
        records
            .iter()
            .all(|r| r["attributes"]["ApproximateReceiveCount"] == "2"),
        "{event}"
    );
    let answer = worker.invoke(event).await.response();
    assert!(
        source.settle(&handles, &answer).await.is_empty(),
        "{answer}"
    );
    // A duplicate message (SQS delivers at least once) sends nothing more.
    source.send(&json!({ "jobId": ids[0] })).await;
    deliver(&worker, &source, 1).await;
    assert_each_sent_once(&stack, &first).await;
    assert_sent_after(&stack, &ids, 2).await;

    // SES stops answering and the worker is killed mid-batch, its rows claimed.
    let second = recipients(4);
    let ids = enqueue(&stack, &source, &second).await;
    let mut doomed = Function::start("mail-send", &env).await;
    ses.set(Fault::Hang);
    let (event, _) = source.receive(4, 2).await;
    let _unanswered = doomed.hand_over("doomed", event);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while rows(&stack, &ids)
        .await
        .iter()
        .any(|(status, _)| status != "sending")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rows were never claimed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    doomed.kill().await;
    ses.set(Fault::None);

    // SQS redelivers the batch to a new sandbox: the rows are claimed by the dead
    // worker, so nothing is sent on their behalf yet.
    let worker = Function::start("mail-send", &env).await;
    deliver(&worker, &source, 4).await;
    for to in &second {
        assert!(
            stack.sent_mail(to).await.is_empty(),
            "{to} was sent while claimed"
        );
    }
    // The leases (ten minutes) run out; the test moves them into the past rather than wait.
    let client = stack.db.client().await;
    client
        .execute(
            "UPDATE mail_outbox SET claimed_until = now() - interval '1 second' WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .expect("expire the leases");
    // The schedule's sweep hands them back and dispatches them again; the new
    // sandbox sends each once.
    let sweep = worker
        .invoke(bianxian_local::mail::scheduled_event())
        .await
        .response();
    assert_eq!(sweep["requeued"], 4, "{sweep}");
    deliver(&worker, &source, 4).await;
    assert_each_sent_once(&stack, &second).await;
    assert_sent_after(&stack, &ids, 2).await;
}
