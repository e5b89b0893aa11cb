//! The `webhook_deliveries` table's own statements: writing deliveries and reading
//! one back. Its state machine (claim, backoff, sweep) is the platform outbox's, over
//! [`super::OUTBOX`].

use chrono::{DateTime, Utc};
use platform::{
    error::{Error, Result},
    outbox::RowId,
};
use serde_json::Value;
use tokio_postgres::types::Type;

/// A delivery as its sender sees it after claiming it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: String,
    pub model: String,
    pub entry: Value,
    /// When the event happened: the payload's `createdAt`, the same on every attempt.
    pub created_at: DateTime<Utc>,
    pub url: String,
    pub secret_salt: String,
    pub enabled: bool,
}

pub async fn load(client: &impl platform::db::GenericClient, id: RowId) -> Result<Delivery> {
    let rows = client
        .query_typed(
            "SELECT d.event, d.model, d.entry, d.created_at, w.url, w.secret_salt, w.enabled
               FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
              WHERE d.id = $1",
            &[(&id, Type::INT8)],
        )
        .await?;
    let row = rows.first().ok_or_else(|| {
        Error::internal(format!("webhook delivery {id} vanished after its claim"))
    })?;
    Ok(Delivery {
        event: row.get(0),
        model: row.get(1),
        entry: row.get(2),
        created_at: row.get(3),
        url: row.get(4),
        secret_salt: row.get(5),
        enabled: row.get(6),
    })
}

/// Inserts one delivery per enabled webhook subscribed to `event`.
pub async fn insert(
    tx: &impl platform::db::Transactional,
    event: &str,
    model: &str,
    entry: &Value,
) -> Result<Vec<RowId>> {
    let rows = tx
        .query_typed(
            "INSERT INTO webhook_deliveries (webhook_id, event, model, entry)
             SELECT id, $1, $2, $3 FROM webhooks WHERE enabled AND $1 = ANY(events)
             RETURNING id",
            &[
                (&event, Type::TEXT),
                (&model, Type::TEXT),
                (entry, Type::JSONB),
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
