//! mail-send: SES throttles, then hangs under a worker that is killed.

use bianxian_e2e::{Fault, StackOptions, TestStack, random_suffix, spawn_stack_with};
use identity::email::Email;
use mail::MailJob;
use serde_json::json;

use super::{Drill, EventSource};

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

fn recipients(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| format!("drill-{}@example.com", random_suffix()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mail_survives_ses_throttling_redelivery_and_a_worker_killed_mid_batch() {
    let stack = spawn_stack_with(StackOptions {
        env: vec![("MAIL_QUEUE_URL", String::new())],
        ..Default::default()
    })
    .await;
    let Some(moto) = stack.aws_endpoint.clone() else {
        eprintln!("skipped: needs moto (TEST_AWS_ENDPOINT_URL)");
        return;
    };
    // Without the stack's mail pipeline, nobody verified the sender identity.
    let config: mail::MailConfig = stack.platform.config.section().expect("mail settings");
    bianxian_local::mail::verify_sender(&stack.platform, &config)
        .await
        .expect("the sender identity");
    let mut drill = Drill::new(&stack, "mail-send", &mail::OUTBOX, "MAIL_QUEUE_URL").await;
    drill.relay_aws(&moto);

    // SES throttles every send: each record comes back, nothing is sent.
    let first = recipients(5);
    let ids = enqueue(&stack, &drill.source, &first).await;
    let worker = drill.worker().await;
    drill.relay.set(Fault::Throttle);
    assert_eq!(drill.run_batch(&worker, 5, 2).await.1.len(), 5);
    drill.assert_rows(&ids, "pending", 1).await;
    for to in &first {
        assert!(stack.sent_mail(to).await.is_empty(), "{to}");
    }

    // SES takes mail again; SQS redelivers the five once they are visible again.
    drill.relay.set(Fault::None);
    let (event, back) = drill.run_batch(&worker, 5, 30).await;
    assert!(back.is_empty(), "{back:?}");
    let records = event["Records"].as_array().expect("records");
    assert!(
        records
            .iter()
            .all(|r| r["attributes"]["ApproximateReceiveCount"] == "2"),
        "{event}"
    );
    // A duplicate message (SQS delivers at least once) sends nothing more.
    drill.source.send(&json!({ "jobId": ids[0] })).await;
    drill.deliver(&worker, 1).await;
    assert_each_sent_once(&stack, &first).await;
    drill.assert_rows(&ids, "sent", 2).await;

    // SES stops answering and the worker is killed mid-batch, its rows claimed.
    let second = recipients(4);
    let ids = enqueue(&stack, &drill.source, &second).await;
    assert_eq!(drill.kill_mid_batch(4, &ids, 4).await, ids);

    // SQS redelivers the batch to a new sandbox: the rows are claimed by the dead
    // worker, so nothing is sent on their behalf yet.
    let worker = drill.worker().await;
    drill.deliver(&worker, 4).await;
    for to in &second {
        assert!(
            stack.sent_mail(to).await.is_empty(),
            "{to} was sent while claimed"
        );
    }
    // Once the leases are over, the sweep hands the rows back and dispatches them
    // again; the new sandbox sends each once.
    drill.expire_leases(&ids).await;
    let sweep = drill.sweep(&worker).await;
    assert_eq!(sweep["requeued"], 4, "{sweep}");
    drill.deliver(&worker, 4).await;
    assert_each_sent_once(&stack, &second).await;
    drill.assert_rows(&ids, "sent", 2).await;
}
