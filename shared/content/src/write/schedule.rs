//! Scheduled publishing: drafts whose `scheduled_at` has passed become published.
//!
//! The scheduler function runs [`publish_due`] every minute (the local gateway every
//! 30 s). Publication is one conditional UPDATE, so overlapping runs (a slow run and
//! the next tick, or two sandboxes) cannot publish an article twice: the second run
//! waits on the row lock, re-checks `published_at IS NULL` and skips the row. An
//! article is published at the first run after its time, never before; the delay is
//! at most the schedule's period. Each publication goes through the same tail as an
//! editor's (`Writer::record`), audited as [`ACTOR`].

use serde_json::{Value, json};

use super::{ARTICLE, Event, Write, Writer};
use crate::outgoing_webhooks;
use platform::error::Result;

/// The actor the audit trail names for scheduled publications.
pub const ACTOR: &str = "scheduler";

/// Publishes every live draft whose time has come, with one audit row and one
/// `entry.publish` webhook event each, and invalidates the cached public responses.
/// Returns the published documentIds.
pub async fn publish_due(writer: &Writer) -> Result<Vec<String>> {
    let mut client = writer.db.client().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query_typed(
            &format!(
                "UPDATE articles a SET published_at = scheduled_at, scheduled_at = NULL
                 WHERE scheduled_at <= now() AND published_at IS NULL AND deleted_at IS NULL
                 RETURNING a.document_id, {}",
                outgoing_webhooks::ARTICLE_ENTRY_SQL
            ),
            &[],
        )
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut published = Vec::with_capacity(rows.len());
    let mut deliveries = Vec::new();
    for row in &rows {
        let (document_id, entry): (String, Value) = (row.get(0), row.get(1));
        let write = Write {
            model: &ARTICLE,
            event: Event::Publish,
            document_id: &document_id,
            entry,
            details: json!({ "scheduled": true }),
        };
        writer.record(&tx, ACTOR, &write, &mut deliveries).await?;
        published.push(document_id);
    }
    writer.commit(tx, ARTICLE.content_type, &deliveries).await?;
    Ok(published)
}
