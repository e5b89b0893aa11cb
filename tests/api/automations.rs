//! Automations through the admin API and the scheduler's minute: a welcome series
//! on a list's new subscribers (two steps, a delay between), left by whoever
//! unsubscribes; a welcome on a new member; a mail after a paid order. Time is
//! moved by rewriting the rows' timestamps, as if the minutes had passed.

use bianxian_e2e::{SentMail, TestStack, create, random_suffix, spawn_stack};
use identity::access::Role;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::{
    checkout::{checkout, pay_at_simulator, poll, shop},
    content_admin::call,
    content_api::member_token,
};

async fn template(stack: &TestStack, admin: &str, name: &str, subject: &str) -> String {
    let body = json!({ "data": {
        "name": name,
        "subject": subject,
        "html": "<p>{{ subscriber.name }}，{{ automation.name }}</p>",
        "text": "{{ subscriber.name }}，{{ automation.name }}",
    } });
    create(stack, admin, "/admin/templates", body).await
}

async fn automation(stack: &TestStack, admin: &str, body: Value) -> String {
    let (status, created) = call(
        stack,
        Method::POST,
        "/admin/automations",
        Some(admin),
        Some(json!({ "data": body })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["status"], "draft");
    let id = created["data"]["documentId"].as_str().unwrap().to_owned();
    let (status, active) = call(
        stack,
        Method::POST,
        &format!("/admin/automations/{id}/activate"),
        Some(admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{active}");
    assert_eq!(active["data"]["status"], "active");
    id
}

/// Moves everything the automations look at `minutes` into the past: what
/// arrived, the watermarks and the steps due. (Triggers would stamp `updated_at`
/// with now: off for this session.)
async fn later(stack: &TestStack, minutes: i32) {
    let client = stack.db.client().await;
    client
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             UPDATE list_subscriptions SET updated_at = updated_at - interval '{minutes} minutes';
             UPDATE automations SET enrolled_until = enrolled_until - interval '{minutes} minutes';
             UPDATE automation_enrolments SET next_run_at = next_run_at - interval '{minutes} minutes';
             UPDATE members SET email_verified_at = email_verified_at - interval '{minutes} minutes';
             UPDATE orders SET paid_at = paid_at - interval '{minutes} minutes' WHERE paid_at IS NOT NULL;
             RESET session_replication_role;"
        ))
        .await
        .unwrap();
}

/// The scheduler's minute, now: what its automations did.
async fn minute(stack: &TestStack) -> Value {
    let settings = stack.platform.config.section().unwrap();
    let handler = scheduler::handler(stack.platform.clone(), settings).unwrap();
    handler(bianxian_local::queue::scheduled_event())
        .await
        .unwrap()["automations"]
        .clone()
}

async fn enrolled(stack: &TestStack, admin: &str, id: &str) -> Value {
    call(
        stack,
        Method::GET,
        &format!("/admin/automations/{id}"),
        Some(admin),
        None,
    )
    .await
    .1["data"]["enrolled"]
        .clone()
}

fn subjects(mail: &[SentMail]) -> Vec<&str> {
    mail.iter().map(|m| m.subject.as_str()).collect()
}

#[tokio::test]
async fn a_welcome_series_goes_step_by_step_once_and_stops_for_who_unsubscribes() {
    let stack = spawn_stack().await;
    if stack.aws_endpoint.is_none() {
        eprintln!("skipped: needs moto (TEST_AWS_ENDPOINT_URL)");
        return;
    }
    let admin = stack.staff_token(Role::Admin).await;
    let list = json!({ "data": { "name": "产品更新", "visibility": "public", "optin": "single" } });
    let list = create(&stack, &admin, "/admin/lists", list).await;
    let first = template(&stack, &admin, "欢迎 1", "欢迎加入").await;
    let second = template(&stack, &admin, "欢迎 2", "第二封：入门指南").await;
    // Wrong automations are 400s.
    for wrong in [
        json!({ "name": "x", "trigger": "subscribed", "steps": [{ "template": first, "delayMinutes": 0 }] }),
        json!({ "name": "x", "trigger": "member-signup", "list": list, "steps": [{ "template": first, "delayMinutes": 0 }] }),
        json!({ "name": "x", "trigger": "subscribed", "list": list, "steps": [] }),
        json!({ "name": "x", "trigger": "subscribed", "list": list, "steps": [{ "template": "nope", "delayMinutes": 0 }] }),
        json!({ "name": "x", "trigger": "subscribed", "list": list, "steps": [{ "template": first, "delayMinutes": -1 }] }),
        json!({ "name": "x", "trigger": "whenever", "list": list, "steps": [] }),
    ] {
        let (status, answer) = call(
            &stack,
            Method::POST,
            "/admin/automations",
            Some(&admin),
            Some(json!({ "data": wrong })),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    }
    let series = automation(&stack, &admin, json!({
        "name": "新订阅欢迎", "trigger": "subscribed", "list": list,
        "steps": [{ "template": first, "delayMinutes": 0 }, { "template": second, "delayMinutes": 60 * 24 }],
    }))
    .await;

    let stays = format!("stays-{}@example.com", random_suffix());
    let leaves = format!("leaves-{}@example.com", random_suffix());
    for email in [&stays, &leaves] {
        let response = stack
            .post_json(
                "/newsletter/subscribe",
                &json!({ "email": email, "lists": [list] }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    // Within the lag nobody is enrolled yet; once it has passed, both are, once.
    assert_eq!(minute(&stack).await["enrolled"], 0);
    later(&stack, 3).await;
    assert_eq!(minute(&stack).await, json!({ "enrolled": 2, "sent": 2 }));
    assert_eq!(minute(&stack).await, json!({ "enrolled": 0, "sent": 0 }));
    let welcome = &stack.wait_for_mail(&leaves, 1).await[0];
    assert_eq!(welcome.subject, "欢迎加入");
    assert!(welcome.text.contains("新订阅欢迎"), "{}", welcome.text);
    assert!(
        welcome
            .raw
            .contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    );

    // One leaves by the header's one-click unsubscribe.
    let raw = welcome.raw.replace("\r\n ", " ");
    let url = raw
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: <"))
        .unwrap()
        .trim_end_matches('>')
        .to_owned();
    let done = stack
        .http
        .post(&url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);

    // A day later the second step is due: it goes to who stayed, only.
    later(&stack, 60 * 24).await;
    assert_eq!(minute(&stack).await["sent"], 1);
    let mail = stack.wait_for_mail(&stays, 2).await;
    assert_eq!(subjects(&mail), ["欢迎加入", "第二封：入门指南"]);
    later(&stack, 60 * 24).await;
    assert_eq!(minute(&stack).await["sent"], 0);
    assert_eq!(subjects(&stack.sent_mail(&leaves).await), ["欢迎加入"]);
    assert_eq!(
        enrolled(&stack, &admin, &series).await,
        json!({ "active": 0, "completed": 1, "left": 1, "failed": 0 })
    );
    // Subscribing again does not start the series again.
    let response = stack
        .post_json(
            "/newsletter/subscribe",
            &json!({ "email": stays, "lists": [list] }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    later(&stack, 3).await;
    assert_eq!(minute(&stack).await["enrolled"], 0);

    // Active, it can be neither deleted nor moved to another trigger; paused, it can.
    let path = format!("/admin/automations/{series}");
    assert_eq!(
        call(&stack, Method::DELETE, &path, Some(&admin), None)
            .await
            .0,
        StatusCode::CONFLICT
    );
    let moved = json!({ "data": { "name": "x", "trigger": "member-signup", "steps": [{ "template": first, "delayMinutes": 0 }] } });
    assert_eq!(
        call(&stack, Method::PUT, &path, Some(&admin), Some(moved))
            .await
            .0,
        StatusCode::CONFLICT
    );
    let paused = call(
        &stack,
        Method::POST,
        &format!("{path}/pause"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(paused.0, StatusCode::OK);
    assert_eq!(
        call(&stack, Method::DELETE, &path, Some(&admin), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn new_members_and_paid_orders_start_their_sequences() {
    let (stack, monthly, _) = shop().await;
    if stack.aws_endpoint.is_none() {
        eprintln!("skipped: needs moto (TEST_AWS_ENDPOINT_URL)");
        return;
    }
    let admin = stack.staff_token(Role::Admin).await;
    let hello = template(&stack, &admin, "新会员", "欢迎成为会员").await;
    let thanks = template(&stack, &admin, "购后", "感谢购买").await;
    automation(&stack, &admin, json!({
        "name": "会员欢迎", "trigger": "member-signup", "steps": [{ "template": hello, "delayMinutes": 0 }],
    }))
    .await;
    automation(&stack, &admin, json!({
        "name": "购后关怀", "trigger": "order-paid", "steps": [{ "template": thanks, "delayMinutes": 30 }],
    }))
    .await;
    let (member, member_id) = member_token(&stack).await;
    let email: String = stack
        .db
        .client()
        .await
        .query_one("SELECT email FROM members WHERE id = $1", &[&member_id])
        .await
        .unwrap()
        .get(0);
    let body = json!({ "price": monthly, "channel": "alipay", "method": "qr" });
    let (status, started) = checkout(&stack, &member, None, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let order = started["data"]["order"]["documentId"].as_str().unwrap();
    assert!(
        pay_at_simulator(&stack.alipay_sim, order)
            .await
            .is_success()
    );
    assert_eq!(poll(&stack, &member, order).await["status"], "paid");

    later(&stack, 3).await;
    // Both enrolled; the welcome goes now, the thanks after its half hour.
    assert_eq!(minute(&stack).await, json!({ "enrolled": 2, "sent": 1 }));
    later(&stack, 30).await;
    assert_eq!(minute(&stack).await["sent"], 1);
    // The address check, the order's receipt, the welcome and the thanks.
    let mail = stack.wait_for_mail(&email, 4).await;
    let mut got: Vec<&str> = subjects(&mail)
        .into_iter()
        .filter(|s| s.starts_with("欢迎成为会员") || s.starts_with("感谢购买"))
        .collect();
    got.sort_unstable();
    assert_eq!(got, ["感谢购买", "欢迎成为会员"]);
    // The member became a subscriber, linked to their account, on no list.
    let (_, found) = call(
        &stack,
        Method::GET,
        &format!("/admin/subscribers?q={email}"),
        Some(&admin),
        None,
    )
    .await;
    let subscriber = &found["data"]["subscribers"][0];
    assert!(subscriber["member"].is_string(), "{found}");
    assert_eq!(subscriber["lists"], json!([]));
}
