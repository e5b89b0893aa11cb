//! The public content API over HTTP: Strapi v5's envelope, filters, populate and
//! pagination; private fields refused; drafts for staff only; and Ghost-style gating
//! of members and paid articles for anonymous readers, members and buyers.

use std::collections::HashMap;

use bianxian_e2e::{TestStack, json, random_suffix, spawn_stack};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";
/// Text that only appears after the members-only marker of the members article.
pub(crate) const MEMBERS_SECRET: &str = "MEMBERS-SECRET-7f3a";
/// Text that only appears in the body of the paid article (which has no marker).
pub(crate) const PAID_SECRET: &str = "PAID-SECRET-91bc";

/// A small publication, by slug → documentId:
///
/// | slug          | visibility | category | tags                 | published |
/// |---------------|------------|----------|----------------------|-----------|
/// | open-road     | public     | ai-tools | chatgpt, side-hustle | Jan 10    |
/// | members-guide | members    | writing  | side-hustle          | Feb 10    |
/// | paid-course   | paid (plan/pro) | ai-tools | chatgpt         | Mar 10    |
/// | draft-plan    | public     | ai-tools |                      | draft     |
pub(crate) async fn publication(stack: &TestStack) -> HashMap<String, String> {
    let client = stack.db.client().await;
    client
        .batch_execute(&format!(
            "INSERT INTO authors (name, slug, email) VALUES ('张三', 'zhang-san', 'zs@example.com');
             INSERT INTO categories (name, slug) VALUES ('AI工具', 'ai-tools'), ('写作', 'writing');
             INSERT INTO tags (name, slug) VALUES ('ChatGPT', 'chatgpt'), ('副业', 'side-hustle');
             INSERT INTO articles (title, slug, excerpt, body, body_html, visibility, author_id,
                                   category_id, internal_notes, published_at)
             VALUES
               ('AI变现之路：公开篇', 'open-road', '公开摘要', '人人可读的正文', '<p>人人可读的正文</p>',
                'public', 1, 1, 'do not leak', '2025-01-10T08:00:00Z'),
               ('会员指南', 'members-guide', '会员摘要',
                '会员开篇<!--members-only-->{MEMBERS_SECRET}',
                '<p>会员开篇</p><!--members-only--><p>{MEMBERS_SECRET}</p>',
                'members', 1, 2, NULL, '2025-02-10T08:00:00Z'),
               ('付费课程', 'paid-course', '付费摘要', '{PAID_SECRET} 全文', '<p>{PAID_SECRET} 全文</p>',
                'paid', 1, 1, NULL, '2025-03-10T08:00:00Z'),
               ('草稿：变现计划', 'draft-plan', NULL, '草稿正文', '', 'public', 1, 1, NULL, NULL);
             INSERT INTO article_tags (article_id, tag_id) VALUES (1, 1), (1, 2), (2, 2), (3, 1);
             INSERT INTO article_products (article_id, product_kind, product_code)
             VALUES (3, 'plan', 'pro');"
        ))
        .await
        .expect("seed publication");
    client
        .query("SELECT slug, document_id FROM articles", &[])
        .await
        .expect("articles")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// A GET with an optional bearer credential: (status, raw body text).
async fn get(stack: &TestStack, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let request = match token {
        Some(token) => stack.authed(Method::GET, path, token),
        None => stack.http.get(stack.url(path)),
    };
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

async fn get_json(stack: &TestStack, path: &str, token: Option<&str>) -> Value {
    let (status, text) = get(stack, path, token).await;
    assert_eq!(status, StatusCode::OK, "{path}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

fn slugs(body: &Value) -> Vec<&str> {
    body["data"]
        .as_array()
        .expect("data is a list")
        .iter()
        .map(|entry| entry["slug"].as_str().expect("slug"))
        .collect()
}

/// Grants the member a comp entitlement to plan `pro`, straight in the database.
pub(crate) async fn comp_pro(stack: &TestStack, member_id: i64) {
    stack
        .db
        .client()
        .await
        .execute(
            "INSERT INTO entitlements (member_id, product_kind, product_code, source)
             VALUES ($1, 'plan', 'pro', 'comp')",
            &[&member_id],
        )
        .await
        .expect("comp entitlement");
}

pub(crate) async fn member_token(stack: &TestStack) -> (String, i64) {
    let email = format!("reader-{}@example.com", random_suffix());
    let token = stack.register(&email, PASSWORD).await;
    let id = stack
        .db
        .client()
        .await
        .query_one("SELECT id FROM members WHERE email = $1", &[&email])
        .await
        .expect("member")
        .get(0);
    (token, id)
}

#[tokio::test]
async fn lists_speak_strapi_v5() {
    let stack = spawn_stack().await;
    let ids = publication(&stack).await;

    let page = get_json(&stack, "/api/articles?pagination[pageSize]=2", None).await;
    assert_eq!(slugs(&page), ["paid-course", "members-guide"]);
    assert_eq!(
        page["meta"]["pagination"],
        serde_json::json!({ "page": 1, "pageSize": 2, "pageCount": 2, "total": 3 })
    );
    let first = &page["data"][0];
    assert_eq!(first["documentId"], ids["paid-course"].as_str());
    assert!(first["id"].is_i64());
    assert_eq!(first["publishedAt"], "2025-03-10T08:00:00.000Z");
    assert!(first.get("internalNotes").is_none());

    let offset = get_json(
        &stack,
        "/api/articles?pagination[start]=2&pagination[limit]=5&fields[0]=slug",
        None,
    )
    .await;
    assert_eq!(slugs(&offset), ["open-road"]);
    assert_eq!(
        offset["meta"]["pagination"],
        serde_json::json!({ "start": 2, "limit": 5, "total": 3 })
    );
    let uncounted = get_json(&stack, "/api/tags?pagination[withCount]=false", None).await;
    assert_eq!(
        uncounted["meta"]["pagination"],
        serde_json::json!({ "page": 1, "pageSize": 25 })
    );

    let raw = get_json(
        &stack,
        "/api/articles?filters[category][slug][$eq]=ai-tools&fields[0]=slug",
        None,
    )
    .await;
    let encoded = get_json(
        &stack,
        "/api/articles?filters%5Bcategory%5D%5Bslug%5D%5B%24eq%5D=ai-tools&fields%5B0%5D=slug",
        None,
    )
    .await;
    assert_eq!(slugs(&raw), ["paid-course", "open-road"]);
    assert_eq!(raw, encoded);

    let populated = get_json(
        &stack,
        "/api/articles?filters[slug][$eq]=open-road&fields[0]=title\
         &populate[author][fields][0]=name&populate[tags][fields][0]=slug&populate[tags][sort]=slug",
        None,
    )
    .await;
    let entry = &populated["data"][0];
    assert_eq!(entry["author"]["name"], "张三");
    assert!(entry["author"].get("email").is_none());
    let tags: Vec<&str> = entry["tags"]
        .as_array()
        .expect("tags are a list")
        .iter()
        .map(|t| t["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(tags, ["chatgpt", "side-hustle"]);
    let categories = get_json(
        &stack,
        "/api/categories?sort=slug&populate[articles][count]=true",
        None,
    )
    .await;
    assert_eq!(categories["data"][0]["articles"]["count"], 2);
    assert_eq!(categories["data"][1]["articles"]["count"], 1);

    let search = get_json(&stack, "/api/articles?_q=%E5%8F%98%E7%8E%B0", None).await;
    assert_eq!(slugs(&search), ["open-road"]);
    let search = get_json(&stack, "/api/articles?_q=会员", None).await;
    assert_eq!(slugs(&search), ["members-guide"]);
    // Search cannot be used to probe what a gated body says.
    let hidden = get_json(&stack, &format!("/api/articles?_q={PAID_SECRET}"), None).await;
    assert!(slugs(&hidden).is_empty(), "{hidden}");
    let titled = get_json(&stack, "/api/articles?_q=付费", None).await;
    assert_eq!(slugs(&titled), ["paid-course"]);
    // What matched, marked and escaped, from what the reader may see.
    let marked = get_json(&stack, "/api/articles?_q=变现", None).await;
    assert_eq!(
        marked["data"][0]["_highlight"],
        serde_json::json!({ "title": "AI<mark>变现</mark>之路：公开篇", "snippet": "公开摘要" })
    );
    let gated = get_json(&stack, "/api/articles?_q=会员", None).await;
    assert_eq!(
        gated["data"][0]["_highlight"],
        serde_json::json!({ "title": "<mark>会员</mark>指南", "snippet": "<mark>会员</mark>摘要" })
    );
    assert!(!gated.to_string().contains(MEMBERS_SECRET), "{gated}");
    let listed = get_json(&stack, "/api/articles", None).await;
    assert!(listed["data"][0].get("_highlight").is_none(), "{listed}");

    let one = get_json(
        &stack,
        &format!("/api/articles/{}?populate=category", ids["open-road"]),
        None,
    )
    .await;
    assert_eq!(one["data"]["slug"], "open-road");
    assert_eq!(one["data"]["category"]["slug"], "ai-tools");
    assert_eq!(one["meta"], serde_json::json!({}));
    let (status, text) = get(&stack, "/api/articles/nosuchdocument", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let missing: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(missing["data"], Value::Null);
    assert_eq!(missing["error"]["name"], "NotFoundError");
    let (status, _) = get(
        &stack,
        &format!("/api/articles/{}", ids["draft-plan"]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "drafts are not published");
}

#[tokio::test]
async fn private_fields_and_garbage_queries_are_refused() {
    let stack = spawn_stack().await;
    let ids = publication(&stack).await;
    for path in [
        "/api/articles?filters[author][email][$eq]=zs@example.com".to_string(),
        "/api/articles?fields[0]=internalNotes".into(),
        "/api/articles?sort=internalNotes".into(),
        "/api/articles?populate[author][fields][0]=email".into(),
        "/api/articles?filters[id][$gt]=abc".into(),
        "/api/articles?pagination[pageSize]=1000000000".into(),
        format!("/api/articles/{}?filters[slug][$eq]=x", ids["open-road"]),
        format!("/api/articles/{}?pagination[page]=1", ids["open-road"]),
    ] {
        let (status, text) = get(&stack, &path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {text}");
        let body: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(body["error"]["name"], "ValidationError", "{path}");
        assert!(!text.contains("do not leak"), "{text}");
    }
}

#[tokio::test]
async fn drafts_are_for_staff() {
    let stack = spawn_stack().await;
    publication(&stack).await;
    let path = "/api/articles?status=draft";
    assert_eq!(get(&stack, path, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&stack, path, Some("bxs_not-a-session")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (member, _) = member_token(&stack).await;
    assert_eq!(
        get(&stack, path, Some(&member)).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let drafts = get_json(&stack, path, Some(&editor)).await;
    assert_eq!(slugs(&drafts), ["draft-plan"]);
    // A read-only API token previews drafts but, like any visitor, gets paid teasers.
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let created = stack
        .authed(Method::POST, "/admin/tokens", &admin)
        .json(&serde_json::json!({ "name": "frontend", "type": "read-only", "lifespan": null }))
        .send()
        .await
        .expect("create token");
    assert_eq!(created.status(), StatusCode::CREATED);
    let token = json(created).await["data"]["accessKey"]
        .as_str()
        .expect("access key")
        .to_owned();
    assert_eq!(
        slugs(&get_json(&stack, path, Some(&token)).await),
        ["draft-plan"]
    );
    let (_, text) = get(&stack, "/api/articles", Some(&token)).await;
    assert!(!text.contains(PAID_SECRET), "{text}");
    // A stale credential does not break published reads.
    let open = get_json(&stack, "/api/articles", Some("bxs_not-a-session")).await;
    assert_eq!(slugs(&open).len(), 3);
}

#[tokio::test]
async fn gated_articles_show_teasers_to_readers_without_access() {
    let stack = spawn_stack().await;
    let ids = publication(&stack).await;
    let one = |slug: &str| format!("/api/articles/{}", ids[slug]);

    // Anonymous: public in full, the members and paid articles as teasers.
    let open = get_json(&stack, &one("open-road"), None).await;
    assert_eq!(open["data"]["body"], "人人可读的正文");
    assert_eq!(open["data"]["access"], true);
    let members = get_json(&stack, &one("members-guide"), None).await;
    assert_eq!(members["data"]["body"], "会员开篇");
    assert_eq!(members["data"]["bodyHtml"], "<p>会员开篇</p>");
    assert_eq!(members["data"]["access"], false);
    let paid = get_json(&stack, &one("paid-course"), None).await;
    assert_eq!(paid["data"]["body"], "付费摘要");
    assert_eq!(paid["data"]["bodyHtml"], "<p>付费摘要</p>");
    assert_eq!(paid["data"]["access"], false);

    // Lists and populated articles never carry a gated body to such a reader.
    for path in [
        "/api/articles",
        "/api/articles?fields[0]=body&fields[1]=bodyHtml",
        "/api/categories?populate[articles][fields][0]=body",
        "/api/tags?populate=*",
        "/api/authors?populate[articles][populate][category]=true",
    ] {
        let (status, text) = get(&stack, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        assert!(!text.contains(MEMBERS_SECRET), "{path}: {text}");
        assert!(!text.contains(PAID_SECRET), "{path}: {text}");
    }
    let list = get_json(&stack, "/api/articles?fields[0]=title", None).await;
    assert!(list["data"][0].get("access").is_none(), "no body, no gate");

    // A member reads the members article, not the paid one.
    let (member, member_id) = member_token(&stack).await;
    let members = get_json(&stack, &one("members-guide"), Some(&member)).await;
    assert!(
        members["data"]["body"]
            .as_str()
            .expect("body")
            .ends_with(MEMBERS_SECRET)
    );
    assert_eq!(members["data"]["access"], true);
    let paid = get_json(&stack, &one("paid-course"), Some(&member)).await;
    assert_eq!(paid["data"]["body"], "付费摘要");
    assert_eq!(paid["data"]["access"], false);
    // The cookie is as good as the header.
    let by_cookie = stack
        .http
        .get(stack.url(&one("members-guide")))
        .header("Cookie", format!("bx_session={member}"))
        .send()
        .await
        .expect("request");
    assert_eq!(json(by_cookie).await["data"]["access"], true);

    // With a comp entitlement to the plan, the paid article opens, in lists too.
    comp_pro(&stack, member_id).await;
    let paid = get_json(&stack, &one("paid-course"), Some(&member)).await;
    assert_eq!(paid["data"]["body"], format!("{PAID_SECRET} 全文"));
    assert_eq!(paid["data"]["access"], true);
    let (_, text) = get(&stack, "/api/articles", Some(&member)).await;
    assert!(
        text.contains(PAID_SECRET) && text.contains(MEMBERS_SECRET),
        "{text}"
    );

    // Staff preview everything.
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let paid = get_json(&stack, &one("paid-course"), Some(&editor)).await;
    assert_eq!(paid["data"]["access"], true);
}

#[tokio::test]
async fn the_demo_seed_publishes_in_both_locales() {
    let stack = spawn_stack().await;
    bianxian_local::seed::seed(
        &stack.platform,
        bianxian_local::seed::Profile::Demo,
        60,
        false,
    )
    .await
    .expect("seed");
    let english = get_json(
        &stack,
        "/api/articles?locale=en&fields[0]=title&pagination[pageSize]=100",
        None,
    )
    .await;
    let titles: Vec<&str> = english["data"]
        .as_array()
        .expect("data is a list")
        .iter()
        .map(|article| article["title"].as_str().expect("title"))
        .collect();
    assert!(!titles.is_empty(), "no English articles: {english}");
    assert!(titles.iter().all(|t| t.is_ascii()), "{titles:?}");
    let chinese = get_json(
        &stack,
        "/api/articles?locale=zh-CN&fields[0]=title&pagination[pageSize]=100",
        None,
    )
    .await;
    let total = chinese["meta"]["pagination"]["total"]
        .as_u64()
        .expect("total");
    assert!(total > 0, "{chinese}");
    assert!(
        chinese["data"]
            .as_array()
            .expect("data is a list")
            .iter()
            .all(|article| !article["title"].as_str().expect("title").is_ascii()),
        "{chinese}"
    );
}

#[tokio::test]
async fn a_populate_too_big_to_answer_is_a_400_not_megabytes() {
    let stack = spawn_stack().await;
    bianxian_local::seed::seed(
        &stack.platform,
        bianxian_local::seed::Profile::Demo,
        1200,
        false,
    )
    .await
    .expect("seed");
    // Ten categories share about 1,100 published articles: over the bound.
    let (status, body) = get(
        &stack,
        "/api/categories?populate[articles][fields][0]=title",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(error["error"]["name"], "ValidationError");
    assert_eq!(
        error["error"]["details"]["errors"][0]["path"][0],
        "populate"
    );
    // Two categories' articles fit, and they are all there: as many as `count` says.
    let page = "pagination[pageSize]=2&sort=id";
    let listed = get_json(
        &stack,
        &format!("/api/categories?{page}&populate[articles][fields][0]=title"),
        None,
    )
    .await;
    let counted = get_json(
        &stack,
        &format!("/api/categories?{page}&populate[articles][count]=true"),
        None,
    )
    .await;
    for (with_articles, with_count) in listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .zip(counted["data"].as_array().expect("data"))
    {
        let articles = with_articles["articles"]
            .as_array()
            .expect("articles")
            .len();
        assert!(articles > 0);
        assert_eq!(
            articles as u64,
            with_count["articles"]["count"].as_u64().expect("count")
        );
    }
}

/// A date PostgreSQL cannot hold is a 400 naming the filter, never a 500 (issue 10,
/// item 3).
#[tokio::test]
async fn a_date_out_of_range_is_a_400_naming_the_filter() {
    let stack = spawn_stack().await;
    let (status, body) = get(
        &stack,
        "/api/articles?filters[publishedAt][$lt]=-10000-01-01",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["error"]["details"]["errors"][0]["path"][0],
        "filters[publishedAt][$lt]"
    );
    // The largest integers and the edges of the allowed years are plain answers.
    for path in [
        "/api/articles?filters[readingMinutes][$gt]=9223372036854775807",
        "/api/articles?filters[id][$lt]=-9223372036854775808",
        "/api/articles?filters[publishedAt][$between][0]=0001-01-01&filters[publishedAt][$between][1]=9999-12-31",
    ] {
        let (status, body) = get(&stack, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
}
