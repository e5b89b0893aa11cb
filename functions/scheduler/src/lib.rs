//! The scheduler function: EventBridge invokes it every minute to publish the drafts
//! whose scheduled time has passed, to reconcile the orders still pending a while
//! after checkout with their payment providers, and to run the marketing
//! automations (enrol whoever their triggers saw, send the steps that are due).
//!
//! The work is `content::write::schedule::publish_due`, `commerce::reconcile::run`
//! and `marketing::automations`, all safe to run at any time and any number of
//! times at once, so the handler does not inspect the event: a manual invocation
//! (`sam remote invoke`) does what is due, like a scheduled one. The automations'
//! `member-signup` and `order-paid` arrivals are read here through the crates that
//! own members and orders, and handed to marketing.

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
use identity::email::Email;
use mail::MailConfig;
use marketing::{
    MarketingConfig,
    automations::{self, Arrival, StepSender, Trigger},
    campaigns::CampaignConfig,
    links::LinkKey,
};
use platform::{Platform, Result, outbox::Queue, runtime::EventFuture};
use serde_json::{Value, json};

/// The settings this function reads besides the core.
pub type Settings = (
    WebhookConfig,
    (
        MailConfig,
        (ProviderSettings, (MarketingConfig, CampaignConfig)),
    ),
);

/// What running the automations needs; without a link key (no unsubscribe link
/// can be signed) they do not run.
struct Automations {
    links: Option<LinkKey>,
    config: CampaignConfig,
    mail: Queue,
}

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
    (webhooks, (mail, (providers, (marketing, campaigns)))): Settings,
) -> Result<impl Fn(Value) -> EventFuture + Send + Sync + 'static> {
    let writer = Arc::new(Writer::new(&platform, &webhooks));
    let automations = Arc::new(Automations {
        links: marketing.link_key,
        config: campaigns,
        mail: mail::queue(&platform, &mail),
    });
    let payments = Arc::new(Payments {
        providers: Providers::from_settings(&providers)?,
        fulfilment: Fulfilment::new(platform.db.clone(), mail::queue(&platform, &mail)),
        platform,
    });
    Ok(move |_event| {
        let (writer, payments, automations) =
            (writer.clone(), payments.clone(), automations.clone());
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
            let automated = run_automations(&payments.platform, &automations).await?;
            Ok(
                json!({ "published": published, "reconciled": reconciled, "automations": automated }),
            )
        }) as EventFuture
    })
}

/// Enrols whoever each trigger saw since the automations' watermarks, then sends
/// the steps that are due; answers how many of each.
async fn run_automations(platform: &Platform, automations: &Automations) -> Result<Value> {
    let Some(links) = &automations.links else {
        return Ok(json!(null));
    };
    let mut client = platform.db.client().await?;
    let mut enrolled = 0;
    for trigger in [
        Trigger::Subscribed,
        Trigger::MemberSignup,
        Trigger::OrderPaid,
    ] {
        let Some((after, until)) = automations::window(&**client, trigger).await? else {
            continue;
        };
        let found = match trigger {
            Trigger::Subscribed => Vec::new(),
            Trigger::MemberSignup => {
                identity::members::verified_between(&**client, after, until).await?
            }
            Trigger::OrderPaid => commerce::orders::paid_between(&**client, after, until).await?,
        };
        let arrivals: Vec<Arrival> = found
            .into_iter()
            .filter_map(|(email, name, at)| {
                Some(Arrival {
                    email: Email::parse(&email).ok()?,
                    name,
                    at,
                })
            })
            .collect();
        enrolled += automations::enrol(&mut client, trigger, &arrivals, until).await?;
    }
    let sender = StepSender {
        links,
        api_url: &platform.config.api_url,
        site_url: &platform.config.site_url,
        config: &automations.config,
    };
    let jobs = automations::run_due(&mut client, &sender).await?;
    drop(client);
    automations.mail.dispatch(&jobs).await;
    if enrolled > 0 || !jobs.is_empty() {
        tracing::info!(enrolled, sent = jobs.len(), "automations ran");
    }
    Ok(json!({ "enrolled": enrolled, "sent": jobs.len() }))
}
