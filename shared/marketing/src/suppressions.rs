//! The suppression list: addresses never mailed again, whatever their lists say,
//! because they bounced for good, complained, unsubscribed from everything, or staff
//! said so. Sending checks it at send time, not only when a mail is queued.

use chrono::{DateTime, Utc};
use identity::email::Email;
use platform::db::GenericClient;
use platform::{
    audit,
    error::{Error, Result},
};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_postgres::types::Type;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// A permanent bounce.
    Bounce,
    Complaint,
    /// Unsubscribed from every list.
    Unsubscribe,
    /// Added by staff.
    Manual,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Bounce => "bounce",
            Reason::Complaint => "complaint",
            Reason::Unsubscribe => "unsubscribe",
            Reason::Manual => "manual",
        }
    }

    fn parse(raw: &str) -> Self {
        match raw {
            "bounce" => Reason::Bounce,
            "complaint" => Reason::Complaint,
            "unsubscribe" => Reason::Unsubscribe,
            _ => Reason::Manual,
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suppression {
    pub email: String,
    pub reason: Reason,
    pub details: Value,
    pub created_at: DateTime<Utc>,
}

/// Suppresses `email` for `reason`; an address already suppressed keeps its first
/// reason.
pub async fn suppress(
    client: &impl GenericClient,
    email: &str,
    reason: Reason,
    details: Value,
) -> Result<()> {
    client
        .query_typed(
            "INSERT INTO suppressions (email, reason, details) VALUES ($1, $2, $3)
             ON CONFLICT (email) DO NOTHING",
            &[
                (&email, Type::TEXT),
                (&reason.as_str(), Type::TEXT),
                (&details, Type::JSONB),
            ],
        )
        .await?;
    Ok(())
}

pub async fn is_suppressed(client: &impl GenericClient, email: &str) -> Result<bool> {
    Ok(!client
        .query_typed(
            "SELECT 1 FROM suppressions WHERE email = $1",
            &[(&email, Type::TEXT)],
        )
        .await?
        .is_empty())
}

/// A page of the list, newest first, and how many there are.
pub async fn page(
    client: &impl GenericClient,
    page: i64,
    page_size: i64,
) -> Result<(Vec<Suppression>, i64)> {
    let rows = client
        .query_typed(
            "SELECT email, reason, details, created_at FROM suppressions
             ORDER BY created_at DESC, email LIMIT $1 OFFSET $2",
            &[
                (&page_size, Type::INT8),
                (&((page - 1) * page_size), Type::INT8),
            ],
        )
        .await?;
    let total: i64 = client
        .query_typed("SELECT count(*) FROM suppressions", &[])
        .await?
        .first()
        .map_or(0, |r| r.get(0));
    Ok((
        rows.iter()
            .map(|row| Suppression {
                email: row.get(0),
                reason: Reason::parse(row.get(1)),
                details: row.get(2),
                created_at: row.get(3),
            })
            .collect(),
        total,
    ))
}

/// Staff suppress an address by hand.
pub async fn add(tx: &impl platform::db::Transactional, actor: &str, email: &Email) -> Result<()> {
    suppress(tx, email.as_str(), Reason::Manual, json!({ "by": actor })).await?;
    audit::record(tx, actor, "suppression.add", email.as_str(), json!({})).await
}

/// Staff lift a suppression (an address that bounced once works again).
pub async fn remove(tx: &impl platform::db::Transactional, actor: &str, email: &str) -> Result<()> {
    let removed = tx
        .query_typed(
            "DELETE FROM suppressions WHERE email = $1 RETURNING reason",
            &[(&email, Type::TEXT)],
        )
        .await?;
    let Some(row) = removed.first() else {
        return Err(Error::NotFound("this address is not suppressed".into()));
    };
    let reason: String = row.get(0);
    audit::record(
        tx,
        actor,
        "suppression.remove",
        email,
        json!({ "reason": reason }),
    )
    .await
}
