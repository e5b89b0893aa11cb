//! The admin console's content reads: the staff's list of every article with its
//! state (`GET /admin/articles`, the public API's Strapi query plus `status`), an
//! article's working copy for the editor, and the Markdown preview that is the
//! published rendering.

use bianxian_e2e::{TestStack, json, spawn_stack};
use chrono::{Duration, Utc};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    admin::create_token,
    content_admin::{call, draft},
};

/// `GET path` as `token`, expecting 200; the body.
async fn read(stack: &TestStack, path: &str, token: &str) -> Value {
    let (status, body) = call(stack, Method::GET, path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// The titles of a list answer, in order.
fn titles(body: &Value) -> Vec<&str> {
    body["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| a["title"].as_str().expect("title"))
        .collect()
}

async fn term(stack: &TestStack, token: &str, kind: &str, name: &str) -> String {
    let (status, body) = call(
        stack,
        Method::POST,
        &format!("/admin/{kind}"),
        Some(token),
        Some(json!({ "data": { "name": name } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["documentId"]
        .as_str()
        .expect("documentId")
        .to_owned()
}

async fn post(stack: &TestStack, path: &str, token: &str, body: Option<Value>) {
    let (status, answer) = call(stack, Method::POST, path, Some(token), body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
}

#[tokio::test]
async fn the_console_lists_every_article_in_every_state_with_strapi_queries() {
    let stack = spawn_stack().await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let (_, author) = stack.staff_session(Role::Author).await;
    let category = term(&stack, &editor, "categories", "工具").await;
    let tag = term(&stack, &editor, "tags", "副业").await;

    let drafted = draft(
        &stack,
        &editor,
        json!({
            "title": "变现之路入门", "slug": "getting-started", "visibility": "members",
            "category": category, "tags": [tag], "body": "免费\n\n<!--members-only-->\n\n付费",
        }),
    )
    .await;
    let scheduled = draft(
        &stack,
        &editor,
        json!({ "title": "Scheduled piece", "slug": "scheduled-piece", "locale": "en", "visibility": "paid" }),
    )
    .await;
    let published = draft(
        &stack,
        &editor,
        json!({ "title": "Published piece", "slug": "published-piece", "visibility": "members",
                "body": "open\n\n<!--members-only-->\n\nclosed" }),
    )
    .await;
    let by_author = draft(&stack, &author, json!({ "title": "作者的草稿" })).await;
    let deleted = draft(&stack, &editor, json!({ "title": "Deleted" })).await;
    let publish_at = (Utc::now() + Duration::days(2)).to_rfc3339();
    post(
        &stack,
        &format!("/admin/articles/{scheduled}/schedule"),
        &editor,
        Some(json!({ "data": { "publishAt": publish_at } })),
    )
    .await;
    post(
        &stack,
        &format!("/admin/articles/{published}/publish"),
        &editor,
        None,
    )
    .await;
    let (status, _) = call(
        &stack,
        Method::DELETE,
        &format!("/admin/articles/{deleted}"),
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Every live article, the last changed first, each with its state.
    let all = read(&stack, "/admin/articles", &editor).await;
    assert_eq!(
        titles(&all),
        [
            "Published piece",
            "Scheduled piece",
            "作者的草稿",
            "变现之路入门"
        ],
        "{all}"
    );
    let state = |body: &Value, id: &str| -> (Value, Value) {
        let entry = body["data"]
            .as_array()
            .expect("list")
            .iter()
            .find(|a| a["documentId"] == id)
            .unwrap_or_else(|| panic!("{id} in {body}"))
            .clone();
        (entry["status"].clone(), entry["scheduledAt"].clone())
    };
    assert_eq!(state(&all, &drafted), (json!("draft"), Value::Null));
    assert_eq!(state(&all, &published).0, "published");
    let (status, at) = state(&all, &scheduled);
    assert_eq!(status, "scheduled");
    assert!(at.as_str().is_some_and(|at| at.ends_with('Z')), "{all}");
    assert_eq!(
        all["meta"]["pagination"],
        json!({ "page": 1, "pageSize": 25, "pageCount": 1, "total": 4 })
    );
    // Staff sessions read every body whole.
    let whole = all["data"]
        .as_array()
        .expect("list")
        .iter()
        .find(|a| a["documentId"] == published.as_str())
        .expect("published");
    assert!(whole["body"].as_str().expect("body").contains("closed"));

    let filtered = |query: &'static str| {
        let stack = &stack;
        let editor = &editor;
        async move { read(stack, &format!("/admin/articles?{query}"), editor).await }
    };
    assert_eq!(
        titles(&filtered("status=draft").await),
        ["作者的草稿", "变现之路入门"]
    );
    assert_eq!(
        titles(&filtered("status=scheduled").await),
        ["Scheduled piece"]
    );
    assert_eq!(
        titles(&filtered("status=published").await),
        ["Published piece"]
    );
    assert_eq!(
        titles(&filtered("filters[visibility][$eq]=members&sort=title:asc").await),
        ["Published piece", "变现之路入门"]
    );
    assert_eq!(titles(&filtered("locale=en").await), ["Scheduled piece"]);
    let by_category = read(
        &stack,
        &format!("/admin/articles?filters[category][documentId][$eq]={category}"),
        &editor,
    )
    .await;
    assert_eq!(titles(&by_category), ["变现之路入门"]);
    let by_tag = read(
        &stack,
        &format!("/admin/articles?filters[tags][documentId][$in][0]={tag}&populate=tags"),
        &editor,
    )
    .await;
    assert_eq!(titles(&by_tag), ["变现之路入门"]);
    assert_eq!(by_tag["data"][0]["tags"][0]["name"], "副业");
    let author_id =
        read(&stack, &format!("/admin/articles/{by_author}"), &editor).await["data"]["author"]
            .as_str()
            .expect("author")
            .to_owned();
    let by_author_list = read(
        &stack,
        &format!("/admin/articles?filters[author][documentId][$eq]={author_id}"),
        &editor,
    )
    .await;
    assert_eq!(titles(&by_author_list), ["作者的草稿"]);
    // Title and slug search, Chinese too; `_q` searches every state.
    assert_eq!(
        titles(&filtered("filters[title][$containsi]=变现").await),
        ["变现之路入门"]
    );
    assert_eq!(
        titles(&filtered("filters[$or][0][title][$containsi]=SCHEDULED&filters[$or][1][slug][$containsi]=scheduled").await),
        ["Scheduled piece"]
    );
    assert_eq!(titles(&filtered("_q=之路").await), ["变现之路入门"]);
    let page = filtered("pagination[page]=2&pagination[pageSize]=3&fields[0]=title").await;
    assert_eq!(titles(&page), ["变现之路入门"]);
    assert_eq!(
        page["meta"]["pagination"],
        json!({ "page": 2, "pageSize": 3, "pageCount": 2, "total": 4 })
    );
    // The state comes whatever `fields` selects.
    assert_eq!(page["data"][0]["status"], "draft");
    assert!(page["data"][0].get("body").is_none());

    // Bad queries are 400s naming the parameter.
    for (query, parameter) in [
        ("status=modified", "status"),
        ("filters[internalNotes][$eq]=x", "filters"),
        ("pagination[pageSize]=0", "pagination"),
        ("fields[0]=status", "fields"),
    ] {
        let (status, body) = call(
            &stack,
            Method::GET,
            &format!("/admin/articles?{query}"),
            Some(&editor),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let path = body["error"]["details"]["errors"][0]["path"][0]
            .as_str()
            .expect("path");
        assert!(path.starts_with(parameter), "{query}: {body}");
    }

    // The public API is unchanged: published only, and no state.
    let public = json(stack.get("/api/articles").await).await;
    assert_eq!(titles(&public), ["Published piece"]);
    assert!(public["data"][0].get("status").is_none(), "{public}");

    // An API token reads drafts whole and published gated bodies as visitors do.
    let admin = stack.staff_token(Role::Admin).await;
    let (_, token) = create_token(&stack, &admin, "read-only", &[]).await;
    let listed = read(
        &stack,
        "/admin/articles?filters[visibility][$eq]=members",
        &token,
    )
    .await;
    for entry in listed["data"].as_array().expect("list") {
        let body = entry["body"].as_str().expect("body");
        match entry["status"].as_str() {
            Some("published") => assert!(!body.contains("closed"), "{entry}"),
            _ => assert!(body.contains("付费"), "{entry}"),
        }
    }

    let (status, body) = call(&stack, Method::GET, "/admin/articles", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let member = stack.member_session().await;
    let (status, _) = call(&stack, Method::GET, "/admin/articles", Some(&member), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_working_copy_has_every_editable_field() {
    let stack = spawn_stack().await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let category = term(&stack, &editor, "categories", "案例").await;
    let first = term(&stack, &editor, "tags", "写作").await;
    let second = term(&stack, &editor, "tags", "AI").await;
    let (_, cover) = crate::uploads::ready_upload(&stack, "image/png").await;
    let id = draft(
        &stack,
        &editor,
        json!({
            "title": "工作稿", "excerpt": "摘要", "body": "# 标题\n\n正文",
            "cover": cover, "visibility": "paid", "featured": true,
            "seoTitle": "SEO 标题", "seoDescription": "SEO 描述", "internalNotes": "内部",
            "category": category, "tags": [first, second],
            "products": [{ "kind": "plan", "code": "pro" }],
        }),
    )
    .await;
    let publish_at = (Utc::now() + Duration::hours(3)).to_rfc3339();
    post(
        &stack,
        &format!("/admin/articles/{id}/schedule"),
        &editor,
        Some(json!({ "data": { "publishAt": publish_at } })),
    )
    .await;

    let copy = read(&stack, &format!("/admin/articles/{id}"), &editor).await["data"].clone();
    for (field, value) in [
        ("title", json!("工作稿")),
        ("excerpt", json!("摘要")),
        ("body", json!("# 标题\n\n正文")),
        ("cover", json!(cover)),
        ("visibility", json!("paid")),
        ("featured", json!(true)),
        ("seoTitle", json!("SEO 标题")),
        ("seoDescription", json!("SEO 描述")),
        ("internalNotes", json!("内部")),
        ("locale", json!("zh-CN")),
        ("category", json!(category)),
        ("tags", json!([first, second])),
        ("products", json!([{ "kind": "plan", "code": "pro" }])),
        ("status", json!("scheduled")),
        ("publishedAt", Value::Null),
    ] {
        assert_eq!(copy[field], value, "{field}: {copy}");
    }
    assert!(copy["bodyHtml"].as_str().expect("html").contains("<h1>"));
    assert!(copy["scheduledAt"].is_string() && copy["updatedAt"].is_string());
    let author = copy["author"].as_str().expect("author");
    assert_eq!(copy["labels"]["author"]["documentId"], author);
    assert!(copy["labels"]["author"]["name"].is_string(), "{copy}");
    assert_eq!(
        copy["labels"]["category"],
        json!({ "documentId": category, "name": "案例" })
    );
    assert_eq!(
        copy["labels"]["tags"],
        json!([{ "documentId": first, "name": "写作" }, { "documentId": second, "name": "AI" }])
    );

    // What a write answers is the same working copy.
    let (status, updated) = call(
        &stack,
        Method::PUT,
        &format!("/admin/articles/{id}"),
        Some(&editor),
        Some(json!({ "data": { "title": "工作稿二" } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let again = read(&stack, &format!("/admin/articles/{id}"), &editor).await;
    assert_eq!(updated["data"], again["data"]);

    let (status, body) = call(
        &stack,
        Method::GET,
        "/admin/articles/nobody0000000000000000",
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["status"], 404);
    let (status, _) = call(
        &stack,
        Method::DELETE,
        &format!("/admin/articles/{id}"),
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &stack,
        Method::GET,
        &format!("/admin/articles/{id}"),
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_preview_is_what_publishing_renders() {
    let stack = spawn_stack().await;
    let (_, author) = stack.staff_session(Role::Author).await;
    let markdown = "# 预览\n\n免费部分 [链接][paid]\n\n<script>alert(1)</script>\n\n\
                    <!--members-only-->\n\n付费 **部分**\n\n[paid]: https://example.com/paid\n\n\
                    [bad](javascript:alert(2))";
    let (status, preview) = call(
        &stack,
        Method::POST,
        "/admin/articles/preview",
        Some(&author),
        Some(json!({ "body": markdown })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let id = draft(
        &stack,
        &author,
        json!({ "title": "预览", "body": markdown }),
    )
    .await;
    let saved = read(&stack, &format!("/admin/articles/{id}"), &author).await;
    assert_eq!(preview["data"]["html"], saved["data"]["bodyHtml"]);
    assert_eq!(
        preview["data"]["readingMinutes"],
        saved["data"]["readingMinutes"]
    );
    let html = preview["data"]["html"].as_str().expect("html");
    assert!(
        !html.contains("<script") && !html.contains("javascript:"),
        "{html}"
    );

    for (body, expected) in [
        (json!({}), StatusCode::BAD_REQUEST),
        (json!({ "body": 1 }), StatusCode::BAD_REQUEST),
        (
            json!({ "body": "x", "extra": true }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "body": "x".repeat(1024 * 1024 + 1) }),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ] {
        let (status, answer) = call(
            &stack,
            Method::POST,
            "/admin/articles/preview",
            Some(&author),
            Some(body),
        )
        .await;
        assert_eq!(status, expected, "{answer}");
        assert_eq!(answer["error"]["status"], expected.as_u16(), "{answer}");
    }
}
