//! The transactional mail API (`POST /admin/tx`, listmonk's tx API): a token with
//! `mail.send` sends a stored template with data to an address or a subscriber,
//! through the mail outbox to moto; without the scope, to a suppressed address or
//! with a wrong body, refused with a 4xx and nothing queued.

use bianxian_e2e::{create, random_suffix, spawn_stack};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{admin::create_token, content_admin::call};

#[tokio::test]
async fn a_mail_send_token_sends_a_stored_template_with_data_once() {
    let stack = spawn_stack().await;
    if stack.aws_endpoint.is_none() {
        eprintln!("skipped: needs moto (TEST_AWS_ENDPOINT_URL)");
        return;
    }
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (_, sender) = create_token(&stack, &admin, "custom", &["mail.send"]).await;
    let (_, marketer) = create_token(&stack, &admin, "custom", &["marketing.write"]).await;
    let template = json!({ "data": {
        "name": "订单确认",
        "subject": "订单 {{ data.order }} 已确认",
        "html": "<p>{{ subscriber.name or '你好' }}，订单 {{ data.order }} 共 {{ data.items | length }} 件。</p>",
        "text": "订单 {{ data.order }}：{% for item in data.items %}{{ item }} {% endfor %}",
    } });
    let template = create(&stack, &admin, "/admin/templates", template).await;

    let email = format!("buyer-{}@example.com", random_suffix());
    let body = json!({ "data": { "template": template, "email": email,
        "data": { "order": "A-1001", "items": ["提示词课", "会员"] } } });
    let (status, queued) = call(
        &stack,
        Method::POST,
        "/admin/tx",
        Some(&sender),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["data"]["to"], email.as_str());
    let mail = stack.wait_for_mail(&email, 1).await;
    assert_eq!(mail[0].subject, "订单 A-1001 已确认");
    assert!(
        mail[0].text.contains("订单 A-1001：提示词课 会员"),
        "{}",
        mail[0].text
    );
    assert!(mail[0].html.contains("共 2 件"), "{}", mail[0].html);
    // Transactional: the postal address, no unsubscribe footer, no List-Unsubscribe.
    assert!(!mail[0].text.contains("退订"), "{}", mail[0].text);
    assert!(!mail[0].raw.contains("List-Unsubscribe"), "{}", mail[0].raw);

    // A subscriber by documentId: their name in the template.
    let subscriber = json!({ "data": { "email": format!("reader-{}@example.com", random_suffix()), "name": "小林", "lists": [] } });
    let (status, subscriber) = call(
        &stack,
        Method::POST,
        "/admin/subscribers",
        Some(&admin),
        Some(subscriber),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{subscriber}");
    let to = subscriber["data"]["email"].as_str().unwrap().to_owned();
    let by_id = json!({ "data": { "template": template,
        "subscriber": subscriber["data"]["documentId"], "data": { "order": "A-1002", "items": [] } } });
    let (status, _) = call(
        &stack,
        Method::POST,
        "/admin/tx",
        Some(&sender),
        Some(by_id),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(
        stack.wait_for_mail(&to, 1).await[0]
            .html
            .contains("小林，订单 A-1002")
    );

    // Refused, and nothing queued: no scope, wrong bodies, a suppressed address.
    let (status, _) = call(
        &stack,
        Method::POST,
        "/admin/tx",
        Some(&marketer),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let wrong = [
        json!({ "data": { "template": template } }),
        json!({ "data": { "template": template, "email": email, "subscriber": "x" } }),
        json!({ "data": { "template": "nope", "email": email } }),
        json!({ "data": { "template": template, "email": "not an address" } }),
        json!({ "data": { "template": template, "subscriber": "nope" } }),
        json!({ "data": { "template": template, "email": email, "data": { "big": "x".repeat(40_000) } } }),
        json!({ "data": { "template": template, "email": email, "data": [1] } }),
    ];
    for body in wrong {
        let (status, answer) = call(
            &stack,
            Method::POST,
            "/admin/tx",
            Some(&sender),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    let bounced = format!("bounced-{}@example.com", random_suffix());
    stack
        .db
        .client()
        .await
        .execute(
            "INSERT INTO suppressions (email, reason) VALUES ($1, 'bounce')",
            &[&bounced],
        )
        .await
        .unwrap();
    let to_bounced = json!({ "data": { "template": template, "email": bounced } });
    let (status, answer) = call(
        &stack,
        Method::POST,
        "/admin/tx",
        Some(&sender),
        Some(to_bounced),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let queued: i64 = stack
        .db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM mail_outbox WHERE template = 'rendered'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 2, "only the two mails sent");
}
