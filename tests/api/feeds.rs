//! The feeds and the sitemap over HTTP: what they list, that gated articles leave with
//! their teaser only, that a publish or unpublish shows in the next fetch through the
//! cache, and the validators (`ETag`, `Last-Modified`) with their 304s. Validity
//! against the specs is checked by real parsers in tests/feeds/validate.py.

use bianxian_e2e::{TestStack, spawn_stack};
use content::syndication::{Links, sitemap};
use identity::access::Role;
use reqwest::{Method, StatusCode, header};

use crate::{
    content_admin::call,
    content_api::{MEMBERS_SECRET, PAID_SECRET, publication},
};

/// A GET with optional extra headers: (status, headers, body).
async fn fetch(
    stack: &TestStack,
    path: &str,
    headers: &[(header::HeaderName, &str)],
) -> (StatusCode, header::HeaderMap, String) {
    let mut request = stack.http.get(stack.url(path));
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

async fn ok(stack: &TestStack, path: &str) -> (header::HeaderMap, String) {
    let (status, headers, body) = fetch(stack, path, &[]).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    (headers, body)
}

/// The `<link>`s of the items of an RSS document, in order.
fn item_links(rss: &str) -> Vec<String> {
    rss.split("<item>")
        .skip(1)
        .map(|item| {
            let start = item.find("<link>").expect("link") + "<link>".len();
            let end = item.find("</link>").expect("/link");
            item[start..end].to_owned()
        })
        .collect()
}

fn slugs(links: &[String]) -> Vec<&str> {
    links
        .iter()
        .map(|l| l.rsplit('/').next().expect("slug"))
        .collect()
}

#[tokio::test]
async fn feeds_list_the_published_articles_newest_first_with_gated_ones_teased() {
    let stack = spawn_stack().await;
    publication(&stack).await;

    for path in ["/rss.xml", "/atom.xml"] {
        let (headers, body) = ok(&stack, path).await;
        let media = if path == "/rss.xml" {
            "application/rss+xml; charset=utf-8"
        } else {
            "application/atom+xml; charset=utf-8"
        };
        assert_eq!(headers[header::CONTENT_TYPE], media);
        assert_eq!(headers[header::CACHE_CONTROL], "public, no-cache");
        for hidden in [MEMBERS_SECRET, PAID_SECRET, "do not leak", "草稿"] {
            assert!(!body.contains(hidden), "{hidden} in {path}: {body}");
        }
        // The members article up to its marker; the paid one, without a marker, its excerpt.
        assert!(body.contains("&lt;p&gt;会员开篇&lt;/p&gt;"), "{body}");
        assert!(body.contains("&lt;p&gt;付费摘要&lt;/p&gt;"), "{body}");
        assert!(body.contains("&lt;p&gt;人人可读的正文&lt;/p&gt;"), "{body}");
    }
    let (_, rss) = ok(&stack, "/rss.xml").await;
    assert_eq!(
        slugs(&item_links(&rss)),
        ["paid-course", "members-guide", "open-road"]
    );
    let site = stack.platform.config.site_url.as_str();
    assert_eq!(item_links(&rss)[2], format!("{site}articles/open-road"));
    assert!(rss.contains("<dc:creator>张三</dc:creator>"), "{rss}");
    assert!(
        rss.contains(
            "<category>AI工具</category>\n<category>ChatGPT</category>\n<category>副业</category>"
        ),
        "the category, then the tags: {rss}"
    );

    // Per category, tag and author; a slug nobody has is a 404, a malformed one a 400.
    for (path, expected) in [
        (
            "/categories/ai-tools/rss.xml",
            vec!["paid-course", "open-road"],
        ),
        ("/categories/writing/rss.xml", vec!["members-guide"]),
        (
            "/tags/side-hustle/rss.xml",
            vec!["members-guide", "open-road"],
        ),
        ("/tags/chatgpt/rss.xml", vec!["paid-course", "open-road"]),
        (
            "/authors/zhang-san/rss.xml",
            vec!["paid-course", "members-guide", "open-road"],
        ),
    ] {
        let (_, rss) = ok(&stack, path).await;
        assert_eq!(slugs(&item_links(&rss)), expected, "{path}");
    }
    let (_, atom) = ok(&stack, "/tags/chatgpt/atom.xml").await;
    assert!(
        atom.contains("<title>ChatGPT · AI变现之路</title>"),
        "{atom}"
    );
    assert!(
        atom.contains(&format!(
            "<id>{}tags/chatgpt/atom.xml</id>",
            stack.platform.config.api_url
        )),
        "{atom}"
    );
    for (path, status) in [
        ("/tags/no-such-tag/rss.xml", StatusCode::NOT_FOUND),
        ("/categories/nowhere/atom.xml", StatusCode::NOT_FOUND),
        ("/authors/Not_A_Slug/rss.xml", StatusCode::BAD_REQUEST),
    ] {
        let (got, _, body) = fetch(&stack, path, &[]).await;
        assert_eq!(got, status, "{path}: {body}");
        let envelope: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
        assert_eq!(
            envelope["error"]["status"],
            status.as_u16(),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn a_publish_and_an_unpublish_show_in_the_next_fetch_with_new_validators() {
    let stack = spawn_stack().await;
    let articles = publication(&stack).await;
    let (_, editor) = stack.staff_session(Role::Editor).await;

    let (before, rss) = ok(&stack, "/rss.xml").await;
    assert!(!rss.contains("draft-plan"));
    let etag = before[header::ETAG].to_str().unwrap().to_owned();
    let modified = before[header::LAST_MODIFIED].to_str().unwrap().to_owned();
    // What the reader holds is still current: 304 without a body, by tag or by date.
    for validator in [
        (header::IF_NONE_MATCH, etag.as_str()),
        (header::IF_MODIFIED_SINCE, modified.as_str()),
    ] {
        let (status, headers, body) = fetch(&stack, "/rss.xml", &[validator]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        assert_eq!(headers[header::ETAG], etag.as_str());
    }
    let (_, sitemap) = ok(&stack, "/sitemaps/articles-1.xml").await;
    assert!(!sitemap.contains("draft-plan"), "{sitemap}");

    // Publishing the draft: in the feed (first, newest) and the sitemap at once.
    let draft = &articles["draft-plan"];
    let (status, body) = call(
        &stack,
        Method::POST,
        &format!("/admin/articles/{draft}/publish"),
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, after, rss) = fetch(&stack, "/rss.xml", &[(header::IF_NONE_MATCH, &etag)]).await;
    assert_eq!(status, StatusCode::OK, "the held copy is stale now");
    assert_ne!(after[header::ETAG], etag.as_str());
    assert_eq!(slugs(&item_links(&rss))[0], "draft-plan");
    let (_, sitemap) = ok(&stack, "/sitemaps/articles-1.xml").await;
    assert!(sitemap.contains("/articles/draft-plan</loc>"), "{sitemap}");

    // Unpublishing the public article takes it out of both. (A second later: HTTP
    // dates have whole seconds, so two versions made within one cannot be told apart by
    // date; the ETag tells them apart.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let open = &articles["open-road"];
    let (status, body) = call(
        &stack,
        Method::POST,
        &format!("/admin/articles/{open}/unpublish"),
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Unpublishing the newest article would send the newest date back: a reader who
    // revalidates by date alone must still get the new document.
    let (status, _, rss) = fetch(
        &stack,
        "/rss.xml",
        &[(
            header::IF_MODIFIED_SINCE,
            after[header::LAST_MODIFIED].to_str().unwrap(),
        )],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "changed since, by date too");
    assert!(!slugs(&item_links(&rss)).contains(&"open-road"), "{rss}");
    let (_, atom) = ok(&stack, "/tags/side-hustle/atom.xml").await;
    assert!(!atom.contains("open-road"), "{atom}");
    let (_, sitemap) = ok(&stack, "/sitemaps/articles-1.xml").await;
    assert!(!sitemap.contains("open-road"), "{sitemap}");
}

#[tokio::test]
async fn the_sitemap_index_names_every_kind_and_its_files_list_reader_pages() {
    let stack = spawn_stack().await;
    publication(&stack).await;
    let api = stack.platform.config.api_url.as_str();
    let site = stack.platform.config.site_url.as_str();

    let (headers, index) = ok(&stack, "/sitemap.xml").await;
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/xml; charset=utf-8"
    );
    for file in [
        "pages-1",
        "articles-1",
        "categories-1",
        "tags-1",
        "authors-1",
    ] {
        assert!(
            index.contains(&format!("<loc>{api}sitemaps/{file}.xml</loc>")),
            "{file}: {index}"
        );
    }
    // Each file's lastmod is the newest change among what it lists.
    let newest: chrono::DateTime<chrono::Utc> = stack
        .db
        .client()
        .await
        .query_one(
            "SELECT max(GREATEST(published_at, updated_at)) FROM articles
             WHERE published_at IS NOT NULL",
            &[],
        )
        .await
        .expect("newest")
        .get(0);
    let lastmod = newest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        index.contains(&format!(
            "<loc>{api}sitemaps/articles-1.xml</loc>\n<lastmod>{lastmod}</lastmod>"
        )),
        "{lastmod}: {index}"
    );
    assert!(headers.contains_key(header::LAST_MODIFIED));
    let (_, articles) = ok(&stack, "/sitemaps/articles-1.xml").await;
    assert_eq!(articles.matches("<url>").count(), 3, "{articles}");
    assert!(
        articles.contains(&format!("<loc>{site}articles/paid-course</loc>")),
        "{articles}"
    );
    let (_, tags) = ok(&stack, "/sitemaps/tags-1.xml").await;
    assert!(
        tags.contains(&format!("<loc>{site}tags/chatgpt</loc>")),
        "{tags}"
    );
    let (_, pages) = ok(&stack, "/sitemaps/pages-1.xml").await;
    assert!(pages.contains(&format!("<loc>{site}</loc>")), "{pages}");

    for missing in [
        "/sitemaps/articles-2.xml",
        "/sitemaps/members-1.xml",
        "/sitemaps/articles-01.xml",
    ] {
        let (status, _, body) = fetch(&stack, missing, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}: {body}");
    }
}

/// Splitting, at a size small enough to see: three published articles at two per file
/// are two files, and the index names both with their own `lastmod`.
#[tokio::test]
async fn sitemap_files_split_at_their_size() {
    let stack = spawn_stack().await;
    publication(&stack).await;
    let client = stack.db.client().await;
    let links = Links {
        site: &stack.platform.config.site_url,
        api: &stack.platform.config.api_url,
    };
    let index = sitemap::index(&client, links, 2).await.expect("index");
    assert!(index.contains("sitemaps/articles-1.xml"), "{index}");
    assert!(index.contains("sitemaps/articles-2.xml"), "{index}");
    assert!(!index.contains("sitemaps/articles-3.xml"), "{index}");
    let file = |name| sitemap::File::parse(name).expect("file");
    let first = sitemap::urlset(&client, links, file("articles-1.xml"), 2)
        .await
        .expect("page 1")
        .expect("not empty");
    let second = sitemap::urlset(&client, links, file("articles-2.xml"), 2)
        .await
        .expect("page 2")
        .expect("not empty");
    assert_eq!(first.matches("<url>").count(), 2);
    assert_eq!(second.matches("<url>").count(), 1);
    assert!(
        sitemap::urlset(&client, links, file("articles-3.xml"), 2)
            .await
            .expect("page 3")
            .is_none()
    );
    // The split is by id, so together the pages hold each article once.
    let all = format!("{first}{second}");
    for slug in ["open-road", "members-guide", "paid-course"] {
        assert_eq!(
            all.matches(&format!("articles/{slug}<")).count(),
            1,
            "{slug}"
        );
    }
}
