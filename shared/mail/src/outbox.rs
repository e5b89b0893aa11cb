//! The `mail_outbox` table's own statements: writing a job and reading one back.
//! Its state machine (claim, mark, sweep) is the platform outbox's, over [`crate::OUTBOX`].

use platform::{
    error::{Error, Result},
    outbox::RowId,
};
use tokio_postgres::types::Type;

pub async fn insert(
    tx: &impl platform::db::Transactional,
    template: &str,
    recipient: &str,
    variables: &serde_json::Value,
) -> Result<RowId> {
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

/// A job as the sender sees it after claiming it.
#[cfg(feature = "ses")]
#[derive(Debug, Clone)]
pub struct Job {
    pub template: String,
    pub recipient: String,
    pub variables: serde_json::Value,
}

#[cfg(feature = "ses")]
pub async fn load(client: &impl platform::db::GenericClient, id: RowId) -> Result<Job> {
    let rows = client
        .query_typed(
            "SELECT template, recipient, variables FROM mail_outbox WHERE id = $1",
            &[(&id, Type::INT8)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::internal(format!("mail job {id} vanished after its claim")))?;
    Ok(Job {
        template: row.get(0),
        recipient: row.get(1),
        variables: row.get(2),
    })
}
