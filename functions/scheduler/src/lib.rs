//! The scheduler function: EventBridge invokes it every minute to publish the drafts
//! whose scheduled time has passed.
//!
//! The work is `content::write::schedule::publish_due`, which is safe to run at any
//! time and any number of times at once, so the handler does not inspect the event:
//! a manual invocation (`sam remote invoke`) publishes what is due, like a scheduled
//! one.

use std::sync::Arc;

use content::{
    outgoing_webhooks::WebhookConfig,
    write::{Writer, schedule::publish_due},
};
use platform::{Platform, Result, runtime::EventFuture};
use serde_json::{Value, json};

/// The settings this function reads besides the core.
pub type Settings = WebhookConfig;

/// The event handler the Lambda runtime and the local gateway invoke; answers the
/// published documentIds.
pub fn handler(
    platform: Arc<Platform>,
    webhooks: Settings,
) -> Result<impl Fn(Value) -> EventFuture + Send + Sync + 'static> {
    let writer = Arc::new(Writer::new(&platform, &webhooks));
    Ok(move |_event| {
        let writer = writer.clone();
        Box::pin(async move {
            let published = publish_due(&writer).await?;
            if !published.is_empty() {
                tracing::info!(count = published.len(), articles = ?published, "published scheduled articles");
            }
            Ok(json!({ "published": published }))
        }) as EventFuture
    })
}
