//! The webhook pipeline locally: [`start`] has the webhook-send handler consume the
//! queue named by `WEBHOOK_QUEUE_URL` and sweep the outbox (`crate::queue`), as its
//! SQS event source and schedule do in AWS.

use std::sync::Arc;

use shared::Platform;
use tokio::task::JoinHandle;

use crate::queue::consume;

/// Consumes and sweeps in the background until the returned task is aborted.
/// `Ok(None)` when webhooks have no queue configured.
pub async fn start(platform: Arc<Platform>) -> Result<Option<JoinHandle<()>>, String> {
    let Some(queue_url) = platform.webhooks.queue_url().map(str::to_owned) else {
        return Ok(None);
    };
    let handler = Arc::new(webhook_send::handler(platform.clone()));
    consume(
        platform.webhooks.sqs().await.clone(),
        &queue_url,
        platform.config.aws.region.as_deref(),
        "webhooks",
        handler,
    )
    .await
    .map(Some)
}
