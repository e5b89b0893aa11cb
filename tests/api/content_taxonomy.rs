//! Authors, categories and tags written through the admin API: live on create, hard
//! deleted, slugs made from names and kept unique, bad input refused with a
//! ValidationError, every write audited and shown at once in the cached public API.

use bianxian_e2e::{TestStack, json, spawn_stack};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{content_admin::call, content_api::publication};

/// Creates an entry of `kind` (`authors`, `categories`, `tags`) and returns it.
async fn create(stack: &TestStack, token: &str, kind: &str, data: Value) -> Value {
    let (status, body) = call(
        stack,
        Method::POST,
        &format!("/admin/{kind}"),
        Some(token),
        Some(json!({ "data": data })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

/// The audit rows about `subject`, oldest first: (action, actor).
async fn audit(stack: &TestStack, subject: &str) -> Vec<(String, String)> {
    stack
        .db
        .client()
        .await
        .query(
            "SELECT action, actor FROM audit_log WHERE subject = $1 ORDER BY id",
            &[&subject],
        )
        .await
        .expect("audit")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

async fn get_json(stack: &TestStack, path: &str) -> Value {
    let response = stack.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    json(response).await
}

#[tokio::test]
async fn every_taxonomy_type_is_created_updated_and_deleted() {
    let stack = spawn_stack().await;
    let (staff, editor) = stack.staff_session(Role::Editor).await;
    let (_, avatar) = crate::uploads::ready_upload(&stack, "image/png").await;
    let cases = [
        (
            "authors",
            "author",
            "李四",
            json!({ "name": " 李四 ", "slug": "li-si", "bio": "写作者", "avatar": avatar,
                    "email": "Li@Example.com", "staff": staff }),
        ),
        (
            "categories",
            "category",
            "AI工具",
            json!({ "name": "AI工具", "slug": "ai-tools", "description": "工具评测" }),
        ),
        (
            "tags",
            "tag",
            "ChatGPT",
            json!({ "name": "ChatGPT", "slug": "chatgpt", "description": null }),
        ),
    ];
    for (kind, singular, name, data) in cases {
        let created = create(&stack, &editor, kind, data).await;
        let id = created["documentId"]
            .as_str()
            .expect("documentId")
            .to_owned();
        assert_eq!(created["name"], name, "trimmed: {created}");
        assert!(created["id"].is_i64() && created["createdAt"].is_string());

        // Live at once: the public API serves it, without private fields.
        let public = get_json(&stack, &format!("/api/{kind}/{id}")).await;
        assert_eq!(public["data"]["slug"], created["slug"], "{public}");
        assert!(public["data"].get("email").is_none(), "{public}");

        let path = format!("/admin/{kind}/{id}");
        let (status, updated) = call(
            &stack,
            Method::PUT,
            &path,
            Some(&editor),
            Some(json!({ "data": { "name": "新名字" } })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["data"]["name"], "新名字");
        assert_eq!(
            updated["data"]["slug"], created["slug"],
            "a rename keeps the slug"
        );

        let (status, _) = call(&stack, Method::DELETE, &path, Some(&editor), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = call(&stack, Method::DELETE, &path, Some(&editor), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = call(
            &stack,
            Method::PUT,
            &path,
            Some(&editor),
            Some(json!({ "data": { "name": "x" } })),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let response = stack.get(&format!("/api/{kind}/{id}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);

        let actor = format!("staff:{staff}");
        assert_eq!(
            audit(&stack, &format!("{singular}:{id}")).await,
            [
                (format!("{singular}.create"), actor.clone()),
                (format!("{singular}.update"), actor.clone()),
                (format!("{singular}.delete"), actor),
            ]
        );
    }
}

#[tokio::test]
async fn authors_carry_private_fields_in_the_admin_view_only() {
    let stack = spawn_stack().await;
    let (staff, editor) = stack.staff_session(Role::Editor).await;
    let author = create(
        &stack,
        &editor,
        "authors",
        json!({ "name": "王五", "email": "Wang@Example.com", "staff": staff }),
    )
    .await;
    assert_eq!(author["email"], "wang@example.com");
    assert_eq!(author["staff"], staff.as_str());
    let id = author["documentId"].as_str().expect("documentId");

    // A staff account writes as one author only.
    let (status, body) = call(
        &stack,
        Method::POST,
        "/admin/authors",
        Some(&editor),
        Some(json!({ "data": { "name": "另一个", "staff": staff } })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // null clears an optional field; an absent field stays.
    let (status, body) = call(
        &stack,
        Method::PUT,
        &format!("/admin/authors/{id}"),
        Some(&editor),
        Some(json!({ "data": { "staff": null, "bio": "简介" } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["staff"], Value::Null);
    assert_eq!(body["data"]["bio"], "简介");
    assert_eq!(body["data"]["email"], "wang@example.com");

    let text = stack.get("/api/authors").await.text().await.expect("body");
    assert!(
        text.contains("王五") && !text.contains("wang@example.com"),
        "{text}"
    );
}

#[tokio::test]
async fn slugs_are_made_from_names_and_kept_unique() {
    let stack = spawn_stack().await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    for kind in ["authors", "categories", "tags"] {
        let entry = create(&stack, &editor, kind, json!({ "name": "人工智能" })).await;
        let slug = entry["slug"].as_str().expect("slug");
        assert!(
            slug.len() == 6 && slug.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{kind}: {slug}"
        );
        let again = create(&stack, &editor, kind, json!({ "name": "人工智能" })).await;
        assert_ne!(again["slug"], entry["slug"], "{kind}");

        create(
            &stack,
            &editor,
            kind,
            json!({ "name": "One", "slug": "taken" }),
        )
        .await;
        let (status, body) = call(
            &stack,
            Method::POST,
            &format!("/admin/{kind}"),
            Some(&editor),
            Some(json!({ "data": { "name": "Two", "slug": "taken" } })),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{kind}: {body}");
        assert_eq!(body["error"]["name"], "ConflictError", "{body}");

        // Renaming onto a taken slug is the same conflict.
        let id = entry["documentId"].as_str().expect("documentId");
        let (status, _) = call(
            &stack,
            Method::PUT,
            &format!("/admin/{kind}/{id}"),
            Some(&editor),
            Some(json!({ "data": { "slug": "taken" } })),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{kind}");
    }
    // Categories and tags read their ASCII names; authors' slugs always get a suffix.
    let category = create(&stack, &editor, "categories", json!({ "name": "AI Tools" })).await;
    assert_eq!(category["slug"], "ai-tools");
    let (status, _) = call(
        &stack,
        Method::POST,
        "/admin/categories",
        Some(&editor),
        Some(json!({ "data": { "name": "AI tools" } })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let author = create(&stack, &editor, "authors", json!({ "name": "John Smith" })).await;
    let slug = author["slug"].as_str().expect("slug");
    assert!(
        slug.starts_with("john-smith-") && slug.len() == 17,
        "{slug}"
    );
}

#[tokio::test]
async fn bad_input_is_a_validation_error() {
    let stack = spawn_stack().await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let tag = create(&stack, &editor, "tags", json!({ "name": "ok" })).await;
    let tag_path = format!("/admin/tags/{}", tag["documentId"].as_str().unwrap());
    let long = "长".repeat(101);
    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (Method::POST, "/admin/tags", json!({}), "name"),
        (
            Method::POST,
            "/admin/categories",
            json!({ "name": "  " }),
            "name",
        ),
        (
            Method::POST,
            "/admin/authors",
            json!({ "name": long }),
            "name",
        ),
        (Method::POST, "/admin/tags", json!({ "name": null }), "name"),
        (Method::PUT, &tag_path, json!({ "name": null }), "name"),
        (
            Method::PUT,
            &tag_path,
            json!({ "slug": "Not A Slug" }),
            "slug",
        ),
        (Method::POST, "/admin/tags", json!({ "name": 5 }), "body"),
        (
            Method::POST,
            "/admin/categories",
            json!({ "name": "x", "description": ["a"] }),
            "body",
        ),
        (
            Method::POST,
            "/admin/tags",
            json!({ "name": "x", "bio": "tags have none" }),
            "body",
        ),
        (
            Method::POST,
            "/admin/authors",
            json!({ "name": "x", "internalNotes": "no" }),
            "body",
        ),
        (
            Method::POST,
            "/admin/authors",
            json!({ "name": "x", "email": "nope" }),
            "email",
        ),
        (
            Method::POST,
            "/admin/authors",
            json!({ "name": "x", "staff": "nobody" }),
            "staff",
        ),
        (
            Method::POST,
            "/admin/authors",
            json!({ "name": "x", "bio": "b".repeat(2001) }),
            "bio",
        ),
        (
            Method::PUT,
            &tag_path,
            json!({ "description": "d".repeat(2001) }),
            "description",
        ),
    ];
    for (method, path, data, field) in cases {
        let (status, body) = call(
            &stack,
            method.clone(),
            path,
            Some(&editor),
            Some(json!({ "data": data })),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {path} {data}: {body}"
        );
        assert_eq!(body["error"]["name"], "ValidationError", "{body}");
        assert_eq!(
            body["error"]["details"]["errors"][0]["path"][0], field,
            "{method} {path} {data}: {body}"
        );
    }
    // Outside the envelope, too.
    let (status, _) = call(
        &stack,
        Method::POST,
        "/admin/tags",
        Some(&editor),
        Some(json!({ "data": { "name": "x" }, "meta": {} })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unchanged = get_json(&stack, "/api/tags").await;
    assert_eq!(unchanged["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_renamed_category_shows_in_cached_article_lists() {
    let stack = spawn_stack().await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let ids = publication(&stack).await;
    let path = "/api/articles?populate=category&filters[slug][$eq]=open-road";
    let category_name = |body: &Value| body["data"][0]["category"]["name"].clone();
    assert_eq!(category_name(&get_json(&stack, path).await), "AI工具");

    // Behind the API's back the name changes, and the cached answer keeps the old one.
    let client = stack.db.client().await;
    client
        .execute(
            "UPDATE categories SET name = '改名' WHERE slug = 'ai-tools'",
            &[],
        )
        .await
        .expect("rename");
    assert_eq!(category_name(&get_json(&stack, path).await), "AI工具");

    let category: String = client
        .query_one(
            "SELECT document_id FROM categories WHERE slug = 'ai-tools'",
            &[],
        )
        .await
        .expect("category")
        .get(0);
    let (status, body) = call(
        &stack,
        Method::PUT,
        &format!("/admin/categories/{category}"),
        Some(&editor),
        Some(json!({ "data": { "name": "AI工具箱" } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(category_name(&get_json(&stack, path).await), "AI工具箱");

    // Deleting the category leaves the article, without a category.
    let (status, _) = call(
        &stack,
        Method::DELETE,
        &format!("/admin/categories/{category}"),
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let body = get_json(&stack, path).await;
    assert_eq!(body["data"][0]["documentId"], ids["open-road"].as_str());
    assert_eq!(category_name(&body), Value::Null, "{body}");
}

#[tokio::test]
async fn a_deleted_tag_leaves_the_articles_it_was_on() {
    let stack = spawn_stack().await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let ids = publication(&stack).await;
    let path = format!("/api/articles/{}?populate=tags", ids["open-road"]);
    let tag_slugs = |body: &Value| -> Vec<String> {
        body["data"]["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t["slug"].as_str().expect("slug").to_owned())
            .collect()
    };
    let mut before = tag_slugs(&get_json(&stack, &path).await);
    before.sort();
    assert_eq!(before, ["chatgpt", "side-hustle"]);

    let chatgpt: String = stack
        .db
        .client()
        .await
        .query_one("SELECT document_id FROM tags WHERE slug = 'chatgpt'", &[])
        .await
        .expect("tag")
        .get(0);
    let (status, _) = call(
        &stack,
        Method::DELETE,
        &format!("/admin/tags/{chatgpt}"),
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(tag_slugs(&get_json(&stack, &path).await), ["side-hustle"]);
    let tags = get_json(&stack, "/api/tags").await;
    assert!(!tags.to_string().contains("chatgpt"), "{tags}");
}
