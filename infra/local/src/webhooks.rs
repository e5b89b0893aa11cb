//! The webhook pipeline locally: [`start`] has the webhook-send handler consume the
//! queue named by `WEBHOOK_QUEUE_URL` and sweep the outbox (`crate::queue`), as its
//! SQS event source and schedule do in AWS.

use std::sync::Arc;

use content::outgoing_webhooks::{self, WebhookConfig};
use platform::Platform;
use tokio::task::JoinHandle;

use crate::queue::consume;

/// Consumes and sweeps in the background until the returned task is aborted.
/// `Ok(None)` when webhooks have no queue configured.
pub async fn start(platform: Arc<Platform>) -> Result<Option<JoinHandle<()>>, String> {
    let config: WebhookConfig = platform.config.section().map_err(|e| e.to_string())?;
    let queue = outgoing_webhooks::queue(&platform, &config);
    let Some(queue_url) = queue.url().map(str::to_owned) else {
        return Ok(None);
    };
    let handler =
        Arc::new(webhook_send::handler(platform.clone(), config).map_err(|e| e.to_string())?);
    consume(
        queue.sqs().await.clone(),
        &queue_url,
        platform.config.aws.region.as_deref(),
        "webhooks",
        handler,
    )
    .await
    .map(Some)
}
