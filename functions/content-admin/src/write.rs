//! The tail every content write ends with, whatever it wrote: the audit row in the
//! write's transaction, COMMIT, then invalidation of the cached public responses the
//! write can affect. One function, so a step added here (such as enqueueing webhooks)
//! happens for every write to every content type.

use serde_json::Value;
use shared::{
    Error, Platform, Result,
    access::Principal,
    audit,
    content::{cache::namespaces_for_write, schema},
    db::Transaction,
};
use tokio_postgres::error::SqlState;

/// A content type as writes name it: its schema entry and its singular model name
/// (`article`), the name in audit actions and targets.
pub(crate) struct Model {
    pub content_type: &'static schema::ContentType,
    pub singular: &'static str,
}

pub(crate) const ARTICLE: Model = Model {
    content_type: &schema::ARTICLES,
    singular: "article",
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

/// Ends a write: audit row, COMMIT, cache invalidation (which never fails the write,
/// because the write has happened). Returns the entry.
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
    audit::record(
        &*tx,
        &principal.actor(),
        &format!("{}.{}", model.singular, event.as_str()),
        &format!("{}:{document_id}", model.singular),
        details,
    )
    .await?;
    tx.commit().await?;
    invalidate(platform, model).await;
    Ok(entry)
}

/// Makes cached public responses stale; a failure is logged, never returned.
async fn invalidate(platform: &Platform, model: &Model) {
    let namespaces = namespaces_for_write(model.content_type);
    let names: Vec<&str> = namespaces.iter().map(String::as_str).collect();
    if let Err(err) = platform.cache.invalidate(&names).await {
        tracing::warn!(
            error = %err,
            model = model.singular,
            "content cache invalidation failed; entries expire on their own"
        );
    }
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
