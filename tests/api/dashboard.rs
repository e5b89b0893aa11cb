//! The console's overview: every section for those allowed to read what it counts,
//! null for the rest (an author sees no revenue), over the last `days` UTC days.

use chrono::{Duration, Utc};
use commerce::{fulfilment::Outcome, money::Currency};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    admin::create_token,
    commerce::{Purchase, paid, purchase},
    content_admin::{call, draft},
};

const SECTIONS: [&str; 5] = ["revenue", "members", "marketing", "content", "failures"];

/// The sections of the overview `token` gets, by name, that are not null.
fn shown(body: &Value) -> Vec<&'static str> {
    SECTIONS
        .into_iter()
        .filter(|section| !body["data"][section].is_null())
        .collect()
}

/// The count of the series' last day (today).
fn today(series: &Value) -> i64 {
    let days = series.as_array().expect("a series");
    days.last().expect("a day")["count"]
        .as_i64()
        .expect("count")
}

#[tokio::test]
async fn each_section_is_there_only_for_those_allowed_to_read_it() {
    let Purchase {
        stack,
        order,
        fulfilment,
        ..
    } = purchase().await;
    let outcome = fulfilment
        .fulfil(&paid(&order, 9900, Currency::Cny))
        .await
        .expect("fulfil");
    assert!(matches!(outcome, Outcome::Fulfilled { .. }), "{outcome:?}");
    // A mail that failed for good.
    stack
        .db
        .client()
        .await
        .execute(
            "INSERT INTO mail_outbox (template, recipient, variables, status)
             VALUES ('receipt', 'gone@example.com', '{}', 'failed')",
            &[],
        )
        .await
        .expect("a failed mail");

    let admin = stack.staff_token(Role::Admin).await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let published = draft(&stack, &editor, json!({ "title": "今天发布" })).await;
    let path = format!("/admin/articles/{published}/publish");
    let (status, _) = call(&stack, Method::POST, &path, Some(&editor), None).await;
    assert_eq!(status, StatusCode::OK);
    let scheduled = draft(&stack, &editor, json!({ "title": "明天发布" })).await;
    let at = (Utc::now() + Duration::days(1)).to_rfc3339();
    let (status, _) = call(
        &stack,
        Method::POST,
        &format!("/admin/articles/{scheduled}/schedule"),
        Some(&editor),
        Some(json!({ "data": { "publishAt": at } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &stack,
        Method::POST,
        "/admin/subscribers",
        Some(&admin),
        Some(json!({ "data": { "email": "reader@example.com" } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, all) = call(&stack, Method::GET, "/admin/dashboard", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(shown(&all), SECTIONS);
    let data = &all["data"];
    let now = Utc::now().date_naive();
    assert_eq!(data["days"], 30);
    assert_eq!(data["to"], now.format("%Y-%m-%d").to_string());
    assert_eq!(
        data["from"],
        (now - Duration::days(29)).format("%Y-%m-%d").to_string()
    );
    assert_eq!(
        data["revenue"].as_array().expect("revenue").len(),
        1,
        "{all}"
    );
    let revenue = &data["revenue"][0];
    assert_eq!(
        (&revenue["currency"], &revenue["gross"], &revenue["net"]),
        (&json!("CNY"), &json!(9900), &json!(9900)),
        "{all}"
    );
    assert_eq!(revenue["day"], data["to"]);
    assert_eq!(
        data["members"]["joined"].as_array().expect("joined").len(),
        30
    );
    assert_eq!(today(&data["members"]["joined"]), 1, "{all}");
    assert_eq!(today(&data["marketing"]["subscribed"]), 1, "{all}");
    assert_eq!(data["marketing"]["campaigns"], json!([]));
    assert_eq!(today(&data["content"]["published"]), 1, "{all}");
    assert_eq!(data["content"]["scheduled"], 1);
    assert_eq!(
        data["failures"],
        json!({ "webhookDeliveries": 0, "mail": 1, "campaignMail": 0 })
    );

    // Each caller sees what their permissions read, and never more.
    let (_, read_only) = create_token(&stack, &admin, "read-only", &[]).await;
    let (_, custom) = create_token(&stack, &admin, "custom", &["marketing.read"]).await;
    for (caller, token, sections) in [
        (
            "author",
            stack.staff_token(Role::Author).await,
            vec!["content"],
        ),
        ("editor", editor.clone(), vec!["content"]),
        (
            "finance",
            stack.staff_token(Role::Finance).await,
            vec!["revenue"],
        ),
        ("read-only", read_only, vec!["content", "failures"]),
        ("custom", custom, vec!["marketing"]),
    ] {
        let (status, body) =
            call(&stack, Method::GET, "/admin/dashboard", Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "{caller}: {body}");
        assert_eq!(shown(&body), sections, "{caller}: {body}");
        for section in SECTIONS {
            assert!(
                body["data"].get(section).is_some(),
                "{caller}: {section} is null, not absent"
            );
        }
    }
}

#[tokio::test]
async fn the_range_is_1_to_365_utc_days() {
    let stack = bianxian_e2e::spawn_stack().await;
    let (_, author) = stack.staff_session(Role::Author).await;
    let (status, one) = call(
        &stack,
        Method::GET,
        "/admin/dashboard?days=1",
        Some(&author),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["data"]["from"], one["data"]["to"]);
    assert_eq!(
        one["data"]["content"]["published"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(one["data"]["revenue"], Value::Null);
    let (status, year) = call(
        &stack,
        Method::GET,
        "/admin/dashboard?days=365",
        Some(&author),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        year["data"]["content"]["published"]
            .as_array()
            .map(Vec::len),
        Some(365)
    );
    for days in ["0", "366", "-1", "abc", "1.5"] {
        let (status, body) = call(
            &stack,
            Method::GET,
            &format!("/admin/dashboard?days={days}"),
            Some(&author),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "days={days}: {body}");
        assert_eq!(body["error"]["details"]["errors"][0]["path"][0], "days");
    }
    let (status, _) = call(&stack, Method::GET, "/admin/dashboard", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let member = stack.member_session().await;
    let (status, _) = call(&stack, Method::GET, "/admin/dashboard", Some(&member), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
