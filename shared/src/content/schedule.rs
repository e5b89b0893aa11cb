//! Scheduled publishing: drafts whose `scheduled_at` has passed become published.
//!
//! The scheduler function runs [`publish_due`] every minute (the local gateway every
//! 30 s). Publication is one conditional UPDATE, so overlapping runs (a slow run and
//! the next tick, or two sandboxes) cannot publish an article twice: the second run
//! waits on the row lock, re-checks `published_at IS NULL` and skips the row. An
//! article is published at the first run after its time, never before; the delay is
//! at most the schedule's period.

use serde_json::{Value, json};

use super::{cache::invalidate_after_write, schema};
use crate::{
    Platform, audit,
    error::Result,
    webhooks::{self, Event},
};

/// The actor the audit trail names for scheduled publications.
pub const ACTOR: &str = "scheduler";

/// Publishes every live draft whose time has come, with one audit row and one
/// `entry.publish` webhook event each, and invalidates the cached public responses
/// when anything was published. Returns the published documentIds.
pub async fn publish_due(platform: &Platform) -> Result<Vec<String>> {
    let mut client = platform.db.client().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query_typed(
            &format!(
                "UPDATE articles a SET published_at = scheduled_at, scheduled_at = NULL
                 WHERE scheduled_at <= now() AND published_at IS NULL AND deleted_at IS NULL
                 RETURNING a.document_id, {}",
                webhooks::ARTICLE_ENTRY_SQL
            ),
            &[],
        )
        .await?;
    let mut published = Vec::with_capacity(rows.len());
    let mut deliveries = Vec::new();
    for row in &rows {
        let (document_id, entry): (String, Value) = (row.get(0), row.get(1));
        audit::record(
            &*tx,
            ACTOR,
            "article.publish",
            &format!("article:{document_id}"),
            json!({ "scheduled": true }),
        )
        .await?;
        deliveries.extend(webhooks::enqueue(&tx, Event::Publish, webhooks::ARTICLE, &entry).await?);
        published.push(document_id);
    }
    tx.commit().await?;
    platform.webhooks.dispatch(&deliveries).await;
    if !published.is_empty() {
        invalidate_after_write(&platform.cache, &schema::ARTICLES).await;
    }
    Ok(published)
}
