//! Campaigns through the gateway and the local campaign-send consumer, with mail
//! read back from moto: each confirmed subscriber gets one message with working
//! RFC 8058 headers; blocklisted, suppressed and unsubscribed people get none; a
//! redelivered queue message or a sender that died never makes a second mail;
//! pausing stops sending, resuming finishes it, cancelling drops what waits.

use std::time::Duration;

use bianxian_e2e::{SentMail, random_suffix};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use bianxian_e2e::campaigns::setup;

use crate::content_admin::call;

/// The URL of a raw mail's `List-Unsubscribe` header.
fn list_unsubscribe(mail: &SentMail) -> String {
    let raw = mail.raw.replace("\r\n ", " ");
    let line = raw
        .lines()
        .find(|l| l.starts_with("List-Unsubscribe: "))
        .unwrap_or_else(|| panic!("no List-Unsubscribe in {}", mail.raw));
    line.trim_start_matches("List-Unsubscribe: <")
        .trim_end_matches('>')
        .to_owned()
}

#[tokio::test]
async fn a_campaign_reaches_each_confirmed_subscriber_once_with_one_click_unsubscribe() {
    let Some(setup) = setup(3, Vec::new()).await else {
        return;
    };
    let stack = &setup.stack;
    let admin = &setup.admin;
    // Three people on the list who must get nothing.
    let suffix = random_suffix();
    let (blocked, suppressed, left) = (
        format!("blocked-{suffix}@example.com"),
        format!("bounced-{suffix}@example.com"),
        format!("left-{suffix}@example.com"),
    );
    for (email, status) in [
        (&blocked, "blocklisted"),
        (&suppressed, "enabled"),
        (&left, "enabled"),
    ] {
        let body = json!({ "data": { "email": email, "status": status, "lists": [setup.list], "preconfirm": true } });
        let (code, _) = call(
            stack,
            Method::POST,
            "/admin/subscribers",
            Some(admin),
            Some(body),
        )
        .await;
        assert_eq!(code, StatusCode::CREATED);
    }
    let body = json!({ "data": { "email": suppressed } });
    call(
        stack,
        Method::POST,
        "/admin/suppressions",
        Some(admin),
        Some(body),
    )
    .await;
    stack
        .db
        .client()
        .await
        .execute(
            "UPDATE list_subscriptions SET status = 'unsubscribed'
             WHERE subscriber_id = (SELECT id FROM subscribers WHERE email = $1)",
            &[&left],
        )
        .await
        .unwrap();

    let campaign = setup.campaign().await;
    let (status, started) = setup.act(&campaign, "send").await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["data"]["status"], "running");
    assert_eq!(started["data"]["progress"]["targeted"], 3);
    let progress = setup.sent(&campaign, 3).await;
    assert_eq!(
        progress,
        json!({ "targeted": 3, "pending": 0, "sent": 3, "failed": 0 })
    );

    for (i, email) in setup.recipients.iter().enumerate() {
        let mail = stack.wait_for_mail(email, 1).await;
        assert_eq!(mail.len(), 1, "{email}");
        assert_eq!(mail[0].subject, format!("读者{i}，本周精选"));
        assert!(
            mail[0].text.contains("杭州市西湖区文三路 1 号"),
            "the postal address"
        );
        assert!(
            mail[0]
                .raw
                .contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        );
    }
    for email in [&blocked, &suppressed, &left] {
        assert!(setup.mail_to(email).await.is_empty(), "{email} got mail");
    }

    // The header's URL unsubscribes with one POST, no cookie, no redirect.
    let first = &stack.wait_for_mail(&setup.recipients[0], 1).await[0];
    let url = list_unsubscribe(first);
    assert!(
        url.starts_with(&stack.url("/newsletter/unsubscribe?token=")),
        "{url}"
    );
    let done = stack
        .http
        .post(&url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let (_, page) = call(
        stack,
        Method::GET,
        &format!("/admin/subscribers?q={}", setup.recipients[0]),
        Some(admin),
        None,
    )
    .await;
    assert_eq!(
        page["data"]["subscribers"][0]["lists"][0]["status"],
        "unsubscribed"
    );

    // SQS redelivers a message that was sent: nothing more is sent.
    let ids: Vec<i64> = stack
        .db
        .client()
        .await
        .query("SELECT id FROM campaign_messages ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let settings = stack.platform.config.section().unwrap();
    let handler = campaign_send::handler(stack.platform.clone(), settings).unwrap();
    let records: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "messageId": format!("m-{id}"), "receiptHandle": "r", "body": json!({ "messageId": id }).to_string(), "eventSource": "aws:sqs" }))
        .collect();
    let answer = handler(json!({ "Records": records })).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]));
    // A sender that died mid-send (its claim long expired): never sent again.
    stack
        .db
        .client()
        .await
        .execute(
            "UPDATE campaign_messages SET status = 'sending', sent_at = NULL,
                 claimed_until = now() - interval '1 minute' WHERE id = $1",
            &[&ids[1]],
        )
        .await
        .unwrap();
    setup.minute().await;
    let lost: (String, String) = stack
        .db
        .client()
        .await
        .query_one(
            "SELECT status, last_error FROM campaign_messages WHERE id = $1",
            &[&ids[1]],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(lost.0, "failed");
    assert!(lost.1.contains("not sent again"), "{}", lost.1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for email in &setup.recipients {
        assert_eq!(
            setup.mail_to(email).await.len(),
            1,
            "{email}: one mail, ever"
        );
    }
    // Nothing left to send: the minute finishes it.
    assert_eq!(setup.show(&campaign).await["status"], "finished");
    let (status, _) = setup.act(&campaign, "send").await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a finished campaign is not sent again"
    );
}

#[tokio::test]
async fn pausing_stops_sending_resuming_finishes_and_cancelling_drops_what_waits() {
    // Slow enough that a pause lands mid-send even on a busy machine.
    let env = vec![("CAMPAIGN_RATE_PER_SECOND", "2".to_owned())];
    let Some(setup) = setup(20, env).await else {
        return;
    };
    let campaign = setup.campaign().await;
    assert_eq!(
        setup.act(&campaign, "pause").await.0,
        StatusCode::CONFLICT,
        "a draft is not running"
    );
    assert_eq!(setup.act(&campaign, "send").await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(setup.act(&campaign, "pause").await.0, StatusCode::OK);
    // What was claimed before the pause finishes; nothing after it.
    let settled = async || loop {
        let sending: i64 = setup
            .stack
            .db
            .client()
            .await
            .query_one(
                "SELECT count(*) FROM campaign_messages WHERE status = 'sending'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if sending == 0 {
            return setup.show(&campaign).await["progress"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let paused = settled().await;
    let sent = paused["sent"].as_i64().unwrap();
    assert!(sent < 20, "{paused}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        setup.show(&campaign).await["progress"]["sent"],
        sent,
        "paused means paused"
    );
    assert_eq!(setup.show(&campaign).await["status"], "paused");
    let (status, _) = call(
        &setup.stack,
        Method::DELETE,
        &format!("/admin/campaigns/{campaign}"),
        Some(&setup.admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "cancel before deleting");

    assert_eq!(setup.act(&campaign, "resume").await.0, StatusCode::OK);
    let done = setup.sent(&campaign, 20).await;
    assert_eq!(done["sent"], 20, "{done}");
    for email in &setup.recipients {
        assert_eq!(setup.mail_to(email).await.len(), 1, "{email}");
    }

    // A second issue, cancelled at once: whatever had not gone never goes.
    let second = setup.campaign().await;
    assert_eq!(setup.act(&second, "send").await.0, StatusCode::OK);
    let (status, canceled) = setup.act(&second, "cancel").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(canceled["data"]["status"], "canceled");
    // What was claimed before the cancel (waiting for its turn at the rate) ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        let progress = setup.show(&second).await["progress"].clone();
        if progress["pending"] == 0 || tokio::time::Instant::now() > deadline {
            break progress;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(after["pending"], 0, "{after}");
    assert_eq!(
        after["sent"].as_i64().unwrap() + after["failed"].as_i64().unwrap(),
        20
    );
    for email in &setup.recipients {
        assert!(setup.mail_to(email).await.len() <= 2, "{email}");
    }
}

#[tokio::test]
async fn a_scheduled_campaign_starts_when_its_time_comes_and_wrong_requests_are_4xx() {
    let Some(setup) = setup(2, Vec::new()).await else {
        return;
    };
    let campaign = setup.campaign().await;
    let path = format!("/admin/campaigns/{campaign}/schedule");
    let past = json!({ "data": { "sendAt": "2020-01-01T00:00:00Z" } });
    let (status, _) = call(
        &setup.stack,
        Method::POST,
        &path,
        Some(&setup.admin),
        Some(past),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(800);
    let body = json!({ "data": { "sendAt": soon } });
    let (status, scheduled) = call(
        &setup.stack,
        Method::POST,
        &path,
        Some(&setup.admin),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{scheduled}");
    assert_eq!(scheduled["data"]["status"], "scheduled");
    setup.minute().await;
    assert_eq!(
        setup.show(&campaign).await["status"],
        "scheduled",
        "not yet"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    setup.minute().await;
    assert_eq!(setup.sent(&campaign, 2).await["sent"], 2);

    // A started campaign cannot be changed; a template or list that does not exist is a 400.
    let body =
        json!({ "data": { "name": "改名", "template": setup.template, "lists": [setup.list] } });
    let (status, _) = call(
        &setup.stack,
        Method::PUT,
        &format!("/admin/campaigns/{campaign}"),
        Some(&setup.admin),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    for body in [
        json!({ "data": { "name": "x", "template": "nobody", "lists": [setup.list] } }),
        json!({ "data": { "name": "x", "template": setup.template, "lists": ["nobody"] } }),
        json!({ "data": { "name": "x", "template": setup.template, "lists": [] } }),
    ] {
        let (status, _) = call(
            &setup.stack,
            Method::POST,
            "/admin/campaigns",
            Some(&setup.admin),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // A test send: to any address, marked, through the mail outbox.
    let tester = format!("tester-{}@example.com", random_suffix());
    let path = format!("/admin/campaigns/{campaign}/test");
    let body = json!({ "data": { "emails": [tester] } });
    let (status, queued) = call(
        &setup.stack,
        Method::POST,
        &path,
        Some(&setup.admin),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let mail = setup.stack.wait_for_mail(&tester, 1).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].subject, "[测试] ，本周精选");
    assert!(mail[0].text.contains("杭州市西湖区文三路 1 号"));
    let too_many = json!({ "data": { "emails": (0..6).map(|i| format!("t{i}@example.com")).collect::<Vec<_>>() } });
    let (status, _) = call(
        &setup.stack,
        Method::POST,
        &path,
        Some(&setup.admin),
        Some(too_many),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A template a campaign uses cannot be deleted.
    let (status, _) = call(
        &setup.stack,
        Method::DELETE,
        &format!("/admin/templates/{}", setup.template),
        Some(&setup.admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn no_campaign_starts_without_the_senders_postal_address() {
    let env = vec![("MARKETING_POSTAL_ADDRESS", String::new())];
    let Some(setup) = setup(1, env).await else {
        return;
    };
    let campaign = setup.campaign().await;
    let (status, refused) = setup.act(&campaign, "send").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MARKETING_POSTAL_ADDRESS")
    );
}

/// The first `path` URL (`/t/c/`, `/t/o/`) in a mail's HTML.
fn tracked(mail: &SentMail, path: &str) -> String {
    let start = mail
        .html
        .find(path)
        .unwrap_or_else(|| panic!("no {path} in {}", mail.html));
    let from = mail.html[..start].rfind('"').unwrap() + 1;
    let end = start + mail.html[start..].find('"').unwrap();
    mail.html[from..end].to_owned()
}

#[tokio::test]
async fn opens_and_clicks_are_tracked_through_signed_links_and_counted_in_the_stats() {
    let Some(setup) = setup(3, Vec::new()).await else {
        return;
    };
    let stack = &setup.stack;
    let campaign = setup.campaign().await;
    assert_eq!(setup.act(&campaign, "send").await.0, StatusCode::OK);
    setup.sent(&campaign, 3).await;
    let mails: Vec<SentMail> = {
        let mut all = Vec::new();
        for email in &setup.recipients {
            all.push(stack.wait_for_mail(email, 1).await.remove(0));
        }
        all
    };
    assert!(
        !mails[0].html.contains("https://example.com/articles/1"),
        "the link is tracked"
    );
    assert!(
        mails[0].html.contains("/newsletter/unsubscribe?token="),
        "ours are not"
    );

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let phone =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
    // A person opens the first mail twice and clicks; Apple's proxy prefetches the second.
    for _ in 0..2 {
        let pixel = client
            .get(tracked(&mails[0], "/t/o/"))
            .header(header::USER_AGENT, phone)
            .send()
            .await
            .unwrap();
        assert_eq!(pixel.status(), StatusCode::OK);
        assert_eq!(pixel.headers()[header::CONTENT_TYPE], "image/gif");
        assert_eq!(pixel.bytes().await.unwrap().len(), 43);
    }
    let prefetch = client
        .get(tracked(&mails[1], "/t/o/"))
        .header(header::USER_AGENT, "Mozilla/5.0")
        .send()
        .await
        .unwrap();
    assert_eq!(prefetch.status(), StatusCode::OK);
    let click = client
        .get(tracked(&mails[0], "/t/c/"))
        .header(header::USER_AGENT, phone)
        .send()
        .await
        .unwrap();
    assert_eq!(click.status(), StatusCode::FOUND);
    assert_eq!(
        click.headers()[header::LOCATION],
        "https://example.com/articles/1?from=mail&n=1"
    );
    // A tampered click goes nowhere.
    let link = tracked(&mails[0], "/t/c/");
    let (payload, tag) = link.rsplit_once('.').unwrap();
    let tampered = format!("{payload}x.{tag}");
    let refused = client.get(&tampered).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.headers().get(header::LOCATION).is_none());
    // An open token is not a click token.
    let open_as_click = tracked(&mails[0], "/t/o/").replace("/t/o/", "/t/c/");
    assert_eq!(
        client.get(&open_as_click).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    // SES says the first two were delivered (tags as our sends carry them).
    let handler = ses_events::handler(stack.platform.clone(), ()).unwrap();
    let ids: Vec<String> = stack
        .db
        .client()
        .await
        .query(
            "SELECT s.document_id FROM campaign_messages m JOIN subscribers s ON s.id = m.subscriber_id ORDER BY m.id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (i, subscriber) in ids.iter().take(2).enumerate() {
        let event = json!({
            "version": "0", "id": format!("d-{i}-{campaign}"), "detail-type": "Email Delivered",
            "source": "aws.ses", "time": "2026-11-28T08:00:00Z",
            "detail": { "eventType": "Delivery", "delivery": {},
                "mail": { "messageId": format!("m{i}"), "destination": [setup.recipients[i]],
                          "tags": { "campaign": [campaign], "subscriber": [subscriber] } } },
        });
        assert_eq!(handler(event).await.unwrap()["recorded"], true);
    }

    let path = format!("/admin/campaigns/{campaign}/stats");
    let (status, stats) = call(stack, Method::GET, &path, Some(&setup.admin), None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(
        stats["data"],
        json!({
            "targeted": 3, "sent": 3, "failed": 0, "delivered": 2, "bounced": 0, "complained": 0,
            "opened": 1, "machineOpened": 1, "clicked": 1, "unsubscribed": 0,
            "links": [{ "url": "https://example.com/articles/1?from=mail&n=1", "clicks": 1, "unique": 1 }],
        })
    );

    // Each subscriber's story, newest first: the first was sent the campaign, SES
    // delivered it, they opened it twice and clicked; the second's open was a machine.
    let admin = &setup.admin;
    let activity = |subscriber: &str| {
        let path = format!("/admin/subscribers/{subscriber}/activity");
        async move { call(stack, Method::GET, &path, Some(admin), None).await }
    };
    let (status, first) = activity(&ids[0]).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let mut kinds: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        ["clicked", "delivered", "opened", "opened", "sent"],
        "{first}"
    );
    let clicked = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "clicked")
        .unwrap();
    assert_eq!(
        clicked["detail"],
        "https://example.com/articles/1?from=mail&n=1"
    );
    assert_eq!(clicked["campaign"], campaign.as_str());
    assert_eq!(clicked["about"], "第 1 期");
    let (_, second) = activity(&ids[1]).await;
    let opened = second["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "opened")
        .unwrap();
    assert_eq!(opened["machine"], true, "{second}");
    assert_eq!(activity("nobody").await.0, StatusCode::NOT_FOUND);

    // A campaign that does not track sends the links as written.
    let body = json!({ "data": { "name": "不追踪", "template": setup.template, "lists": [setup.list], "tracking": false } });
    let (_, untracked) = call(
        stack,
        Method::POST,
        "/admin/campaigns",
        Some(&setup.admin),
        Some(body),
    )
    .await;
    let untracked = untracked["data"]["documentId"].as_str().unwrap().to_owned();
    assert_eq!(setup.act(&untracked, "send").await.0, StatusCode::OK);
    setup.sent(&untracked, 3).await;
    let second = stack.wait_for_mail(&setup.recipients[2], 2).await;
    let plain = second
        .iter()
        .find(|m| !m.html.contains("/t/o/"))
        .expect("an untracked mail");
    assert!(
        plain
            .html
            .contains("https://example.com/articles/1?from=mail&amp;n=1")
    );
}

#[tokio::test]
async fn ten_thousand_recipients_each_get_one_mail_with_their_own_unsubscribe_link() {
    const RECIPIENTS: usize = 10_000;
    let env = vec![("CAMPAIGN_RATE_PER_SECOND", "2000".to_owned())];
    let clock = std::time::Instant::now();
    let Some(setup) = setup(RECIPIENTS, env).await else {
        return;
    };
    eprintln!("{RECIPIENTS} recipients imported in {:?}", clock.elapsed());
    let campaign = setup.campaign().await;
    let clock = std::time::Instant::now();
    let (status, started) = setup.act(&campaign, "send").await;
    eprintln!("started and fanned out in {:?}", clock.elapsed());
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["data"]["progress"]["targeted"], RECIPIENTS);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let progress = loop {
        let progress = setup.show(&campaign).await["progress"].clone();
        if progress["pending"] == 0 || tokio::time::Instant::now() > deadline {
            break progress;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(progress["sent"], RECIPIENTS, "{progress}");
    eprintln!("all sent {:?} after the start", clock.elapsed());
    // Every address once, each with an unsubscribe link of its own.
    let domain = setup.recipients[0].split_once('-').unwrap().1;
    let mail = setup.stack.sent_mail(domain).await;
    assert_eq!(mail.len(), RECIPIENTS, "one mail each");
    let mut recipients: Vec<&str> = mail.iter().map(|m| m.destinations[0].as_str()).collect();
    recipients.sort_unstable();
    recipients.dedup();
    // Not compared as lists: a failure would print 10,000 addresses.
    assert_eq!(recipients.len(), RECIPIENTS, "each recipient exactly once");
    assert!(
        setup
            .recipients
            .iter()
            .all(|r| recipients.binary_search(&r.as_str()).is_ok()),
        "every recipient reached"
    );
    let links: std::collections::HashSet<String> = mail.iter().map(list_unsubscribe).collect();
    assert_eq!(
        links.len(),
        RECIPIENTS,
        "one unsubscribe link per recipient"
    );
    let last = mail.last().unwrap();
    let url = list_unsubscribe(last);
    let page = setup.stack.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "{url}");
}
