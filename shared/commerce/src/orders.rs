//! Orders: one purchase of one price by one member through one payment channel.
//! An order is created `pending` with an expiry; from there only compare-and-set
//! updates move it (`pending → paid → partially_refunded → refunded`, `pending →
//! expired | failed | canceled`), each recorded in `order_events` in the same
//! transaction. Turning it `paid` is [`crate::fulfilment`]'s alone.

use platform::db::GenericClient;
use std::time::Duration;

use chrono::{DateTime, Utc};
use identity::entitlements::ProductKind;
use platform::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::{Row, types::Type};

use crate::{
    money::{Amount, Currency},
    promotions,
    provider::Method,
};

/// How long a member has to pay an order before it expires.
pub const PAYMENT_WINDOW: Duration = Duration::from_secs(30 * 60);

/// Where the member pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Stripe,
    Alipay,
    Wechat,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Stripe => "stripe",
            Channel::Alipay => "alipay",
            Channel::Wechat => "wechat",
        }
    }

    /// Alipay and WeChat Pay settle in yuan only; Stripe takes every currency we sell in.
    pub fn takes(self, currency: Currency) -> bool {
        self == Channel::Stripe || currency == Currency::Cny
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "stripe" => Some(Channel::Stripe),
            "alipay" => Some(Channel::Alipay),
            "wechat" => Some(Channel::Wechat),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Paid,
    PartiallyRefunded,
    Refunded,
    Expired,
    Failed,
    Canceled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Paid => "paid",
            Status::PartiallyRefunded => "partially_refunded",
            Status::Refunded => "refunded",
            Status::Expired => "expired",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "pending" => Status::Pending,
            "paid" => Status::Paid,
            "partially_refunded" => Status::PartiallyRefunded,
            "refunded" => Status::Refunded,
            "expired" => Status::Expired,
            "failed" => Status::Failed,
            "canceled" => Status::Canceled,
            _ => return None,
        })
    }

    /// Whether the member paid (some of it may have been refunded since).
    pub fn was_paid(self) -> bool {
        matches!(
            self,
            Status::Paid | Status::PartiallyRefunded | Status::Refunded
        )
    }
}

/// An order as the API answers it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub document_id: String,
    /// The price bought (its documentId) and what it is a price of.
    pub price: String,
    pub product_kind: ProductKind,
    pub product_code: String,
    pub product_name: String,
    pub channel: Channel,
    /// How the payer pays within the channel, once checkout started the payment.
    pub method: Option<Method>,
    pub currency: Currency,
    /// What the member pays, after the discount.
    pub amount: Amount,
    /// Minor units off the price, by `promotionCode`.
    pub discount: i64,
    pub promotion_code: Option<String>,
    /// Minor units refunded so far.
    pub refunded: i64,
    pub status: Status,
    pub expires_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "o.document_id, pr.document_id, p.kind, p.code, o.channel, o.currency,
     o.amount, o.status, o.expires_at, o.paid_at, o.created_at, o.discount,
     (SELECT code FROM promotions WHERE id = o.promotion_id), p.name, o.method, o.refunded";

impl Order {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Order {
            document_id: row.try_get(0)?,
            price: row.try_get(1)?,
            product_kind: ProductKind::parse(row.try_get(2)?)?,
            product_code: row.try_get(3)?,
            channel: Channel::parse(row.try_get(4)?)
                .ok_or_else(|| Error::internal("an order with an unknown channel"))?,
            currency: Currency::parse(row.try_get(5)?)?,
            amount: Amount::new(row.try_get(6)?)?,
            status: Status::parse(row.try_get(7)?)
                .ok_or_else(|| Error::internal("an order with an unknown status"))?,
            expires_at: row.try_get(8)?,
            paid_at: row.try_get(9)?,
            created_at: row.try_get(10)?,
            discount: row.try_get(11)?,
            promotion_code: row.try_get(12)?,
            product_name: row.try_get(13)?,
            method: row
                .try_get::<_, Option<&str>>(14)?
                .map(|raw| {
                    Method::parse(raw)
                        .ok_or_else(|| Error::internal("an order with an unknown method"))
                })
                .transpose()?,
            refunded: row.try_get(15)?,
        })
    }
}

/// Records what happened to order `order_id`, and what said so.
pub async fn record_event(
    client: &impl GenericClient,
    order_id: i64,
    kind: &str,
    source: &str,
    details: Value,
) -> Result<()> {
    client
        .query_typed(
            "INSERT INTO order_events (order_id, kind, source, details) VALUES ($1, $2, $3, $4)",
            &[
                (&order_id, Type::INT8),
                (&kind, Type::TEXT),
                (&source, Type::TEXT),
                (&details, Type::JSONB),
            ],
        )
        .await?;
    Ok(())
}

/// A pending order of `price` (by its documentId) for the member, paid by
/// `method`, charged the price's amount less what `promotion_code` takes off; 400
/// unless the price and its product are on sale, the method's channel takes its
/// currency and the code applies.
pub async fn create(
    client: &impl GenericClient,
    member_id: i64,
    price: &str,
    method: Method,
    promotion_code: Option<&str>,
) -> Result<Order> {
    let channel = method.channel();
    let rows = client
        .query_typed(
            "SELECT pr.id, pr.product_id, pr.currency, pr.amount, pr.billing = 'subscription'
             FROM prices pr JOIN products p ON p.id = pr.product_id
             WHERE pr.document_id = $1 AND pr.active AND p.active",
            &[(&price, Type::TEXT)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::invalid("price", "this price is not for sale"))?;
    let (price_id, product_id): (i64, i64) = (row.get(0), row.get(1));
    let currency = Currency::parse(row.get(2))?;
    let full = Amount::new(row.get(3))?;
    let renews: bool = row.get(4);
    if renews != (method == Method::Subscription) {
        return Err(Error::invalid(
            "method",
            if renews {
                "this price renews: pay it with the `subscription` method"
            } else {
                "only a renewing price is paid with the `subscription` method"
            },
        ));
    }
    if !channel.takes(currency) {
        return Err(Error::invalid(
            "price",
            format!(
                "{} takes no {}; choose a price in another currency",
                channel.as_str(),
                currency.as_str()
            ),
        ));
    }
    let quote = match promotion_code {
        Some(code) => {
            Some(promotions::quote(client, code, member_id, product_id, currency, full).await?)
        }
        None => None,
    };
    let discount = quote.map_or(0, |q| q.discount);
    let expires_at = Utc::now() + PAYMENT_WINDOW;
    let rows = client
        .query_typed(
            "INSERT INTO orders (member_id, price_id, channel, currency, amount, discount,
                 promotion_id, expires_at, method)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, document_id",
            &[
                (&member_id, Type::INT8),
                (&price_id, Type::INT8),
                (&channel.as_str(), Type::TEXT),
                (&currency.as_str(), Type::TEXT),
                (&(full.minor() - discount), Type::INT8),
                (&discount, Type::INT8),
                (&quote.map(|q| q.promotion_id), Type::INT8),
                (&expires_at, Type::TIMESTAMPTZ),
                (&method.as_str(), Type::TEXT),
            ],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::internal("order insert returned no row"))?;
    let (id, document_id): (i64, String) = (row.get(0), row.get(1));
    record_event(
        client,
        id,
        "created",
        "checkout",
        json!({ "discount": discount }),
    )
    .await?;
    by_document_id(client, &document_id).await
}

pub async fn by_document_id(client: &impl GenericClient, document_id: &str) -> Result<Order> {
    client
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM orders o JOIN prices pr ON pr.id = o.price_id
                 JOIN products p ON p.id = pr.product_id WHERE o.document_id = $1"
            ),
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(Order::from_row)
        .unwrap_or_else(|| Err(Error::NotFound("no such order".into())))
}

/// The member's order with this documentId; 404 for anyone else's, so an order's
/// existence is not revealed to other members.
pub async fn of_member(
    client: &impl GenericClient,
    member_id: i64,
    document_id: &str,
) -> Result<Order> {
    client
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM orders o JOIN prices pr ON pr.id = o.price_id
                 JOIN products p ON p.id = pr.product_id
                 WHERE o.document_id = $1 AND o.member_id = $2"
            ),
            &[(&document_id, Type::TEXT), (&member_id, Type::INT8)],
        )
        .await?
        .first()
        .map(Order::from_row)
        .unwrap_or_else(|| Err(Error::NotFound("no such order".into())))
}

/// How many orders the member has made, whatever became of them.
pub async fn count_of_member(client: &impl GenericClient, member_id: i64) -> Result<i64> {
    Ok(client
        .query_typed(
            "SELECT count(*) FROM orders WHERE member_id = $1",
            &[(&member_id, Type::INT8)],
        )
        .await?
        .first()
        .map_or(Ok(0), |row| row.try_get(0))?)
}

/// The member's 100 latest orders, newest first.
pub async fn of_member_latest(client: &impl GenericClient, member_id: i64) -> Result<Vec<Order>> {
    client
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM orders o JOIN prices pr ON pr.id = o.price_id
                 JOIN products p ON p.id = pr.product_id
                 WHERE o.member_id = $1 ORDER BY o.created_at DESC, o.id DESC LIMIT 100"
            ),
            &[(&member_id, Type::INT8)],
        )
        .await?
        .iter()
        .map(Order::from_row)
        .collect()
}

/// What finance narrows the order list by; every part optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<Status>,
    pub channel: Option<Channel>,
    /// A product's documentId.
    pub product: Option<String>,
    /// A member's documentId.
    pub member: Option<String>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
}

/// An order as finance sees it: with its member and the provider's payment id.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminOrder {
    #[serde(flatten)]
    pub order: Order,
    /// The member's documentId.
    pub member: String,
    pub provider_ref: Option<String>,
}

/// What [`Filter`] selects, its parts `$1` to `$6`: every part a parameter that is
/// either null or compared, never text built from input.
const FILTERED: &str = "($1::text IS NULL OR o.status = $1) AND ($2::text IS NULL OR o.channel = $2)
    AND ($3::text IS NULL OR p.document_id = $3) AND ($4::text IS NULL OR m.document_id = $4)
    AND ($5::timestamptz IS NULL OR o.created_at >= $5) AND ($6::timestamptz IS NULL OR o.created_at < $6)";

/// The orders `filter` selects for an export, newest first, at most `limit`.
pub async fn export(
    client: &impl GenericClient,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<AdminOrder>> {
    client
        .query_typed(
            &format!(
                "SELECT {COLUMNS}, m.document_id, o.provider_ref
                 FROM orders o JOIN prices pr ON pr.id = o.price_id
                 JOIN products p ON p.id = pr.product_id JOIN members m ON m.id = o.member_id
                 WHERE {FILTERED}
                 ORDER BY o.created_at DESC, o.id DESC LIMIT $7"
            ),
            &[
                (&filter.status.map(Status::as_str), Type::TEXT),
                (&filter.channel.map(Channel::as_str), Type::TEXT),
                (&filter.product, Type::TEXT),
                (&filter.member, Type::TEXT),
                (&filter.from, Type::TIMESTAMPTZ),
                (&filter.to, Type::TIMESTAMPTZ),
                (&limit, Type::INT8),
            ],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(AdminOrder {
                order: Order::from_row(row)?,
                member: row.try_get(16)?,
                provider_ref: row.try_get(17)?,
            })
        })
        .collect()
}

impl AdminOrder {
    /// Its CSV fields, in the order of `reports`' header.
    pub fn fields(&self) -> Vec<String> {
        let order = &self.order;
        vec![
            order.document_id.clone(),
            order.created_at.to_rfc3339(),
            order.paid_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            order.status.as_str().to_owned(),
            order.channel.as_str().to_owned(),
            order
                .method
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
            self.member.clone(),
            order.product_kind.as_str().to_owned(),
            order.product_code.clone(),
            order.product_name.clone(),
            order.currency.as_str().to_owned(),
            order.amount.minor().to_string(),
            order.discount.to_string(),
            order.refunded.to_string(),
            order.promotion_code.clone().unwrap_or_default(),
            self.provider_ref.clone().unwrap_or_default(),
        ]
    }
}

/// One page of the orders `filter` selects, newest first, and how many it selects.
pub async fn search(
    client: &impl GenericClient,
    filter: &Filter,
    page: i64,
    page_size: i64,
) -> Result<(Vec<AdminOrder>, i64)> {
    let offset = (page - 1) * page_size;
    let rows = client
        .query_typed(
            &format!(
                "SELECT {COLUMNS}, m.document_id, o.provider_ref, count(*) OVER ()
                 FROM orders o JOIN prices pr ON pr.id = o.price_id
                 JOIN products p ON p.id = pr.product_id JOIN members m ON m.id = o.member_id
                 WHERE {FILTERED}
                 ORDER BY o.created_at DESC, o.id DESC LIMIT $7 OFFSET $8"
            ),
            &[
                (&filter.status.map(Status::as_str), Type::TEXT),
                (&filter.channel.map(Channel::as_str), Type::TEXT),
                (&filter.product, Type::TEXT),
                (&filter.member, Type::TEXT),
                (&filter.from, Type::TIMESTAMPTZ),
                (&filter.to, Type::TIMESTAMPTZ),
                (&page_size, Type::INT8),
                (&offset, Type::INT8),
            ],
        )
        .await?;
    let total = rows.first().map_or(Ok(0), |r| r.try_get(18))?;
    let orders = rows
        .iter()
        .map(|row| {
            Ok(AdminOrder {
                order: Order::from_row(row)?,
                member: row.try_get(16)?,
                provider_ref: row.try_get(17)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((orders, total))
}

/// One event of an order's history.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderEvent {
    pub kind: String,
    pub source: String,
    pub details: Value,
    pub created_at: DateTime<Utc>,
}

/// An order as finance sees it, with its whole history.
pub async fn with_history(
    client: &impl GenericClient,
    document_id: &str,
) -> Result<(AdminOrder, Vec<OrderEvent>)> {
    let rows = client
        .query_typed(
            &format!(
                "SELECT {COLUMNS}, m.document_id, o.provider_ref
                 FROM orders o JOIN prices pr ON pr.id = o.price_id
                 JOIN products p ON p.id = pr.product_id JOIN members m ON m.id = o.member_id
                 WHERE o.document_id = $1"
            ),
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::NotFound("no such order".into()))?;
    let order = AdminOrder {
        order: Order::from_row(row)?,
        member: row.try_get(16)?,
        provider_ref: row.try_get(17)?,
    };
    let events = client
        .query_typed(
            "SELECT e.kind, e.source, e.details, e.created_at FROM order_events e
             JOIN orders o ON o.id = e.order_id WHERE o.document_id = $1 ORDER BY e.id",
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .iter()
        .map(|r| OrderEvent {
            kind: r.get(0),
            source: r.get(1),
            details: r.get(2),
            created_at: r.get(3),
        })
        .collect();
    Ok((order, events))
}

/// Every event of an order, oldest first: `(kind, source, details)`.
pub async fn events(
    client: &impl GenericClient,
    document_id: &str,
) -> Result<Vec<(String, String, Value)>> {
    Ok(client
        .query_typed(
            "SELECT e.kind, e.source, e.details FROM order_events e JOIN orders o ON o.id = e.order_id
             WHERE o.document_id = $1 ORDER BY e.id",
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Ends a pending order that was not paid in time, or was abandoned or refused
/// (`to` is expired, canceled or failed): a compare-and-set, so an order paid
/// meanwhile stays paid. Whether it changed.
pub async fn end_unpaid(
    client: &impl GenericClient,
    document_id: &str,
    to: Status,
    source: &str,
) -> Result<bool> {
    if !matches!(to, Status::Expired | Status::Canceled | Status::Failed) {
        return Err(Error::internal(format!(
            "an unpaid order cannot become {}",
            to.as_str()
        )));
    }
    let rows = client
        .query_typed(
            "UPDATE orders SET status = $2, updated_at = now()
             WHERE document_id = $1 AND status = 'pending' RETURNING id",
            &[(&document_id, Type::TEXT), (&to.as_str(), Type::TEXT)],
        )
        .await?;
    let Some(row) = rows.first() else {
        tracing::warn!(
            order = document_id,
            to = to.as_str(),
            "refused transition: the order is not pending"
        );
        return Ok(false);
    };
    record_event(client, row.get(0), to.as_str(), source, json!({})).await?;
    Ok(true)
}

/// The buyers of orders paid in `(after, until]` who have an address: what a
/// post-purchase sequence enrols. Address, display name, when paid.
pub async fn paid_between(
    client: &impl GenericClient,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<(String, String, DateTime<Utc>)>> {
    Ok(client
        .query_typed(
            "SELECT m.email, m.display_name, o.paid_at FROM orders o JOIN members m ON m.id = o.member_id
             WHERE o.paid_at > $1 AND o.paid_at <= $2
               AND m.email IS NOT NULL AND m.deleted_at IS NULL",
            &[(&after, Type::TIMESTAMPTZ), (&until, Type::TIMESTAMPTZ)],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}
