//! The webhook-send function: delivers the webhook deliveries named by SQS messages
//! (`{"deliveryId": n}`), and sweeps the outbox when EventBridge's schedule fires.
//!
//! A failed POST is not handed back to SQS: its row waits out its backoff and the
//! sweep dispatches it again, so the answer's `batchItemFailures` lists only records
//! that could not be processed at all (a database outage, a body naming no row).
//! What delivering means, and why a duplicated record is harmless, is
//! `shared::webhooks`' business; the event plumbing is `shared::queue`'s.

use std::sync::Arc;

use shared::{
    Platform,
    queue::{self, EventFuture},
};

/// The event handler the Lambda runtime and the local stack invoke.
pub fn handler(
    platform: Arc<Platform>,
) -> impl Fn(serde_json::Value) -> EventFuture + Send + Sync + 'static {
    queue::handler(platform, |platform| &platform.webhooks)
}
