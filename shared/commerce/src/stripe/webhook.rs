//! Stripe's webhooks: verified over the raw bytes (`Stripe-Signature`, Stripe's
//! timestamped HMAC scheme, 300 s tolerance, any of several secrets so one can be
//! rotated), recorded once per event id, and turned into the one fulfilment path.
//! Paid means `payment_intent.succeeded`, or `checkout.session.completed` whose
//! `payment_status` is `paid`; the order is the `order` key of the object's
//! metadata. Other events are acknowledged and recorded.

use platform::{
    error::{Error, Result},
    signature::{self, DEFAULT_TOLERANCE},
};
use serde::Deserialize;
use serde_json::Value;

use super::StripeConfig;
use crate::{
    fulfilment::{Fulfilment, Payment},
    money::{Amount, Currency},
    notification::{self, Signal},
    orders::Status,
    refunds::Settlement,
    stripe::StripeSubscription,
    subscriptions::Invoice,
};

pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// Stripe's events are a few kilobytes; anything far larger is not one.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: Value,
}

/// What a paid object says was paid.
struct Paid<'a> {
    order: &'a str,
    provider_ref: &'a str,
    currency: Currency,
    amount: Amount,
}

/// The payment an event reports, if it reports one: `None` for events that do not
/// mean "paid"; an error when a paid event lacks what fulfilment needs.
fn paid(event: &Event) -> Option<std::result::Result<Paid<'_>, &'static str>> {
    let object = &event.data.object;
    let amount_field = match event.kind.as_str() {
        // A subscription invoice's payment: its invoice event carries it.
        "payment_intent.succeeded" if object["invoice"].is_string() => return None,
        "payment_intent.succeeded" => "amount_received",
        "checkout.session.completed" | "checkout.session.async_payment_succeeded"
            if object["payment_status"] == "paid" =>
        {
            "amount_total"
        }
        _ => return None,
    };
    Some((|| {
        let order = object["metadata"]["order"]
            .as_str()
            .ok_or("no order in the metadata")?;
        // A Checkout Session is paid through a PaymentIntent: refunds name that.
        let provider_ref = object["payment_intent"]
            .as_str()
            .or(object["id"].as_str())
            .ok_or("no id")?;
        let currency = object["currency"]
            .as_str()
            .and_then(|c| Currency::parse(&c.to_ascii_uppercase()).ok())
            .ok_or("an unknown currency")?;
        let amount = super::received(object, amount_field)
            .as_i64()
            .and_then(|a| Amount::new(a).ok())
            .ok_or("no amount")?;
        Ok(Paid {
            order,
            provider_ref,
            currency,
            amount,
        })
    })())
}

/// What a hosted session's end and a subscription's events say (an invoice paid
/// or not, the subscription changed); `None` for other events.
fn subscription_signal(event: &Event) -> Option<Signal<'_>> {
    let object = &event.data.object;
    match event.kind.as_str() {
        // A hosted session the payer never paid, or whose delayed payment failed.
        "checkout.session.expired" => Some(Signal::Ended(Status::Expired)),
        "checkout.session.async_payment_failed" => Some(Signal::Ended(Status::Failed)),
        "invoice.paid" | "invoice.payment_succeeded" => {
            let Some(subscription) = invoice_subscription(object) else {
                return Some(Signal::Ignored);
            };
            Some(match invoice(object, subscription) {
                Some(invoice) => Signal::InvoicePaid(invoice),
                None => Signal::Unusable("a paid invoice without its id, amount or currency"),
            })
        }
        "invoice.payment_failed" => Some(match invoice_subscription(object) {
            Some(subscription) => Signal::InvoiceFailed { subscription },
            None => Signal::Ignored,
        }),
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => Some(StripeSubscription::from_object(object).map_or(
            Signal::Unusable("a subscription without its id or status"),
            Signal::SubscriptionChanged,
        )),
        _ => None,
    }
}

/// The subscription an invoice bills: `subscription`, or in newer API versions
/// `parent.subscription_details.subscription`.
fn invoice_subscription(object: &Value) -> Option<&str> {
    object["subscription"]
        .as_str()
        .or(object["parent"]["subscription_details"]["subscription"].as_str())
}

fn invoice<'a>(object: &'a Value, subscription: &'a str) -> Option<Invoice<'a>> {
    Some(Invoice {
        id: object["id"].as_str()?,
        subscription,
        payment_intent: object["payment_intent"].as_str(),
        currency: Currency::parse(&object["currency"].as_str()?.to_ascii_uppercase()).ok()?,
        amount: Amount::new(object["amount_paid"].as_i64()?).ok()?,
        period_end: object["lines"]["data"][0]["period"]["end"]
            .as_i64()
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
        created: object["created"]
            .as_i64()
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))?,
    })
}

/// A refund of ours ending: `refund.*` events (and `charge.refund.updated`) carry
/// the refund, whose `metadata[refund]` is our request id.
fn refunded(event: &Event) -> Signal<'_> {
    let object = &event.data.object;
    if object["object"] != "refund" {
        return Signal::Ignored;
    }
    let Some(request_id) = object["metadata"]["refund"].as_str() else {
        return Signal::Ignored;
    };
    let settlement = match object["status"].as_str() {
        Some("succeeded") => Settlement::Succeeded {
            provider_ref: object["id"].as_str().unwrap_or_default().to_owned(),
        },
        Some("failed" | "canceled") => Settlement::Failed {
            reason: object["failure_reason"]
                .as_str()
                .unwrap_or("refused")
                .to_owned(),
        },
        _ => return Signal::Ignored,
    };
    Signal::Refunded {
        request_id,
        settlement,
    }
}

/// Handles one delivery to `POST /webhooks/stripe`: `header` is `Stripe-Signature`,
/// `body` the raw bytes, `now` our clock in unix seconds. A delivery that does not
/// verify is a 400 and changes nothing; a verified one is recorded once and answered
/// 200 whatever it did (Stripe retries anything else, which would not help).
pub async fn handle(
    fulfilment: &Fulfilment,
    db: &platform::db::Db,
    config: &StripeConfig,
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<&'static str> {
    if config.webhook_secrets.is_empty() {
        return Err(Error::NotFound(
            "the Stripe channel is not configured".into(),
        ));
    }
    if body.len() > MAX_EVENT_BYTES {
        return Err(Error::PayloadTooLarge {
            limit: MAX_EVENT_BYTES,
        });
    }
    let header = header.ok_or_else(|| {
        Error::invalid("Stripe-Signature", "the Stripe-Signature header is missing")
    })?;
    let mut verdict = Err(signature::VerifyError::Mismatch);
    for secret in &config.webhook_secrets {
        verdict = signature::verify(secret.expose(), header, body, now, DEFAULT_TOLERANCE);
        if verdict.is_ok() {
            break;
        }
    }
    verdict.map_err(|e| Error::invalid("Stripe-Signature", e.to_string()))?;
    let event: Event =
        serde_json::from_slice(body).map_err(|_| Error::invalid("body", "not a Stripe event"))?;
    let signal = match paid(&event) {
        None => subscription_signal(&event).unwrap_or_else(|| refunded(&event)),
        Some(Err(why)) => Signal::Unusable(why),
        Some(Ok(paid)) => Signal::Paid(Payment {
            order: paid.order,
            source: "webhook:stripe",
            provider_ref: paid.provider_ref,
            currency: paid.currency,
            amount: paid.amount,
        }),
    };
    notification::process(
        db,
        fulfilment,
        notification::Event {
            provider: "stripe",
            id: &event.id,
            kind: &event.kind,
            order: event.data.object["metadata"]["order"].as_str(),
            signal,
        },
    )
    .await
}
