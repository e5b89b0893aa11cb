//! The webhook-send function: delivers the webhook deliveries named by SQS messages
//! (`{"deliveryId": n}`), and sweeps the outbox when EventBridge's schedule fires.
//!
//! A failed POST is not handed back to SQS: its row waits out its backoff and the
//! sweep dispatches it again, so the answer's `batchItemFailures` lists only records
//! that could not be processed at all (a database outage, a body naming no row).
//! What delivering means is `content::outgoing_webhooks`' business; why a duplicated
//! record is harmless, and the event plumbing, are `platform::outbox`'s.

use std::sync::Arc;

use content::outgoing_webhooks::{Sender, WebhookConfig};
use platform::{Platform, Result, outbox, runtime::EventFuture};

/// The settings this function reads besides the core.
pub type Settings = WebhookConfig;

/// The event handler the Lambda runtime and the local stack invoke.
pub fn handler(
    platform: Arc<Platform>,
    webhooks: Settings,
) -> Result<impl Fn(serde_json::Value) -> EventFuture + Send + Sync + 'static> {
    Ok(outbox::handler(Arc::new(Sender::consumer(
        &platform, &webhooks,
    )?)))
}
