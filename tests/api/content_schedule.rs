//! Scheduled publishing and revision restore: a scheduled draft stays private until
//! the scheduler finds its time has passed, then shows in the cached public list at
//! once, exactly once however many scheduler runs overlap; restoring a revision
//! brings its text back as a new revision.

use bianxian_e2e::{TestStack, spawn_stack};
use chrono::{Duration, SecondsFormat, Utc};
use content::write::schedule::publish_due;
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::content_admin::{call, draft, public_slugs};

fn in_an_hour() -> String {
    (Utc::now() + Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn schedule(stack: &TestStack, token: &str, id: &str, at: &str) -> StatusCode {
    let (status, _) = call(
        stack,
        Method::POST,
        &format!("/admin/articles/{id}/schedule"),
        Some(token),
        Some(json!({ "data": { "publishAt": at } })),
    )
    .await;
    status
}

/// Simulates the scheduled time passing.
async fn make_due(stack: &TestStack) {
    stack
        .db
        .client()
        .await
        .batch_execute(
            "UPDATE articles SET scheduled_at = now() - interval '1 second'
             WHERE scheduled_at IS NOT NULL",
        )
        .await
        .expect("make due");
}

#[tokio::test]
async fn a_scheduled_draft_is_published_by_the_scheduler_and_shows_at_once() {
    let stack = spawn_stack().await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let id = draft(&stack, &editor, json!({ "title": "Tomorrow" })).await;
    let (status, body) = call(
        &stack,
        Method::POST,
        &format!("/admin/articles/{id}/schedule"),
        Some(&editor),
        Some(json!({ "data": { "publishAt": in_an_hour() } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["scheduledAt"].is_string(), "{body}");
    assert!(body["data"]["publishedAt"].is_null());

    // Not due yet: the scheduler leaves it alone, and the (now cached) list is empty.
    assert!(publish_due(&stack.writer()).await.expect("run").is_empty());
    assert!(public_slugs(&stack).await.is_empty());

    make_due(&stack).await;
    assert_eq!(
        publish_due(&stack.writer()).await.expect("run"),
        [id.as_str()]
    );
    assert_eq!(public_slugs(&stack).await, ["tomorrow"]);
    let rows = stack
        .db
        .client()
        .await
        .query(
            "SELECT actor FROM audit_log WHERE action = 'article.publish' AND subject = $1",
            &[&format!("article:{id}")],
        )
        .await
        .expect("audit");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "scheduler");

    // Published now: scheduling again is a conflict.
    assert_eq!(
        schedule(&stack, &editor, &id, &in_an_hour()).await,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn scheduling_needs_publish_rights_and_a_future_time() {
    let stack = spawn_stack().await;
    let (_, author) = stack.staff_session(Role::Author).await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let id = draft(&stack, &author, json!({ "title": "Mine" })).await;
    assert_eq!(
        schedule(&stack, &author, &id, &in_an_hour()).await,
        StatusCode::FORBIDDEN
    );
    let past = (Utc::now() - Duration::minutes(5)).to_rfc3339();
    assert_eq!(
        schedule(&stack, &editor, &id, &past).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        schedule(&stack, &editor, &id, "tomorrow at noon").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        schedule(&stack, &editor, "nope", &in_an_hour()).await,
        StatusCode::NOT_FOUND
    );

    // Unscheduling clears the time: the scheduler then has nothing to publish.
    assert_eq!(
        schedule(&stack, &editor, &id, &in_an_hour()).await,
        StatusCode::OK
    );
    let (status, body) = call(
        &stack,
        Method::DELETE,
        &format!("/admin/articles/{id}/schedule"),
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["scheduledAt"].is_null());
    make_due(&stack).await;
    assert!(publish_due(&stack.writer()).await.expect("run").is_empty());
}

#[tokio::test]
async fn overlapping_scheduler_runs_publish_each_article_once() {
    let stack = spawn_stack().await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = draft(&stack, &editor, json!({ "title": format!("Due {n}") })).await;
        assert_eq!(
            schedule(&stack, &editor, &id, &in_an_hour()).await,
            StatusCode::OK
        );
        ids.push(id);
    }
    make_due(&stack).await;
    let writer = stack.writer();
    let (a, b) = tokio::join!(publish_due(&writer), publish_due(&writer));
    let mut published = [a.expect("first run"), b.expect("second run")].concat();
    published.sort();
    ids.sort();
    assert_eq!(published, ids);
    assert_eq!(public_slugs(&stack).await.len(), 5);
}

#[tokio::test]
async fn restoring_a_revision_brings_its_text_back_as_a_new_revision() {
    let stack = spawn_stack().await;
    let (_, author) = stack.staff_session(Role::Author).await;
    let (_, other) = stack.staff_session(Role::Author).await;
    let id = draft(
        &stack,
        &author,
        json!({ "title": "Old title", "body": "old *body*" }),
    )
    .await;
    let (status, _) = call(
        &stack,
        Method::PUT,
        &format!("/admin/articles/{id}"),
        Some(&author),
        Some(json!({ "data": { "title": "New title", "body": "new body" } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let restore = format!("/admin/articles/{id}/revisions/1/restore");
    let (status, _) = call(&stack, Method::POST, &restore, Some(&other), None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "not the other author's draft"
    );
    let missing = format!("/admin/articles/{id}/revisions/9/restore");
    let (status, _) = call(&stack, Method::POST, &missing, Some(&author), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = call(&stack, Method::POST, &restore, Some(&author), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["title"], "Old title");
    assert_eq!(body["data"]["body"], "old *body*");
    assert!(
        body["data"]["bodyHtml"]
            .as_str()
            .expect("bodyHtml")
            .contains("<em>body</em>"),
        "{body}"
    );

    let (status, body) = call(
        &stack,
        Method::GET,
        &format!("/admin/articles/{id}/revisions"),
        Some(&author),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let revisions = body["data"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 3);
    assert_eq!(revisions[0]["revision"], 3);
    assert_eq!(revisions[0]["title"], "Old title");
}

/// Scheduled is not a draft (issue 10, item 6): once an editor has scheduled an
/// author's article, the author can no longer change what the scheduler will publish.
#[tokio::test]
async fn an_author_cannot_edit_an_article_an_editor_scheduled() {
    let stack = spawn_stack().await;
    let (_, author) = stack.staff_session(Role::Author).await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let id = draft(&stack, &author, json!({ "title": "作者的草稿" })).await;
    let edit = |title: &'static str| {
        let (stack, author, id) = (&stack, &author, &id);
        async move {
            call(
                stack,
                Method::PUT,
                &format!("/admin/articles/{id}"),
                Some(author),
                Some(json!({ "data": { "title": title, "visibility": "public" } })),
            )
            .await
            .0
        }
    };
    assert_eq!(edit("还是草稿").await, StatusCode::OK);
    assert_eq!(
        schedule(&stack, &editor, &id, &in_an_hour()).await,
        StatusCode::OK
    );
    assert_eq!(edit("排期后改动").await, StatusCode::FORBIDDEN);
    let unschedule = call(
        &stack,
        Method::DELETE,
        &format!("/admin/articles/{id}/schedule"),
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(unschedule.0, StatusCode::OK);
    assert_eq!(edit("又是草稿").await, StatusCode::OK);
}
