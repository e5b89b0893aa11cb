//! The mail-send function: delivers outbox jobs named by SQS messages, and sweeps the
//! outbox when EventBridge's schedule fires.
//!
//! SQS invokes it with up to ten records; each names one job (`{"jobId": n}`). The
//! answer lists only the records to try again (`batchItemFailures`, with
//! `ReportBatchItemFailures` on the event source), so one failing mail never makes
//! SQS redeliver the others. What sending means, and why a redelivered record is
//! harmless, is `shared::mail`'s business; the event plumbing is `shared::queue`'s.

use std::sync::Arc;

use shared::{
    Platform,
    queue::{self, EventFuture},
};

/// The event handler the Lambda runtime and the local stack invoke.
pub fn handler(
    platform: Arc<Platform>,
) -> impl Fn(serde_json::Value) -> EventFuture + Send + Sync + 'static {
    queue::handler(platform, |platform| &platform.mail)
}
