//! The one path from "a provider says this order is paid" to access: every paid
//! signal (a webhook, a provider query, the return page's poll, reconciliation)
//! calls [`Fulfilment::fulfil`], which in one transaction checks the payment against
//! the order, moves the order `pending → paid` by compare-and-set, grants or extends
//! the member's entitlement (keyed by the order, unique), redeems its promotion
//! code, records the event and writes the receipt mail to the outbox. However many signals arrive, and in
//! whatever order, access is granted and the receipt sent once. A payment for an
//! order that expired, failed, was canceled or refunded is recorded and flagged,
//! never granted.
//!
//! The member's cached content needs no invalidation: the content API decides a
//! member's access class from the products they hold on every request, so a new
//! entitlement is a new class at once.

use chrono::{DateTime, Months, Utc};
use identity::entitlements::{self, Grant, Product, ProductKind, Source};
use mail::MailJob;
use platform::{
    db::Db,
    error::{Error, Result},
    outbox::Queue,
};
use serde_json::json;
use tokio_postgres::types::Type;

use crate::{
    catalogue::{Billing, Period},
    money::{Amount, Currency},
    orders::{self, Status},
    promotions,
};

/// A provider's word that an order was paid, with what it says was paid.
#[derive(Debug, Clone)]
pub struct Payment<'a> {
    /// The order's documentId (our `out_trade_no`, metadata on Stripe).
    pub order: &'a str,
    /// What said so: `webhook:stripe`, `query:alipay`, `poll`, ...
    pub source: &'a str,
    /// The provider's id of the payment.
    pub provider_ref: &'a str,
    pub currency: Currency,
    pub amount: Amount,
}

/// What a paid signal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The order is paid now and access granted (the entitlement's documentId).
    Fulfilled { entitlement: String },
    /// It was paid already, by this same payment: nothing more happened.
    AlreadyPaid,
    /// It was paid already by another payment: money was taken twice. Recorded and
    /// flagged for finance to refund; nothing more granted.
    SecondPayment,
    /// The order had expired, failed or been canceled: recorded and flagged for
    /// finance, nothing granted.
    Late,
    /// The amount or currency is not the order's: recorded, nothing granted.
    Mismatch,
}

impl Outcome {
    /// As `payment_events.outcome` keeps it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Fulfilled { .. } => "fulfilled",
            Outcome::AlreadyPaid => "already_paid",
            Outcome::SecondPayment => "second_payment",
            Outcome::Late => "late",
            Outcome::Mismatch => "mismatch",
        }
    }
}

pub struct Fulfilment {
    db: Db,
    mail: Queue,
}

impl Fulfilment {
    pub fn new(db: Db, mail: Queue) -> Self {
        Self { db, mail }
    }

    /// Fulfils `payment` once (see the module's documentation).
    pub async fn fulfil(&self, payment: &Payment<'_>) -> Result<Outcome> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        let (outcome, job) = record(&tx, payment).await?;
        tx.commit().await?;
        // Not held while SQS answers: other requests may need it.
        drop(client);
        self.dispatch(job).await;
        Ok(outcome)
    }

    /// Sends the receipt [`record`] wrote, once its transaction has committed.
    pub async fn dispatch(&self, job: Option<i64>) {
        if let Some(job) = job {
            self.mail.dispatch(&[job]).await;
        }
    }
}

/// What the order and its price say, read under the locks of the order and its
/// member: one member's purchases are fulfilled one at a time, so two paid at once
/// extend one after the other instead of from the same end.
struct Locked {
    id: i64,
    /// The payment that paid it, once paid.
    provider_ref: Option<String>,
    promotion_id: Option<i64>,
    member_id: i64,
    status: Status,
    currency: String,
    amount: i64,
    product: Product,
    product_name: String,
    billing: Billing,
    period: Option<Period>,
    access_days: Option<i32>,
    /// None for a member who signed in with WeChat alone: WeChat itself tells the
    /// payer, and there is no mailbox for a receipt.
    email: Option<String>,
    display_name: String,
}

async fn lock(tx: &impl platform::db::Transactional, order: &str) -> Result<Locked> {
    let rows = tx
        .query_typed(
            "SELECT o.id, o.member_id, o.status, o.currency, o.amount, p.kind, p.code, p.name,
                    pr.billing, pr.period, p.access_days, m.email, m.display_name, o.promotion_id,
                    o.provider_ref
             FROM orders o JOIN prices pr ON pr.id = o.price_id
             JOIN products p ON p.id = pr.product_id JOIN members m ON m.id = o.member_id
             WHERE o.document_id = $1 FOR UPDATE OF o, m",
            &[(&order, Type::TEXT)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::NotFound("no such order".into()))?;
    Ok(Locked {
        id: row.get(0),
        provider_ref: row.get(14),
        promotion_id: row.get(13),
        member_id: row.get(1),
        status: Status::parse(row.get(2))
            .ok_or_else(|| Error::internal("an order with an unknown status"))?,
        currency: row.get(3),
        amount: row.get(4),
        product: Product {
            kind: ProductKind::parse(row.get(5))?,
            code: row.get(6),
        },
        product_name: row.get(7),
        billing: match row.get::<_, &str>(8) {
            "prepaid" => Billing::Prepaid,
            "subscription" => Billing::Subscription,
            _ => Billing::OneTime,
        },
        period: match row.get::<_, Option<&str>>(9) {
            Some("month") => Some(Period::Month),
            Some("year") => Some(Period::Year),
            _ => None,
        },
        access_days: row.get(10),
        email: row.get(11),
        display_name: row.get(12),
    })
}

/// The access one paid order gives, from `start`: a plan's period, a course's days,
/// or a course for life (`None`).
fn access_until(order: &Locked, start: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let months = |n| {
        start
            .checked_add_months(Months::new(n))
            .ok_or_else(|| Error::internal("access end out of range"))
    };
    Ok(match (order.period, order.access_days) {
        (Some(Period::Month), _) => Some(months(1)?),
        (Some(Period::Year), _) => Some(months(12)?),
        (None, Some(days)) => Some(start + chrono::Duration::days(i64::from(days))),
        (None, None) => None,
    })
}

/// Fulfils `payment` inside the caller's transaction (which may also record the
/// provider's event, so both commit together): the outcome, and the receipt's mail
/// job to [`Fulfilment::dispatch`] after COMMIT.
pub async fn record(
    tx: &impl platform::db::Transactional,
    payment: &Payment<'_>,
) -> Result<(Outcome, Option<i64>)> {
    let order = lock(tx, payment.order).await?;
    let details = json!({
        "providerRef": payment.provider_ref,
        "currency": payment.currency.as_str(),
        "amount": payment.amount.minor(),
    });
    if payment.currency.as_str() != order.currency || payment.amount.minor() != order.amount {
        tracing::warn!(
            order = payment.order,
            source = payment.source,
            "paid amount is not the order's"
        );
        orders::record_event(tx, order.id, "mismatch", payment.source, details).await?;
        return Ok((Outcome::Mismatch, None));
    }
    match order.status {
        Status::Pending => {}
        status if status.was_paid() => {
            if order.provider_ref.as_deref() == Some(payment.provider_ref) {
                orders::record_event(tx, order.id, "duplicate", payment.source, details).await?;
                return Ok((Outcome::AlreadyPaid, None));
            }
            tracing::warn!(
                order = payment.order,
                source = payment.source,
                "a second payment for an order already paid"
            );
            orders::record_event(tx, order.id, "second_payment", payment.source, details).await?;
            return Ok((Outcome::SecondPayment, None));
        }
        _ => {
            tracing::warn!(
                order = payment.order,
                source = payment.source,
                "payment for an order that ended unpaid"
            );
            orders::record_event(tx, order.id, "late_payment", payment.source, details).await?;
            return Ok((Outcome::Late, None));
        }
    }
    // A period bought (prepaid, or a subscription's invoice) follows the access the
    // member still has; a course starts now.
    let start = match order.billing {
        Billing::Prepaid | Billing::Subscription => {
            entitlements::extend_from(tx, order.member_id, &order.product).await?
        }
        Billing::OneTime => Utc::now(),
    };
    let until = access_until(&order, start)?;
    let granted = entitlements::grant(
        tx,
        &Grant {
            member_id: order.member_id,
            product: &order.product,
            source: match order.billing {
                Billing::Subscription => Source::Subscription,
                _ => Source::Purchase,
            },
            source_ref: Some(payment.order),
            starts_at: Some(start),
            expires_at: until,
            granted_by: None,
        },
    )
    .await?
    .ok_or_else(|| Error::internal("a pending order already has its entitlement"))?;
    let receipt = order
        .email
        .as_deref()
        .map(|email| {
            let to = identity::email::Email::parse(email).map_err(Error::internal)?;
            Ok::<_, Error>(MailJob {
                template: "receipt",
                to,
                variables: json!({
                    "name": order.display_name,
                    "product": order.product_name,
                    "amount": format!("{} {}", payment.currency.as_str(), payment.amount.to_decimal()),
                    "access_until": until.map_or_else(|| "长期有效".to_owned(), |t| t.format("%Y-%m-%d").to_string()),
                    "order": payment.order,
                }),
            })
        })
        .transpose()?;
    let send_receipt = async {
        match &receipt {
            Some(receipt) => mail::enqueue(tx, receipt).await.map(Some),
            None => Ok(None),
        }
    };
    // Independent writes under the locks already held: sent together, pipelined on
    // the transaction's connection, instead of one round trip each.
    let mark_paid = async {
        Ok::<_, Error>(
            tx.query_typed(
                "UPDATE orders SET status = 'paid', paid_at = now(), provider_ref = $2, updated_at = now()
                 WHERE id = $1 AND status = 'pending' RETURNING id",
                &[(&order.id, Type::INT8), (&payment.provider_ref, Type::TEXT)],
            )
            .await?,
        )
    };
    let (changed, (), job) = futures_util::try_join!(
        mark_paid,
        orders::record_event(tx, order.id, "paid", payment.source, details),
        send_receipt,
    )?;
    if changed.is_empty() {
        return Err(Error::internal("the order changed under its lock"));
    }
    if let Some(promotion) = order.promotion_id
        && let Some(limit) = promotions::redeem(tx, order.id, order.member_id, promotion).await?
    {
        let details = json!({ "limit": limit });
        orders::record_event(
            tx,
            order.id,
            "promotion_over_limit",
            payment.source,
            details,
        )
        .await?;
    }
    tracing::info!(
        order = payment.order,
        source = payment.source,
        "order paid and fulfilled"
    );
    Ok((
        Outcome::Fulfilled {
            entitlement: granted.document_id,
        },
        job,
    ))
}
