//! The mail pipeline locally: [`start`] verifies the `MAIL_FROM` identity in moto
//! (which, like SES, refuses unverified senders) and has the mail-send handler
//! consume the queue named by `MAIL_QUEUE_URL` and sweep the outbox
//! (`crate::queue`), as its SQS event source and schedule do in AWS.

use std::sync::Arc;

use mail::{MailConfig, Sender};
use platform::Platform;
use tokio::task::JoinHandle;

pub use crate::queue::{SWEEP_EVERY, scheduled_event};
use crate::queue::{consume, display};

/// Verifies `MAIL_FROM` in moto: mail and campaigns send from it.
pub async fn verify_sender(platform: &Platform, config: &MailConfig) -> Result<(), String> {
    let sender = Sender::new(platform, config.clone());
    let from = sender.from().address.to_string();
    sender
        .ses()
        .await
        .create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .map_err(|e| format!("verifying SES identity {from}: {}", display(e)))?;
    Ok(())
}

/// Sets up the sender identity, then consumes and sweeps in the background until
/// the returned task is aborted. `Ok(None)` when mail has no queue configured.
pub async fn start(platform: Arc<Platform>) -> Result<Option<JoinHandle<()>>, String> {
    let config: MailConfig = platform.config.section().map_err(|e| e.to_string())?;
    let queue = mail::queue(&platform, &config);
    let Some(queue_url) = queue.url().map(str::to_owned) else {
        return Ok(None);
    };
    verify_sender(&platform, &config).await?;
    let handler =
        Arc::new(mail_send::handler(platform.clone(), config).map_err(|e| e.to_string())?);
    consume(
        queue.sqs().await.clone(),
        &queue_url,
        platform.config.aws.region.as_deref(),
        "mail",
        handler,
    )
    .await
    .map(Some)
}
