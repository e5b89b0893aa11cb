//! Sending campaign messages: the platform outbox's [`Job`] for
//! `campaign_messages`, which campaign-send runs. A claimed row is checked again at
//! send time (the campaign not canceled; the subscriber still enabled, on the
//! list and not suppressed: an unsubscribe or a bounce since the campaign started
//! counts), rendered for its recipient with their signed unsubscribe and
//! preferences links, and sent through SES as raw MIME carrying RFC 8058's
//! `List-Unsubscribe` and `List-Unsubscribe-Post` headers and the `campaign` and
//! `subscriber` tags SES events come back with. Every sender together keeps to
//! `CAMPAIGN_RATE_PER_SECOND`, paced in Redis: a sender takes several sending
//! slots at once when the pace allows and hands them to its own concurrent sends,
//! so a busy campaign costs Redis about one call per slot-taking, not per mail.

use std::time::Duration;

use identity::email::Email;
use mail::{Sender, mime::Message};
use platform::db::Client;
use platform::{
    Platform,
    error::{Error, Result},
    outbox::{Consumer, Failure, Job, RowId},
    ratelimit::{Pace, RateLimiter},
};
use serde_json::{Value, json};
use tokio_postgres::types::Type;
use url::Url;

use crate::{
    campaigns::{self, CampaignConfig},
    links::LinkKey,
    templates::{self, Footer, TemplateInput},
    tracking::Rewrite,
};

/// How far ahead of the pace slots may be taken: a burst of at most 50 ms of
/// sending, so any one second sees at most 1.05 × `CAMPAIGN_RATE_PER_SECOND`.
const PACE_BURST: Duration = Duration::from_millis(50);

/// Slots asked for at once: as many as a grouped message sends concurrently.
/// A pause or cancel lets at most these few more go.
const SLOTS_PER_TAKE: u32 = 16;

/// One message, as the sender needs it.
#[derive(Debug)]
pub struct Outgoing {
    campaign: String,
    campaign_name: String,
    /// Canceled since it was queued: not sent. (Paused is not checked: a message
    /// claimed before the pause took effect goes, as an in-flight batch does.)
    canceled: bool,
    tracking: bool,
    template: TemplateInput,
    subscriber: String,
    email: String,
    name: String,
    attributes: Value,
    list: String,
    /// Why it must not be sent after all, if so.
    stale: Option<&'static str>,
}

/// What sending needs besides the row.
#[derive(Debug)]
pub struct CampaignSender {
    ses: Sender,
    links: LinkKey,
    limiter: RateLimiter,
    pace: Pace,
    /// Slots taken from the pace and not used yet; whoever holds the lock takes
    /// more when there are none.
    spare: tokio::sync::Mutex<u32>,
    api_url: Url,
    site_url: Url,
    postal_address: String,
    subject_prefix: Option<String>,
}

/// The consumer campaign-send runs.
pub type CampaignConsumer = Consumer<CampaignSender>;

impl CampaignSender {
    pub fn consumer(
        platform: &Platform,
        mail: mail::MailConfig,
        links: LinkKey,
        config: &CampaignConfig,
    ) -> CampaignConsumer {
        let pace = Pace {
            name: "campaign-send",
            per_second: config.rate_per_second,
            burst: PACE_BURST,
        };
        let sender = Self {
            ses: Sender::new(platform, mail),
            links,
            limiter: platform.limiter.clone(),
            pace,
            spare: tokio::sync::Mutex::new(0),
            api_url: platform.config.api_url.clone(),
            site_url: platform.config.site_url.clone(),
            postal_address: config.postal_address.clone().unwrap_or_default(),
            subject_prefix: config.subject_prefix.clone(),
        };
        Consumer::new(campaigns::queue(platform, config), sender)
    }

    /// Waits for a slot of the shared sending pace.
    async fn take_slot(&self) -> Result<()> {
        let mut spare = self.spare.lock().await;
        loop {
            if *spare > 0 {
                *spare -= 1;
                return Ok(());
            }
            let grant = self.limiter.take(self.pace, "ses", SLOTS_PER_TAKE).await?;
            if grant.granted > 0 {
                *spare = grant.granted - 1;
                return Ok(());
            }
            tokio::time::sleep(grant.retry_in.max(Duration::from_millis(1))).await;
        }
    }

    fn compose(&self, row: &Outgoing) -> Result<(Email, Vec<u8>), String> {
        let to = Email::parse(&row.email).map_err(|e| format!("recipient: {e}"))?;
        let footer = Footer::for_recipient(
            &self.links,
            (&self.api_url, &self.site_url),
            &row.subscriber,
            Some(&row.list),
            &self.postal_address,
        )
        .map_err(|e| e.to_string())?;
        let context = json!({
            "subscriber": { "name": row.name, "email": row.email, "attributes": row.attributes },
            "campaign": { "name": row.campaign_name },
        });
        let mut rendered =
            templates::render(&row.template, &context, &footer).map_err(|e| e.to_string())?;
        if row.tracking {
            let rewrite = Rewrite {
                key: &self.links,
                api_url: &self.api_url,
                campaign: &row.campaign,
                subscriber: &row.subscriber,
                keep: &[&footer.unsubscribe_url, &footer.preferences_url],
            };
            rendered.html = rewrite.apply(&rendered.html).map_err(|e| e.to_string())?;
        }
        let subject = match &self.subject_prefix {
            Some(prefix) => format!("{prefix}{}", rendered.subject),
            None => rendered.subject,
        };
        let list_unsubscribe = format!("<{}>", footer.unsubscribe_url);
        let raw = Message {
            from: self.ses.from(),
            to: &to,
            subject: &subject,
            text: &rendered.text,
            html: &rendered.html,
            headers: &[
                ("List-Unsubscribe", &list_unsubscribe),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ],
        }
        .to_raw()
        .map_err(|e| e.to_string())?;
        Ok((to, raw))
    }
}

impl Job for CampaignSender {
    type Row = Outgoing;
    type Receipt = String;

    async fn load(&self, client: &Client, id: RowId) -> Result<Outgoing> {
        let row = client
            .query_typed(
                "SELECT c.document_id, c.name, c.status = 'canceled', c.tracking,
                        t.name, t.subject, t.html, t.text,
                        s.document_id, s.email, s.name, s.attributes, l.document_id,
                        CASE
                          WHEN s.status <> 'enabled' THEN 'blocklisted'
                          WHEN ls.status IS DISTINCT FROM 'confirmed' THEN 'unsubscribed'
                          WHEN EXISTS (SELECT 1 FROM suppressions x WHERE x.email = s.email) THEN 'suppressed'
                        END
                 FROM campaign_messages m
                 JOIN campaigns c ON c.id = m.campaign_id
                 JOIN mail_templates t ON t.id = c.template_id
                 JOIN subscribers s ON s.id = m.subscriber_id
                 JOIN mailing_lists l ON l.id = m.list_id
                 LEFT JOIN list_subscriptions ls ON ls.list_id = m.list_id AND ls.subscriber_id = m.subscriber_id
                 WHERE m.id = $1",
                &[(&id, Type::INT8)],
            )
            .await?;
        let row = row
            .first()
            .ok_or_else(|| Error::internal("a claimed campaign message has no row"))?;
        let stale: Option<String> = row.try_get(13)?;
        Ok(Outgoing {
            campaign: row.try_get(0)?,
            campaign_name: row.try_get(1)?,
            canceled: row.try_get(2)?,
            tracking: row.try_get(3)?,
            template: TemplateInput {
                name: row.try_get(4)?,
                subject: row.try_get(5)?,
                html: row.try_get(6)?,
                text: row.try_get(7)?,
            },
            subscriber: row.try_get(8)?,
            email: row.try_get(9)?,
            name: row.try_get(10)?,
            attributes: row.try_get(11)?,
            list: row.try_get(12)?,
            stale: match stale.as_deref() {
                Some("blocklisted") => Some("skipped: the subscriber is blocklisted"),
                Some("unsubscribed") => Some("skipped: unsubscribed since the campaign started"),
                Some("suppressed") => Some("skipped: the address is suppressed"),
                _ => None,
            },
        })
    }

    /// A slot of the shared pace, before the claim: a pause holds back all but the
    /// few slots already taken.
    async fn ready(&self) -> Result<()> {
        self.take_slot().await
    }

    async fn send(&self, _id: RowId, row: &Outgoing) -> Result<String, Failure<String>> {
        if row.canceled {
            return Err(Failure::permanent("skipped: the campaign was canceled"));
        }
        if let Some(why) = row.stale {
            return Err(Failure::permanent(why));
        }
        let (to, raw) = self.compose(row).map_err(Failure::permanent)?;
        let tags = [
            ("campaign", row.campaign.as_str()),
            ("subscriber", row.subscriber.as_str()),
        ];
        self.ses.send_raw(&to, raw, &tags).await
    }
}
