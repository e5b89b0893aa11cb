//! Applies the embedded SQL migrations. `scripts/deploy` invokes it right after
//! `sam deploy`; the local scripts call [`migrate`] directly.

use std::sync::Arc;

use platform::{Platform, Result, migrations, runtime::EventFuture};
use serde_json::Value;

pub async fn migrate(platform: &Platform) -> Result<migrations::Report> {
    let mut client = platform.db.client_or_explain().await?;
    let report = migrations::run(&mut client).await?;
    tracing::info!(applied = ?report.applied, current = report.current, "migrations done");
    Ok(report)
}

/// The event handler: any payload; answers with the report.
pub fn handler(
    platform: Arc<Platform>,
    _: (),
) -> Result<impl Fn(Value) -> EventFuture + Send + Sync + 'static> {
    Ok(move |_event| {
        let platform = platform.clone();
        Box::pin(async move {
            let report = migrate(&platform).await?;
            Ok(serde_json::to_value(report).unwrap_or(Value::Null))
        }) as EventFuture
    })
}
