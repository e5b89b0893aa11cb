//! The tail every content write ends with, whatever it wrote: the audit row and the
//! Strapi webhook event (`shared::webhooks` outbox) in the write's transaction,
//! COMMIT, then invalidation of the cached public responses the write can affect and
//! the webhook dispatch. One function, so every write to every content type does all
//! of it.

use serde_json::Value;
use shared::{
    Error, Platform, Result,
    access::Principal,
    audit,
    content::{cache::invalidate_after_write, schema},
    db::Transaction,
    webhooks,
};
use tokio_postgres::error::SqlState;

/// A content type as writes name it: its schema entry, its singular model name
/// (`article`: the name in audit actions, targets and webhook payloads), and the
/// fields of its entry a webhook carries.
pub(crate) struct Model {
    pub content_type: &'static schema::ContentType,
    pub singular: &'static str,
    pub webhook_fields: &'static [&'static str],
}

pub(crate) const ARTICLE: Model = Model {
    content_type: &schema::ARTICLES,
    singular: "article",
    webhook_fields: webhooks::ARTICLE_FIELDS,
};

/// What a write did to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
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
}

/// One write, described for everything that follows it.
pub(crate) struct Write<'a> {
    pub model: &'a Model,
    pub event: Event,
    pub document_id: &'a str,
    /// The entry as the admin API answers it; for a delete, as it stood before.
    pub entry: Value,
    /// Extra facts for the audit log (a slug, a revision number).
    pub details: Value,
}

/// Ends a write: audit row and webhook deliveries, COMMIT, cache invalidation and the
/// webhook dispatch (neither of which fails the write, because the write has
/// happened). Returns the entry.
pub(crate) async fn finish(
    platform: &Platform,
    tx: Transaction<'_>,
    principal: &Principal,
    write: Write<'_>,
) -> Result<Value> {
    let Write {
        model,
        event,
        document_id,
        entry,
        details,
    } = write;
    let action = format!("{}.{}", model.singular, event.as_str());
    audit::record(
        &*tx,
        &principal.actor(),
        &action,
        &format!("{}:{document_id}", model.singular),
        details,
    )
    .await?;
    let deliveries = match webhooks::Event::for_action(&action) {
        Some(hook) => {
            let public = webhooks::public_entry(&entry, model.webhook_fields);
            webhooks::enqueue(&tx, hook, model.singular, &public).await?
        }
        None => Vec::new(),
    };
    tx.commit().await?;
    invalidate_after_write(&platform.cache, model.content_type).await;
    platform.webhooks.dispatch(&deliveries).await;
    Ok(entry)
}

/// A unique violation on one of `constraints` is the client's conflict, answered
/// with that constraint's message; anything else stays a database error.
pub(crate) fn map_conflict(err: tokio_postgres::Error, constraints: &[(&str, &str)]) -> Error {
    if err.code() == Some(&SqlState::UNIQUE_VIOLATION)
        && let Some(message) = err
            .as_db_error()
            .and_then(|db| db.constraint())
            .and_then(|c| constraints.iter().find(|(name, _)| *name == c))
            .map(|(_, message)| *message)
    {
        return Error::Conflict(message.into());
    }
    err.into()
}
