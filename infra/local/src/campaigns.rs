//! The campaign pipeline locally: [`start`] has the campaign-send handler consume
//! the queue named by `CAMPAIGN_QUEUE_URL`, and run its minute (due campaigns, the
//! sweep) every [`crate::queue::SWEEP_EVERY`], as its SQS event source and schedule
//! do in AWS. Mail goes to moto's SES like the rest, from the sender
//! `crate::mail::verify_sender` verifies.

use std::sync::Arc;

use marketing::campaigns::{self, CampaignConfig};
use platform::Platform;
use tokio::task::JoinHandle;

use crate::queue::consume;

/// Consumes and runs the schedule in the background until the returned task is
/// aborted. `Ok(None)` when campaigns have no queue or no link key configured.
pub async fn start(platform: Arc<Platform>) -> Result<Option<JoinHandle<()>>, String> {
    let settings: campaign_send::Settings = platform.config.section().map_err(|e| e.to_string())?;
    let (mail, (marketing, config)) = &settings;
    let config: &CampaignConfig = config;
    let queue = campaigns::queue(&platform, config);
    let (Some(queue_url), Some(_)) = (queue.url().map(str::to_owned), &marketing.link_key) else {
        return Ok(None);
    };
    crate::mail::verify_sender(&platform, mail).await?;
    let handler =
        Arc::new(campaign_send::handler(platform.clone(), settings).map_err(|e| e.to_string())?);
    consume(
        queue.sqs().await.clone(),
        &queue_url,
        platform.config.aws.region.as_deref(),
        "campaigns",
        handler,
    )
    .await
    .map(Some)
}
