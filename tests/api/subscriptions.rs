//! A Stripe-billed subscription end to end on localstripe: checkout with the card
//! Stripe.js collected, the first invoice paid and notified, a renewal extending
//! access by a period, a renewal that fails extending nothing, and cancelling at the
//! end of the period.

use std::time::Duration;

use bianxian_e2e::{STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRETS, TestStack};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    checkout::{card_of, checkout, listen_to_localstripe, poll, require_localstripe, shop},
    commerce::{deliver, stripe_signature},
    content_admin::call,
    content_api::member_token,
};

/// Stripe's next billing cycle, as its clock would run it: an invoice for the
/// subscription, collected from the customer's default card (paying a draft
/// finalizes it).
async fn bill_next_period(stack: &TestStack, customer: &str, subscription: &str) -> StatusCode {
    let stripe = require_localstripe(stack);
    let invoice: Value = stack
        .http
        .post(format!("{stripe}/v1/invoices"))
        .bearer_auth(STRIPE_SECRET_KEY)
        .form(&[("customer", customer), ("subscription", subscription)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = invoice["id"].as_str().unwrap();
    stack
        .http
        .post(format!("{stripe}/v1/invoices/{id}/pay"))
        .bearer_auth(STRIPE_SECRET_KEY)
        .send()
        .await
        .unwrap()
        .status()
}

/// The member's entitlements: (count, latest end).
async fn access(stack: &TestStack, member_id: i64) -> (i64, Option<chrono::DateTime<chrono::Utc>>) {
    let row = stack
        .db
        .client()
        .await
        .query_one(
            "SELECT count(*), max(expires_at) FROM entitlements
             WHERE member_id = $1 AND revoked_at IS NULL AND source = 'subscription'",
            &[&member_id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn my_subscriptions(stack: &TestStack, member: &str) -> Value {
    let (status, body) = call(stack, Method::GET, "/me/subscriptions", Some(member), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

/// Waits until `check` holds of the member's orders (newest first), or 15 s pass.
async fn orders_until(stack: &TestStack, member: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..150 {
        let (_, body) = call(stack, Method::GET, "/me/orders", Some(member), None).await;
        if check(&body["data"]) {
            return body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events: Vec<String> = stack
        .db
        .client()
        .await
        .query(
            "SELECT kind || ':' || outcome FROM payment_events ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    panic!("the member's orders never got there; events: {events:?}");
}

#[tokio::test]
async fn a_subscription_renews_through_stripe_and_a_failed_renewal_extends_nothing() {
    let (stack, monthly, usd) = shop().await;
    listen_to_localstripe(&stack).await;
    let (member, member_id) = member_token(&stack).await;

    // The wrong ways first.
    let pm = card_of(&stack, "4242424242424242").await;
    let wrong = [
        (
            json!({ "price": usd, "channel": "stripe", "method": "payment_intent" }),
            "method",
        ),
        (
            json!({ "price": monthly, "channel": "stripe", "method": "subscription", "paymentMethod": pm }),
            "method",
        ),
        (
            json!({ "price": usd, "channel": "stripe", "method": "subscription" }),
            "paymentMethod",
        ),
        (
            json!({ "price": usd, "channel": "stripe", "method": "subscription", "paymentMethod": "card_1" }),
            "paymentMethod",
        ),
    ];
    for (body, path) in wrong {
        let (status, answer) = checkout(&stack, &member, None, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(
            answer["error"]["details"]["errors"][0]["path"][0], path,
            "{body}: {answer}"
        );
    }

    let body =
        json!({ "price": usd, "channel": "stripe", "method": "subscription", "paymentMethod": pm });
    let (status, started) = checkout(&stack, &member, Some("sub-1"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let payment = &started["data"]["payment"];
    assert_eq!(
        (payment["method"].as_str(), payment["status"].as_str()),
        (Some("subscription"), Some("active"))
    );
    let order = started["data"]["order"]["documentId"].as_str().unwrap();
    // Only the invoice's webhook grants.
    assert_eq!(poll(&stack, &member, order).await["status"], "paid");
    let (count, first_end) = access(&stack, member_id).await;
    assert_eq!(count, 1);
    let subscriptions = my_subscriptions(&stack, &member).await;
    assert_eq!(subscriptions.as_array().unwrap().len(), 1);
    assert_eq!(subscriptions[0]["status"], "active");
    assert_eq!(subscriptions[0]["amount"], 1299);

    // A renewal: a second paid order, access extended by a month after the first.
    let (customer, subscription): (String, String) = {
        let row = stack
            .db
            .client()
            .await
            .query_one(
                "SELECT c.customer_id, s.provider_ref FROM subscriptions s
                 JOIN stripe_customers c ON c.member_id = s.member_id WHERE s.member_id = $1",
                &[&member_id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(
        bill_next_period(&stack, &customer, &subscription).await,
        StatusCode::OK
    );
    let orders = orders_until(&stack, &member, |o| {
        o.as_array().unwrap().len() == 2 && o[0]["status"] == "paid"
    })
    .await;
    assert_eq!(orders[0]["method"], "subscription");
    assert_eq!(orders[0]["amount"], 1299);
    let (count, renewed_end) = access(&stack, member_id).await;
    assert_eq!(count, 2);
    let extended = renewed_end.unwrap() - first_end.unwrap();
    assert!((28..=31).contains(&extended.num_days()), "{extended}");

    // A renewal the card refuses: Stripe says so (localstripe sends no event for a
    // declined invoice, so it is signed here as Stripe signs it): past due, nothing
    // extended, no paid order.
    let failed = serde_json::to_vec(&json!({
        "id": "evt_renewal_failed", "object": "event", "type": "invoice.payment_failed",
        "created": chrono::Utc::now().timestamp(),
        "data": { "object": {
            "id": "in_failed_renewal", "object": "invoice", "subscription": subscription,
            "status": "open", "amount_paid": 0, "amount_due": 1299, "currency": "usd",
        }},
    }))
    .unwrap();
    let secret = STRIPE_WEBHOOK_SECRETS.split(',').next().unwrap();
    let signature = stripe_signature(secret, &failed, chrono::Utc::now().timestamp());
    let (status, outcome) = deliver(&stack, &failed, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["data"]["outcome"], "renewal_failed");
    for _ in 0..150 {
        if my_subscriptions(&stack, &member).await[0]["status"] == "past_due" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        my_subscriptions(&stack, &member).await[0]["status"],
        "past_due"
    );
    assert_eq!(access(&stack, member_id).await, (2, renewed_end));
    let (_, orders) = call(&stack, Method::GET, "/me/orders", Some(&member), None).await;
    assert_eq!(orders["data"].as_array().unwrap().len(), 2);

    // Cancelling: at the end of the period, and only one's own.
    let document_id = subscriptions[0]["documentId"].as_str().unwrap();
    let path = format!("/me/subscriptions/{document_id}/cancel");
    let (someone, _) = member_token(&stack).await;
    let (status, _) = call(&stack, Method::POST, &path, Some(&someone), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, canceled) = call(&stack, Method::POST, &path, Some(&member), None).await;
    assert_eq!(status, StatusCode::OK, "{canceled}");
    assert_eq!(canceled["data"]["cancelAtPeriodEnd"], true);
    assert_eq!(access(&stack, member_id).await.0, 2);
}
