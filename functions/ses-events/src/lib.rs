//! The ses-events function: EventBridge invokes it with each event SES publishes
//! for the mail configuration set (template.yaml's `MailConfigurationSet`), and
//! `marketing::events` records it once and suppresses addresses that bounced for
//! good or complained. An event it cannot read is acknowledged and logged: retrying
//! it would never make it readable.

use std::sync::Arc;

use marketing::events::{self, Outcome};
use platform::{Platform, Result, runtime::EventFuture};
use serde_json::Value;

/// The settings this function reads besides the core.
pub type Settings = ();

/// The event handler the Lambda runtime and `bianxian-local ses-event` invoke.
pub fn handler(
    platform: Arc<Platform>,
    (): Settings,
) -> Result<impl Fn(Value) -> EventFuture + Send + Sync + 'static> {
    Ok(move |event: Value| {
        let platform = platform.clone();
        Box::pin(async move {
            let mut client = platform.db.client().await?;
            let outcome = events::handle(&mut client, &event).await?;
            match &outcome {
                Outcome::Ignored(why) => tracing::warn!(why, "ses-events: an event was ignored"),
                Outcome::Recorded { suppressed } if !suppressed.is_empty() => {
                    tracing::info!(count = suppressed.len(), "ses-events: addresses suppressed");
                }
                _ => {}
            }
            Ok(outcome.to_json())
        }) as EventFuture
    })
}
