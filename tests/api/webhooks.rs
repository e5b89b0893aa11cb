//! Outgoing webhooks end to end: registered through the admin API, fired by article
//! writes and the scheduler, carried by moto's SQS, delivered by the webhook-send
//! handler to a real HTTP receiver run by the test, signed so `verify` accepts them,
//! retried after a failure, sent once however often SQS repeats itself.

use std::time::Duration;

use bianxian_e2e::{
    StackOptions, TestStack,
    receiver::{Received, Receiver},
    spawn_stack, spawn_stack_with,
};
use content::{
    outgoing_webhooks::{
        self as webhooks, DEFAULT_TOLERANCE, Event, MAX_ATTEMPTS, VerifyError, verify,
    },
    write::schedule::publish_due,
};
use futures_util::future::join_all;
use identity::access::Role;
use platform::outbox::Delivery;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::content_admin::{call, draft};

const ALL_EVENTS: [&str; 5] = [
    "entry.create",
    "entry.update",
    "entry.delete",
    "entry.publish",
    "entry.unpublish",
];

async fn publish(stack: &TestStack, token: &str, id: &str) {
    let path = format!("/admin/articles/{id}/publish");
    let (status, body) = call(stack, Method::POST, &path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Registers a webhook as `admin`; returns (documentId, secret).
async fn create_webhook(
    stack: &TestStack,
    admin: &str,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let (status, body) = call(
        stack,
        Method::POST,
        "/admin/webhooks",
        Some(admin),
        Some(json!({ "name": "frontend", "url": url, "events": events })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["data"]["documentId"].as_str().unwrap().to_owned(),
        body["data"]["secret"].as_str().unwrap().to_owned(),
    )
}

#[derive(Debug)]
struct Row {
    status: String,
    attempts: i32,
    last_status_code: Option<i32>,
    retry_in_secs: f64,
}

async fn row(stack: &TestStack, id: i64) -> Option<Row> {
    stack
        .db
        .client()
        .await
        .query_opt(
            "SELECT status, attempts, last_status_code,
                    extract(epoch FROM next_attempt_at - now())::float8
               FROM webhook_deliveries WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .map(|r| Row {
            status: r.get(0),
            attempts: r.get(1),
            last_status_code: r.get(2),
            retry_in_secs: r.get(3),
        })
}

/// The row once no sender holds it: the receiver can see a request a moment before
/// the sender records its outcome.
async fn settled(stack: &TestStack, id: i64) -> Row {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let current = row(stack, id).await.expect("delivery row");
        if current.status != "sending"
            && (current.attempts > 0 || tokio::time::Instant::now() > deadline)
        {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn delivery_ids(stack: &TestStack) -> Vec<i64> {
    stack
        .db
        .client()
        .await
        .query("SELECT id FROM webhook_deliveries ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Writes a delivery for every subscribed webhook in a transaction that commits or
/// rolls back, without dispatching it.
async fn enqueue(stack: &TestStack, commit: bool) -> Vec<i64> {
    let mut client = stack.db.client().await;
    let tx = client.transaction().await.unwrap();
    let entry = json!({ "id": 1, "documentId": "doc", "slug": "s", "title": "t" });
    let ids = webhooks::enqueue(&tx, Event::Publish, webhooks::ARTICLE, &entry)
        .await
        .unwrap();
    if commit {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
    ids
}

async fn invoke(stack: &TestStack, event: Value) -> Value {
    webhook_send::handler(
        stack.platform.clone(),
        stack.platform.config.section().unwrap(),
    )
    .unwrap()(event)
    .await
    .unwrap()
}

fn sqs_event(ids: &[i64]) -> Value {
    let records: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({
                "messageId": format!("m-{i}-{}", bianxian_e2e::random_suffix()),
                "receiptHandle": "r",
                "body": json!({ "deliveryId": id }).to_string(),
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    json!({ "Records": records })
}

/// What a receiver holding `secret` makes of the request, now.
fn verified(secret: &str, request: &Received) -> Result<(), VerifyError> {
    let now = chrono::Utc::now().timestamp();
    verify(
        secret,
        &request.signature,
        &request.body,
        now,
        DEFAULT_TOLERANCE,
    )
}

#[tokio::test]
async fn publishing_an_article_sends_one_signed_entry_publish_without_private_fields() {
    let stack = spawn_stack().await;
    let receiver = Receiver::start(200).await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (webhook, secret) = create_webhook(&stack, &admin, &receiver.url, &ALL_EVENTS).await;
    assert!(secret.starts_with("whsec_"), "{secret}");

    let id = draft(
        &stack,
        &admin,
        json!({
            "title": "付费文章", "slug": "paid-post", "visibility": "paid",
            "body": "the paid body", "excerpt": "the excerpt",
            "internalNotes": "editor-only note", "seoTitle": "seo"
        }),
    )
    .await;
    publish(&stack, &admin, &id).await;

    let received = receiver.wait_for(2).await;
    let publishes: Vec<&Received> = received
        .iter()
        .filter(|r| r.event == "entry.publish")
        .collect();
    assert_eq!(publishes.len(), 1, "{received:?}");
    assert_eq!(
        received
            .iter()
            .filter(|r| r.event == "entry.create")
            .count(),
        1
    );
    let publish = publishes[0];
    assert_eq!(verified(&secret, publish), Ok(()));
    let payload = publish.json();
    assert_eq!(payload["event"], "entry.publish");
    assert_eq!(payload["model"], "article");
    assert_eq!(payload["uid"], "api::article.article");
    assert!(
        payload["createdAt"].as_str().unwrap().ends_with('Z'),
        "{payload}"
    );
    let entry = &payload["entry"];
    assert_eq!(entry["documentId"], id.as_str());
    assert_eq!(entry["slug"], "paid-post");
    assert_eq!(entry["visibility"], "paid");
    assert!(entry["publishedAt"].is_string(), "{entry}");
    let mut keys: Vec<&str> = entry
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "documentId",
            "id",
            "locale",
            "publishedAt",
            "slug",
            "title",
            "updatedAt",
            "visibility"
        ]
    );
    let raw = String::from_utf8_lossy(&publish.body);
    for private in [
        "editor-only note",
        "the paid body",
        "the excerpt",
        "internalNotes",
    ] {
        assert!(!raw.contains(private), "{private} leaked: {raw}");
    }

    // Both rows end delivered, and the admin sees it.
    let delivery: i64 = publish.delivery.parse().unwrap();
    let row = settled(&stack, delivery).await;
    assert_eq!(
        (row.status.as_str(), row.attempts, row.last_status_code),
        ("delivered", 1, Some(200))
    );
    let (status, body) = call(
        &stack,
        Method::GET,
        &format!("/admin/webhooks/{webhook}/deliveries"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{body}");
    let publish_row = listed.iter().find(|d| d["id"] == delivery).unwrap();
    assert_eq!(publish_row["event"], "entry.publish");
    assert_eq!(publish_row["entry"], id.as_str());
    assert_eq!(publish_row["attempts"], 1);
    assert_eq!(publish_row["lastStatusCode"], 200);
    // The list never shows the secret.
    let (_, list) = call(&stack, Method::GET, "/admin/webhooks", Some(&admin), None).await;
    assert_eq!(list["data"][0]["documentId"], webhook.as_str());
    assert!(!list.to_string().contains(&secret));
    assert!(list["data"][0].get("secret").is_none());
}

#[tokio::test]
async fn a_failing_receiver_is_retried_after_its_backoff_until_it_answers() {
    let stack = spawn_stack().await;
    let receiver = Receiver::start(500).await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (_, secret) = create_webhook(&stack, &admin, &receiver.url, &["entry.publish"]).await;
    let id = draft(&stack, &admin, json!({ "title": "Retry me" })).await;
    publish(&stack, &admin, &id).await;

    let first = receiver.wait_for(1).await;
    assert_eq!(first.len(), 1);
    let delivery: i64 = first[0].delivery.parse().unwrap();
    let failed = settled(&stack, delivery).await;
    assert_eq!(
        (
            failed.status.as_str(),
            failed.attempts,
            failed.last_status_code
        ),
        ("pending", 1, Some(500))
    );
    assert!(failed.retry_in_secs > 30.0, "backoff: {failed:?}");
    // Not due yet: neither the sweep nor a stray message sends it early.
    let early = invoke(&stack, bianxian_local::queue::scheduled_event()).await;
    assert_eq!(early["dispatched"], 0, "{early}");
    invoke(&stack, sqs_event(&[delivery])).await;
    assert_eq!(receiver.received().len(), 1);

    // The backoff ends; the receiver has recovered.
    receiver.answer(200);
    stack
        .db
        .client()
        .await
        .execute(
            "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1",
            &[&delivery],
        )
        .await
        .unwrap();
    invoke(&stack, bianxian_local::queue::scheduled_event()).await;

    let both = receiver.wait_for(2).await;
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(
        both[1].delivery, both[0].delivery,
        "one delivery id across attempts"
    );
    assert_eq!(both[1].json()["createdAt"], both[0].json()["createdAt"]);
    assert_eq!(verified(&secret, &both[1]), Ok(()));
    let row = settled(&stack, delivery).await;
    assert_eq!(
        (row.status.as_str(), row.attempts, row.last_status_code),
        ("delivered", 2, Some(200))
    );
}

#[tokio::test]
async fn the_last_failed_attempt_gives_up_and_redirects_are_not_followed() {
    let stack = spawn_stack().await;
    let receiver = Receiver::start(307).await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    create_webhook(&stack, &admin, &receiver.url, &["entry.publish"]).await;
    let ids = enqueue(&stack, true).await;
    assert_eq!(ids.len(), 1);
    let id = ids[0];

    assert!(matches!(
        stack.webhooks().deliver(id).await.unwrap(),
        Delivery::Retry(_)
    ));
    let redirected = row(&stack, id).await.unwrap();
    assert_eq!(
        (redirected.status.as_str(), redirected.last_status_code),
        ("pending", Some(307))
    );
    let paths: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.delivery.clone())
        .collect();
    assert_eq!(paths, [id.to_string()], "the redirect was not followed");

    stack
        .db
        .client()
        .await
        .execute(
            "UPDATE webhook_deliveries SET attempts = $2, next_attempt_at = now() WHERE id = $1",
            &[&id, &(MAX_ATTEMPTS - 1)],
        )
        .await
        .unwrap();
    assert!(matches!(
        stack.webhooks().deliver(id).await.unwrap(),
        Delivery::Failed(_)
    ));
    let given_up = row(&stack, id).await.unwrap();
    assert_eq!(
        (given_up.status.as_str(), given_up.attempts),
        ("failed", MAX_ATTEMPTS)
    );
    // Finished for good: nothing sends it again.
    assert_eq!(
        stack.webhooks().deliver(id).await.unwrap(),
        Delivery::Skipped
    );
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_rolled_back_write_enqueues_nothing() {
    let stack = spawn_stack().await;
    let receiver = Receiver::start(200).await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    create_webhook(&stack, &admin, &receiver.url, &ALL_EVENTS).await;

    let ghost = enqueue(&stack, false).await;
    assert_eq!(ghost.len(), 1, "the write saw the webhook");
    assert!(row(&stack, ghost[0]).await.is_none());
    // Even a caller that dispatches the id anyway sends nothing.
    stack.webhooks().queue().dispatch(&ghost).await;
    // A write the API refuses after it began (a duplicate slug) leaves no delivery.
    draft(&stack, &admin, json!({ "title": "One", "slug": "same" })).await;
    let before = delivery_ids(&stack).await;
    let (status, _) = call(
        &stack,
        Method::POST,
        "/admin/articles",
        Some(&admin),
        Some(json!({ "data": { "title": "Two", "slug": "same" } })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(delivery_ids(&stack).await, before);

    let witness = enqueue(&stack, true).await;
    stack.webhooks().queue().dispatch(&witness).await;
    settled(&stack, witness[0]).await;
    let received = receiver.wait_for(2).await;
    let ids: Vec<String> = received.iter().map(|r| r.delivery.clone()).collect();
    assert!(ids.contains(&witness[0].to_string()), "{ids:?}");
    assert!(!ids.contains(&ghost[0].to_string()), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicated_message_sends_once() {
    let stack = spawn_stack().await;
    let receiver = Receiver::start(200).await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    create_webhook(&stack, &admin, &receiver.url, &["entry.publish"]).await;
    let id = enqueue(&stack, true).await[0];

    // The same id twice in one batch, the batch again, then five batches at once.
    let batch = sqs_event(&[id, id]);
    assert_eq!(
        invoke(&stack, batch.clone()).await["batchItemFailures"],
        json!([])
    );
    assert_eq!(invoke(&stack, batch).await["batchItemFailures"], json!([]));
    let concurrent = (0..5).map(|_| {
        let platform = stack.platform.clone();
        tokio::spawn(async move {
            webhook_send::handler(platform.clone(), platform.config.section().unwrap()).unwrap()(
                sqs_event(&[id]),
            )
            .await
        })
    });
    for answer in join_all(concurrent).await {
        assert_eq!(answer.unwrap().unwrap()["batchItemFailures"], json!([]));
    }

    assert_eq!(receiver.received().len(), 1);
    let row = row(&stack, id).await.unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("delivered", 1));
    // A message that names no delivery goes back to the queue (and on to the DLQ).
    let bad = json!({ "Records": [{ "messageId": "bad", "body": "hello" }] });
    assert_eq!(
        invoke(&stack, bad).await["batchItemFailures"],
        json!([{ "itemIdentifier": "bad" }])
    );
}

#[tokio::test]
async fn the_scheduler_sends_entry_publish_for_each_article_it_publishes() {
    let stack = spawn_stack().await;
    let receiver = Receiver::start(200).await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (_, secret) = create_webhook(&stack, &admin, &receiver.url, &["entry.publish"]).await;
    let id = draft(&stack, &admin, json!({ "title": "Later" })).await;
    stack
        .db
        .client()
        .await
        .execute(
            "UPDATE articles SET scheduled_at = now() - interval '1 second' WHERE document_id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(
        publish_due(&stack.writer()).await.unwrap(),
        vec![id.clone()]
    );

    let received = receiver.wait_for(1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].event, "entry.publish");
    assert_eq!(received[0].json()["entry"]["documentId"], id.as_str());
    assert_eq!(verified(&secret, &received[0]), Ok(()));
}

#[tokio::test]
async fn rotating_disabling_and_deleting_are_audited_and_take_effect() {
    let stack = spawn_stack().await;
    let receiver = Receiver::start(200).await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (webhook, old_secret) =
        create_webhook(&stack, &admin, &receiver.url, &["entry.update"]).await;

    let (status, body) = call(
        &stack,
        Method::POST,
        &format!("/admin/webhooks/{webhook}/rotate-secret"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new_secret = body["data"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);

    let id = draft(&stack, &admin, json!({ "title": "Edit me" })).await;
    let path = format!("/admin/articles/{id}");
    let edit = |title: &'static str| {
        call(
            &stack,
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({ "data": { "title": title } })),
        )
    };
    assert_eq!(edit("Edited").await.0, StatusCode::OK);
    let received = receiver.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let update = &received[0];
    assert_eq!(update.event, "entry.update");
    assert_eq!(verified(&new_secret, update), Ok(()));
    assert_eq!(verified(&old_secret, update), Err(VerifyError::Mismatch));

    // Disabled: writes enqueue nothing for it.
    let (status, body) = call(
        &stack,
        Method::PUT,
        &format!("/admin/webhooks/{webhook}"),
        Some(&admin),
        Some(json!({ "enabled": false })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["enabled"], false);
    assert_eq!(body["data"]["events"], json!(["entry.update"]));
    let before = delivery_ids(&stack).await;
    assert_eq!(edit("Edited again").await.0, StatusCode::OK);
    assert_eq!(delivery_ids(&stack).await, before);

    let (status, _) = call(
        &stack,
        Method::DELETE,
        &format!("/admin/webhooks/{webhook}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (method, path) in [
        (Method::GET, format!("/admin/webhooks/{webhook}/deliveries")),
        (Method::DELETE, format!("/admin/webhooks/{webhook}")),
        (
            Method::POST,
            format!("/admin/webhooks/{webhook}/rotate-secret"),
        ),
    ] {
        assert_eq!(
            call(&stack, method, &path, Some(&admin), None).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    let (_, audit) = call(&stack, Method::GET, "/admin/audit", Some(&admin), None).await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == format!("webhook:{webhook}"))
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "webhook.delete",
            "webhook.update",
            "webhook.rotate-secret",
            "webhook.create"
        ]
    );
    assert!(
        !audit.to_string().contains("/hooks/revalidate"),
        "the audit keeps only the host"
    );
}

#[tokio::test]
async fn only_admins_manage_webhooks() {
    let stack = spawn_stack().await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let (_, author) = stack.staff_session(Role::Author).await;
    let (status, body) = call(
        &stack,
        Method::POST,
        "/admin/tokens",
        Some(&admin),
        Some(json!({ "name": "ci", "type": "full-access" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["data"]["accessKey"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &stack,
        Method::POST,
        "/admin/tokens",
        Some(&admin),
        Some(json!({ "name": "hooks", "type": "custom", "scopes": ["webhooks.write"] })),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "no token may hold webhooks.write"
    );
    let (webhook, _) =
        create_webhook(&stack, &admin, "https://example.com/hook", &ALL_EVENTS).await;

    let body = json!({ "name": "x", "url": "https://example.com/x", "events": ["entry.create"] });
    let routes = [
        (Method::GET, "/admin/webhooks".to_owned(), None),
        (
            Method::POST,
            "/admin/webhooks".to_owned(),
            Some(body.clone()),
        ),
        (
            Method::PUT,
            format!("/admin/webhooks/{webhook}"),
            Some(body),
        ),
        (Method::DELETE, format!("/admin/webhooks/{webhook}"), None),
        (
            Method::POST,
            format!("/admin/webhooks/{webhook}/rotate-secret"),
            None,
        ),
        (
            Method::GET,
            format!("/admin/webhooks/{webhook}/deliveries"),
            None,
        ),
    ];
    for (method, path, body) in &routes {
        for (name, caller) in [
            ("editor", Some(&editor)),
            ("author", Some(&author)),
            ("token", Some(&token)),
            ("anonymous", None),
        ] {
            let (status, answer) = call(
                &stack,
                method.clone(),
                path,
                caller.map(String::as_str),
                body.clone(),
            )
            .await;
            let expected = if caller.is_some() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(status, expected, "{name} {method} {path}: {answer}");
            assert!(answer["error"]["message"].is_string(), "{answer}");
        }
    }
    // Nothing changed; the admin still may.
    let (status, list) = call(&stack, Method::GET, "/admin/webhooks", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_input_is_a_400() {
    let stack = spawn_stack().await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let good =
        json!({ "name": "n", "url": "http://127.0.0.1:9/hook", "events": ["entry.publish"] });
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let mut bad = vec![
        with("url", json!("ftp://example.com/hook")),
        with("url", json!("/relative/hook")),
        with("url", json!("example.com/hook")),
        with("url", json!("not a url")),
        with("url", json!("https://user:pw@example.com/hook")),
        with(
            "url",
            json!(format!("https://example.com/{}", "a".repeat(2100))),
        ),
        with("url", json!(42)),
        with("events", json!([])),
        with("events", json!(["entry.explode"])),
        with("name", json!("  ")),
        with("surprise", json!(true)),
    ];
    for missing in ["name", "url", "events"] {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(missing);
        bad.push(body);
    }
    for body in bad {
        let (status, answer) = call(
            &stack,
            Method::POST,
            "/admin/webhooks",
            Some(&admin),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["status"], 400, "{answer}");
    }
    let (webhook, _) = create_webhook(
        &stack,
        &admin,
        "http://127.0.0.1:9/hook",
        &["entry.publish"],
    )
    .await;
    let (status, _) = call(
        &stack,
        Method::PUT,
        &format!("/admin/webhooks/{webhook}"),
        Some(&admin),
        Some(json!({ "url": "gopher://example.com" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Duplicated events are kept once.
    let (_, body) = call(
        &stack,
        Method::PUT,
        &format!("/admin/webhooks/{webhook}"),
        Some(&admin),
        Some(json!({ "events": ["entry.create", "entry.create"] })),
    )
    .await;
    assert_eq!(body["data"]["events"], json!(["entry.create"]));

    // Production takes https only.
    let production = spawn_stack_with(StackOptions {
        env: vec![("BIANXIAN_ENV", "production".into())],
        ..Default::default()
    })
    .await;
    let (_, admin) = production.staff_session(Role::Admin).await;
    let (status, answer) = call(
        &production,
        Method::POST,
        "/admin/webhooks",
        Some(&admin),
        Some(good),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("https"),
        "{answer}"
    );
    create_webhook(
        &production,
        &admin,
        "https://example.com/hook",
        &["entry.publish"],
    )
    .await;
}

#[tokio::test]
async fn without_a_signing_key_nothing_is_created_or_sent_unsigned() {
    let stack = spawn_stack_with(StackOptions {
        env: vec![("WEBHOOK_SIGNING_KEY", String::new())],
        ..Default::default()
    })
    .await;
    let receiver = Receiver::start(200).await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let body = json!({ "name": "n", "url": receiver.url, "events": ["entry.publish"] });
    let (status, answer) = call(
        &stack,
        Method::POST,
        "/admin/webhooks",
        Some(&admin),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    let (_, list) = call(&stack, Method::GET, "/admin/webhooks", Some(&admin), None).await;
    assert_eq!(list["data"], json!([]));

    // A webhook registered elsewhere (by a function that has the key) waits, unsent.
    stack
        .db
        .client()
        .await
        .execute(
            "INSERT INTO webhooks (name, url, events, secret_salt) VALUES ('n', $1, '{entry.publish}', 'salt')",
            &[&receiver.url],
        )
        .await
        .unwrap();
    let id = enqueue(&stack, true).await[0];
    assert!(matches!(
        stack.webhooks().deliver(id).await.unwrap(),
        Delivery::Retry(_)
    ));
    assert!(receiver.received().is_empty());
    assert_eq!(row(&stack, id).await.unwrap().status, "pending");
}

#[tokio::test]
async fn author_category_and_tag_writes_send_their_events_without_private_fields() {
    let stack = spawn_stack().await;
    let receiver = Receiver::start(200).await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (_, secret) = create_webhook(&stack, &admin, &receiver.url, &ALL_EVENTS).await;

    let (status, body) = call(
        &stack,
        Method::POST,
        "/admin/authors",
        Some(&admin),
        Some(json!({ "data": { "name": "作者甲", "email": "writer@example.com", "bio": "简介" } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let author = body["data"]["documentId"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &stack,
        Method::POST,
        "/admin/tags",
        Some(&admin),
        Some(json!({ "data": { "name": "提示词", "slug": "prompts" } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let tag = body["data"]["documentId"].as_str().unwrap().to_owned();
    let path = format!("/admin/tags/{tag}");
    let (status, body) = call(
        &stack,
        Method::PUT,
        &path,
        Some(&admin),
        Some(json!({ "data": { "name": "提示工程" } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(&stack, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let received = receiver.wait_for(4).await;
    let seen: Vec<(String, String, String)> = received
        .iter()
        .map(|r| {
            assert_eq!(verified(&secret, r), Ok(()));
            let payload = r.json();
            (
                r.event.clone(),
                payload["model"].as_str().unwrap().to_owned(),
                payload["entry"]["documentId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("entry.create", "author", author.as_str()),
        ("entry.create", "tag", tag.as_str()),
        ("entry.update", "tag", tag.as_str()),
        ("entry.delete", "tag", tag.as_str()),
    ] {
        let expected = (
            expected.0.to_owned(),
            expected.1.to_owned(),
            expected.2.to_owned(),
        );
        assert!(seen.contains(&expected), "{expected:?} not in {seen:?}");
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    let author_payload = received
        .iter()
        .find(|r| r.json()["model"] == "author")
        .unwrap()
        .json();
    assert_eq!(author_payload["uid"], "api::author.author");
    assert_eq!(author_payload["entry"]["name"], "作者甲");
    for received in &received {
        let raw = String::from_utf8_lossy(&received.body);
        assert!(!raw.contains("writer@example.com"), "email leaked: {raw}");
        assert!(!raw.contains("简介"), "bio sent: {raw}");
    }
}
