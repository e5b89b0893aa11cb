//! Segments through the admin API: rules over attributes, accounts and paid plans,
//! previewed as a count; a campaign that names one reaches only the lists'
//! subscribers who match; rules that are not rules, and values that look like
//! SQL, change nothing but the answer.

use bianxian_e2e::{campaigns::import_confirmed, create, random_suffix, spawn_stack};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::content_admin::call;

#[tokio::test]
async fn a_segment_narrows_a_campaign_to_the_subscribers_who_match() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let list = json!({ "data": { "name": "每周精选", "visibility": "public", "optin": "double" } });
    let list = create(&stack, &admin, "/admin/lists", list).await;
    let suffix = random_suffix();
    let email = |who: &str| format!("{who}-{suffix}@example.com");
    let csv = format!(
        "email,name,attributes\n{},杭州老读者,\"{{\"\"city\"\":\"\"杭州\"\",\"\"score\"\":12}}\"\n{},杭州新读者,\"{{\"\"city\"\":\"\"杭州\"\",\"\"score\"\":3}}\"\n{},北京读者,\"{{\"\"city\"\":\"\"北京\"\",\"\"score\"\":40}}\"\n{},无属性,\n",
        email("hz-old"),
        email("hz-new"),
        email("bj"),
        email("none")
    );
    import_confirmed(&stack, &admin, &list, csv).await;

    let preview = |rules: Value| {
        let (stack, admin) = (&stack, admin.clone());
        async move {
            call(
                stack,
                Method::POST,
                "/admin/segments/preview",
                Some(&admin),
                Some(json!({ "data": rules })),
            )
            .await
        }
    };
    let hangzhou = json!({ "match": "all", "rules": [
        { "field": "attribute", "name": "city", "op": "eq", "value": "杭州" },
        { "field": "attribute", "name": "score", "op": "gte", "value": 10 },
    ] });
    let (status, matched) = preview(hangzhou.clone()).await;
    assert_eq!(status, StatusCode::OK, "{matched}");
    assert_eq!(matched["data"]["count"], 1);
    assert_eq!(matched["data"]["sample"], json!([email("hz-old")]));
    let either = json!({ "match": "any", "rules": [
        { "field": "attribute", "name": "city", "op": "contains", "value": "北" },
        { "field": "attribute", "name": "score", "op": "lt", "value": 5 },
    ] });
    assert_eq!(preview(either).await.1["data"]["count"], 2);
    let missing = json!({ "match": "all", "rules": [
        { "field": "attribute", "name": "city", "op": "missing" },
        { "field": "member", "is": false },
    ] });
    assert_eq!(
        preview(missing).await.1["data"]["sample"],
        json!([email("none")])
    );
    // A value or name that looks like SQL is only a value.
    let injected = json!({ "match": "any", "rules": [
        { "field": "attribute", "name": "city' OR 1=1 --", "op": "exists" },
        { "field": "attribute", "name": "city", "op": "eq", "value": "杭州' OR '1'='1" },
    ] });
    assert_eq!(preview(injected).await.1["data"]["count"], 0);
    for wrong in [
        json!({ "match": "all", "rules": [] }),
        json!({ "match": "all", "rules": [{ "field": "sql", "where": "true" }] }),
        json!({ "match": "all", "rules": [{ "field": "attribute", "name": "score", "op": "gt", "value": "many" }] }),
        json!({ "match": "all", "rules": [{ "field": "opened", "withinDays": 99999, "is": true }] }),
        json!({ "match": "most", "rules": [{ "field": "member", "is": true }] }),
    ] {
        let (status, answer) = preview(wrong.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong}: {answer}");
    }

    // Saved, and named by a campaign: only the match is mailed.
    let mut body = hangzhou.clone();
    body["name"] = json!("杭州活跃读者");
    let (status, segment) = call(
        &stack,
        Method::POST,
        "/admin/segments",
        Some(&admin),
        Some(json!({ "data": body })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{segment}");
    let segment = segment["data"]["documentId"].as_str().unwrap().to_owned();
    let template = json!({ "data": { "name": "城市周报", "subject": "本周精选", "html": "<p>你好</p>", "text": "你好" } });
    let (_, template) = call(
        &stack,
        Method::POST,
        "/admin/templates",
        Some(&admin),
        Some(template),
    )
    .await;
    let campaign = json!({ "data": { "name": "杭州专场", "template": template["data"]["documentId"],
        "lists": [list], "segment": segment } });
    let (status, campaign) = call(
        &stack,
        Method::POST,
        "/admin/campaigns",
        Some(&admin),
        Some(campaign),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    assert_eq!(campaign["data"]["segment"]["name"], "杭州活跃读者");
    let campaign = campaign["data"]["documentId"].as_str().unwrap().to_owned();
    let path = format!("/admin/segments/{segment}");
    assert_eq!(
        call(&stack, Method::DELETE, &path, Some(&admin), None)
            .await
            .0,
        StatusCode::CONFLICT,
        "a draft campaign targets it"
    );
    let (status, started) = call(
        &stack,
        Method::POST,
        &format!("/admin/campaigns/{campaign}/send"),
        Some(&admin),
        None,
    )
    .await;
    if stack.aws_endpoint.is_some() {
        assert_eq!(status, StatusCode::OK, "{started}");
        assert_eq!(started["data"]["progress"]["targeted"], 1);
        let recipients: Vec<String> = stack
            .db
            .client()
            .await
            .query(
                "SELECT s.email FROM campaign_messages m JOIN subscribers s ON s.id = m.subscriber_id
                 JOIN campaigns c ON c.id = m.campaign_id WHERE c.document_id = $1",
                &[&campaign],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(recipients, [email("hz-old")]);
    }
    assert_eq!(
        call(
            &stack,
            Method::DELETE,
            "/admin/segments/nope",
            Some(&admin),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn paid_member_rules_follow_the_members_plans() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let member_email = format!("paid-{}@example.com", random_suffix());
    stack.register(&member_email, "correct horse battery").await;
    let member: String = stack
        .db
        .client()
        .await
        .query_one(
            "SELECT document_id FROM members WHERE email = $1",
            &[&member_email],
        )
        .await
        .unwrap()
        .get(0);
    let subscriber = json!({ "data": { "email": member_email, "name": "会员读者" } });
    let (status, created) = call(
        &stack,
        Method::POST,
        "/admin/subscribers",
        Some(&admin),
        Some(subscriber),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let paid = json!({ "data": { "match": "all", "rules": [{ "field": "paid-member", "is": true, "plan": "pro" }] } });
    let count = |body: Value| {
        let (stack, admin) = (&stack, admin.clone());
        async move {
            call(
                stack,
                Method::POST,
                "/admin/segments/preview",
                Some(&admin),
                Some(body),
            )
            .await
            .1["data"]["sample"]
                .clone()
        }
    };
    assert_eq!(count(paid.clone()).await, json!([]));
    let granted = stack
        .authed(
            Method::POST,
            &format!("/admin/members/{member}/entitlements"),
            &admin,
        )
        .json(&json!({ "product": { "kind": "plan", "code": "pro" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), StatusCode::CREATED);
    assert_eq!(count(paid).await, json!([member_email]));
    let members = json!({ "data": { "match": "all", "rules": [{ "field": "member", "is": true }, { "field": "purchases", "min": 1 }] } });
    assert_eq!(
        count(members).await,
        json!([]),
        "a comp grant is not a purchase"
    );
}
