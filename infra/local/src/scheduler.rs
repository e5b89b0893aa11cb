//! What the EventBridge `rate(1 minute)` rule does for the scheduler function in AWS,
//! done locally: every [`EVERY`] the gateway invokes the scheduler's handler with a
//! scheduled event, so articles scheduled during development get published.
//! `spawn_stack()` does not start it; tests call `publish_due` themselves, when they
//! choose.

use std::{sync::Arc, time::Duration};

use platform::Platform;

use crate::queue::scheduled_event;

/// Half the AWS period, as for the mail sweep: a scheduled article appears soon.
pub const EVERY: Duration = Duration::from_secs(30);

/// Runs the scheduler in the background, detached, for as long as the process lives.
pub fn start(platform: Arc<Platform>) -> Result<(), String> {
    let settings = platform.config.section().map_err(|e| e.to_string())?;
    let handler = scheduler::handler(platform, settings).map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            if let Err(err) = handler(scheduled_event()).await {
                tracing::warn!(error = %err, "local scheduler run failed");
            }
        }
    });
    Ok(())
}
