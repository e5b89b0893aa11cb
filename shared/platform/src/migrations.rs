//! Schema migrations: plain SQL files under `infra/migrations/`, embedded in the
//! binary and applied in order by the `migrate` function and the local scripts.
//!
//! Each migration runs in its own transaction under a transaction-scoped advisory
//! lock, so concurrent runners (two deploys, a deploy and a test) serialise, and the
//! runner works behind a pooler in transaction mode where session locks do not.
//! Applying twice is a no-op; a migration edited after it was applied is an error.

use deadpool_postgres::tokio_postgres::Client;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_postgres::types::Type;

use crate::error::{Error, Result};

pub struct Migration {
    pub version: i32,
    /// The file name without `.sql`, e.g. `0001_platform`.
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../../infra/migrations/", $name, ".sql")),
        }
    };
}

/// Every migration, in order. A unit test checks this list against the directory.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_platform"),
    migration!(2, "0002_members"),
    migration!(3, "0003_outbox"),
    migration!(4, "0004_access"),
    migration!(5, "0005_content"),
    migration!(6, "0006_webhooks"),
    migration!(7, "0007_uploads"),
    migration!(8, "0008_article_storage"),
    migration!(9, "0009_outbox_retries"),
    migration!(10, "0010_pending_signups"),
    migration!(11, "0011_catalogue"),
    migration!(12, "0012_orders"),
    migration!(13, "0013_promotions"),
    migration!(14, "0014_payment_events"),
    migration!(15, "0015_checkout"),
    migration!(16, "0016_refunds"),
    migration!(17, "0017_subscriptions"),
    migration!(18, "0018_member_identities"),
    migration!(19, "0019_marketing"),
    migration!(20, "0020_mail_templates"),
    migration!(21, "0021_mail_events"),
    migration!(22, "0022_campaigns"),
    migration!(23, "0023_tracking"),
    migration!(24, "0024_staff_grants"),
    migration!(25, "0025_automations"),
    migration!(26, "0026_subscriber_activity"),
    migration!(27, "0027_segments"),
    migration!(28, "0028_member_search"),
    migration!(29, "0029_article_totals"),
    migration!(30, "0030_read_path_indexes"),
    migration!(31, "0031_article_search"),
    migration!(32, "0032_article_search_recent"),
    migration!(33, "0033_upload_formats"),
    migration!(34, "0034_media_fields"),
];

/// Arbitrary constant that names "the migration lock" in pg_advisory_xact_lock.
const LOCK_ID: i64 = 0x6269_616e_7869_616e;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Versions applied by this run.
    pub applied: Vec<i32>,
    /// The newest version now in the database.
    pub current: i32,
}

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

pub async fn run(client: &mut Client) -> Result<Report> {
    run_list(client, MIGRATIONS).await
}

async fn run_list(client: &mut Client, migrations: &[Migration]) -> Result<Report> {
    let mut applied = Vec::new();
    for migration in migrations {
        let tx = client.transaction().await?;
        // A migration may rewrite a big table: the per-statement limit requests get
        // (`DB_STATEMENT_TIMEOUT_MS`) does not apply to it.
        tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
        tx.query_typed(
            "SELECT pg_advisory_xact_lock($1)",
            &[(&LOCK_ID, Type::INT8)],
        )
        .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
        let sum = checksum(migration.sql);
        let existing = tx
            .query_typed(
                "SELECT checksum FROM schema_migrations WHERE version = $1",
                &[(&migration.version, Type::INT4)],
            )
            .await?;
        match existing.first().map(|row| row.get::<_, String>(0)) {
            Some(recorded) if recorded == sum => {}
            Some(_) => {
                return Err(Error::internal(format!(
                    "migration {} was changed after it was applied; add a new migration instead",
                    migration.name
                )));
            }
            None => {
                tx.batch_execute(migration.sql).await.map_err(|e| {
                    Error::internal(format!("migration {} failed: {e}", migration.name))
                })?;
                tx.query_typed(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    &[
                        (&migration.version, Type::INT4),
                        (&migration.name, Type::TEXT),
                        (&sum, Type::TEXT),
                    ],
                )
                .await?;
                applied.push(migration.version);
            }
        }
        tx.commit().await?;
    }
    let current = migrations.last().map_or(0, |m| m.version);
    Ok(Report { applied, current })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{}.sql", m.name))
            .collect();
        assert_eq!(files, listed);
        for m in MIGRATIONS {
            assert_eq!(m.name[..4].parse::<i32>().unwrap(), m.version, "{}", m.name);
        }
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }
}
