//! The newsletter through the gateway: lists made by staff, a reader subscribing
//! from the site with double opt-in (the confirmation mail read from moto), one-click
//! unsubscribe as RFC 8058 has mail providers do it, preferences, and the
//! suppression list, with nothing telling a stranger whether an address is known.

use bianxian_e2e::{TestStack, json, random_suffix, spawn_stack};
use identity::access::Role;
use marketing::{
    MarketingConfig,
    links::{Link, LinkKey, Purpose},
};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::content_admin::call;

/// The stack's link key, to sign links as a campaign mail will carry them.
fn key(stack: &TestStack) -> LinkKey {
    stack
        .platform
        .config
        .section::<MarketingConfig>()
        .unwrap()
        .link_key
        .expect("test stacks set LINK_SIGNING_KEY")
}

fn link(stack: &TestStack, purpose: Purpose, subscriber: &str, list: Option<&str>) -> String {
    key(stack).sign(&Link {
        purpose,
        subscriber: subscriber.to_owned(),
        list: list.map(str::to_owned),
        expires: None,
    })
}

async fn make_list(
    stack: &TestStack,
    admin: &str,
    name: &str,
    visibility: &str,
    optin: &str,
) -> String {
    let body = json!({ "data": { "name": name, "visibility": visibility, "optin": optin } });
    let (status, list) = call(stack, Method::POST, "/admin/lists", Some(admin), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{list}");
    list["data"]["documentId"].as_str().unwrap().to_owned()
}

async fn subscribe(stack: &TestStack, body: Value) -> (StatusCode, Value) {
    call(
        stack,
        Method::POST,
        "/newsletter/subscribe",
        None,
        Some(body),
    )
    .await
}

/// The subscriber with `email`, as staff see them.
async fn subscriber(stack: &TestStack, admin: &str, email: &str) -> Value {
    let (status, page) = call(
        stack,
        Method::GET,
        &format!("/admin/subscribers?q={email}"),
        Some(admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["data"]["total"], 1, "{page}");
    page["data"]["subscribers"][0].clone()
}

fn statuses(subscriber: &Value) -> Vec<(String, String)> {
    subscriber["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_owned(),
                l["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(name: &str, status: &str) -> (String, String) {
    (name.to_owned(), status.to_owned())
}

#[tokio::test]
async fn a_reader_subscribes_with_double_opt_in_and_confirms_once() {
    let stack = spawn_stack().await;
    if stack.aws_endpoint.is_none() {
        return eprintln!("skipped: needs moto (TEST_AWS_ENDPOINT_URL)");
    }
    let admin = stack.staff_token(Role::Admin).await;
    let weekly = make_list(&stack, &admin, "每周精选", "public", "double").await;
    let news = make_list(&stack, &admin, "产品更新", "public", "single").await;
    let private = make_list(&stack, &admin, "内部名单", "private", "single").await;

    let (status, offered) = call(&stack, Method::GET, "/newsletter/lists", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = offered["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["每周精选", "产品更新"],
        "private lists are not offered"
    );

    let email = format!("reader-{}@example.com", random_suffix());
    let body = json!({ "email": email, "name": "小李", "lists": [weekly, news] });
    let (status, answer) = subscribe(&stack, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let found = subscriber(&stack, &admin, &email).await;
    assert_eq!(found["name"], "小李");
    assert_eq!(
        statuses(&found),
        [
            pair("每周精选", "unconfirmed"),
            pair("产品更新", "confirmed")
        ]
    );
    let mail = stack.wait_for_mail(&email, 1).await;
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].subject.contains("请确认订阅"),
        "{}",
        mail[0].subject
    );
    assert!(mail[0].text.contains("每周精选"), "{}", mail[0].text);
    let token = mail[0].link_token("newsletter/confirm");

    let (status, confirmed) = call(
        &stack,
        Method::POST,
        "/newsletter/confirm",
        None,
        Some(json!({ "token": token })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(confirmed["data"]["lists"], json!(["每周精选"]));
    let (_, again) = call(
        &stack,
        Method::POST,
        "/newsletter/confirm",
        None,
        Some(json!({ "token": token })),
    )
    .await;
    assert_eq!(
        again["data"]["lists"],
        json!([]),
        "a used link confirms nothing more"
    );
    assert_eq!(
        statuses(&subscriber(&stack, &admin, &email).await),
        [pair("每周精选", "confirmed"), pair("产品更新", "confirmed")]
    );

    // Subscribing again changes nothing and mails nothing; a stranger cannot rename them.
    let renamed = json!({ "email": email, "name": "别人", "lists": [weekly] });
    assert_eq!(subscribe(&stack, renamed).await.0, StatusCode::ACCEPTED);
    assert_eq!(subscriber(&stack, &admin, &email).await["name"], "小李");

    // A forged or tampered confirmation is a 400.
    let forged = format!("{}x", &token[..token.len() - 1]);
    let (status, refused) = call(
        &stack,
        Method::POST,
        "/newsletter/confirm",
        None,
        Some(json!({ "token": forged })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"]["details"]["errors"][0]["path"][0], "token");

    // Wrong requests are precise 400s.
    let (status, refused) = subscribe(&stack, json!({ "email": "not-an-email" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email"),
        "{refused}"
    );
    for lists in [json!([private]), json!(["nobody"]), json!([])] {
        let (status, refused) = subscribe(&stack, json!({ "email": email, "lists": lists })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["error"]["details"]["errors"][0]["path"][0], "lists");
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(stack.sent_mail(&email).await.len(), 1, "no second mail");
}

#[tokio::test]
async fn one_click_unsubscribe_takes_effect_at_once_and_a_get_changes_nothing() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let weekly = make_list(&stack, &admin, "每周精选", "public", "single").await;
    let news = make_list(&stack, &admin, "产品更新", "public", "single").await;
    let email = format!("reader-{}@example.com", random_suffix());
    let body = json!({ "email": email, "lists": [weekly, news] });
    assert_eq!(subscribe(&stack, body).await.0, StatusCode::ACCEPTED);
    let id = subscriber(&stack, &admin, &email).await["documentId"]
        .as_str()
        .unwrap()
        .to_owned();

    // The List-Unsubscribe URL of a mail to 每周精选.
    let token = link(&stack, Purpose::Unsubscribe, &id, Some(&weekly));
    let url = stack.url(&format!("/newsletter/unsubscribe?token={token}"));
    let page = stack.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let text = page.text().await.unwrap();
    assert!(
        text.contains("确认退订") && text.contains("每周精选"),
        "{text}"
    );
    assert_eq!(
        statuses(&subscriber(&stack, &admin, &email).await),
        [pair("每周精选", "confirmed"), pair("产品更新", "confirmed")],
        "a GET (a link scanner's) unsubscribes nobody"
    );

    // As a mail provider does it: a POST with the one-click body, no cookie.
    for _ in 0..2 {
        let done = stack
            .http
            .post(&url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), StatusCode::OK, "answered, not redirected");
        assert!(done.text().await.unwrap().contains("已退订"));
    }
    assert_eq!(
        statuses(&subscriber(&stack, &admin, &email).await),
        [
            pair("每周精选", "unsubscribed"),
            pair("产品更新", "confirmed")
        ]
    );

    // A link for another purpose, or tampered, unsubscribes nobody.
    for bad in [
        link(&stack, Purpose::Confirm, &id, None),
        format!("{token}x"),
        "nothing".to_owned(),
    ] {
        let refused = stack
            .http
            .post(stack.url(&format!("/newsletter/unsubscribe?token={bad}")))
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json(refused).await["error"]["status"], 400);
    }

    // Unsubscribing from everything suppresses the address: subscribing again
    // answers the same and subscribes nothing.
    let everything = link(&stack, Purpose::Unsubscribe, &id, None);
    let done = stack
        .http
        .post(stack.url(&format!("/newsletter/unsubscribe?token={everything}")))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let (status, suppressed) = call(
        &stack,
        Method::GET,
        "/admin/suppressions",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        suppressed["data"]["suppressions"][0]["email"],
        email.as_str()
    );
    assert_eq!(
        suppressed["data"]["suppressions"][0]["reason"],
        "unsubscribe"
    );
    let again = json!({ "email": email, "lists": [weekly] });
    assert_eq!(subscribe(&stack, again).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        statuses(&subscriber(&stack, &admin, &email).await),
        [
            pair("每周精选", "unsubscribed"),
            pair("产品更新", "unsubscribed")
        ]
    );

    // Staff lift the suppression; then subscribing works again.
    let (status, _) = call(
        &stack,
        Method::DELETE,
        &format!("/admin/suppressions/{email}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let again = json!({ "email": email, "lists": [weekly] });
    assert_eq!(subscribe(&stack, again).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        statuses(&subscriber(&stack, &admin, &email).await),
        [
            pair("每周精选", "confirmed"),
            pair("产品更新", "unsubscribed")
        ]
    );
}

#[tokio::test]
async fn preferences_choose_among_the_offered_lists() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let weekly = make_list(&stack, &admin, "每周精选", "public", "double").await;
    let news = make_list(&stack, &admin, "产品更新", "public", "single").await;
    let private = make_list(&stack, &admin, "内部名单", "private", "single").await;
    let email = format!("reader-{}@example.com", random_suffix());
    let body = json!({ "data": { "email": email, "lists": [weekly] } });
    let (status, created) = call(
        &stack,
        Method::POST,
        "/admin/subscribers",
        Some(&admin),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        statuses(&created["data"]),
        [pair("每周精选", "unconfirmed")]
    );
    let id = created["data"]["documentId"].as_str().unwrap();
    let token = link(&stack, Purpose::Preferences, id, None);
    let path = format!("/newsletter/preferences?token={token}");

    let (status, shown) = call(&stack, Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["data"]["email"], email.as_str());
    let offered: Vec<(&str, bool)> = shown["data"]["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap(),
                l["subscribed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(offered, [("每周精选", true), ("产品更新", false)]);

    let (status, set) = call(
        &stack,
        Method::PUT,
        &path,
        None,
        Some(json!({ "lists": [news] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(
        statuses(&subscriber(&stack, &admin, &email).await),
        [
            pair("每周精选", "unsubscribed"),
            pair("产品更新", "confirmed")
        ]
    );
    // A private list they are not on is not theirs to choose.
    let (status, refused) = call(
        &stack,
        Method::PUT,
        &path,
        None,
        Some(json!({ "lists": [private] })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    // Nor is a preferences page without its link.
    let (status, _) = call(
        &stack,
        Method::GET,
        "/newsletter/preferences?token=x.y",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn staff_manage_lists_subscribers_and_suppressions() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let weekly = make_list(&stack, &admin, "每周精选", "public", "double").await;
    let news = make_list(&stack, &admin, "产品更新", "public", "single").await;
    let body = json!({ "data": { "name": "每周精选（新）", "description": "周五发", "visibility": "private", "optin": "single" } });
    let (status, changed) = call(
        &stack,
        Method::PUT,
        &format!("/admin/lists/{weekly}"),
        Some(&admin),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["data"]["visibility"], "private");

    let email = format!("Reader-{}@Example.com", random_suffix());
    let body = json!({ "data": {
        "email": email, "name": "王五", "attributes": { "city": "杭州", "plan": "pro" },
        "lists": [weekly], "preconfirm": true,
    } });
    let (status, created) = call(
        &stack,
        Method::POST,
        "/admin/subscribers",
        Some(&admin),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let subscriber = &created["data"];
    assert_eq!(subscriber["email"], email.to_lowercase());
    assert_eq!(subscriber["attributes"]["city"], "杭州");
    assert_eq!(statuses(subscriber), [pair("每周精选（新）", "confirmed")]);
    let (status, _) = call(
        &stack,
        Method::POST,
        "/admin/subscribers",
        Some(&admin),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "one subscriber per address");

    let (_, page) = call(
        &stack,
        Method::GET,
        &format!("/admin/subscribers?list={weekly}&status=enabled"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(page["data"]["total"], 1);
    let (_, page) = call(
        &stack,
        Method::GET,
        "/admin/subscribers?status=blocklisted",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(page["data"]["total"], 0);
    let (status, _) = call(
        &stack,
        Method::GET,
        "/admin/subscribers?status=weird",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Blocklisted: subscribing from the site answers the same and changes nothing.
    let id = subscriber["documentId"].as_str().unwrap();
    let body = json!({ "data": { "email": email, "status": "blocklisted", "lists": [] } });
    let (status, changed) = call(
        &stack,
        Method::PUT,
        &format!("/admin/subscribers/{id}"),
        Some(&admin),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["data"]["lists"], json!([]));
    let from_site = json!({ "email": email, "lists": [news] });
    assert_eq!(subscribe(&stack, from_site).await.0, StatusCode::ACCEPTED);
    let (_, shown) = call(
        &stack,
        Method::GET,
        &format!("/admin/subscribers/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(shown["data"]["lists"], json!([]));
    assert_eq!(shown["data"]["status"], "blocklisted");

    // Found by schemathesis: what PostgreSQL cannot hold or give back exactly is a 400.
    for attributes in [
        json!({ "": 1 }),
        json!({ "big": [-1.7976931348623157e308] }),
        json!({ "nested": { "n": 9007199254740993u64 } }),
    ] {
        let bad = json!({ "data": { "email": "x@example.com", "attributes": attributes } });
        let (status, refused) = call(
            &stack,
            Method::POST,
            "/admin/subscribers",
            Some(&admin),
            Some(bad),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    }
    for query in ["q=a%00b", "list=%C3%A6%00", "status=enabled&q=%01"] {
        let (status, refused) = call(
            &stack,
            Method::GET,
            &format!("/admin/subscribers?{query}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {refused}");
    }

    let suppress = json!({ "data": { "email": "Bounced@Example.com" } });
    let (status, _) = call(
        &stack,
        Method::POST,
        "/admin/suppressions",
        Some(&admin),
        Some(suppress),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = call(
        &stack,
        Method::GET,
        "/admin/suppressions",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        listed["data"]["suppressions"][0]["email"],
        "bounced@example.com"
    );
    assert_eq!(listed["data"]["suppressions"][0]["reason"], "manual");

    let (status, _) = call(
        &stack,
        Method::DELETE,
        &format!("/admin/subscribers/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &stack,
        Method::DELETE,
        &format!("/admin/lists/{weekly}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &stack,
        Method::GET,
        &format!("/admin/lists/{weekly}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Editors and finance have no say over the audience.
    for role in [Role::Editor, Role::Finance] {
        let token = stack.staff_token(role).await;
        let (status, _) = call(
            &stack,
            Method::GET,
            "/admin/subscribers",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn templates_are_checked_when_saved_and_previewed_as_a_recipient_gets_them() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let template = json!({
        "name": "每周精选",
        "subject": "{{ subscriber.name }}，本周精选",
        "html": "<p>{{ subscriber.name }}，你好！</p>\n<p>{{ subscriber.attributes.city | default('各地') }}的读者都在看：</p>",
        "text": "{{ subscriber.name }}，你好！",
    });
    let (status, created) = call(
        &stack,
        Method::POST,
        "/admin/templates",
        Some(&admin),
        Some(json!({ "data": template })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["documentId"].as_str().unwrap().to_owned();

    let variables = json!({ "subscriber": { "name": "<小李>", "attributes": { "city": "杭州" } } });
    let (status, preview) = call(
        &stack,
        Method::POST,
        "/admin/templates/preview",
        Some(&admin),
        Some(json!({ "data": { "template": template, "variables": variables } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let rendered = &preview["data"];
    assert_eq!(rendered["subject"], "<小李>，本周精选");
    let html = rendered["html"].as_str().unwrap();
    assert!(
        html.contains("&lt;小李&gt;，你好！"),
        "escaped in HTML: {html}"
    );
    assert!(html.contains("杭州的读者都在看"), "{html}");
    assert!(
        html.contains("newsletter/unsubscribe?token="),
        "the layout's unsubscribe link: {html}"
    );
    assert!(rendered["text"].as_str().unwrap().contains("退订："));

    // A template that does not compile is refused at save: the part, line and column.
    let broken = json!({ "data": {
        "name": "坏模板", "subject": "ok", "text": "ok",
        "html": "<p>第一行</p>\n<p>{% if subscriber.name %}没有结束</p>",
    } });
    let (status, refused) = call(
        &stack,
        Method::PUT,
        &format!("/admin/templates/{id}"),
        Some(&admin),
        Some(broken),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let error = &refused["error"]["details"]["errors"][0];
    assert_eq!(error["path"][0], "html");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("line 2, column "),
        "{error}"
    );
    let (_, kept) = call(
        &stack,
        Method::GET,
        &format!("/admin/templates/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        kept["data"]["name"], "每周精选",
        "a refused change changes nothing"
    );

    let (status, _) = call(
        &stack,
        Method::DELETE,
        &format!("/admin/templates/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = call(&stack, Method::GET, "/admin/templates", Some(&admin), None).await;
    assert_eq!(listed["data"], json!([]));
}

/// An SES event as EventBridge delivers it (SES's event publishing record in `detail`).
fn ses_event(id: &str, detail: Value) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Email Bounced",
        "source": "aws.ses",
        "account": "123456789012",
        "time": "2026-11-28T08:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ses:us-east-1:123456789012:configuration-set/bianxian-mail"],
        "detail": detail,
    })
}

fn mail_of(email: &str) -> Value {
    json!({
        "timestamp": "2026-11-28T07:59:58Z",
        "source": "no-reply@example.com",
        "messageId": "0100018c-aaaa-bbbb",
        "destination": [email],
        "tags": { "campaign": ["c1"], "subscriber": ["s1"], "ses:configuration-set": ["bianxian-mail"] },
    })
}

#[tokio::test]
async fn ses_bounces_and_complaints_suppress_once_and_nothing_else_does() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let handler = ses_events::handler(stack.platform.clone(), ()).unwrap();
    let suppressed = async || {
        let (_, page) = call(
            &stack,
            Method::GET,
            "/admin/suppressions?pageSize=100",
            Some(&admin),
            None,
        )
        .await;
        let mut found: Vec<(String, String)> = page["data"]["suppressions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["email"].as_str().unwrap().to_owned(),
                    s["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        found.sort();
        found
    };
    let bounced = format!("bounced-{}@example.com", random_suffix());
    let permanent = ses_event(
        "ev-1",
        json!({
            "eventType": "Bounce",
            "bounce": {
                "bounceType": "Permanent", "bounceSubType": "General",
                "bouncedRecipients": [{ "emailAddress": bounced.to_uppercase(), "action": "failed", "status": "5.1.1" }],
                "timestamp": "2026-11-28T08:00:00Z", "feedbackId": "f1",
            },
            "mail": mail_of(&bounced),
        }),
    );
    let outcome = handler(permanent.clone()).await.unwrap();
    assert_eq!(outcome["suppressed"], json!([bounced]), "{outcome}");
    // EventBridge delivers at least once: the same event again does nothing.
    assert_eq!(handler(permanent).await.unwrap()["duplicate"], true);

    let transient = format!("full-{}@example.com", random_suffix());
    let soft = ses_event(
        "ev-2",
        json!({
            "eventType": "Bounce",
            "bounce": { "bounceType": "Transient", "bouncedRecipients": [{ "emailAddress": transient }] },
            "mail": mail_of(&transient),
        }),
    );
    assert_eq!(handler(soft).await.unwrap()["suppressed"], json!([]));

    let complainer = format!("angry-{}@example.com", random_suffix());
    let complaint = ses_event(
        "ev-3",
        json!({
            "eventType": "Complaint",
            "complaint": {
                "complainedRecipients": [{ "emailAddress": format!("\"读者\" <{complainer}>") }],
                "complaintFeedbackType": "abuse",
            },
            "mail": mail_of(&complainer),
        }),
    );
    assert_eq!(
        handler(complaint).await.unwrap()["suppressed"],
        json!([complainer])
    );

    let delivered = ses_event(
        "ev-4",
        json!({
            "eventType": "Delivery",
            "delivery": { "recipients": [transient] },
            "mail": mail_of(&transient),
        }),
    );
    assert_eq!(handler(delivered).await.unwrap()["recorded"], true);

    // Not SES's, malformed, or a bounce without its details: acknowledged, no change.
    let mut forged = ses_event(
        "ev-5",
        json!({
            "eventType": "Complaint",
            "complaint": { "complainedRecipients": [{ "emailAddress": transient }] },
            "mail": mail_of(&transient),
        }),
    );
    forged["source"] = json!("attacker.example");
    assert!(handler(forged).await.unwrap()["ignored"].is_string());
    assert!(handler(json!({ "hello": "world" })).await.unwrap()["ignored"].is_string());
    let bare = ses_event(
        "ev-6",
        json!({ "eventType": "Bounce", "mail": mail_of(&transient) }),
    );
    assert!(handler(bare).await.unwrap()["ignored"].is_string());

    let mut expected = vec![
        (bounced.clone(), "bounce".to_owned()),
        (complainer.clone(), "complaint".to_owned()),
    ];
    expected.sort();
    assert_eq!(suppressed().await, expected);
    let recorded: Vec<(String, Option<String>)> = stack
        .db
        .client()
        .await
        .query(
            "SELECT event_type, campaign FROM mail_events ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let campaign = Some("c1".to_owned());
    assert_eq!(
        recorded,
        [
            ("Bounce".to_owned(), campaign.clone()),
            ("Bounce".to_owned(), campaign.clone()),
            ("Complaint".to_owned(), campaign.clone()),
            ("Delivery".to_owned(), campaign),
        ]
    );
}

#[tokio::test]
async fn subscribers_come_in_and_go_out_as_csv() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let weekly = make_list(&stack, &admin, "每周精选", "public", "double").await;
    let suffix = random_suffix();
    let csv = format!(
        "email,name,attributes,city\r\n\
         a-{suffix}@example.com,张三,\"{{\"\"plan\"\": \"\"pro\"\"}}\",杭州\r\n\
         not-an-email,李四,,\r\n\
         B-{suffix}@Example.com,=cmd|' /C calc'!A0,,上海\r\n\
         a-{suffix}@example.com,重复,,\r\n\
         c-{suffix}@example.com,王五,[1],\r\n"
    );
    let import = |csv: String, query: String| {
        let stack = &stack;
        let admin = admin.clone();
        async move {
            let response = stack
                .authed(
                    Method::POST,
                    &format!("/admin/subscribers/import{query}"),
                    &admin,
                )
                .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
                .body(csv)
                .send()
                .await
                .unwrap();
            (response.status(), json(response).await)
        }
    };
    let (status, report) = import(csv, format!("?lists={weekly}&preconfirm=true")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let report = &report["data"];
    assert_eq!(report["rows"], 5);
    assert_eq!(report["created"], 2);
    assert_eq!(report["failed"], 3);
    let lines: Vec<(u64, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(lines[0].0, 3);
    assert!(lines[0].1.contains("not-an-email"));
    assert_eq!(lines[1], (5, "the same address as line 2"));
    assert_eq!(lines[2], (6, "`attributes` is not a JSON object"));

    let a = subscriber(&stack, &admin, &format!("a-{suffix}@example.com")).await;
    assert_eq!(a["name"], "张三");
    assert_eq!(a["attributes"], json!({ "plan": "pro", "city": "杭州" }));
    assert_eq!(statuses(&a), [pair("每周精选", "confirmed")]);

    // Again without overwrite: existing subscribers keep their name.
    let again = format!("email,name\na-{suffix}@example.com,新名字\n");
    let (_, report) = import(again.clone(), String::new()).await;
    assert_eq!(report["data"]["existing"], 1);
    assert_eq!(
        subscriber(&stack, &admin, &format!("a-{suffix}@example.com")).await["name"],
        "张三"
    );
    let (_, _) = import(again, "?overwrite=true".into()).await;
    assert_eq!(
        subscriber(&stack, &admin, &format!("a-{suffix}@example.com")).await["name"],
        "新名字"
    );

    // A large file goes in parts, each with the header: the second part's lines are
    // still the whole file's.
    let part = format!("email,name\ne-{suffix}@example.com,赵六\nbroken,钱七\n");
    let (status, report) = import(part, "?rowsBefore=5".into()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["data"]["errors"][0]["line"], 8);
    let (status, _) = import("email\n".into(), "?rowsBefore=-1".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Not CSV, no email column, a list that does not exist: clear 4xx, nothing written.
    let (status, _) = stack
        .authed(Method::POST, "/admin/subscribers/import", &admin)
        .json(&json!({ "email": "x@example.com" }))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, refused) = import("name\n张三\n".into(), String::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, _) = import(
        format!("email\nd-{suffix}@example.com\n"),
        "?lists=nobody".into(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Found by schemathesis: a NUL in the list ids is a 400, not a 500.
    let (status, _) = import(
        format!("email\nd-{suffix}@example.com\n"),
        "?lists=a%00".into(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The export: the same columns, formula-looking cells defused.
    let response = stack
        .authed(
            Method::GET,
            &format!("/admin/exports/subscribers?list={weekly}"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = response.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("email,name,status,attributes,lists,created_at")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&format!("b-{suffix}@example.com,'=cmd|"))),
        "{text}"
    );
    assert!(
        rows.iter().all(|r| r.contains("每周精选:confirmed")),
        "{text}"
    );
}
