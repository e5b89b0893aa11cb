//! The content write path: articles ([`articles`]), the authors, categories and tags
//! they hang from ([`taxonomy`]) and scheduled publishing ([`schedule`]), each a plain
//! function over a [`Writer`], whoever calls it (content-admin's handlers, the
//! scheduler, tests).
//!
//! Every write ends in the same tail, whatever it wrote: the audit row and the Strapi
//! webhook event (the `outgoing_webhooks` outbox) in the write's transaction, COMMIT,
//! then invalidation of the cached public responses the write can affect and the
//! webhook dispatch. Neither of the last two fails the write, because the write has
//! happened (a Redis outage is logged; the sweep sends the deliveries).

pub mod articles;
pub mod schedule;
pub mod taxonomy;

use platform::{
    Platform, audit,
    cache::Cache,
    db::{Db, Transaction},
    error::Result,
    outbox::{Queue, RowId},
};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    cache::invalidate_after_write,
    outgoing_webhooks::{self, WebhookConfig},
    schema,
};
use identity::access::Principal;

/// Strapi's write envelope, `{"data": {...}}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "{T}Envelope")]
pub struct Envelope<T> {
    pub data: T,
}

/// What every write needs besides its input: the database, the response cache it
/// invalidates and the webhook queue it nudges.
#[derive(Debug)]
pub struct Writer {
    db: Db,
    cache: Cache,
    webhooks: Queue,
}

impl Writer {
    pub fn new(platform: &Platform, webhooks: &WebhookConfig) -> Self {
        Self {
            db: platform.db.clone(),
            cache: platform.cache.clone(),
            webhooks: outgoing_webhooks::queue(platform, webhooks),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The in-transaction half of the tail: the audit row as `actor`, and one
    /// webhook delivery per subscribed webhook, whose ids are added to `deliveries`.
    async fn record(
        &self,
        tx: &impl platform::db::Transactional,
        actor: &str,
        write: &Write<'_>,
        deliveries: &mut Vec<RowId>,
    ) -> Result<()> {
        let Write {
            model,
            event,
            document_id,
            entry,
            details,
        } = write;
        let action = format!("{}.{}", model.singular, event.as_str());
        audit::record(
            tx,
            actor,
            &action,
            &format!("{}:{document_id}", model.singular),
            details.clone(),
        )
        .await?;
        let public = outgoing_webhooks::public_entry(entry, model.webhook_fields);
        deliveries.extend(
            outgoing_webhooks::enqueue(tx, event.webhook(), model.singular, &public).await?,
        );
        Ok(())
    }

    /// The rest of the tail: COMMIT, invalidation of what `content_type` can show
    /// in, and the webhook dispatch.
    async fn commit(
        &self,
        tx: Transaction<'_>,
        content_type: &'static schema::ContentType,
        deliveries: &[RowId],
    ) -> Result<()> {
        tx.commit().await?;
        invalidate_after_write(&self.cache, content_type).await;
        self.webhooks.dispatch(deliveries).await;
        Ok(())
    }

    /// Ends one write by `principal`: [`Self::record`], then [`Self::commit`].
    /// Returns the entry.
    async fn finish(
        &self,
        tx: Transaction<'_>,
        principal: &Principal,
        write: Write<'_>,
    ) -> Result<Value> {
        let mut deliveries = Vec::new();
        self.record(&tx, &principal.actor(), &write, &mut deliveries)
            .await?;
        self.commit(tx, write.model.content_type, &deliveries)
            .await?;
        Ok(write.entry)
    }
}

/// A content type as writes name it: its schema entry, its singular model name
/// (`article`: the name in audit actions, targets and webhook payloads), and the
/// fields of its entry a webhook carries.
#[derive(Debug)]
pub struct Model {
    pub content_type: &'static schema::ContentType,
    pub singular: &'static str,
    pub webhook_fields: &'static [&'static str],
}

pub const ARTICLE: Model = Model {
    content_type: &schema::ARTICLES,
    singular: outgoing_webhooks::ARTICLE,
    webhook_fields: outgoing_webhooks::ARTICLE_FIELDS,
};

/// What a write did to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Create,
    Update,
    Delete,
    Publish,
    Unpublish,
    Schedule,
    Unschedule,
    Restore,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Create => "create",
            Event::Update => "update",
            Event::Delete => "delete",
            Event::Publish => "publish",
            Event::Unpublish => "unpublish",
            Event::Schedule => "schedule",
            Event::Unschedule => "unschedule",
            Event::Restore => "restore",
        }
    }

    /// The Strapi event a write sends: every change short of creating, deleting,
    /// publishing or unpublishing is an update (restoring a revision, scheduling,
    /// unscheduling).
    pub fn webhook(self) -> outgoing_webhooks::Event {
        use outgoing_webhooks::Event as Hook;
        match self {
            Event::Create => Hook::Create,
            Event::Update | Event::Restore | Event::Schedule | Event::Unschedule => Hook::Update,
            Event::Delete => Hook::Delete,
            Event::Publish => Hook::Publish,
            Event::Unpublish => Hook::Unpublish,
        }
    }
}

/// One write, described for everything that follows it.
struct Write<'a> {
    model: &'a Model,
    event: Event,
    document_id: &'a str,
    /// The entry as the admin API answers it; for a delete, as it stood before.
    entry: Value,
    /// Extra facts for the audit log (a slug, a revision number).
    details: Value,
}

/// A field of a write: absent (`None`, left as it is), `null` (`Some(None)`,
/// cleared) or a value.
pub(crate) type Patch<T> = Option<Option<T>>;

/// Keeps an explicit `null` apart from an absent field.
pub(crate) fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> std::result::Result<Patch<T>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The upload a media field's patch names, resolved to its id.
pub(crate) async fn media_patch(
    client: &impl platform::db::GenericClient,
    field: &str,
    patch: &Patch<crate::media::MediaRef>,
) -> Result<Patch<i64>> {
    Ok(match patch {
        None => None,
        Some(None) => Some(None),
        Some(Some(reference)) => Some(Some(
            crate::media::image_id(client, field, reference).await?,
        )),
    })
}
