//! The scheduler function: EventBridge invokes it every minute to publish the drafts
//! whose scheduled time has passed, and to reconcile the orders still pending a
//! while after checkout with their payment providers.
//!
//! The work is `content::write::schedule::publish_due` and `commerce::reconcile::run`,
//! both safe to run at any time and any number of times at once, so the handler does
//! not inspect the event: a manual invocation (`sam remote invoke`) does what is due,
//! like a scheduled one.

use std::sync::Arc;

use commerce::{
    fulfilment::Fulfilment,
    provider::{ProviderSettings, Providers},
    reconcile,
};
use content::{
    outgoing_webhooks::WebhookConfig,
    write::{Writer, schedule::publish_due},
};
use mail::MailConfig;
use platform::{Platform, Result, runtime::EventFuture};
use serde_json::{Value, json};

/// The settings this function reads besides the core.
pub type Settings = (WebhookConfig, (MailConfig, ProviderSettings));

/// What reconciliation needs.
struct Payments {
    platform: Arc<Platform>,
    providers: Providers,
    fulfilment: Fulfilment,
}

/// The event handler the Lambda runtime and the local gateway invoke; answers the
/// published documentIds and what reconciliation did.
pub fn handler(
    platform: Arc<Platform>,
    (webhooks, (mail, providers)): Settings,
) -> Result<impl Fn(Value) -> EventFuture + Send + Sync + 'static> {
    let writer = Arc::new(Writer::new(&platform, &webhooks));
    let payments = Arc::new(Payments {
        providers: Providers::from_settings(&providers)?,
        fulfilment: Fulfilment::new(platform.db.clone(), mail::queue(&platform, &mail)),
        platform,
    });
    Ok(move |_event| {
        let (writer, payments) = (writer.clone(), payments.clone());
        Box::pin(async move {
            let published = publish_due(&writer).await?;
            if !published.is_empty() {
                tracing::info!(count = published.len(), articles = ?published, "published scheduled articles");
            }
            let reconciled = reconcile::run(
                &payments.platform.db,
                &payments.providers,
                &payments.fulfilment,
                chrono::Utc::now(),
            )
            .await?;
            Ok(json!({ "published": published, "reconciled": reconciled }))
        }) as EventFuture
    })
}
