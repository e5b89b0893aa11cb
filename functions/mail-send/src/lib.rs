//! The mail-send function: delivers outbox jobs named by SQS messages, and sweeps the
//! outbox when EventBridge's schedule fires.
//!
//! SQS invokes it with up to ten records; each names one job (`{"jobId": n}`). The
//! answer lists only the records to try again (`batchItemFailures`, with
//! `ReportBatchItemFailures` on the event source), so one failing mail never makes
//! SQS redeliver the others. What sending means is `mail::Sender`'s business; why a
//! redelivered record is harmless, and the event plumbing, are `platform::outbox`'s.

use std::sync::Arc;

use mail::{MailConfig, Sender};
use platform::{Platform, Result, outbox, runtime::EventFuture};

/// The settings this function reads besides the core.
pub type Settings = MailConfig;

/// The event handler the Lambda runtime and the local stack invoke.
pub fn handler(
    platform: Arc<Platform>,
    mail: Settings,
) -> Result<impl Fn(serde_json::Value) -> EventFuture + Send + Sync + 'static> {
    Ok(outbox::handler(Arc::new(Sender::consumer(&platform, mail))))
}
