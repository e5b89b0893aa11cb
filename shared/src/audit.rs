//! The audit trail: who changed what, and when. Written in the same transaction as
//! the change it describes, so the two cannot disagree.

use serde_json::Value;
use tokio_postgres::{GenericClient, types::Type};

use crate::error::Result;

pub async fn record(
    client: &impl GenericClient,
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
