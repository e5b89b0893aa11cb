//! The content API's response cache and HTTP caching over HTTP: repeated reads come
//! from Redis until a write invalidates them, one entry serves every spelling of a
//! query, gated answers never cross access classes, ETags answer 304, staff and
//! drafts bypass every cache, and Redis down still serves content from Postgres.
//!
//! A cache hit is proved by changing a row behind the API's back: a cached answer
//! keeps the old value until the namespaces a write would invalidate are invalidated.

use bianxian_e2e::{
    StackOptions, TestStack, closed_port, random_suffix, spawn_stack, spawn_stack_with,
};
use content::{cache::namespaces_for_write, schema::ARTICLES};
use identity::access::Role;
use reqwest::{Method, StatusCode, header};
use serde_json::Value;

use crate::content_api::{MEMBERS_SECRET, PAID_SECRET, comp_pro, member_token, publication};

const SHARED: &str = "public, max-age=0, s-maxage=60, stale-while-revalidate=30";
const OPEN_TITLE: &str = "/api/articles?filters[slug][$eq]=open-road&fields[0]=title";
const OPEN_TITLE_ENCODED: &str =
    "/api/articles?filters%5Bslug%5D%5B%24eq%5D=open-road&fields%5B0%5D=title";

/// A GET with optional bearer credential and `If-None-Match`.
async fn fetch(
    stack: &TestStack,
    path: &str,
    token: Option<&str>,
    if_none_match: Option<&str>,
) -> reqwest::Response {
    let mut request = match token {
        Some(token) => stack.authed(Method::GET, path, token),
        None => stack.http.get(stack.url(path)),
    };
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    request.send().await.expect("request")
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// (Cache-Control, Vary, body) of a 200.
async fn read(stack: &TestStack, path: &str, token: Option<&str>) -> (String, String, Value) {
    let response = fetch(stack, path, token, None).await;
    let cache_control = header_of(&response, header::CACHE_CONTROL).to_owned();
    let vary = header_of(&response, header::VARY).to_owned();
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "{path}: {text}");
    (
        cache_control,
        vary,
        serde_json::from_str(&text).expect("JSON"),
    )
}

async fn title(stack: &TestStack, path: &str) -> String {
    let (_, _, body) = read(stack, path, None).await;
    body["data"][0]["title"].as_str().expect("title").to_owned()
}

async fn retitle(stack: &TestStack, slug: &str, title: &str) {
    stack
        .db
        .client()
        .await
        .execute(
            "UPDATE articles SET title = $1 WHERE slug = $2",
            &[&title, &slug],
        )
        .await
        .expect("retitle");
}

async fn invalidate_articles(stack: &TestStack) {
    let namespaces = namespaces_for_write(&ARTICLES);
    let namespaces: Vec<&str> = namespaces.iter().map(String::as_str).collect();
    stack
        .platform
        .cache
        .invalidate(&namespaces)
        .await
        .expect("invalidate");
}

#[tokio::test]
async fn anonymous_reads_are_cached_until_invalidated() {
    let stack = spawn_stack().await;
    publication(&stack).await;

    let (cache_control, vary, _) = read(&stack, OPEN_TITLE, None).await;
    assert_eq!(cache_control, SHARED);
    assert!(
        !vary.contains("Authorization"),
        "reader-independent: {vary}"
    );
    retitle(&stack, "open-road", "改过的标题").await;
    assert_eq!(title(&stack, OPEN_TITLE).await, "AI变现之路：公开篇");
    // Populated under an author, the article is cached in the authors namespace.
    let by_author = "/api/authors?populate[articles][fields][0]=title";
    let (_, _, before) = read(&stack, by_author, None).await;
    retitle(&stack, "open-road", "再改的标题").await;
    let (_, _, cached) = read(&stack, by_author, None).await;
    assert_eq!(before, cached);

    invalidate_articles(&stack).await;
    assert_eq!(title(&stack, OPEN_TITLE).await, "再改的标题");
    let (_, _, fresh) = read(&stack, by_author, None).await;
    assert!(fresh.to_string().contains("再改的标题"), "{fresh}");
}

#[tokio::test]
async fn raw_and_encoded_brackets_share_one_entry() {
    let stack = spawn_stack().await;
    publication(&stack).await;

    assert_eq!(title(&stack, OPEN_TITLE).await, "AI变现之路：公开篇");
    retitle(&stack, "open-road", "改过的标题").await;
    assert_eq!(
        title(&stack, OPEN_TITLE_ENCODED).await,
        "AI变现之路：公开篇"
    );
    invalidate_articles(&stack).await;
    assert_eq!(title(&stack, OPEN_TITLE_ENCODED).await, "改过的标题");
}

#[tokio::test]
async fn gated_answers_never_cross_access_classes() {
    let stack = spawn_stack().await;
    let ids = publication(&stack).await;
    let members_guide = format!("/api/articles/{}", ids["members-guide"]);
    let paid_course = format!("/api/articles/{}", ids["paid-course"]);
    let bodies = "/api/articles?fields[0]=slug&fields[1]=body";

    // Member first, then anonymous: the anonymous reader still gets the teaser.
    let (member, _) = member_token(&stack).await;
    let (cache_control, vary, body) = read(&stack, &members_guide, Some(&member)).await;
    assert_eq!(cache_control, "private, no-cache");
    assert_eq!(vary, "Authorization, Cookie");
    assert_eq!(body["data"]["access"], true);
    let (cache_control, vary, body) = read(&stack, &members_guide, None).await;
    assert_eq!(cache_control, SHARED);
    assert_eq!(vary, "Authorization, Cookie");
    assert_eq!(body["data"]["access"], false);
    assert!(!body.to_string().contains(MEMBERS_SECRET), "{body}");

    // Anonymous first, then a member: the member still gets the body.
    let (_, _, list) = read(&stack, bodies, None).await;
    assert!(!list.to_string().contains(MEMBERS_SECRET), "{list}");
    let (_, _, list) = read(&stack, bodies, Some(&member)).await;
    assert!(list.to_string().contains(MEMBERS_SECRET), "{list}");

    // A member without the plan, then one with it: classes differ by products held.
    let (_, _, body) = read(&stack, &paid_course, Some(&member)).await;
    assert_eq!(body["data"]["access"], false);
    let (buyer, buyer_id) = member_token(&stack).await;
    comp_pro(&stack, buyer_id).await;
    let (_, _, body) = read(&stack, &paid_course, Some(&buyer)).await;
    assert_eq!(body["data"]["access"], true);
    assert!(body.to_string().contains(PAID_SECRET), "{body}");
    let (_, _, body) = read(&stack, &paid_course, Some(&member)).await;
    assert_eq!(body["data"]["access"], false);
}

/// One entitlement decision per request (issue 10, item 7): the body is gated by the
/// products the member held when the request decided its cache class, even if an
/// entitlement starts before the body is read; the next request decides afresh.
#[tokio::test]
async fn the_gate_follows_the_decision_that_names_the_cache_class() {
    use content::{Query, documents, gate::Reader};
    let stack = spawn_stack().await;
    let slugs = publication(&stack).await;
    let (_, member_id) = member_token(&stack).await;
    let client = stack.platform.db.client().await.expect("db");
    let query = Query::parse_document(&ARTICLES, "").expect("query");
    let document_id = slugs["paid-course"].as_str();
    let config = &stack.platform.config;
    let read = |reader: Reader| {
        let (client, query) = (&client, &query);
        async move {
            let db = documents::Db {
                client,
                statements: platform::db::Statements::Prepared,
                site: content::syndication::share::Site {
                    links: content::syndication::Links {
                        site: &config.site_url,
                        api: &config.api_url,
                    },
                    name: "AI变现之路",
                },
            };
            documents::find_one(db, query, document_id, &reader)
                .await
                .expect("read")
                .expect("the article")
        }
    };

    let decided = identity::entitlements::held(&**client, member_id)
        .await
        .expect("held");
    assert!(decided.is_empty());
    comp_pro(&stack, member_id).await;
    let answer = read(Reader::Member(decided.into())).await;
    assert_eq!(answer["access"], false);
    assert!(!Value::Object(answer).to_string().contains(PAID_SECRET));

    let now = identity::entitlements::held(&**client, member_id)
        .await
        .expect("held");
    let answer = read(Reader::Member(now.into())).await;
    assert_eq!(answer["access"], true);
    assert!(Value::Object(answer).to_string().contains(PAID_SECRET));
}

#[tokio::test]
async fn etags_answer_if_none_match_with_304() {
    let stack = spawn_stack().await;
    publication(&stack).await;

    let first = fetch(&stack, OPEN_TITLE, None, None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let etag = header_of(&first, header::ETAG).to_owned();
    assert!(
        etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'),
        "{etag}"
    );
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".to_owned(),
    ] {
        let response = fetch(&stack, OPEN_TITLE_ENCODED, None, Some(&tag)).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{tag}");
        assert_eq!(header_of(&response, header::ETAG), etag);
        assert_eq!(header_of(&response, header::CACHE_CONTROL), SHARED);
        assert_eq!(response.text().await.expect("body"), "");
    }
    let stale = fetch(&stack, OPEN_TITLE, None, Some("\"0123456789abcdef\"")).await;
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(header_of(&stale, header::ETAG), etag);
    assert!(stale.text().await.expect("body").contains("AI变现之路"));
}

#[tokio::test]
async fn staff_and_drafts_are_never_cached() {
    let stack = spawn_stack().await;
    let ids = publication(&stack).await;
    let (_, editor) = stack.staff_session(Role::Editor).await;

    let paid_course = format!("/api/articles/{}", ids["paid-course"]);
    let (cache_control, _, body) = read(&stack, &paid_course, Some(&editor)).await;
    assert_eq!(cache_control, "no-store");
    assert_eq!(body["data"]["access"], true);
    retitle(&stack, "paid-course", "员工看到的新标题").await;
    let (_, _, body) = read(&stack, &paid_course, Some(&editor)).await;
    assert_eq!(body["data"]["title"], "员工看到的新标题");

    let drafts = "/api/articles?status=draft&fields[0]=title";
    let (cache_control, _, body) = read(&stack, drafts, Some(&editor)).await;
    assert_eq!(cache_control, "no-store");
    assert_eq!(body["data"][0]["title"], "草稿：变现计划");
    let renamed = format!("草稿 {}", random_suffix());
    retitle(&stack, "draft-plan", &renamed).await;
    let (_, _, body) = read(&stack, drafts, Some(&editor)).await;
    assert_eq!(body["data"][0]["title"], renamed.as_str());
}

/// Uncached searches take a place among `SEARCH_MAX_CONCURRENT` (issue 10, item 5):
/// with every place taken, a search answers 429 with `Retry-After` at once, other
/// reads go on, and the search runs once a place is free.
#[tokio::test]
async fn searches_beyond_the_concurrency_limit_wait_their_turn() {
    let stack = spawn_stack_with(StackOptions {
        env: vec![("SEARCH_MAX_CONCURRENT", "1".into())],
        ..Default::default()
    })
    .await;
    publication(&stack).await;
    // Another sandbox's search in flight: the one place is taken.
    stack.hold_slot("search-concurrency", "elsewhere").await;
    let key = format!(
        "{}rl:slots:search-concurrency",
        stack.platform.config.redis.key_prefix
    );
    let search = "/api/articles?_q=%E6%AD%A3%E6%96%87";
    let busy = fetch(&stack, search, None, None).await;
    assert_eq!(busy.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header_of(&busy, header::RETRY_AFTER), "1");
    let list = fetch(&stack, "/api/articles", None, None).await;
    assert_eq!(list.status(), StatusCode::OK);
    stack
        .platform
        .redis
        .cmd(vec!["ZREM".into(), key.clone().into(), "elsewhere".into()])
        .await
        .unwrap();
    let (_, _, found) = read(&stack, search, None).await;
    assert!(!found["data"].as_array().unwrap().is_empty(), "{found}");
    // The search gave its place back.
    let held = stack
        .platform
        .redis
        .cmd(vec!["ZCARD".into(), key.into()])
        .await
        .unwrap();
    assert_eq!(held, 0);
}

#[tokio::test]
async fn redis_down_serves_content_from_postgres() {
    let stack = spawn_stack_with(StackOptions {
        redis_addr: Some(closed_port().await),
        ..Default::default()
    })
    .await;
    let ids = publication(&stack).await;

    for _ in 0..2 {
        let (_, _, list) = read(&stack, "/api/articles", None).await;
        assert_eq!(list["data"].as_array().map(Vec::len), Some(3));
    }
    let (_, _, one) = read(&stack, &format!("/api/articles/{}", ids["open-road"]), None).await;
    assert_eq!(one["data"]["body"], "人人可读的正文");
    let etag_request = fetch(&stack, OPEN_TITLE, None, None).await;
    let etag = header_of(&etag_request, header::ETAG).to_owned();
    let again = fetch(&stack, OPEN_TITLE, None, Some(&etag)).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn redis_down_makes_staff_sign_in_a_503_not_a_500() {
    let stack = spawn_stack_with(StackOptions {
        redis_addr: Some(closed_port().await),
        ..Default::default()
    })
    .await;
    let email = format!("editor-{}@staff.example.com", random_suffix());
    let client = stack.platform.db.client().await.expect("db");
    identity::staff::create(
        &**client,
        &identity::email::Email::parse(&email).expect("email"),
        &identity::password::Password::parse_new(bianxian_e2e::STAFF_PASSWORD, "password")
            .expect("password"),
        Role::Editor,
        "",
    )
    .await
    .expect("create staff");
    let response = stack
        .post_json(
            "/admin/login",
            &serde_json::json!({ "email": email, "password": bianxian_e2e::STAFF_PASSWORD }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["name"], "ServiceUnavailableError", "{body}");
}
