//! webhook-send: the receiver fails, then hangs under a worker that is killed.

use bianxian_e2e::{
    Fault, StackOptions, TestStack, call,
    receiver::{PATH, Receiver},
    spawn_stack_with,
};
use content::outgoing_webhooks::{self as webhooks, Event};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::Drill;

/// Writes `count` deliveries (one per write, to the one webhook) and dispatches
/// them to the drill's queue as the writer would after COMMIT.
async fn enqueue(drill: &Drill<'_>, count: usize) -> Vec<i64> {
    let stack: &TestStack = drill.stack;
    let mut client = stack.db.client().await;
    let tx = client.transaction().await.expect("begin");
    let mut ids = Vec::new();
    for n in 0..count {
        let entry = json!({ "id": n, "documentId": format!("doc{n}"), "slug": "s", "title": "t" });
        ids.extend(
            webhooks::enqueue(&tx, Event::Publish, webhooks::ARTICLE, &entry)
                .await
                .expect("enqueue"),
        );
    }
    tx.commit().await.expect("commit");
    let platform = stack.platform_with(&[("WEBHOOK_QUEUE_URL", &drill.source.url)]);
    let config = platform.config.section().expect("webhook settings");
    let sent = webhooks::queue(&platform, &config)
        .send(&ids)
        .await
        .expect("dispatch");
    assert_eq!(sent, count);
    ids
}

/// How often the receiver got each delivery.
fn received(receiver: &Receiver, ids: &[i64]) -> Vec<usize> {
    let got = receiver.received();
    ids.iter()
        .map(|id| got.iter().filter(|r| r.delivery == id.to_string()).count())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_survive_a_failing_receiver_redelivery_and_a_worker_killed_mid_batch() {
    let stack = spawn_stack_with(StackOptions {
        env: vec![("WEBHOOK_QUEUE_URL", String::new())],
        ..Default::default()
    })
    .await;
    if stack.aws_endpoint.is_none() {
        eprintln!("skipped: needs moto (TEST_AWS_ENDPOINT_URL)");
        return;
    }
    let drill = Drill::new(
        &stack,
        "webhook-send",
        &webhooks::OUTBOX,
        "WEBHOOK_QUEUE_URL",
    )
    .await;
    let receiver = Receiver::start(200).await;
    drill.relay.relay_to(
        receiver
            .url
            .strip_suffix(PATH)
            .expect("the receiver's path"),
    );
    let admin = stack.staff_token(Role::Admin).await;
    let hook = json!({
        "name": "frontend",
        "url": format!("{}{PATH}", drill.relay.url),
        "events": ["entry.publish"],
    });
    let (status, body) = call(
        &stack,
        Method::POST,
        "/admin/webhooks",
        Some(&admin),
        Some(hook),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The receiver's side answers 502: nothing comes back through SQS, each row
    // waits out its backoff.
    let ids = enqueue(&drill, 5).await;
    let worker = drill.worker().await;
    drill.relay.set(Fault::BadGateway);
    drill.deliver(&worker, 5).await;
    drill.assert_rows(&ids, "pending", 1).await;
    assert_eq!(received(&receiver, &ids), [0; 5]);

    // The receiver is back. The backoff (a minute) ends; the test moves it to now
    // rather than wait. The schedule's sweep dispatches the five again.
    drill.relay.set(Fault::None);
    stack
        .db
        .client()
        .await
        .execute(
            "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .expect("end the backoff");
    let sweep = drill.sweep(&worker).await;
    assert_eq!(sweep["dispatched"], 5, "{sweep}");
    drill.deliver(&worker, 5).await;
    // A duplicate message (SQS delivers at least once) sends nothing more.
    drill.source.send(&json!({ "deliveryId": ids[0] })).await;
    drill.deliver(&worker, 1).await;
    drill.assert_rows(&ids, "delivered", 2).await;
    assert_eq!(received(&receiver, &ids), [1; 5]);

    // The receiver stops answering and the worker is killed, its rows claimed.
    let ids = enqueue(&drill, 4).await;
    assert_eq!(drill.kill_mid_batch(4, &ids, 4).await, ids);
    // SQS redelivers the batch to a new sandbox, which leaves the claimed rows alone.
    let worker = drill.worker().await;
    drill.deliver(&worker, 4).await;
    assert_eq!(received(&receiver, &ids), [0; 4]);
    // Once the leases are over, the sweep hands the rows back; each goes once.
    drill.expire_leases(&ids).await;
    let sweep = drill.sweep(&worker).await;
    assert_eq!(sweep["requeued"], 4, "{sweep}");
    drill.deliver(&worker, 4).await;
    drill.assert_rows(&ids, "delivered", 2).await;
    assert_eq!(received(&receiver, &ids), [1; 4]);
}
