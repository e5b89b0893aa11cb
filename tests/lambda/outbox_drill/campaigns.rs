//! campaign-send: SES throttles a group, then hangs under a worker that is killed.
//! A campaign mail must never reach anyone twice, so what the dead worker had in
//! flight at SES is counted failed, not sent again; every other recipient gets one.

use bianxian_e2e::{Fault, campaigns::setup};
use serde_json::json;

use super::Drill;

/// Rows one sandbox sends at once from a group (the outbox's `GROUP_CONCURRENCY`):
/// with SES hanging, exactly these are claimed and the rest of the group waits.
const IN_FLIGHT: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_campaign_survives_ses_throttling_redelivery_and_a_worker_killed_mid_group() {
    let Some(setup) = setup(5 + 20, vec![("CAMPAIGN_QUEUE_URL", String::new())]).await else {
        return;
    };
    let stack = &setup.stack;
    let moto = stack.aws_endpoint.clone().expect("moto");
    let mut drill = Drill::new(
        stack,
        "campaign-send",
        &marketing::campaigns::OUTBOX,
        "CAMPAIGN_QUEUE_URL",
    )
    .await;
    drill.relay_aws(&moto);
    // Started without a queue, the campaign's messages wait; the drill sends the
    // groups itself, as the fan-out would.
    let campaign = setup.campaign().await;
    let (status, started) = setup.act(&campaign, "send").await;
    assert!(status.is_success(), "{started}");
    let messages: Vec<(i64, String)> = stack
        .db
        .client()
        .await
        .query(
            "SELECT m.id, s.email FROM campaign_messages m
               JOIN subscribers s ON s.id = m.subscriber_id ORDER BY m.id",
            &[],
        )
        .await
        .expect("the campaign's messages")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(messages.len(), 25);
    let ids: Vec<i64> = messages.iter().map(|(id, _)| *id).collect();
    let group = |ids: &[i64]| json!({ "messageId": ids });

    // SES throttles the first group: its record comes back, nothing is sent.
    let (first, rest) = ids.split_at(5);
    drill.source.send(&group(first)).await;
    let worker = drill.worker().await;
    drill.relay.set(Fault::Throttle);
    assert_eq!(drill.run_batch(&worker, 1, 2).await.1.len(), 1);
    drill.assert_rows(first, "pending", 1).await;

    // SES takes mail again and SQS redelivers the group; a duplicate sends nothing.
    drill.relay.set(Fault::None);
    drill.deliver(&worker, 1).await;
    drill.source.send(&group(first)).await;
    drill.deliver(&worker, 1).await;
    drill.assert_rows(first, "sent", 2).await;

    // SES stops answering and the worker is killed with a group of 20 half sent.
    drill.source.send(&group(rest)).await;
    let lost = drill.kill_mid_batch(1, rest, IN_FLIGHT).await;
    assert_eq!(lost.len(), IN_FLIGHT, "{lost:?}");
    // The redelivered group goes to a new sandbox: it sends the rows nobody had
    // claimed and leaves the dead worker's alone.
    let worker = drill.worker().await;
    drill.deliver(&worker, 1).await;
    let waited: Vec<i64> = rest
        .iter()
        .copied()
        .filter(|id| !lost.contains(id))
        .collect();
    drill.assert_rows(&waited, "sent", 1).await;
    // Once their leases are over, the minute's sweep counts the dead worker's
    // claims failed (SES may have taken them) and the campaign finishes.
    drill.expire_leases(&lost).await;
    let sweep = drill.sweep(&worker).await;
    assert_eq!(
        (&sweep["requeued"], &sweep["failed"]),
        (&json!(0), &json!(IN_FLIGHT)),
        "{sweep}"
    );
    drill.assert_rows(&lost, "failed", 1).await;
    let shown = setup.show(&campaign).await;
    assert_eq!(shown["status"], "finished", "{shown}");
    assert_eq!(
        shown["progress"],
        json!({ "targeted": 25, "pending": 0, "sent": 25 - IN_FLIGHT, "failed": IN_FLIGHT })
    );

    // In moto: one mail for each recipient whose row is sent, none for the lost.
    for (id, email) in &messages {
        let expected = usize::from(!lost.contains(id));
        if expected == 1 {
            stack.wait_for_mail(email, 1).await;
        }
        assert_eq!(stack.sent_mail(email).await.len(), expected, "{email}");
    }
}
