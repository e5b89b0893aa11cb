//! What an overview counts of content: articles published per day, and scheduled
//! publications still to come.

use chrono::{DateTime, NaiveDate, Utc};
use platform::db::GenericClient;
use platform::error::Result;
use tokio_postgres::types::Type;

/// Live articles published from `from` (inclusive) to `to` (exclusive), counted per
/// UTC day (days without any are absent). An article unpublished since counts no
/// more: its publication is undone.
pub async fn published_per_day(
    client: &impl GenericClient,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(NaiveDate, i64)>> {
    client
        .query_typed(
            "SELECT (published_at AT TIME ZONE 'UTC')::date AS day, count(*) FROM articles
             WHERE published_at >= $1 AND published_at < $2 AND deleted_at IS NULL
             GROUP BY day ORDER BY day",
            &[(&from, Type::TIMESTAMPTZ), (&to, Type::TIMESTAMPTZ)],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Live drafts waiting for the scheduler to publish them.
pub async fn scheduled(client: &impl GenericClient) -> Result<i64> {
    Ok(client
        .query_typed(
            "SELECT count(*) FROM articles
             WHERE scheduled_at IS NOT NULL AND published_at IS NULL AND deleted_at IS NULL",
            &[],
        )
        .await?
        .first()
        .map_or(Ok(0), |row| row.try_get(0))?)
}
