//! Checkout through the gateway: a member starts a payment, the provider (localstripe
//! here, a real Stripe API server) confirms it and notifies our webhook with a signed
//! event, and only that grants access. Idempotency-Key, and every way a checkout
//! request can be wrong.

use std::time::Duration;

use bianxian_e2e::{STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRETS, TestStack, spawn_stack};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    commerce::{plan, post},
    content_admin::call,
    content_api::member_token,
};

/// A stack selling the pro plan: the stack, the monthly CNY price and the USD
/// subscription price (their documentIds).
pub(crate) async fn shop() -> (TestStack, String, String) {
    shop_on(spawn_stack().await).await
}

/// [`shop`] on a stack of the caller's.
pub(crate) async fn shop_on(stack: TestStack) -> (TestStack, String, String) {
    let admin = stack.staff_token(Role::Admin).await;
    let (status, product) = post(&stack, &admin, plan()).await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let price = |currency: &str, billing: &str| {
        product["data"]["prices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["currency"] == currency && p["billing"] == billing)
            .map(|p| p["documentId"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let monthly = price("CNY", "prepaid");
    let usd = price("USD", "subscription");
    (stack, monthly, usd)
}

/// A course sold once, in dollars: its price's documentId.
async fn usd_course(stack: &TestStack) -> String {
    let admin = stack.staff_token(Role::Admin).await;
    let (status, course) = post(
        stack,
        &admin,
        json!({ "data": {
            "kind": "course", "code": "prompt-101", "name": "提示词入门",
            "prices": [{ "currency": "USD", "amount": 4900, "billing": "one-time" }],
        }}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{course}");
    course["data"]["prices"][0]["documentId"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn checkout(
    stack: &TestStack,
    member: &str,
    key: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let mut request = stack.authed(Method::POST, "/checkout", member).json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("checkout");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) fn require_localstripe(stack: &TestStack) -> &str {
    stack
        .stripe_api
        .as_deref()
        .expect("checkout tests need localstripe: run scripts/test or set TEST_STRIPE_API_BASE")
}

/// Has localstripe send its signed events to this stack's webhook too. It posts
/// every event to every registered URL: other stacks' orders are unknown here.
pub(crate) async fn listen_to_localstripe(stack: &TestStack) {
    let stripe = require_localstripe(stack);
    let secret = STRIPE_WEBHOOK_SECRETS.split(',').next().unwrap();
    let registered = stack
        .http
        .post(format!("{stripe}/_config/webhooks/{}", stack.db.name))
        .form(&[
            ("url", stack.url("/webhooks/stripe")),
            ("secret", secret.to_owned()),
        ])
        .send()
        .await
        .expect("localstripe");
    assert!(registered.status().is_success());
}

/// What Stripe.js does in the payer's browser: a card, then confirming the
/// PaymentIntent with it.
pub(crate) async fn pay_with_card(
    stack: &TestStack,
    payment_intent: &str,
    card: &str,
) -> StatusCode {
    let stripe = require_localstripe(stack);
    let key = STRIPE_SECRET_KEY;
    let method = card_of(stack, card).await;
    let attached = stack
        .http
        .post(format!("{stripe}/v1/payment_intents/{payment_intent}"))
        .bearer_auth(key)
        .form(&[("payment_method", method.as_str())])
        .send()
        .await
        .unwrap();
    assert!(attached.status().is_success());
    stack
        .http
        .post(format!(
            "{stripe}/v1/payment_intents/{payment_intent}/confirm"
        ))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
}

/// What Stripe.js's `createPaymentMethod` does with the card number the payer typed:
/// the PaymentMethod's id.
pub(crate) async fn card_of(stack: &TestStack, number: &str) -> String {
    let stripe = require_localstripe(stack);
    let method: Value = stack
        .http
        .post(format!("{stripe}/v1/payment_methods"))
        .bearer_auth(STRIPE_SECRET_KEY)
        .form(&[
            ("type", "card"),
            ("card[number]", number),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    method["id"].as_str().unwrap().to_owned()
}

/// Polls the order as the return page does, until it leaves `pending` or 20 s pass.
pub(crate) async fn poll(stack: &TestStack, member: &str, order: &str) -> Value {
    let path = format!("/orders/{order}");
    for _ in 0..200 {
        let (status, body) = call(stack, Method::GET, &path, Some(member), None).await;
        assert_eq!(status, StatusCode::OK);
        if body["data"]["status"] != "pending" {
            return body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("order {order} stayed pending");
}

pub(crate) async fn entitlements(stack: &TestStack, member_id: i64) -> i64 {
    stack
        .db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM entitlements WHERE member_id = $1 AND revoked_at IS NULL",
            &[&member_id],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_member_pays_with_stripe_and_only_the_signed_webhook_grants_access() {
    let (stack, monthly, _) = shop().await;
    listen_to_localstripe(&stack).await;
    let (member, member_id) = member_token(&stack).await;
    let body = json!({ "price": monthly, "channel": "stripe", "method": "payment_intent" });
    let (status, started) = checkout(&stack, &member, Some("order-1"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let order = started["data"]["order"]["documentId"].as_str().unwrap();
    let payment = &started["data"]["payment"];
    assert_eq!(payment["method"], "payment_intent");
    let intent = payment["paymentIntent"].as_str().unwrap();
    assert!(intent.starts_with("pi_"));
    assert!(
        payment["clientSecret"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{intent}_secret_"))
    );
    assert_eq!(started["data"]["order"]["status"], "pending");
    assert_eq!(started["data"]["order"]["method"], "payment_intent");
    assert_eq!(started["data"]["order"]["amount"], 9900);
    // The return page polls before paying: nothing is granted.
    assert_eq!(poll_once(&stack, &member, order).await["status"], "pending");
    assert_eq!(entitlements(&stack, member_id).await, 0);

    assert_eq!(
        pay_with_card(&stack, intent, "4242424242424242").await,
        StatusCode::OK
    );
    let paid = poll(&stack, &member, order).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(entitlements(&stack, member_id).await, 1);
    let events: Vec<String> = stack
        .db
        .client()
        .await
        .query(
            "SELECT e.kind || ':' || e.source FROM order_events e JOIN orders o ON o.id = e.order_id
             WHERE o.document_id = $1 ORDER BY e.id",
            &[&order],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        events,
        [
            "created:checkout",
            "payment_started:checkout",
            "paid:webhook:stripe"
        ]
    );
    // The same key and body, after paying: the same answer, no second order.
    let (status, again) = checkout(&stack, &member, Some("order-1"), &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["data"]["payment"], started["data"]["payment"]);
    assert_eq!(again["data"]["order"]["status"], "paid");
}

pub(crate) async fn poll_once(stack: &TestStack, member: &str, order: &str) -> Value {
    let path = format!("/orders/{order}");
    call(stack, Method::GET, &path, Some(member), None).await.1["data"].clone()
}

#[tokio::test]
async fn a_declined_card_leaves_the_order_pending_and_grants_nothing() {
    let (stack, monthly, _) = shop().await;
    listen_to_localstripe(&stack).await;
    let (member, member_id) = member_token(&stack).await;
    let body = json!({ "price": monthly, "channel": "stripe", "method": "payment_intent" });
    let (_, started) = checkout(&stack, &member, None, &body).await;
    let order = started["data"]["order"]["documentId"].as_str().unwrap();
    let intent = started["data"]["payment"]["paymentIntent"]
        .as_str()
        .unwrap();
    // Stripe's "charge declined" test card.
    assert_eq!(
        pay_with_card(&stack, intent, "4000000000000341").await,
        StatusCode::PAYMENT_REQUIRED
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(poll_once(&stack, &member, order).await["status"], "pending");
    assert_eq!(entitlements(&stack, member_id).await, 0);
}

#[tokio::test]
async fn an_idempotency_key_answers_the_same_checkout_and_refuses_another_body() {
    let (stack, monthly, _) = shop().await;
    let usd = usd_course(&stack).await;
    require_localstripe(&stack);
    let (member, _) = member_token(&stack).await;
    let body = json!({ "price": monthly, "channel": "stripe", "method": "payment_intent" });

    // Twenty concurrent retries of one request: one order, one PaymentIntent.
    let answers = futures_util::future::join_all(
        (0..20).map(|_| checkout(&stack, &member, Some("key-A"), &body)),
    )
    .await;
    let first = &answers[0].1["data"];
    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{answer}");
        assert_eq!(
            answer["data"]["order"]["documentId"],
            first["order"]["documentId"]
        );
        assert_eq!(answer["data"]["payment"], first["payment"]);
    }
    let orders: i64 = stack
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(orders, 1);

    // The same key with another body.
    let other = json!({ "price": usd, "channel": "stripe", "method": "payment_intent" });
    let (status, refused) = checkout(&stack, &member, Some("key-A"), &other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["name"], "UnprocessableEntityError");
    // Another member's identical key is theirs alone.
    let (someone, _) = member_token(&stack).await;
    let (status, theirs) = checkout(&stack, &someone, Some("key-A"), &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(
        theirs["data"]["order"]["documentId"],
        first["order"]["documentId"]
    );
    // Without a key, every request is a new order.
    let (_, one) = checkout(&stack, &member, None, &body).await;
    let (_, two) = checkout(&stack, &member, None, &body).await;
    assert_ne!(
        one["data"]["order"]["documentId"],
        two["data"]["order"]["documentId"]
    );
    // A USD price through Stripe is fine.
    let (status, dollars) = checkout(&stack, &member, None, &other).await;
    assert_eq!(status, StatusCode::CREATED, "{dollars}");
    assert_eq!(dollars["data"]["order"]["currency"], "USD");
}

#[tokio::test]
async fn a_wrong_checkout_request_is_a_precise_4xx_and_creates_nothing() {
    let (stack, monthly, _) = shop().await;
    let (member, _) = member_token(&stack).await;
    let admin = stack.staff_token(Role::Admin).await;
    let (_, expired) = call(
        &stack,
        Method::POST,
        "/admin/promotions",
        Some(&admin),
        Some(json!({ "data": {
            "code": "GONE", "percentOff": 10,
            "startsAt": "2019-01-01T00:00:00Z", "endsAt": "2020-01-01T00:00:00Z",
        }})),
    )
    .await;
    assert_eq!(expired["data"]["code"], "GONE", "{expired}");
    let long_key = "k".repeat(256);
    let stripe =
        |price: &str| json!({ "price": price, "channel": "stripe", "method": "payment_intent" });
    let cases: Vec<(Option<&str>, Value, StatusCode, &str)> = vec![
        (
            None,
            stripe("nobody0000000000000000"),
            StatusCode::BAD_REQUEST,
            "price",
        ),
        (
            None,
            json!({ "price": monthly, "channel": "stripe", "method": "qr" }),
            StatusCode::BAD_REQUEST,
            "method",
        ),
        (
            None,
            json!({ "price": monthly, "channel": "paypal", "method": "payment_intent" }),
            StatusCode::BAD_REQUEST,
            "body",
        ),
        (
            None,
            json!({ "price": monthly, "channel": "stripe", "method": "payment_intent", "amount": 1 }),
            StatusCode::BAD_REQUEST,
            "body",
        ),
        (
            None,
            json!({ "price": monthly, "channel": "stripe", "method": "payment_intent", "promotionCode": "GONE" }),
            StatusCode::BAD_REQUEST,
            "promotionCode",
        ),
        (
            None,
            json!({ "price": monthly, "channel": "stripe", "method": "payment_intent", "promotionCode": "NOSUCH" }),
            StatusCode::BAD_REQUEST,
            "promotionCode",
        ),
        (
            Some(""),
            stripe(&monthly),
            StatusCode::BAD_REQUEST,
            "Idempotency-Key",
        ),
        (
            Some(&long_key),
            stripe(&monthly),
            StatusCode::BAD_REQUEST,
            "Idempotency-Key",
        ),
    ];
    for (key, body, expected, path) in cases {
        let (status, answer) = checkout(&stack, &member, key, &body).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert_eq!(
            answer["error"]["details"]["errors"][0]["path"][0], path,
            "{body}: {answer}"
        );
    }
    // Not signed in.
    let response = stack
        .http
        .post(stack.url("/checkout"))
        .json(&stripe(&monthly))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let orders: i64 = stack
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(orders, 0);
}

/// The payer confirming on a simulator's cashier page.
pub(crate) async fn pay_at_simulator(simulator: &str, order: &str) -> StatusCode {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    client
        .post(format!("{simulator}/_sim/pay/{order}"))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_member_pays_with_alipay_through_the_simulator() {
    let (stack, monthly, _) = shop().await;
    let usd = usd_course(&stack).await;
    let (member, member_id) = member_token(&stack).await;
    let body = json!({ "price": monthly, "channel": "alipay", "method": "qr" });
    let (status, started) = checkout(&stack, &member, None, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let order = started["data"]["order"]["documentId"].as_str().unwrap();
    assert_eq!(started["data"]["payment"]["method"], "qr");
    assert!(
        started["data"]["payment"]["qrCode"]
            .as_str()
            .unwrap()
            .starts_with(&stack.alipay_sim)
    );
    assert!(
        pay_at_simulator(&stack.alipay_sim, order)
            .await
            .is_success()
    );
    assert_eq!(poll(&stack, &member, order).await["status"], "paid");
    assert_eq!(entitlements(&stack, member_id).await, 1);

    // The desktop cashier: a signed URL the browser is sent to.
    let page = json!({ "price": monthly, "channel": "alipay", "method": "page" });
    let (status, started) = checkout(&stack, &member, None, &page).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let url = started["data"]["payment"]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/gateway.do?", stack.alipay_sim)));
    assert!(url.contains("method=alipay.trade.page.pay") && url.contains("sign="));
    // Alipay settles in yuan only.
    let dollars = json!({ "price": usd, "channel": "alipay", "method": "qr" });
    let (status, refused) = checkout(&stack, &member, None, &dollars).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"]["details"]["errors"][0]["path"][0], "price");
}

#[tokio::test]
async fn a_member_pays_with_wechat_pay_through_the_simulator() {
    let (stack, monthly, _) = shop().await;
    let (member, member_id) = member_token(&stack).await;
    let body = json!({ "price": monthly, "channel": "wechat", "method": "native" });
    let (status, started) = checkout(&stack, &member, Some("wx-1"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let order = started["data"]["order"]["documentId"].as_str().unwrap();
    assert!(
        started["data"]["payment"]["codeUrl"]
            .as_str()
            .unwrap()
            .starts_with("weixin://wxpay/bizpayurl?pr=")
    );
    assert!(
        pay_at_simulator(&stack.wechat_sim, order)
            .await
            .is_success()
    );
    assert_eq!(poll(&stack, &member, order).await["status"], "paid");
    assert_eq!(entitlements(&stack, member_id).await, 1);

    // H5, for a phone browser outside WeChat.
    let h5 = json!({ "price": monthly, "channel": "wechat", "method": "h5" });
    let (status, started) = checkout(&stack, &member, None, &h5).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert!(
        started["data"]["payment"]["h5Url"]
            .as_str()
            .unwrap()
            .starts_with(&stack.wechat_sim)
    );
    // JSAPI needs the payer's openid: a member who has not linked WeChat is told so.
    let jsapi = json!({ "price": monthly, "channel": "wechat", "method": "jsapi" });
    let (status, refused) = checkout(&stack, &member, None, &jsapi).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(
        refused["error"]["details"]["errors"][0]["path"][0],
        "openid"
    );
}

#[tokio::test]
async fn unverifiable_alipay_and_wechat_notifications_change_nothing() {
    let (stack, monthly, _) = shop().await;
    let (member, member_id) = member_token(&stack).await;
    let body = json!({ "price": monthly, "channel": "alipay", "method": "qr" });
    let (_, started) = checkout(&stack, &member, None, &body).await;
    let order = started["data"]["order"]["documentId"].as_str().unwrap();
    // A notification that claims the order is paid, signed by nobody.
    let forged = format!(
        "notify_id=forged1&app_id={}&seller_id={}&out_trade_no={order}&trade_no=2026&trade_status=TRADE_SUCCESS&total_amount=99.00&sign_type=RSA2&sign=AAAA",
        bianxian_local::payment_sims::ALIPAY_APP_ID,
        bianxian_local::payment_sims::ALIPAY_SELLER_ID,
    );
    let response = stack
        .http
        .post(stack.url("/webhooks/alipay"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_ne!(response.text().await.unwrap(), "success");
    let response = stack
        .http
        .post(stack.url("/webhooks/wechat"))
        .header(
            "Wechatpay-Timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header("Wechatpay-Nonce", "n")
        .header("Wechatpay-Signature", "AAAA")
        .header("Wechatpay-Serial", "PUB_KEY_ID_0000")
        .json(&json!({ "id": "forged", "event_type": "TRANSACTION.SUCCESS", "resource": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let failure: Value = response.json().await.unwrap();
    assert_eq!(failure["code"], "FAIL");
    assert_eq!(poll_once(&stack, &member, order).await["status"], "pending");
    assert_eq!(entitlements(&stack, member_id).await, 0);
    let recorded: i64 = stack
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM payment_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 0);
}
