//! The campaign-send function: sends the campaign messages named by CampaignQueue
//! messages (`marketing::sending`), and, when EventBridge's minute fires, starts
//! the scheduled campaigns whose time has come, finishes those with nothing left to
//! send (`marketing::campaigns::run_due`) and sweeps the outbox.
//!
//! Each SQS record names a group of messages (`marketing::campaigns::per_message`);
//! the answer lists only the records to try again (`ReportBatchItemFailures`). A message whose sender died after SES may have
//! taken it is never sent again: the outbox marks it failed.

use std::sync::Arc;

use mail::MailConfig;
use marketing::{
    MarketingConfig,
    campaigns::{self, CampaignConfig},
    sending::CampaignSender,
};
use platform::{Error, Platform, Result, outbox, runtime::EventFuture};
use serde_json::Value;

/// The settings this function reads besides the core.
pub type Settings = (MailConfig, (MarketingConfig, CampaignConfig));

/// The event handler the Lambda runtime and the local stack invoke.
pub fn handler(
    platform: Arc<Platform>,
    (mail, (marketing, config)): Settings,
) -> Result<impl Fn(Value) -> EventFuture + Send + Sync + 'static> {
    let links = marketing
        .link_key
        .ok_or_else(|| Error::internal("campaign-send needs LINK_SIGNING_KEY"))?;
    let consumer = Arc::new(CampaignSender::consumer(&platform, mail, links, &config));
    let deliver = outbox::handler(consumer.clone());
    Ok(move |event: Value| {
        let (platform, consumer) = (platform.clone(), consumer.clone());
        let scheduled = event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
        let delivered = deliver(event);
        Box::pin(async move {
            // The sweep first: a message it gives up on may be a campaign's last.
            let answer = delivered.await?;
            if scheduled {
                let mut client = platform.db.client().await?;
                let running = campaigns::run_due(&mut client).await?;
                drop(client);
                for campaign in running {
                    campaigns::fan_out(consumer.queue(), &platform.db, campaign).await;
                }
            }
            Ok(answer)
        }) as EventFuture
    })
}
