//! The catalogue over HTTP (issue 11): admins add and change plans and courses,
//! finance reads them, and how a product is sold is checked at the edge.

use bianxian_e2e::{TestStack, spawn_stack};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::content_admin::call;

fn plan() -> Value {
    json!({ "data": {
        "kind": "plan",
        "code": "pro",
        "name": "专业会员",
        "prices": [
            { "currency": "USD", "amount": 1299, "billing": "subscription", "period": "month" },
            { "currency": "CNY", "amount": 9900, "billing": "prepaid", "period": "month" },
            { "currency": "CNY", "amount": 99900, "billing": "prepaid", "period": "year" },
        ],
    }})
}

/// A price list without the ids the API gave it.
fn terms(prices: &Value) -> Vec<Value> {
    let mut prices = prices.as_array().unwrap().clone();
    for price in &mut prices {
        price.as_object_mut().unwrap().remove("documentId");
    }
    prices
}

async fn post(stack: &TestStack, token: &str, body: Value) -> (StatusCode, Value) {
    call(
        stack,
        Method::POST,
        "/admin/products",
        Some(token),
        Some(body),
    )
    .await
}

async fn put(stack: &TestStack, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    call(stack, Method::PUT, path, Some(token), Some(body)).await
}

#[tokio::test]
async fn admins_sell_plans_and_courses_that_finance_reads() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let finance = stack.staff_token(Role::Finance).await;

    let (status, created) = post(&stack, &admin, plan()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let plan = &created["data"];
    assert_eq!(
        (plan["kind"].clone(), plan["active"].clone()),
        (json!("plan"), json!(true))
    );
    // Prices come back in one order, whatever order they were sent in.
    assert_eq!(
        terms(&plan["prices"]),
        [
            json!({ "currency": "CNY", "amount": 9900, "billing": "prepaid", "period": "month" }),
            json!({ "currency": "CNY", "amount": 99900, "billing": "prepaid", "period": "year" }),
            json!({ "currency": "USD", "amount": 1299, "billing": "subscription", "period": "month" }),
        ]
    );
    let id = plan["documentId"].as_str().unwrap().to_owned();
    let path = format!("/admin/products/{id}");

    let course = json!({ "data": {
        "kind": "course", "code": "prompt-101", "name": "提示词入门课", "accessDays": 365,
        "prices": [{ "currency": "CNY", "amount": 19900, "billing": "one-time" }],
    }});
    let (status, course) = post(&stack, &admin, course).await;
    assert_eq!(status, StatusCode::CREATED, "{course}");
    assert_eq!(course["data"]["prices"][0]["period"], Value::Null);

    // Finance reads the catalogue but changes nothing.
    let (status, list) = call(&stack, Method::GET, "/admin/products", Some(&finance), None).await;
    assert_eq!(status, StatusCode::OK);
    let codes: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["pro", "prompt-101"]);
    let (status, one) = call(&stack, Method::GET, &path, Some(&finance), None).await;
    assert_eq!(
        (status, one["data"]["code"].clone()),
        (StatusCode::OK, json!("pro"))
    );
    let deactivate = json!({ "data": { "active": false } });
    let (status, _) = put(&stack, &path, &finance, deactivate.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Admins change prices, Stripe's way: an unchanged price keeps its id, a new
    // amount is a new price, a missing one leaves the list.
    let change = json!({ "data": { "prices": [
        { "currency": "CNY", "amount": 8800, "billing": "prepaid", "period": "month" },
        { "currency": "CNY", "amount": 99900, "billing": "prepaid", "period": "year" },
    ]}});
    let (status, changed) = put(&stack, &path, &admin, change).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let prices = &changed["data"]["prices"];
    assert_eq!(prices.as_array().unwrap().len(), 2, "{prices}");
    assert_eq!(prices[0]["amount"], 8800);
    assert_ne!(prices[0]["documentId"], plan["prices"][0]["documentId"]);
    assert_eq!(prices[1]["documentId"], plan["prices"][1]["documentId"]);
    let (status, changed) = put(&stack, &path, &admin, deactivate).await;
    assert_eq!(
        (status, changed["data"]["active"].clone()),
        (StatusCode::OK, json!(false))
    );
    assert_eq!(changed["data"]["prices"][0]["amount"], 8800);

    let client = stack.db.client().await;
    // The replaced prices stay, inactive, for the orders that will name them.
    let kept: i64 = client
        .query_one(
            "SELECT count(*) FROM prices WHERE NOT active
               AND product_id = (SELECT id FROM products WHERE document_id = $1)",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 2);
    let actions: Vec<String> = client
        .query(
            "SELECT action FROM audit_log WHERE subject = $1 ORDER BY id",
            &[&format!("product:{id}")],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        actions,
        ["product.create", "product.update", "product.update"]
    );
}

#[tokio::test]
async fn how_a_product_is_sold_is_checked_at_the_edge() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let (status, created) = post(&stack, &admin, plan()).await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!(
        "/admin/products/{}",
        created["data"]["documentId"].as_str().unwrap()
    );

    let with = |change: Value| {
        let mut body = plan();
        for (key, value) in change.as_object().unwrap() {
            body["data"][key] = value.clone();
        }
        body
    };
    let price = |billing: &str, period: Value| json!({ "currency": "CNY", "amount": 100, "billing": billing, "period": period });
    let monthly = price("prepaid", json!("month"));
    let refused = [
        (
            with(json!({ "code": "p-2", "prices": [price("one-time", Value::Null)] })),
            "prices",
        ),
        (
            with(json!({ "code": "p-3", "prices": [price("prepaid", Value::Null)] })),
            "prices",
        ),
        (
            with(json!({ "code": "p-4", "accessDays": 30 })),
            "accessDays",
        ),
        (with(json!({ "code": "Pro Plan" })), "code"),
        (with(json!({ "code": "p-5", "prices": [] })), "prices"),
        (
            with(json!({ "code": "p-6", "prices": [monthly.clone(), monthly.clone()] })),
            "prices",
        ),
        (with(json!({ "code": "p-7", "name": "" })), "name"),
        (
            json!({ "data": { "kind": "course", "code": "c-1", "name": "课", "prices": [monthly] } }),
            "prices",
        ),
    ];
    for (body, field) in refused {
        let (status, answer) = post(&stack, &admin, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(
            answer["error"]["details"]["errors"][0]["path"][0], field,
            "{answer}"
        );
    }
    // Money is integer minor units in a known currency; unknown fields are refused.
    let priced = |currency: &str, amount: Value| json!([{ "currency": currency, "amount": amount, "billing": "prepaid", "period": "month" }]);
    for body in [
        with(json!({ "code": "p-8", "prices": priced("CNY", json!(99.5)) })),
        with(json!({ "code": "p-9", "prices": priced("EUR", json!(100)) })),
        with(json!({ "code": "p-10", "prices": priced("CNY", json!(0)) })),
        with(json!({ "code": "p-11", "stripePrice": "price_1" })),
    ] {
        let (status, answer) = post(&stack, &admin, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    let (status, answer) = post(&stack, &admin, plan()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    // Kind and code are what entitlements name: they never change.
    for change in [json!({ "code": "pro-plus" }), json!({ "kind": "course" })] {
        let (status, answer) = put(&stack, &path, &admin, json!({ "data": change })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    }
    let one_time = json!({ "data": { "prices": [price("one-time", Value::Null)] } });
    let (status, _) = put(&stack, &path, &admin, one_time).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
