//! After the payment: refunds through each provider (a full one revokes access, a
//! partial one does not), the revenue report netting them, the CSV export,
//! reconciliation of orders whose notification never came, and a provider failing
//! in the middle of checkouts and refunds.

use std::time::Duration;

use bianxian_e2e::{Fault, FaultyUpstream, StackOptions, TestStack, spawn_stack_with};
use commerce::{
    fulfilment::Fulfilment,
    provider::{Providers, Remote},
    reconcile,
};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    checkout::{
        checkout, entitlements, listen_to_localstripe, pay_at_simulator, pay_with_card, poll,
        poll_once, shop, shop_on,
    },
    content_admin::call,
    content_api::member_token,
};

async fn refund(
    stack: &TestStack,
    admin: &str,
    order: &str,
    key: Option<&str>,
    data: Value,
) -> (StatusCode, Value) {
    let path = format!("/admin/orders/{order}/refunds");
    let mut request = stack
        .authed(Method::POST, &path, admin)
        .json(&json!({ "data": data }));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The order as finance sees it, once it leaves `from` (or 15 s pass).
async fn admin_order(stack: &TestStack, admin: &str, order: &str, from: &str) -> Value {
    let path = format!("/admin/orders/{order}");
    for _ in 0..150 {
        let (status, body) = call(stack, Method::GET, &path, Some(admin), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["data"]["order"]["status"] != from {
            return body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("order {order} stayed {from}");
}

/// A new member with a pending order for `body` (a checkout request).
async fn bought(stack: &TestStack, body: Value) -> (String, i64, String) {
    let (member, member_id) = member_token(stack).await;
    let (status, started) = checkout(stack, &member, None, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let order = started["data"]["order"]["documentId"]
        .as_str()
        .unwrap()
        .to_owned();
    (member, member_id, order)
}

#[tokio::test]
async fn stripe_refunds_partial_then_full_revoke_access_only_when_full() {
    let (stack, monthly, _) = shop().await;
    listen_to_localstripe(&stack).await;
    let admin = stack.staff_token(Role::Admin).await;
    let body = json!({ "price": monthly, "channel": "stripe", "method": "payment_intent" });
    let (member, member_id, order) = bought(&stack, body).await;
    let (_, started) = call(
        &stack,
        Method::GET,
        &format!("/admin/orders/{order}"),
        Some(&admin),
        None,
    )
    .await;
    let intent = started["data"]["order"]["providerRef"].as_str().unwrap();
    assert_eq!(
        pay_with_card(&stack, intent, "4242424242424242").await,
        StatusCode::OK
    );
    assert_eq!(poll(&stack, &member, &order).await["status"], "paid");

    // More than was captured, then a part of it.
    let (status, refused) = refund(&stack, &admin, &order, None, json!({ "amount": 9901 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, part) = refund(
        &stack,
        &admin,
        &order,
        Some("r-1"),
        json!({ "amount": 3000, "reason": "半月退款" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{part}");
    assert_eq!(part["data"]["status"], "succeeded");
    assert!(
        part["data"]["providerRef"]
            .as_str()
            .unwrap()
            .starts_with("re_")
    );
    // The same key again: the same refund, nothing more given back.
    let (status, again) = refund(
        &stack,
        &admin,
        &order,
        Some("r-1"),
        json!({ "amount": 3000 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["data"]["documentId"], part["data"]["documentId"]);
    let (status, _) = refund(
        &stack,
        &admin,
        &order,
        Some("r-1"),
        json!({ "amount": 100 }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let seen = admin_order(&stack, &admin, &order, "paid").await;
    assert_eq!(seen["order"]["status"], "partially_refunded");
    assert_eq!(seen["order"]["refunded"], 3000);
    assert_eq!(entitlements(&stack, member_id).await, 1);

    // The rest: the order is refunded and the access it gave revoked.
    let (status, rest) = refund(&stack, &admin, &order, None, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{rest}");
    assert_eq!(rest["data"]["amount"], 6900);
    let seen = admin_order(&stack, &admin, &order, "partially_refunded").await;
    assert_eq!(seen["order"]["status"], "refunded");
    assert_eq!(seen["refunds"].as_array().unwrap().len(), 2);
    assert_eq!(entitlements(&stack, member_id).await, 0);
    let (status, _) = refund(&stack, &admin, &order, None, json!({ "amount": 1 })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Finance reads refunds but does not make them.
    let finance = stack.staff_token(Role::Finance).await;
    let (status, _) = refund(&stack, &finance, &order, None, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(poll_once(&stack, &member, &order).await["refunded"], 9900);
}

#[tokio::test]
async fn alipay_and_wechat_refunds_settle_by_answer_and_by_notification() {
    let (stack, monthly, _) = shop().await;
    let admin = stack.staff_token(Role::Admin).await;

    let (member, _, alipay) = bought(
        &stack,
        json!({ "price": monthly, "channel": "alipay", "method": "qr" }),
    )
    .await;
    assert!(
        pay_at_simulator(&stack.alipay_sim, &alipay)
            .await
            .is_success()
    );
    assert_eq!(poll(&stack, &member, &alipay).await["status"], "paid");
    let (status, part) = refund(&stack, &admin, &alipay, None, json!({ "amount": 1900 })).await;
    assert_eq!(status, StatusCode::CREATED, "{part}");
    assert_eq!(part["data"]["status"], "succeeded");
    assert_eq!(
        admin_order(&stack, &admin, &alipay, "paid").await["order"]["status"],
        "partially_refunded"
    );

    // WeChat Pay answers PROCESSING; its REFUND.SUCCESS notification settles it.
    let (member, member_id, wechat) = bought(
        &stack,
        json!({ "price": monthly, "channel": "wechat", "method": "native" }),
    )
    .await;
    assert!(
        pay_at_simulator(&stack.wechat_sim, &wechat)
            .await
            .is_success()
    );
    assert_eq!(poll(&stack, &member, &wechat).await["status"], "paid");
    let (status, full) = refund(&stack, &admin, &wechat, None, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{full}");
    assert_eq!(full["data"]["amount"], 9900);
    let seen = admin_order(&stack, &admin, &wechat, "paid").await;
    assert_eq!(seen["order"]["status"], "refunded", "{seen}");
    assert_eq!(seen["refunds"][0]["status"], "succeeded");
    assert_eq!(entitlements(&stack, member_id).await, 0);
    let kinds: Vec<&str> = seen["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.ends_with(&["refund_requested", "refunded", "access_revoked"]),
        "{kinds:?}"
    );

    // Revenue nets the refunds, per channel.
    let (status, revenue) = call(&stack, Method::GET, "/admin/revenue", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{revenue}");
    let day = |channel: &str| {
        revenue["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["channel"] == channel)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (
            day("alipay")["gross"].clone(),
            day("alipay")["refunded"].clone(),
            day("alipay")["net"].clone()
        ),
        (json!(9900), json!(1900), json!(8000))
    );
    assert_eq!(day("wechat")["net"], 0);
    let (status, _) = call(
        &stack,
        Method::GET,
        "/admin/revenue?from=2026-01-01&to=2020-01-01",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The CSV export, as accounting opens it.
    let response = stack
        .authed(Method::GET, "/admin/exports/orders?channel=wechat", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("documentId,createdAt,paidAt,status,channel"));
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].starts_with(&format!("{wechat},"))
            && lines[1].contains(",refunded,wechat,native,")
    );
    assert!(lines[1].contains(",专业会员,CNY,9900,0,9900,"), "{csv}");
}

/// What the scheduler's reconciliation runs with, on the stack's settings.
fn reconciler(stack: &TestStack) -> (Providers, Fulfilment) {
    let settings = stack.platform.config.section().expect("provider settings");
    let providers = Providers::from_settings(&settings).unwrap();
    let mail = stack.platform.config.section().expect("mail settings");
    let fulfilment = Fulfilment::new(
        stack.platform.db.clone(),
        mail::queue(&stack.platform, &mail),
    );
    (providers, fulfilment)
}

#[tokio::test]
async fn reconciliation_fulfils_what_was_paid_silently_and_expires_the_rest() {
    let (stack, monthly, _) = shop().await;
    let (providers, fulfilment) = reconciler(&stack);
    // Paid at Stripe, but this stack never hears of it (no webhook registered).
    let body = json!({ "price": monthly, "channel": "stripe", "method": "payment_intent" });
    let (member, member_id, paid) = bought(&stack, body).await;
    let intent = poll_once(&stack, &member, &paid).await;
    assert_eq!(intent["status"], "pending");
    let admin = stack.staff_token(Role::Admin).await;
    let (_, seen) = call(
        &stack,
        Method::GET,
        &format!("/admin/orders/{paid}"),
        Some(&admin),
        None,
    )
    .await;
    let intent = seen["data"]["order"]["providerRef"].as_str().unwrap();
    assert_eq!(
        pay_with_card(&stack, intent, "4242424242424242").await,
        StatusCode::OK
    );
    // An Alipay QR nobody scans.
    let (_, _, unpaid) = bought(
        &stack,
        json!({ "price": monthly, "channel": "alipay", "method": "qr" }),
    )
    .await;

    // Too soon: the notifications may still come.
    let now = chrono::Utc::now();
    let report = reconcile::run(&stack.platform.db, &providers, &fulfilment, now)
        .await
        .unwrap();
    assert_eq!((report.fulfilled, report.expired), (0, 0));
    // Later: the paid one is fulfilled, the other still payable.
    let later = now + chrono::Duration::minutes(6);
    let report = reconcile::run(&stack.platform.db, &providers, &fulfilment, later)
        .await
        .unwrap();
    assert_eq!(
        (report.fulfilled, report.expired, report.pending),
        (1, 0, 1),
        "{report:?}"
    );
    assert_eq!(poll_once(&stack, &member, &paid).await["status"], "paid");
    assert_eq!(entitlements(&stack, member_id).await, 1);
    // Past its expiry: closed at Alipay, then expired here.
    let expired = now + chrono::Duration::minutes(31);
    let report = reconcile::run(&stack.platform.db, &providers, &fulfilment, expired)
        .await
        .unwrap();
    assert_eq!((report.expired, report.failed), (1, 0), "{report:?}");
    let (_, seen) = call(
        &stack,
        Method::GET,
        &format!("/admin/orders/{unpaid}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(seen["data"]["order"]["status"], "expired");
    let alipay = providers.alipay.as_ref().unwrap();
    assert_eq!(
        commerce::provider::Provider::query(&**alipay, &unpaid, None)
            .await
            .unwrap(),
        Remote::Closed
    );
    // Paying it now is refused at the cashier.
    assert!(
        !pay_at_simulator(&stack.alipay_sim, &unpaid)
            .await
            .is_success()
    );
}

/// Alipay answering 502 during checkout, and during a refund first not answering,
/// then losing its answer to the refund it made: each
/// caller gets a 503 asking to retry, nothing is granted or taken back by mistake, a
/// retry with the same Idempotency-Key resumes the same order or refund once, and
/// reconciliation expires the order whose payment never started.
#[tokio::test]
async fn a_provider_failing_mid_checkout_and_mid_refund_leaves_every_order_consistent() {
    let alipay = FaultyUpstream::start().await;
    let stack = spawn_stack_with(StackOptions {
        env: vec![("ALIPAY_GATEWAY_URL", format!("{}/gateway.do", alipay.url))],
        ..Default::default()
    })
    .await;
    alipay.relay_to(&stack.alipay_sim);
    let (stack, monthly, _) = shop_on(stack).await;
    let admin = stack.staff_token(Role::Admin).await;
    let body = json!({ "price": monthly, "channel": "alipay", "method": "qr" });
    let unavailable = |status: StatusCode, body: &Value| {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["status"], 503, "{body}");
    };

    // Checkout while Alipay answers 502: a 503, and nothing granted.
    alipay.set(Fault::BadGateway);
    let (member, member_id) = member_token(&stack).await;
    let (status, failed) = checkout(&stack, &member, Some("drill-checkout"), &body).await;
    unavailable(status, &failed);
    let (abandoned, abandoned_id) = member_token(&stack).await;
    let (status, failed) = checkout(&stack, &abandoned, None, &body).await;
    unavailable(status, &failed);
    assert_eq!(entitlements(&stack, member_id).await, 0);

    // Alipay is back: the same key resumes the same order, which is paid once.
    alipay.set(Fault::None);
    let (status, started) = checkout(&stack, &member, Some("drill-checkout"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let order = started["data"]["order"]["documentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, orders) = call(&stack, Method::GET, "/me/orders", Some(&member), None).await;
    assert_eq!(orders["data"].as_array().map(Vec::len), Some(1), "{orders}");
    assert!(
        pay_at_simulator(&stack.alipay_sim, &order)
            .await
            .is_success()
    );
    assert_eq!(poll(&stack, &member, &order).await["status"], "paid");
    assert_eq!(entitlements(&stack, member_id).await, 1);

    // A refund while Alipay never answers: after the client's timeout, a 503; the
    // refund waits `pending`, the order stays paid and the access stays.
    alipay.set(Fault::Hang);
    let (status, hung) = refund(&stack, &admin, &order, Some("drill-refund"), json!({})).await;
    unavailable(status, &hung);
    let seen = admin_order(&stack, &admin, &order, "refunded").await;
    assert_eq!(seen["order"]["status"], "paid", "{seen}");
    assert_eq!(seen["refunds"][0]["status"], "pending", "{seen}");
    assert_eq!(entitlements(&stack, member_id).await, 1);

    // The same key again, and this time Alipay makes the refund but its answer is
    // lost: a 503 once more. Its notification may settle the refund here meanwhile.
    alipay.set(Fault::LoseAnswer);
    let (status, lost) = refund(&stack, &admin, &order, Some("drill-refund"), json!({})).await;
    unavailable(status, &lost);

    // Back: the same key a third time; Alipay knows the request, and the order is
    // refunded once, by one refund.
    alipay.set(Fault::None);
    let (status, done) = refund(&stack, &admin, &order, Some("drill-refund"), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["data"]["status"], "succeeded", "{done}");
    let seen = admin_order(&stack, &admin, &order, "paid").await;
    assert_eq!(seen["order"]["status"], "refunded", "{seen}");
    assert_eq!(seen["refunds"].as_array().map(Vec::len), Some(1), "{seen}");
    assert_eq!(entitlements(&stack, member_id).await, 0);

    // The checkout nobody retried: reconciliation expires it once it is past due.
    let (providers, fulfilment) = reconciler(&stack);
    let (_, left) = call(&stack, Method::GET, "/me/orders", Some(&abandoned), None).await;
    let left = left["data"][0]["documentId"]
        .as_str()
        .expect("the abandoned order")
        .to_owned();
    let expired = chrono::Utc::now() + chrono::Duration::minutes(31);
    let report = reconcile::run(&stack.platform.db, &providers, &fulfilment, expired)
        .await
        .unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(
        poll_once(&stack, &abandoned, &left).await["status"],
        "expired"
    );
    assert_eq!(entitlements(&stack, abandoned_id).await, 0);
}
