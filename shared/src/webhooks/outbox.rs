//! The `webhook_deliveries` table: every state change of a delivery is one statement.
//!
//! ```text
//! pending ──claim (when next_attempt_at has come)──► sending ──2xx──► delivered
//!    ▲                                                   │
//!    └── non-2xx or no answer: next_attempt_at += backoff┤ lease expired (the sender died)
//!                                                        └──► failed (no attempts left,
//!                                                             or the webhook is disabled)
//! ```
//! Only `claim` moves a row into `sending`, and only from a due `pending`, in one
//! conditional UPDATE: of any number of concurrent deliveries of the same row,
//! exactly one gets it back and sends.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::{Client, types::Type};

use crate::{error::Result, queue::Sweep};

/// A delivery as its sender sees it after claiming it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub event: String,
    pub model: String,
    pub entry: Value,
    /// When the event happened: the payload's `createdAt`, the same on every attempt.
    pub created_at: DateTime<Utc>,
    /// Including this claim.
    pub attempts: i32,
    pub url: String,
    pub secret_salt: String,
    pub enabled: bool,
}

pub async fn claim(client: &Client, id: i64, lease: Duration) -> Result<Option<Claimed>> {
    let rows = client
        .query_typed(
            "UPDATE webhook_deliveries d
                SET status = 'sending', attempts = d.attempts + 1,
                    claimed_until = now() + make_interval(secs => $2)
               FROM webhooks w
              WHERE d.id = $1 AND w.id = d.webhook_id
                AND d.status = 'pending' AND d.next_attempt_at <= now()
          RETURNING d.event, d.model, d.entry, d.created_at, d.attempts,
                    w.url, w.secret_salt, w.enabled",
            &[(&id, Type::INT8), (&lease.as_secs_f64(), Type::FLOAT8)],
        )
        .await?;
    Ok(rows.first().map(|row| Claimed {
        event: row.get(0),
        model: row.get(1),
        entry: row.get(2),
        created_at: row.get(3),
        attempts: row.get(4),
        url: row.get(5),
        secret_salt: row.get(6),
        enabled: row.get(7),
    }))
}

pub async fn mark_delivered(client: &Client, id: i64, status_code: i32) -> Result<()> {
    client
        .query_typed(
            "UPDATE webhook_deliveries
                SET status = 'delivered', delivered_at = now(), claimed_until = NULL,
                    last_status_code = $2, last_error = NULL
              WHERE id = $1 AND status = 'sending'",
            &[(&id, Type::INT8), (&status_code, Type::INT4)],
        )
        .await?;
    Ok(())
}

/// Records a failed attempt: back to `pending` for another try in `retry_in`, or
/// `failed` for good when `retry_in` is `None`. Answers whether it will be retried.
pub async fn mark_failed(
    client: &Client,
    id: i64,
    status_code: Option<i32>,
    error: &str,
    retry_in: Option<Duration>,
) -> Result<bool> {
    let retry_secs = retry_in.map(|d| d.as_secs_f64());
    let rows = client
        .query_typed(
            "UPDATE webhook_deliveries
                SET status = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE 'pending' END,
                    next_attempt_at = COALESCE(now() + make_interval(secs => $4), next_attempt_at),
                    claimed_until = NULL, last_status_code = $2, last_error = $3
              WHERE id = $1 AND status = 'sending'
          RETURNING status",
            &[
                (&id, Type::INT8),
                (&status_code, Type::INT4),
                (&truncate(error), Type::TEXT),
                (&retry_secs, Type::FLOAT8),
            ],
        )
        .await?;
    Ok(rows
        .first()
        .is_some_and(|r| r.get::<_, &str>(0) == "pending"))
}

/// Claims whose lease ran out go back to pending (their ids, to dispatch at once)
/// or, without attempts left, fail; answers (requeued ids, failed count).
pub async fn expire_leases(client: &Client, max_attempts: i32) -> Result<(Vec<i64>, u64)> {
    let rows = client
        .query_typed(
            "UPDATE webhook_deliveries
                SET status = CASE WHEN attempts < $1 THEN 'pending' ELSE 'failed' END,
                    claimed_until = NULL, enqueued_at = NULL,
                    last_error = 'lease expired: the sender stopped before recording the outcome'
              WHERE status = 'sending' AND claimed_until < now()
          RETURNING id, status",
            &[(&max_attempts, Type::INT4)],
        )
        .await?;
    let (requeued, failed): (Vec<_>, Vec<_>) = rows
        .iter()
        .partition(|row| row.get::<_, &str>(1) == "pending");
    Ok((
        requeued.iter().map(|row| row.get(0)).collect(),
        failed.len() as u64,
    ))
}

/// Due pending deliveries no queue message will bring: never dispatched (within
/// `undispatched_after`), a retry whose time has come since its last message
/// (a failed attempt moves `next_attempt_at` past `enqueued_at`), or a message
/// older than `redispatch_after` (lost or dead-lettered). Oldest first.
pub async fn due(client: &Client, policy: &Sweep) -> Result<Vec<i64>> {
    let rows = client
        .query_typed(
            "SELECT id FROM webhook_deliveries
              WHERE status = 'pending' AND next_attempt_at <= now()
                AND ((enqueued_at IS NULL AND next_attempt_at <= now() - make_interval(secs => $1))
                     OR enqueued_at < next_attempt_at
                     OR enqueued_at <= now() - make_interval(secs => $2))
              ORDER BY next_attempt_at
              LIMIT $3",
            &[
                (&policy.undispatched_after.as_secs_f64(), Type::FLOAT8),
                (&policy.redispatch_after.as_secs_f64(), Type::FLOAT8),
                (&policy.limit, Type::INT8),
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub async fn mark_enqueued(client: &Client, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    client
        .query_typed(
            "UPDATE webhook_deliveries SET enqueued_at = now() WHERE id = ANY($1)",
            &[(&ids, Type::INT8_ARRAY)],
        )
        .await?;
    Ok(())
}

/// Inserts one delivery per enabled webhook subscribed to `event`.
pub async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    event: &str,
    model: &str,
    entry: &Value,
) -> Result<Vec<i64>> {
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

/// Errors are kept for operators, not forever-growing.
fn truncate(error: &str) -> String {
    error.chars().take(1000).collect()
}
