//! The scheduler function: EventBridge invokes it every minute to publish the drafts
//! whose scheduled time has passed.
//!
//! The work is `shared::content::publish_due`, which is safe to run at any time and
//! any number of times at once, so the handler does not inspect the event: a manual
//! invocation (`sam remote invoke`) publishes what is due, like a scheduled one.

use std::{pin::Pin, sync::Arc};

use serde_json::{Value, json};
use shared::{Platform, Result, content::publish_due};

type EventFuture = Pin<Box<dyn Future<Output = Result<Value>> + Send>>;

/// The event handler the Lambda runtime and the local gateway invoke; answers the
/// published documentIds.
pub fn handler(platform: Arc<Platform>) -> impl Fn(Value) -> EventFuture + Send + Sync + 'static {
    move |_event| {
        let platform = platform.clone();
        Box::pin(async move {
            let published = publish_due(&platform).await?;
            if !published.is_empty() {
                tracing::info!(count = published.len(), articles = ?published, "published scheduled articles");
            }
            Ok(json!({ "published": published }))
        })
    }
}
