//! The transactional mail pipeline against real PostgreSQL and moto's SQS and SES:
//! outbox rows written in a transaction, dispatched through the stack's queue,
//! delivered by the mail-send handler, recovered by the sweeper.

use std::sync::Arc;

use bianxian_e2e::{TestStack, closed_port, random_suffix, spawn_stack, spawn_stack_with};
use futures_util::future::join_all;
use identity::email::Email;
use mail::{MAX_ATTEMPTS, MailJob};
use platform::{Platform, outbox::Delivery};
use serde_json::{Value, json};

fn recipient() -> String {
    format!("mail-{}@example.com", random_suffix())
}

fn verify_link(to: &str) -> String {
    format!("http://localhost:5173/auth/verify?token={to}&next=%2F")
}

/// Writes a verify-email job in a transaction that commits or rolls back.
async fn enqueue(stack: &TestStack, to: &str, commit: bool) -> i64 {
    let mut client = stack.db.client().await;
    let tx = client.transaction().await.unwrap();
    let id = mail::enqueue(
        &tx,
        &MailJob {
            template: "verify-email",
            to: Email::parse(to).unwrap(),
            variables: json!({ "name": "读者<b>", "link": verify_link(to) }),
        },
    )
    .await
    .unwrap();
    if commit {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
    id
}

#[derive(Debug)]
struct Row {
    status: String,
    attempts: i32,
    ses_message_id: Option<String>,
    last_error: Option<String>,
    enqueued: bool,
}

async fn row(stack: &TestStack, id: i64) -> Option<Row> {
    stack
        .db
        .client()
        .await
        .query_opt(
            "SELECT status, attempts, ses_message_id, last_error, enqueued_at IS NOT NULL
               FROM mail_outbox WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .map(|r| Row {
            status: r.get(0),
            attempts: r.get(1),
            ses_message_id: r.get(2),
            last_error: r.get(3),
            enqueued: r.get(4),
        })
}

/// The job's row once its delivery has finished: the mail can reach moto a moment
/// before the sender records it as sent.
async fn settled(stack: &TestStack, id: i64) -> Row {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let current = row(stack, id).await.expect("job row");
        if !matches!(current.status.as_str(), "pending" | "sending")
            || tokio::time::Instant::now() > deadline
        {
            return current;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn execute(stack: &TestStack, sql: &str, id: i64) {
    stack.db.client().await.execute(sql, &[&id]).await.unwrap();
}

/// The event SQS would send for one message per job id.
fn sqs_event(bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("m-{i}-{}", random_suffix()),
                "receiptHandle": "r",
                "body": body,
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    json!({ "Records": records })
}

fn job_body(id: i64) -> String {
    json!({ "jobId": id }).to_string()
}

async fn invoke(platform: &Arc<Platform>, event: Value) -> Value {
    mail_send::handler(platform.clone(), platform.config.section().unwrap()).unwrap()(event)
        .await
        .unwrap()
}

fn failures(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_committed_job_travels_through_sqs_to_ses() {
    let stack = spawn_stack().await;
    let to = recipient();
    let id = enqueue(&stack, &to, true).await;
    // A careless caller's duplicate id still makes one message.
    stack.mail().queue().dispatch(&[id, id]).await;

    let mail = stack.wait_for_mail(&to, 1).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    let mail = &mail[0];
    assert_eq!(mail.source, "no-reply@example.com");
    assert_eq!(mail.subject, "读者<b>，请验证你的邮箱 · AI变现之路");
    assert!(mail.text.contains(&verify_link(&to)), "{}", mail.text);
    assert!(mail.html.contains("读者&lt;b&gt;"), "{}", mail.html);
    assert!(!mail.html.contains("<b>"), "{}", mail.html);
    assert!(mail.raw.contains("Content-Type: multipart/alternative"));

    let row = settled(&stack, id).await;
    assert_eq!(row.status, "sent");
    assert_eq!(row.attempts, 1);
    assert!(row.ses_message_id.is_some());
    // The link it carried is not kept once SES has the mail (issue 10, item 8).
    let variables: Value = stack
        .db
        .client()
        .await
        .query_one("SELECT variables FROM mail_outbox WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(variables, json!({}));
    assert!(row.enqueued);
}

#[tokio::test]
async fn one_transaction_can_write_more_jobs_than_one_sqs_batch_holds() {
    let stack = spawn_stack().await;
    let recipients: Vec<String> = (0..12).map(|_| recipient()).collect();
    let mut client = stack.db.client().await;
    let tx = client.transaction().await.unwrap();
    let mut ids = Vec::new();
    for to in &recipients {
        let job = MailJob {
            template: "password-changed",
            to: Email::parse(to).unwrap(),
            variables: json!({ "name": "" }),
        };
        ids.push(mail::enqueue(&tx, &job).await.unwrap());
    }
    tx.commit().await.unwrap();
    stack.mail().queue().dispatch(&ids).await;

    for to in &recipients {
        let mail = stack.wait_for_mail(to, 1).await;
        assert_eq!(mail.len(), 1, "{to}");
        assert_eq!(mail[0].subject, "你的 AI变现之路 密码已修改");
    }
}

#[tokio::test]
async fn a_rolled_back_transaction_sends_nothing() {
    let stack = spawn_stack().await;
    let (ghost, witness) = (recipient(), recipient());
    let ghost_id = enqueue(&stack, &ghost, false).await;
    assert!(row(&stack, ghost_id).await.is_none());
    // Even a caller that dispatches the id anyway sends nothing.
    stack.mail().queue().dispatch(&[ghost_id]).await;
    let witness_id = enqueue(&stack, &witness, true).await;
    stack.mail().queue().dispatch(&[witness_id]).await;

    assert_eq!(stack.wait_for_mail(&witness, 1).await.len(), 1);
    assert!(stack.sent_mail(&ghost).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_message_sends_exactly_one_mail() {
    let stack = spawn_stack().await;
    let to = recipient();
    let id = enqueue(&stack, &to, true).await;

    // The same job twice in one batch, then the batch again, then five at once.
    let batch = sqs_event(&[job_body(id), job_body(id)]);
    assert!(failures(&invoke(&stack.platform, batch.clone()).await).is_empty());
    assert!(failures(&invoke(&stack.platform, batch).await).is_empty());
    let concurrent = (0..5).map(|_| {
        let platform = stack.platform.clone();
        tokio::spawn(async move { invoke(&platform, sqs_event(&[job_body(id)])).await })
    });
    for answer in join_all(concurrent).await {
        assert!(failures(&answer.unwrap()).is_empty());
    }

    assert_eq!(stack.sent_mail(&to).await.len(), 1);
    let row = row(&stack, id).await.unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_deliveries_race_for_one_claim() {
    let stack = spawn_stack().await;
    let to = recipient();
    let id = enqueue(&stack, &to, true).await;
    let racers = (0..8).map(|_| {
        let platform = stack.platform.clone();
        tokio::spawn(async move { TestStack::mail_on(&platform).deliver(id).await.unwrap() })
    });
    let outcomes: Vec<Delivery<String>> = join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let sent = outcomes
        .iter()
        .filter(|d| matches!(d, Delivery::Done(_)))
        .count();
    assert_eq!(sent, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|d| matches!(d, Delivery::Done(_) | Delivery::Skipped))
    );
    assert_eq!(stack.sent_mail(&to).await.len(), 1);
}

#[tokio::test]
async fn the_sweeper_sends_a_job_whose_dispatch_failed() {
    let stack = spawn_stack().await;
    let to = recipient();
    // Committed, but never dispatched (the queue was down, the sandbox froze, ...).
    let id = enqueue(&stack, &to, true).await;
    let fresh = invoke(&stack.platform, bianxian_local::mail::scheduled_event()).await;
    assert_eq!(
        fresh["dispatched"], 0,
        "a fresh job is not lost yet: {fresh}"
    );

    execute(
        &stack,
        "UPDATE mail_outbox SET created_at = now() - interval '2 minutes',
                next_attempt_at = now() - interval '2 minutes' WHERE id = $1",
        id,
    )
    .await;
    invoke(&stack.platform, bianxian_local::mail::scheduled_event()).await;

    assert_eq!(stack.wait_for_mail(&to, 1).await.len(), 1);
    let row = settled(&stack, id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 1));
    assert!(row.enqueued);
}

#[tokio::test]
async fn an_expired_claim_is_retried_and_a_live_one_is_left_alone() {
    let stack = spawn_stack().await;
    let to = recipient();
    let id = enqueue(&stack, &to, true).await;
    // A sender claimed the job and died.
    execute(
        &stack,
        "UPDATE mail_outbox SET status = 'sending', attempts = 1,
                enqueued_at = now() - interval '1 hour',
                claimed_until = now() + interval '1 minute' WHERE id = $1",
        id,
    )
    .await;
    assert_eq!(stack.mail().deliver(id).await.unwrap(), Delivery::Skipped);
    let early = invoke(&stack.platform, bianxian_local::mail::scheduled_event()).await;
    assert_eq!(early["requeued"], 0, "{early}");

    execute(
        &stack,
        "UPDATE mail_outbox SET claimed_until = now() - interval '1 second' WHERE id = $1",
        id,
    )
    .await;
    let report = invoke(&stack.platform, bianxian_local::mail::scheduled_event()).await;
    assert_eq!(report["requeued"], 1, "{report}");

    assert_eq!(stack.wait_for_mail(&to, 1).await.len(), 1);
    let row = settled(&stack, id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2));
}

#[tokio::test]
async fn a_claim_without_attempts_left_is_given_up() {
    let stack = spawn_stack().await;
    let to = recipient();
    let id = enqueue(&stack, &to, true).await;
    execute(
        &stack,
        &format!(
            "UPDATE mail_outbox SET status = 'sending', attempts = {MAX_ATTEMPTS},
                    claimed_until = now() - interval '1 second' WHERE id = $1"
        ),
        id,
    )
    .await;
    let report = invoke(&stack.platform, bianxian_local::mail::scheduled_event()).await;
    assert_eq!(report["failed"], 1, "{report}");
    let row = row(&stack, id).await.unwrap();
    assert_eq!(row.status, "failed");
    assert!(row.last_error.unwrap().contains("lease expired"));
    assert!(stack.sent_mail(&to).await.is_empty());
}

#[tokio::test]
async fn an_unreachable_ses_leaves_the_job_for_a_retry() {
    let stack = spawn_stack().await;
    let to = recipient();
    let id = enqueue(&stack, &to, true).await;
    let endpoint = format!("http://{}", closed_port().await);
    let cut_off = stack.platform_with(&[("AWS_ENDPOINT_URL", &endpoint)]);

    let event = sqs_event(&[job_body(id)]);
    let answer = invoke(&cut_off, event.clone()).await;
    assert_eq!(
        failures(&answer),
        vec![event["Records"][0]["messageId"].as_str().unwrap()]
    );
    let pending = row(&stack, id).await.unwrap();
    assert_eq!((pending.status.as_str(), pending.attempts), ("pending", 1));
    assert!(pending.last_error.is_some());

    // SQS brings the message back; this time SES answers.
    assert!(failures(&invoke(&stack.platform, event).await).is_empty());
    let sent = row(&stack, id).await.unwrap();
    assert_eq!((sent.status.as_str(), sent.attempts), ("sent", 2));
    assert_eq!(sent.last_error, None);
    assert_eq!(stack.sent_mail(&to).await.len(), 1);
}

#[tokio::test]
async fn a_mail_ses_refuses_fails_for_good() {
    let sender = format!("unverified-{}@example.com", random_suffix());
    let stack = spawn_stack_with(bianxian_e2e::StackOptions {
        env: vec![("MAIL_FROM", format!("AI变现之路 <{sender}>"))],
        ..Default::default()
    })
    .await;
    // The stack verified its sender at start-up; take that back.
    stack
        .mail()
        .job()
        .ses()
        .await
        .delete_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .unwrap();
    let to = recipient();
    let id = enqueue(&stack, &to, true).await;

    let answer = invoke(&stack.platform, sqs_event(&[job_body(id)])).await;
    assert!(
        failures(&answer).is_empty(),
        "a refused mail is not retried"
    );
    let row = row(&stack, id).await.unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1));
    assert!(row.last_error.unwrap().contains("MessageRejected"));
    assert!(stack.sent_mail(&to).await.is_empty());
}

#[tokio::test]
async fn a_job_that_cannot_be_rendered_fails_without_retries() {
    let stack = spawn_stack().await;
    let to = recipient();
    // Written around `enqueue`, which would have refused it.
    let id: i64 = stack
        .db
        .client()
        .await
        .query_one(
            "INSERT INTO mail_outbox (template, recipient) VALUES ('no-such-template', $1)
             RETURNING id",
            &[&to],
        )
        .await
        .unwrap()
        .get(0);
    let answer = invoke(&stack.platform, sqs_event(&[job_body(id)])).await;
    assert!(failures(&answer).is_empty());
    let row = row(&stack, id).await.unwrap();
    assert_eq!(row.status, "failed");
    assert!(row.last_error.unwrap().contains("unknown mail template"));
}

#[tokio::test]
async fn enqueue_refuses_what_could_never_be_sent() {
    let stack = spawn_stack().await;
    let mut client = stack.db.client().await;
    let tx = client.transaction().await.unwrap();
    let to = Email::parse(&recipient()).unwrap();
    for (template, variables) in [
        ("no-such-template", json!({ "name": "x", "link": "y" })),
        ("verify-email", json!({ "name": "no link" })),
    ] {
        let job = MailJob {
            template,
            to: to.clone(),
            variables,
        };
        assert!(mail::enqueue(&tx, &job).await.is_err(), "{template}");
    }
}

#[tokio::test]
async fn a_message_that_is_not_a_job_goes_back_to_the_queue() {
    let stack = spawn_stack().await;
    let event = sqs_event(&["hello".to_owned()]);
    let answer = invoke(&stack.platform, event.clone()).await;
    assert_eq!(
        failures(&answer),
        vec![event["Records"][0]["messageId"].as_str().unwrap()]
    );
    assert!(
        mail_send::handler(
            stack.platform.clone(),
            stack.platform.config.section().unwrap()
        )
        .unwrap()(json!({ "what": "else" }))
        .await
        .is_err()
    );
}
