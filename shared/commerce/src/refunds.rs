//! Refunds: finance gives back all or part of what an order captured. A refund is
//! recorded `pending` under the order's lock (never more, with the refunds already
//! asked for, than the order captured), then asked of the order's provider by our
//! request id, which each provider takes as its idempotency key; the provider's
//! answer, or its notification later, settles it once ([`settle`]). A settled refund
//! moves the order `paid → partially_refunded → refunded` by compare-and-set; a
//! full refund revokes the access the order granted, a partial one does not.

use chrono::{DateTime, Utc};
use identity::entitlements::{self, Source};
use platform::db::GenericClient;
use platform::{
    audit,
    db::Db,
    error::{Error, Result},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_postgres::{Row, types::Type};
use url::Url;

use crate::{
    money::{Amount, Currency},
    orders::{self, Channel, Status},
    provider::{Providers, RefundRequest, RefundState},
};

/// What finance asks for.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundInput {
    /// Minor units to give back; absent: everything not refunded yet.
    pub amount: Option<Amount>,
    /// Shown to the payer by some providers; at most 80 characters.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

/// A refund as finance sees it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    pub document_id: String,
    /// The order's documentId.
    pub order: String,
    /// Our id for it at the provider (out_request_no, out_refund_no, idempotency key).
    pub request_id: String,
    pub currency: Currency,
    pub amount: Amount,
    pub reason: Option<String>,
    pub status: RefundStatus,
    pub provider_ref: Option<String>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "r.document_id, o.document_id, r.request_id, o.currency, r.amount, r.reason,
     r.status, r.provider_ref, r.created_at, r.settled_at";

impl Refund {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Refund {
            document_id: row.try_get(0)?,
            order: row.try_get(1)?,
            request_id: row.try_get(2)?,
            currency: Currency::parse(row.try_get(3)?)?,
            amount: Amount::new(row.try_get(4)?)?,
            reason: row.try_get(5)?,
            status: match row.try_get::<_, &str>(6)? {
                "pending" => RefundStatus::Pending,
                "succeeded" => RefundStatus::Succeeded,
                _ => RefundStatus::Failed,
            },
            provider_ref: row.try_get(7)?,
            created_at: row.try_get(8)?,
            settled_at: row.try_get(9)?,
        })
    }
}

/// Our request id for the refund finance asked for on `order` with `key` (their
/// Idempotency-Key, or a fresh one): at most 64 characters of `[0-9a-f]`, which
/// every provider takes.
pub fn request_id(order: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{order}\n{key}"));
    format!("rf{}", &hex::encode(digest)[..40])
}

/// Every refund of an order, oldest first.
pub async fn of_order(client: &impl GenericClient, order: &str) -> Result<Vec<Refund>> {
    client
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM refunds r JOIN orders o ON o.id = r.order_id
                 WHERE o.document_id = $1 ORDER BY r.id"
            ),
            &[(&order, Type::TEXT)],
        )
        .await?
        .iter()
        .map(Refund::from_row)
        .collect()
}

async fn by_request_id(client: &impl GenericClient, request_id: &str) -> Result<Option<Refund>> {
    client
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM refunds r JOIN orders o ON o.id = r.order_id
                 WHERE r.request_id = $1"
            ),
            &[(&request_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(Refund::from_row)
        .transpose()
}

/// What [`record`] wrote: the refund, and what the provider needs to be asked.
struct Recorded {
    refund: Refund,
    channel: Channel,
    provider_ref: String,
    total: Amount,
}

/// Refunds `input` of `order` (by its documentId) as `request_id`: the same request
/// id answers the same refund (and asks the provider again while it is pending,
/// which the provider answers from its own idempotency); with another order or
/// amount it is a 422.
pub async fn refund(
    db: &Db,
    providers: &Providers,
    api_url: &Url,
    order: &str,
    input: &RefundInput,
    request_id: &str,
    actor: &str,
) -> Result<Refund> {
    if input
        .reason
        .as_deref()
        .is_some_and(|r| r.chars().count() > 80)
    {
        return Err(Error::invalid("reason", "at most 80 characters"));
    }
    let recorded = record(db, order, input, request_id, actor).await?;
    if recorded.refund.status != RefundStatus::Pending {
        return Ok(recorded.refund);
    }
    let notify_url = api_url
        .join(&format!("webhooks/{}", recorded.channel.as_str()))
        .map_err(Error::internal)?;
    let state = providers
        .refund(
            recorded.channel,
            &RefundRequest {
                order,
                provider_ref: &recorded.provider_ref,
                request_id,
                total: recorded.total,
                amount: recorded.refund.amount,
                currency: recorded.refund.currency,
                reason: input.reason.as_deref(),
                notify_url: &notify_url,
            },
        )
        .await?;
    let settlement = match state {
        RefundState::Succeeded { provider_ref } => Settlement::Succeeded { provider_ref },
        RefundState::Failed { reason } => Settlement::Failed { reason },
        RefundState::Processing { provider_ref } => {
            let client = db.client().await?;
            client
                .query_typed(
                    "UPDATE refunds SET provider_ref = coalesce(provider_ref, $2) WHERE request_id = $1",
                    &[(&request_id, Type::TEXT), (&provider_ref, Type::TEXT)],
                )
                .await?;
            return by_request_id(&**client, request_id)
                .await?
                .ok_or_else(|| Error::internal("a refund vanished"));
        }
    };
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    settle(&tx, request_id, &settlement, "refund:answer").await?;
    tx.commit().await?;
    by_request_id(&**client, request_id)
        .await?
        .ok_or_else(|| Error::internal("a refund vanished"))
}

/// Records the refund `pending` under the order's lock, or finds the one
/// `request_id` already names.
async fn record(
    db: &Db,
    order: &str,
    input: &RefundInput,
    request_id: &str,
    actor: &str,
) -> Result<Recorded> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query_typed(
            "SELECT o.id, o.status, o.amount, o.channel, o.provider_ref,
                    (SELECT coalesce(sum(amount), 0)::bigint FROM refunds
                     WHERE order_id = o.id AND status <> 'failed')
             FROM orders o WHERE o.document_id = $1 FOR UPDATE",
            &[(&order, Type::TEXT)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::NotFound("no such order".into()))?;
    let (order_id, total, committed): (i64, i64, i64) = (row.get(0), row.get(2), row.get(5));
    let channel = Channel::parse(row.get(3))
        .ok_or_else(|| Error::internal("an order with an unknown channel"))?;
    let status = Status::parse(row.get(1))
        .ok_or_else(|| Error::internal("an order with an unknown status"))?;
    if let Some(existing) = by_request_id(&*tx, request_id).await? {
        let same = existing.order == order && input.amount.is_none_or(|a| a == existing.amount);
        if !same {
            return Err(Error::Unprocessable(
                "this Idempotency-Key was used for another refund".into(),
            ));
        }
        let provider_ref: Option<String> = row.get(4);
        return Ok(Recorded {
            refund: existing,
            channel,
            provider_ref: provider_ref.unwrap_or_default(),
            total: Amount::new(total)?,
        });
    }
    if !matches!(status, Status::Paid | Status::PartiallyRefunded) {
        return Err(Error::Conflict(format!(
            "only a paid order can be refunded; this one is {}",
            status.as_str()
        )));
    }
    let provider_ref: String = row
        .get::<_, Option<String>>(4)
        .ok_or_else(|| Error::Conflict("the provider never named this payment".into()))?;
    let remaining = total - committed;
    let amount = match input.amount {
        Some(amount) => amount,
        None => Amount::new(remaining)
            .map_err(|_| Error::Conflict("this order is refunded in full already".into()))?,
    };
    if amount.minor() > remaining {
        return Err(Error::invalid(
            "amount",
            format!("at most {remaining} can still be refunded"),
        ));
    }
    tx.query_typed(
        "INSERT INTO refunds (order_id, request_id, amount, reason, requested_by)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            (&order_id, Type::INT8),
            (&request_id, Type::TEXT),
            (&amount.minor(), Type::INT8),
            (&input.reason, Type::TEXT),
            (&actor, Type::TEXT),
        ],
    )
    .await?;
    audit::record(
        &*tx,
        actor,
        "order.refund",
        &format!("order:{order}"),
        json!({ "requestId": request_id, "amount": amount.minor() }),
    )
    .await?;
    orders::record_event(
        &*tx,
        order_id,
        "refund_requested",
        "admin",
        json!({ "requestId": request_id, "amount": amount.minor() }),
    )
    .await?;
    let refund = by_request_id(&*tx, request_id)
        .await?
        .ok_or_else(|| Error::internal("a refund vanished"))?;
    tx.commit().await?;
    Ok(Recorded {
        refund,
        channel,
        provider_ref,
        total: Amount::new(total)?,
    })
}

/// How a provider says a refund ended.
#[derive(Debug, Clone)]
pub enum Settlement {
    Succeeded { provider_ref: String },
    Failed { reason: String },
}

/// Settles the refund `request_id` once, inside the caller's transaction (a
/// webhook's, with its event record): what it did, as `payment_events.outcome`
/// keeps it: `refunded`, `partially_refunded`, `refund_failed`, `duplicate` for
/// one settled before, or `unknown_refund`.
pub async fn settle(
    tx: &impl platform::db::Transactional,
    request_id: &str,
    settlement: &Settlement,
    source: &str,
) -> Result<&'static str> {
    let rows = tx
        .query_typed(
            "SELECT r.id, r.status, r.amount, o.id, o.document_id FROM refunds r
             JOIN orders o ON o.id = r.order_id WHERE r.request_id = $1 FOR UPDATE OF r, o",
            &[(&request_id, Type::TEXT)],
        )
        .await?;
    let Some(row) = rows.first() else {
        tracing::warn!(
            request_id,
            source,
            "a refund settlement for no refund of ours"
        );
        return Ok("unknown_refund");
    };
    let (refund_id, amount, order_id): (i64, i64, i64) = (row.get(0), row.get(2), row.get(3));
    let order: &str = row.get(4);
    if row.get::<_, &str>(1) != "pending" {
        return Ok("duplicate");
    }
    let (provider_ref, failure) = match settlement {
        Settlement::Succeeded { provider_ref } => (Some(provider_ref.as_str()), None),
        Settlement::Failed { reason } => (None, Some(reason.as_str())),
    };
    tx.query_typed(
        "UPDATE refunds SET status = $2, provider_ref = coalesce($3, provider_ref),
             settled_at = now()
         WHERE id = $1",
        &[
            (&refund_id, Type::INT8),
            (
                &if failure.is_some() {
                    "failed"
                } else {
                    "succeeded"
                },
                Type::TEXT,
            ),
            (&provider_ref, Type::TEXT),
        ],
    )
    .await?;
    if let Some(reason) = failure {
        orders::record_event(
            tx,
            order_id,
            "refund_failed",
            source,
            json!({ "requestId": request_id, "reason": reason }),
        )
        .await?;
        return Ok("refund_failed");
    }
    let rows = tx
        .query_typed(
            "UPDATE orders SET refunded = refunded + $2,
                 status = CASE WHEN refunded + $2 = amount THEN 'refunded' ELSE 'partially_refunded' END,
                 updated_at = now()
             WHERE id = $1 AND status IN ('paid', 'partially_refunded')
             RETURNING status",
            &[(&order_id, Type::INT8), (&amount, Type::INT8)],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Err(Error::internal("a refunded order that was not paid"));
    };
    let full = row.get::<_, &str>(0) == "refunded";
    let kind = if full {
        "refunded"
    } else {
        "partially_refunded"
    };
    orders::record_event(
        tx,
        order_id,
        kind,
        source,
        json!({ "requestId": request_id, "amount": amount, "providerRef": provider_ref }),
    )
    .await?;
    if full {
        let revoked = entitlements::revoke_granted(tx, Source::Purchase, order).await?
            || entitlements::revoke_granted(tx, Source::Subscription, order).await?;
        if revoked {
            orders::record_event(tx, order_id, "access_revoked", source, json!({})).await?;
        }
    }
    tracing::info!(order, request_id, kind, "refund settled");
    Ok(kind)
}
