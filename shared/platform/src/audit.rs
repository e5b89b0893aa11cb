//! The audit trail: who changed what, and when. Written in the same transaction as
//! the change it describes, so the two cannot disagree.

use crate::db::GenericClient;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_postgres::types::Type;

use crate::error::Result;

pub async fn record(
    client: &impl crate::db::Transactional,
    actor: &str,
    action: &str,
    subject: &str,
    details: Value,
) -> Result<()> {
    client
        .query_typed(
            "INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, $2, $3, $4)",
            &[
                (&actor, Type::TEXT),
                (&action, Type::TEXT),
                (&subject, Type::TEXT),
                (&details, Type::JSONB),
            ],
        )
        .await?;
    Ok(())
}

/// The latest `limit` entries, newest first, as the admin API lists them.
pub async fn recent(client: &impl GenericClient, limit: i64) -> Result<Vec<Value>> {
    let rows = client
        .query_typed(
            "SELECT actor, action, subject, details, created_at FROM audit_log
             ORDER BY id DESC LIMIT $1",
            &[(&limit, Type::INT8)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            json!({
                "actor": r.get::<_, String>(0),
                "action": r.get::<_, String>(1),
                "subject": r.get::<_, String>(2),
                "details": r.get::<_, Value>(3),
                "createdAt": r.get::<_, DateTime<Utc>>(4),
            })
        })
        .collect())
}
