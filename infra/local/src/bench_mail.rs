//! What `scripts/bench mail` measures: a campaign to `subscribers` confirmed
//! subscribers of one list, started as staff start it (`campaigns::act`, the rows
//! written in one transaction) and fanned out into the campaign queue
//! (`campaigns::fan_out`, grouped SQS messages), timed from the start to the last
//! message queued. Sending is the campaign-send handler's work in a process of its
//! own (`bianxian-local campaign-worker`), measured by the script.

use std::time::Instant;

use marketing::{
    campaigns::{self, Action, CampaignConfig, CampaignInput},
    lists::{self, ListInput, Optin, Visibility},
    templates::{self, TemplateInput},
};
use platform::Platform;
use tokio_postgres::types::Type;

const ACTOR: &str = "bench";

/// Seeds the list, its subscribers, a template with a tracked link and a draft
/// campaign; starts it and fans it out; prints what it took.
pub async fn run(platform: &Platform, subscribers: i64) -> Result<(), String> {
    let config: CampaignConfig = platform.config.section().map_err(|e| e.to_string())?;
    let mut client = platform.db.client().await.map_err(|e| e.to_string())?;
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    let list = lists::create(
        &tx,
        ACTOR,
        ListInput {
            name: "压测名单".into(),
            description: String::new(),
            visibility: Visibility::Private,
            optin: Optin::Single,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let seeded = tx
        .execute_typed(
            "WITH s AS (
                 INSERT INTO subscribers (email, name)
                 SELECT 'reader' || i || '@bench.example.com', '读者' || i
                 FROM generate_series(1, $1) i
                 RETURNING id)
             INSERT INTO list_subscriptions (list_id, subscriber_id, status)
             SELECT l.id, s.id, 'confirmed' FROM s, mailing_lists l WHERE l.document_id = $2",
            &[(&subscribers, Type::INT8), (&list.document_id, Type::TEXT)],
        )
        .await
        .map_err(|e| e.to_string())?;
    let template = templates::create(
        &tx,
        ACTOR,
        TemplateInput {
            name: "压测周报".into(),
            subject: "{{ subscriber.name }}，本周精选".into(),
            html: "<h1>本周精选</h1><p>{{ subscriber.name }}，你好。</p>\
                   <p><a href=\"https://example.com/articles/ai-tools\">AI 工具清单</a></p>"
                .into(),
            text: "{{ subscriber.name }}，你好。AI 工具清单：https://example.com/articles/ai-tools"
                .into(),
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let campaign = campaigns::create(
        &tx,
        ACTOR,
        CampaignInput {
            name: "压测".into(),
            template: template.document_id,
            lists: vec![list.document_id],
            segment: None,
            tracking: true,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    println!("seeded {seeded} confirmed subscribers");
    let queue = campaigns::queue(platform, &config);
    let name = queue
        .url()
        .and_then(|url| url.rsplit('/').next())
        .ok_or("set CAMPAIGN_QUEUE_URL")?
        .to_owned();
    queue
        .sqs()
        .await
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(crate::queue::display)?;

    let clock = Instant::now();
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    let changed = campaigns::act(
        &tx,
        ACTOR,
        &campaign.document_id,
        Action::Send,
        None,
        &config,
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    let written = clock.elapsed();
    drop(client);
    if let Some(id) = changed.fan_out {
        campaigns::fan_out(&queue, &platform.db, id).await;
    }
    let total = clock.elapsed();
    let targeted = changed.campaign.progress.targeted;
    let queued: i64 = platform
        .db
        .client()
        .await
        .map_err(|e| e.to_string())?
        .query_one(
            "SELECT count(*) FROM campaign_messages m JOIN campaigns c ON c.id = m.campaign_id
             WHERE c.document_id = $1 AND m.enqueued_at IS NOT NULL",
            &[&campaign.document_id],
        )
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    println!(
        "started: {targeted} recipients written in {:.2} s; {queued} queued in {} SQS messages by {:.2} s: {:.0} recipients/s",
        written.as_secs_f64(),
        (queued as usize).div_ceil(campaigns::per_message(&config)),
        total.as_secs_f64(),
        queued as f64 / total.as_secs_f64()
    );
    println!("campaign {}", campaign.document_id);
    Ok(())
}
