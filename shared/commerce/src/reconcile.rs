//! Reconciliation, run by the scheduler: a notification can be lost, so orders still
//! `pending` a while after checkout are asked of their provider. Paid ones go through
//! the one fulfilment path (a webhook arriving too changes nothing more); ones past
//! their expiry are closed at the provider, so the payer can no longer pay them, and
//! then expired here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use platform::{db::Db, error::Result};
use serde::Serialize;
use tokio_postgres::types::Type;

use crate::{
    fulfilment::{Fulfilment, Payment},
    orders::{self, Channel, Status},
    provider::{Providers, Remote},
};

/// How long an order is left to its provider's notification before we ask.
pub const ASK_AFTER: Duration = Duration::from_secs(5 * 60);
/// Orders looked at per run; the oldest first, so a backlog drains over runs.
pub const BATCH: i64 = 100;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub fulfilled: usize,
    pub expired: usize,
    pub pending: usize,
    pub failed: usize,
}

struct Stale {
    order: String,
    channel: Channel,
    provider_ref: Option<String>,
    started: bool,
    expires_at: DateTime<Utc>,
}

/// One reconciliation run at `now`.
pub async fn run(
    db: &Db,
    providers: &Providers,
    fulfilment: &Fulfilment,
    now: DateTime<Utc>,
) -> Result<Report> {
    let ask_before = now - chrono::Duration::from_std(ASK_AFTER).unwrap_or_default();
    let stale: Vec<Stale> = {
        let client = db.client().await?;
        client
            .query_typed(
                "SELECT document_id, channel, provider_ref, payment IS NOT NULL, expires_at
                 FROM orders WHERE status = 'pending' AND created_at < $1
                 ORDER BY expires_at LIMIT $2",
                &[(&ask_before, Type::TIMESTAMPTZ), (&BATCH, Type::INT8)],
            )
            .await?
            .iter()
            .filter_map(|row| {
                Some(Stale {
                    order: row.get(0),
                    channel: Channel::parse(row.get(1))?,
                    provider_ref: row.get(2),
                    started: row.get(3),
                    expires_at: row.get(4),
                })
            })
            .collect()
    };
    let mut report = Report::default();
    for order in &stale {
        match one(db, providers, fulfilment, order, now).await {
            Ok(Status::Paid) => report.fulfilled += 1,
            Ok(Status::Expired) => report.expired += 1,
            Ok(_) => report.pending += 1,
            Err(err) => {
                tracing::warn!(order = order.order, error = %err, "could not reconcile an order");
                report.failed += 1;
            }
        }
    }
    if stale.len() > report.pending {
        tracing::info!(?report, "reconciled pending orders");
    }
    Ok(report)
}

/// Reconciles one order; what it is now (`Pending` when nothing changed).
async fn one(
    db: &Db,
    providers: &Providers,
    fulfilment: &Fulfilment,
    stale: &Stale,
    now: DateTime<Utc>,
) -> Result<Status> {
    let expired = now >= stale.expires_at;
    let source = format!("reconcile:{}", stale.channel.as_str());
    if !stale.started {
        // The provider never heard of it: nothing to ask or close.
        return expire(db, stale, expired, &source).await;
    }
    let remote = providers
        .query(stale.channel, &stale.order, stale.provider_ref.as_deref())
        .await?;
    match remote {
        Remote::Paid {
            provider_ref,
            currency,
            amount,
        } => {
            fulfilment
                .fulfil(&Payment {
                    order: &stale.order,
                    source: &source,
                    provider_ref: &provider_ref,
                    currency,
                    amount,
                })
                .await?;
            Ok(Status::Paid)
        }
        // Alipay knows a cashier-page trade only once the payer opened the page:
        // until the order expires, "closed" may still become paid.
        Remote::Closed => expire(db, stale, expired, &source).await,
        Remote::Pending if expired => {
            providers
                .close(stale.channel, &stale.order, stale.provider_ref.as_deref())
                .await?;
            expire(db, stale, true, &source).await
        }
        Remote::Pending => Ok(Status::Pending),
    }
}

async fn expire(db: &Db, stale: &Stale, expired: bool, source: &str) -> Result<Status> {
    if !expired {
        return Ok(Status::Pending);
    }
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let changed = orders::end_unpaid(&*tx, &stale.order, Status::Expired, source).await?;
    tx.commit().await?;
    Ok(if changed {
        Status::Expired
    } else {
        Status::Pending
    })
}
