//! What every provider's webhook does once it has verified a delivery: record the
//! provider's event once (`payment_events`, unique per provider and event id) in the
//! same transaction as its effect, so a redelivery, a replay or a hundred concurrent
//! copies change nothing after the first; and hand a payment to [`fulfilment`].

use platform::{db::Db, error::Result};
use tokio_postgres::types::Type;

use crate::{
    fulfilment::{self, Fulfilment, Payment},
    refunds::{self, Settlement},
    stripe::StripeSubscription,
    subscriptions::{self, Invoice},
};

/// A verified event, as its provider's module read it.
pub struct Event<'a> {
    /// `stripe`, `alipay` or `wechat`.
    pub provider: &'static str,
    /// The provider's id of this event: the same for every redelivery of it.
    pub id: &'a str,
    /// The provider's name for what happened (`payment_intent.succeeded`, `TRADE_SUCCESS`, ...).
    pub kind: &'a str,
    /// Our order's documentId, when the event names one.
    pub order: Option<&'a str>,
    pub signal: Signal<'a>,
}

/// What a verified event means to us.
pub enum Signal<'a> {
    /// The order was paid.
    Paid(Payment<'a>),
    /// It says paid but lacks what fulfilment needs (logged with why).
    Unusable(&'static str),
    /// A refund we asked for ended: its request id, and how.
    Refunded {
        request_id: &'a str,
        settlement: Settlement,
    },
    /// A subscription's invoice was paid (the first, or a renewal).
    InvoicePaid(Invoice<'a>),
    /// A subscription's renewal could not be collected.
    InvoiceFailed { subscription: &'a str },
    /// The provider's word on a subscription's state.
    SubscriptionChanged(StripeSubscription),
    /// The provider gave up on an unpaid order (`Expired`, `Failed`): it ends unpaid,
    /// by compare-and-set, so an order paid meanwhile stays paid.
    Ended(crate::orders::Status),
    /// Nothing we act on: acknowledged and recorded.
    Ignored,
}

/// Records `event` once and acts on it; what it did, as `payment_events.outcome`
/// keeps it: `duplicate` for a delivery seen before, else `fulfilled`,
/// `already_paid`, `late`, `mismatch`, `unknown_order`, `unusable` or `ignored`;
/// for a refund, what [`refunds::settle`] says.
pub async fn process(db: &Db, fulfilment: &Fulfilment, event: Event<'_>) -> Result<&'static str> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let fresh = tx
        .query_typed(
            "INSERT INTO payment_events (provider, event_id, kind) VALUES ($1, $2, $3)
             ON CONFLICT (provider, event_id) DO NOTHING RETURNING id",
            &[
                (&event.provider, Type::TEXT),
                (&event.id, Type::TEXT),
                (&event.kind, Type::TEXT),
            ],
        )
        .await?;
    let Some(row) = fresh.first() else {
        // Delivered before: its effect is already committed.
        return Ok("duplicate");
    };
    let event_row: i64 = row.get(0);
    let (outcome, job) = match event.signal {
        Signal::Ignored => ("ignored", None),
        Signal::Ended(status) => match event.order {
            Some(order) => {
                let source = format!("webhook:{}", event.provider);
                let ended = crate::orders::end_unpaid(&*tx, order, status, &source).await?;
                (if ended { "ended" } else { "not_pending" }, None)
            }
            None => ("unusable", None),
        },
        Signal::Unusable(why) => {
            tracing::warn!(
                provider = event.provider,
                event = event.id,
                why,
                "a paid event without what fulfilment needs"
            );
            ("unusable", None)
        }
        Signal::Refunded {
            request_id,
            settlement,
        } => {
            let source = format!("webhook:{}", event.provider);
            (
                refunds::settle(&tx, request_id, &settlement, &source).await?,
                None,
            )
        }
        Signal::InvoicePaid(invoice) => {
            let (outcome, job) = subscriptions::invoice_paid(&tx, &invoice).await?;
            // Checkout records a subscription once Stripe has answered, and Stripe
            // may notify sooner: refused (and not recorded), so Stripe delivers it
            // again. An old invoice of no subscription of ours is recorded as such.
            if outcome == "unknown_subscription"
                && chrono::Utc::now() - invoice.created < chrono::Duration::hours(1)
            {
                return Err(platform::Error::ServiceUnavailable(
                    "the subscription is not recorded yet; deliver it again".into(),
                ));
            }
            (outcome, job)
        }
        Signal::InvoiceFailed { subscription } => (
            subscriptions::invoice_failed(&tx, subscription).await?,
            None,
        ),
        Signal::SubscriptionChanged(subscription) => {
            (subscriptions::update(&*tx, &subscription).await?, None)
        }
        Signal::Paid(payment) => match fulfilment::record(&tx, &payment).await {
            Ok((outcome, job)) => (outcome.as_str(), job),
            Err(platform::Error::NotFound(_)) => ("unknown_order", None),
            Err(err) => return Err(err),
        },
    };
    tx.query_typed(
        "UPDATE payment_events SET outcome = $2,
             order_id = (SELECT id FROM orders WHERE document_id = $3)
         WHERE id = $1",
        &[
            (&event_row, Type::INT8),
            (&outcome, Type::TEXT),
            (&event.order, Type::TEXT),
        ],
    )
    .await?;
    tx.commit().await?;
    // Not held while SQS answers: other requests may need it.
    drop(client);
    fulfilment.dispatch(job).await;
    Ok(outcome)
}
