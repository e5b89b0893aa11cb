//! The `mail_outbox` table: every state change of a mail job is one statement here.
//!
//! ```text
//! pending ──claim──► sending ──SES accepted──► sent
//!    ▲                  │
//!    └──────────────────┤ retryable error, or lease expired (the sender died)
//!                       └────────────────────► failed (permanent error, or no attempts left)
//! ```
//! Only `claim` moves a row into `sending`, and only from `pending`, in one
//! conditional UPDATE: of any number of concurrent deliveries of the same job, exactly
//! one gets the row back and sends.

use std::time::Duration;

use tokio_postgres::{Client, Transaction, types::Type};

use crate::error::{Error, Result};

/// A job as the sender sees it after claiming it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub template: String,
    pub recipient: String,
    pub variables: serde_json::Value,
    /// Including this claim.
    pub attempts: i32,
}

/// Where a job ended up after a failed send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Back to `pending`: a later delivery will try again.
    Retry,
    /// `failed` for good.
    GiveUp,
}

pub async fn insert(
    tx: &Transaction<'_>,
    template: &str,
    recipient: &str,
    variables: &serde_json::Value,
) -> Result<i64> {
    let rows = tx
        .query_typed(
            "INSERT INTO mail_outbox (template, recipient, variables) VALUES ($1, $2, $3)
             RETURNING id",
            &[
                (&template, Type::TEXT),
                (&recipient, Type::TEXT),
                (variables, Type::JSONB),
            ],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::internal("INSERT … RETURNING gave no row"))?;
    Ok(row.get(0))
}

/// Takes a pending job for `lease`, counting the attempt. `None`: someone else has
/// it, it is finished, or it does not exist (its transaction rolled back).
pub async fn claim(client: &Client, id: i64, lease: Duration) -> Result<Option<Claimed>> {
    let rows = client
        .query_typed(
            "UPDATE mail_outbox
                SET status = 'sending', attempts = attempts + 1,
                    claimed_until = now() + make_interval(secs => $2)
              WHERE id = $1 AND status = 'pending'
          RETURNING template, recipient, variables, attempts",
            &[(&id, Type::INT8), (&lease.as_secs_f64(), Type::FLOAT8)],
        )
        .await?;
    Ok(rows.first().map(|row| Claimed {
        template: row.get(0),
        recipient: row.get(1),
        variables: row.get(2),
        attempts: row.get(3),
    }))
}

pub async fn mark_sent(client: &Client, id: i64, ses_message_id: &str) -> Result<()> {
    client
        .query_typed(
            "UPDATE mail_outbox
                SET status = 'sent', sent_at = now(), claimed_until = NULL,
                    ses_message_id = $2, last_error = NULL
              WHERE id = $1 AND status = 'sending'",
            &[(&id, Type::INT8), (&ses_message_id, Type::TEXT)],
        )
        .await?;
    Ok(())
}

/// Records a failed send. A retryable failure returns the job to `pending` unless it
/// has used up `max_attempts`.
pub async fn mark_failed(
    client: &Client,
    id: i64,
    error: &str,
    retryable: bool,
    max_attempts: i32,
) -> Result<Next> {
    let rows = client
        .query_typed(
            "UPDATE mail_outbox
                SET status = CASE WHEN $3 AND attempts < $4 THEN 'pending' ELSE 'failed' END,
                    claimed_until = NULL, last_error = $2
              WHERE id = $1 AND status = 'sending'
          RETURNING status",
            &[
                (&id, Type::INT8),
                (&truncate(error), Type::TEXT),
                (&retryable, Type::BOOL),
                (&max_attempts, Type::INT4),
            ],
        )
        .await?;
    Ok(
        match rows.first().map(|r| r.get::<_, String>(0)).as_deref() {
            Some("pending") => Next::Retry,
            _ => Next::GiveUp,
        },
    )
}

/// Claims whose lease ran out: the sender died between claiming and recording the
/// outcome.
#[derive(Debug, Default)]
pub struct Expired {
    /// Back to pending, to be dispatched again.
    pub requeued: Vec<i64>,
    /// Out of attempts: failed for good.
    pub failed: u64,
}

pub async fn expire_leases(client: &Client, max_attempts: i32) -> Result<Expired> {
    let rows = client
        .query_typed(
            "UPDATE mail_outbox
                SET status = CASE WHEN attempts < $1 THEN 'pending' ELSE 'failed' END,
                    claimed_until = NULL, enqueued_at = NULL,
                    last_error = 'lease expired: the sender stopped before recording the outcome'
              WHERE status = 'sending' AND claimed_until < now()
          RETURNING id, status",
            &[(&max_attempts, Type::INT4)],
        )
        .await?;
    let mut expired = Expired::default();
    for row in &rows {
        match row.get::<_, &str>(1) {
            "pending" => expired.requeued.push(row.get(0)),
            _ => expired.failed += 1,
        }
    }
    Ok(expired)
}

/// Pending jobs no queue message will deliver: never dispatched within
/// `undispatched_after` of being written, or dispatched longer than
/// `redispatch_after` ago (the message was lost or dead-lettered). Oldest first.
pub async fn due(
    client: &Client,
    undispatched_after: Duration,
    redispatch_after: Duration,
    limit: i64,
) -> Result<Vec<i64>> {
    let rows = client
        .query_typed(
            "SELECT id FROM mail_outbox
              WHERE status = 'pending'
                AND ((enqueued_at IS NULL AND created_at <= now() - make_interval(secs => $1))
                     OR enqueued_at <= now() - make_interval(secs => $2))
              ORDER BY created_at
              LIMIT $3",
            &[
                (&undispatched_after.as_secs_f64(), Type::FLOAT8),
                (&redispatch_after.as_secs_f64(), Type::FLOAT8),
                (&limit, Type::INT8),
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Whatever the status: the mail may well be sent before this runs.
pub async fn mark_enqueued(client: &Client, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    client
        .query_typed(
            "UPDATE mail_outbox SET enqueued_at = now() WHERE id = ANY($1)",
            &[(&ids, Type::INT8_ARRAY)],
        )
        .await?;
    Ok(())
}

/// Errors are kept for operators, not forever-growing.
fn truncate(error: &str) -> String {
    error.chars().take(1000).collect()
}
