//! Applies the embedded SQL migrations. `scripts/deploy` invokes it right after
//! `sam deploy`; the local scripts call [`migrate`] directly.

use std::sync::Arc;

use serde_json::Value;
use shared::{Platform, Result, migrations};

pub async fn migrate(platform: &Platform) -> Result<migrations::Report> {
    let mut client = platform.db.client().await?;
    let report = migrations::run(&mut client).await?;
    tracing::info!(applied = ?report.applied, current = report.current, "migrations done");
    Ok(report)
}

/// The event handler: any payload; answers with the report.
pub fn handler(
    platform: Arc<Platform>,
) -> impl Fn(Value) -> std::pin::Pin<Box<dyn Future<Output = Result<Value>> + Send>>
+ Send
+ Sync
+ 'static {
    move |_event| {
        let platform = platform.clone();
        Box::pin(async move {
            let report = migrate(&platform).await?;
            Ok(serde_json::to_value(report).unwrap_or(Value::Null))
        })
    }
}
