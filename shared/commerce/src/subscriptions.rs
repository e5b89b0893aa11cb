//! Subscriptions billed by Stripe: checkout with the `subscription` method makes the
//! member a Stripe customer with the card they gave, and subscribes them to the
//! price; Stripe then collects an invoice each period. Every invoice it reports paid
//! is an order (the first is the checkout's own), fulfilled through the one path, so
//! a renewal extends access by a period and a failed renewal extends nothing.
//! Members see theirs and cancel at the end of the period; Stripe's
//! `customer.subscription.*` events keep the status here.

use chrono::{DateTime, Utc};
use platform::db::GenericClient;
use platform::{
    db::Db,
    error::{Error, Result},
};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use tokio_postgres::{Row, types::Type};

use crate::{
    fulfilment::{self, Payment as Paid},
    money::{Amount, Currency},
    orders::{self, Order, PAYMENT_WINDOW},
    provider::{Payment, Started},
    stripe::{Stripe, StripeSubscription},
};

/// A subscription as its member sees it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub document_id: String,
    /// The price subscribed to (its documentId) and what it is a price of.
    pub price: String,
    pub product_code: String,
    pub product_name: String,
    pub currency: Currency,
    pub amount: Amount,
    /// `month` or `year`.
    pub period: Option<String>,
    /// Stripe's status: `active`, `past_due`, `canceled`, ...
    pub status: String,
    /// It ends at `currentPeriodEnd` instead of renewing.
    pub cancel_at_period_end: bool,
    pub current_period_end: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "s.document_id, pr.document_id, p.code, p.name, pr.currency, pr.amount,
     pr.period, s.status, s.cancel_at_period_end, s.current_period_end, s.created_at";

impl Subscription {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Subscription {
            document_id: row.try_get(0)?,
            price: row.try_get(1)?,
            product_code: row.try_get(2)?,
            product_name: row.try_get(3)?,
            currency: Currency::parse(row.try_get(4)?)?,
            amount: Amount::new(row.try_get(5)?)?,
            period: row.try_get(6)?,
            status: row.try_get(7)?,
            cancel_at_period_end: row.try_get(8)?,
            current_period_end: row.try_get(9)?,
            created_at: row.try_get(10)?,
        })
    }
}

/// The member's subscriptions, newest first.
pub async fn of_member(client: &impl GenericClient, member_id: i64) -> Result<Vec<Subscription>> {
    client
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM subscriptions s JOIN prices pr ON pr.id = s.price_id
                 JOIN products p ON p.id = pr.product_id
                 WHERE s.member_id = $1 ORDER BY s.created_at DESC, s.id DESC"
            ),
            &[(&member_id, Type::INT8)],
        )
        .await?
        .iter()
        .map(Subscription::from_row)
        .collect()
}

async fn one_of_member(
    client: &impl GenericClient,
    member_id: i64,
    document_id: &str,
) -> Result<(Subscription, String)> {
    let rows = client
        .query_typed(
            &format!(
                "SELECT {COLUMNS}, s.provider_ref FROM subscriptions s
                 JOIN prices pr ON pr.id = s.price_id JOIN products p ON p.id = pr.product_id
                 WHERE s.document_id = $1 AND s.member_id = $2"
            ),
            &[(&document_id, Type::TEXT), (&member_id, Type::INT8)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::NotFound("no such subscription".into()))?;
    Ok((Subscription::from_row(row)?, row.try_get(11)?))
}

/// Starts the subscription checkout's `order` pays: the member becomes (or is) a
/// Stripe customer paying with `payment_method`, subscribed to the order's price.
pub async fn start(
    db: &Db,
    stripe: &Stripe,
    member_id: i64,
    order: &Order,
    payment_method: &str,
) -> Result<Started> {
    let (member, terms) = {
        let client = db.client().await?;
        let rows = client
            .query_typed(
                "SELECT m.document_id, pr.document_id, pr.period, p.name, c.customer_id
                 FROM orders o JOIN members m ON m.id = o.member_id
                 JOIN prices pr ON pr.id = o.price_id JOIN products p ON p.id = pr.product_id
                 LEFT JOIN stripe_customers c ON c.member_id = m.id
                 WHERE o.document_id = $1",
                &[(&order.document_id, Type::TEXT)],
            )
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| Error::NotFound("no such order".into()))?;
        let member: String = row.get(0);
        let terms = (
            row.get::<_, String>(1),
            row.get::<_, Option<String>>(2)
                .ok_or_else(|| Error::internal("a subscription price without its period"))?,
            row.get::<_, String>(3),
            row.get::<_, Option<String>>(4),
        );
        (member, terms)
    };
    let (price, period, name, known_customer) = terms;
    let customer = match known_customer {
        Some(customer) => customer,
        None => {
            let created = stripe.customer(&member).await?;
            let client = db.client().await?;
            client
                .query_typed(
                    "INSERT INTO stripe_customers (member_id, customer_id) VALUES ($1, $2)
                     ON CONFLICT (member_id) DO NOTHING",
                    &[(&member_id, Type::INT8), (&created, Type::TEXT)],
                )
                .await?;
            client
                .query_typed(
                    "SELECT customer_id FROM stripe_customers WHERE member_id = $1",
                    &[(&member_id, Type::INT8)],
                )
                .await?
                .first()
                .map(|r| r.get(0))
                .ok_or_else(|| Error::internal("a Stripe customer vanished"))?
        }
    };
    stripe.use_card(&customer, payment_method).await?;
    let plan = stripe
        .plan(&price, order.currency, order.amount, &period, &name)
        .await?;
    let subscribed: StripeSubscription = stripe
        .subscribe(&customer, &plan, &order.document_id)
        .await?;
    let client = db.client().await?;
    client
        .query_typed(
            "INSERT INTO subscriptions (member_id, price_id, order_id, provider_ref, status)
             SELECT o.member_id, o.price_id, o.id, $2, $3 FROM orders o WHERE o.document_id = $1
             ON CONFLICT (provider_ref) DO NOTHING",
            &[
                (&order.document_id, Type::TEXT),
                (&subscribed.id, Type::TEXT),
                (&subscribed.status, Type::TEXT),
            ],
        )
        .await?;
    Ok(Started {
        payment: Payment::Subscription {
            subscription: subscribed.id.clone(),
            status: subscribed.status,
            client_secret: subscribed.client_secret,
        },
        provider_ref: None,
    })
}

/// Cancels the member's subscription at the end of the period already paid.
pub async fn cancel(
    db: &Db,
    stripe: &Stripe,
    member_id: i64,
    document_id: &str,
) -> Result<Subscription> {
    let client = db.client().await?;
    let (subscription, provider_ref) = one_of_member(&**client, member_id, document_id).await?;
    if subscription.status == "canceled" {
        return Err(Error::Conflict("this subscription has ended".into()));
    }
    let updated = stripe.cancel_at_period_end(&provider_ref).await?;
    update(&**client, &updated).await?;
    Ok(one_of_member(&**client, member_id, document_id).await?.0)
}

/// Keeps what Stripe says of a subscription (its `customer.subscription.*` events,
/// and its answers); what it did.
pub async fn update(
    client: &impl GenericClient,
    stripe: &StripeSubscription,
) -> Result<&'static str> {
    let rows = client
        .query_typed(
            "UPDATE subscriptions SET status = $2, cancel_at_period_end = $3,
                 current_period_end = coalesce($4, current_period_end), updated_at = now()
             WHERE provider_ref = $1 RETURNING id",
            &[
                (&stripe.id, Type::TEXT),
                (&stripe.status, Type::TEXT),
                (&stripe.cancel_at_period_end, Type::BOOL),
                (&stripe.current_period_end, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    Ok(if rows.is_empty() {
        "unknown_subscription"
    } else {
        "subscription_updated"
    })
}

/// An invoice Stripe collected (or failed to) for a subscription.
#[derive(Debug, Clone)]
pub struct Invoice<'a> {
    pub id: &'a str,
    pub subscription: &'a str,
    /// The PaymentIntent that paid it (refunds name it), when there is one.
    pub payment_intent: Option<&'a str>,
    pub currency: Currency,
    pub amount: Amount,
    pub period_end: Option<DateTime<Utc>>,
    /// When Stripe made it.
    pub created: DateTime<Utc>,
}

/// Fulfils a paid subscription invoice once, inside the webhook's transaction: the
/// first pays the checkout's order, each later one is a renewal order of its own.
/// The outcome, and the receipt to dispatch after COMMIT.
pub async fn invoice_paid(
    tx: &impl platform::db::Transactional,
    invoice: &Invoice<'_>,
) -> Result<(&'static str, Option<i64>)> {
    let rows = tx
        .query_typed(
            "SELECT s.id, s.member_id, s.price_id, o.id, o.document_id, o.status
             FROM subscriptions s JOIN orders o ON o.id = s.order_id
             WHERE s.provider_ref = $1 FOR UPDATE OF s",
            &[(&invoice.subscription, Type::TEXT)],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(("unknown_subscription", None));
    };
    let (subscription_id, member_id, price_id): (i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2));
    let seen = tx
        .query_typed(
            "SELECT 1 FROM orders WHERE invoice_ref = $1",
            &[(&invoice.id, Type::TEXT)],
        )
        .await?;
    if !seen.is_empty() {
        return Ok(("duplicate", None));
    }
    let order = if row.get::<_, &str>(5) == "pending" {
        let first: i64 = row.get(3);
        tx.query_typed(
            "UPDATE orders SET invoice_ref = $2 WHERE id = $1",
            &[(&first, Type::INT8), (&invoice.id, Type::TEXT)],
        )
        .await?;
        row.get::<_, String>(4)
    } else {
        renewal_order(tx, member_id, price_id, invoice).await?
    };
    let (outcome, job) = fulfilment::record(
        tx,
        &Paid {
            order: &order,
            source: "webhook:stripe",
            provider_ref: invoice.payment_intent.unwrap_or(invoice.id),
            currency: invoice.currency,
            amount: invoice.amount,
        },
    )
    .await?;
    tx.query_typed(
        "UPDATE subscriptions SET status = 'active',
             current_period_end = coalesce($2, current_period_end), updated_at = now()
         WHERE id = $1",
        &[
            (&subscription_id, Type::INT8),
            (&invoice.period_end, Type::TIMESTAMPTZ),
        ],
    )
    .await?;
    Ok((outcome.as_str(), job))
}

/// A renewal's order: the subscription's price, charged what the invoice says.
async fn renewal_order(
    tx: &impl platform::db::Transactional,
    member_id: i64,
    price_id: i64,
    invoice: &Invoice<'_>,
) -> Result<String> {
    let expires_at = Utc::now() + PAYMENT_WINDOW;
    let rows = tx
        .query_typed(
            "INSERT INTO orders (member_id, price_id, channel, currency, amount, discount,
                 expires_at, method, invoice_ref)
             VALUES ($1, $2, 'stripe', $3, $4, 0, $5, 'subscription', $6)
             RETURNING id, document_id",
            &[
                (&member_id, Type::INT8),
                (&price_id, Type::INT8),
                (&invoice.currency.as_str(), Type::TEXT),
                (&invoice.amount.minor(), Type::INT8),
                (&expires_at, Type::TIMESTAMPTZ),
                (&invoice.id, Type::TEXT),
            ],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::internal("order insert returned no row"))?;
    orders::record_event(
        tx,
        row.get(0),
        "created",
        "renewal",
        json!({ "invoice": invoice.id }),
    )
    .await?;
    Ok(row.get(1))
}

/// A renewal Stripe could not collect: the subscription is past due, nothing is
/// extended.
pub async fn invoice_failed(
    tx: &impl platform::db::Transactional,
    subscription: &str,
) -> Result<&'static str> {
    let rows = tx
        .query_typed(
            "UPDATE subscriptions SET status = 'past_due', updated_at = now()
             WHERE provider_ref = $1 AND status <> 'canceled' RETURNING id",
            &[(&subscription, Type::TEXT)],
        )
        .await?;
    Ok(if rows.is_empty() {
        "unknown_subscription"
    } else {
        "renewal_failed"
    })
}
