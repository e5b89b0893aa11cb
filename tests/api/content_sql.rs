//! The content query pipeline against real PostgreSQL: a Strapi query string is parsed,
//! turned into SQL by `content::sql` and run with `query_typed` on a freshly
//! migrated database, and the rows that come back are the ones the query describes.

use bianxian_e2e::TestDb;
use content::{
    Query,
    query::Status,
    schema::{ARTICLES, AUTHORS, CATEGORIES, ContentType},
    sql::{self, PARENT_COLUMN},
};
use tokio_postgres::{Client, types::Type};

/// A query string from `(name, value)` pairs, values percent-encoded as a browser would.
fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.:".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One article of the test publication.
struct Seed {
    slug: &'static str,
    title: &'static str,
    excerpt: Option<&'static str>,
    body: &'static str,
    category: &'static str,
    minutes: i32,
    state: State,
}

enum State {
    /// Published at 08:00 UTC on this date.
    Published(&'static str),
    Draft,
    /// Published once, then soft-deleted.
    Deleted,
    /// Published tomorrow.
    Scheduled,
}

/// A migrated database holding a small publication:
///
/// | slug          | title                        | category | tags                 | state            |
/// |---------------|------------------------------|----------|----------------------|------------------|
/// | ai-road       | AI变现之路：从零开始          | ai-tools | chatgpt, side-hustle | published Jan 10 |
/// | prompt-basics | Prompt Engineering Basics    | writing  | chatgpt, python      | published Feb 10 |
/// | side-guide    | 副业指南                      | writing  | side-hustle          | published Mar 10 |
/// | draft-one     | 草稿：变现计划                | ai-tools |                      | draft            |
/// | removed       | 已删除的变现文章              | ai-tools |                      | deleted          |
/// | tomorrow      | 明天的变现文章                | ai-tools |                      | scheduled        |
async fn publication() -> (TestDb, Client) {
    let db = TestDb::empty().await;
    let mut client = db.client().await;
    platform::migrations::run(&mut client)
        .await
        .expect("migrations");
    client
        .batch_execute(
            "INSERT INTO authors (name, slug, email) VALUES ('张三', 'zhang-san', 'zs@example.com');
             INSERT INTO categories (name, slug) VALUES ('AI工具', 'ai-tools'), ('写作', 'writing');
             INSERT INTO tags (name, slug) VALUES ('ChatGPT', 'chatgpt'), ('副业', 'side-hustle'), ('Python', 'python');",
        )
        .await
        .expect("authors, categories, tags");
    let articles = [
        Seed {
            slug: "ai-road",
            title: "AI变现之路：从零开始",
            excerpt: None,
            body: "本文讨论如何用大模型赚钱，重点是提示词工程。",
            category: "ai-tools",
            minutes: 5,
            state: State::Published("2025-01-10"),
        },
        Seed {
            slug: "prompt-basics",
            title: "Prompt Engineering Basics",
            excerpt: Some("A primer"),
            body: "Learn how to write PROMPTS for ChatGPT.",
            category: "writing",
            minutes: 12,
            state: State::Published("2025-02-10"),
        },
        Seed {
            slug: "side-guide",
            title: "副业指南",
            excerpt: Some("下班后的第二份收入"),
            body: "从写作开始的副业。",
            category: "writing",
            minutes: 8,
            state: State::Published("2025-03-10"),
        },
        Seed {
            slug: "draft-one",
            title: "草稿：变现计划",
            excerpt: None,
            body: "还没写完。",
            category: "ai-tools",
            minutes: 1,
            state: State::Draft,
        },
        Seed {
            slug: "removed",
            title: "已删除的变现文章",
            excerpt: None,
            body: "不该出现。",
            category: "ai-tools",
            minutes: 1,
            state: State::Deleted,
        },
        Seed {
            slug: "tomorrow",
            title: "明天的变现文章",
            excerpt: None,
            body: "还没到时间。",
            category: "ai-tools",
            minutes: 1,
            state: State::Scheduled,
        },
    ];
    for article in articles {
        let Seed {
            slug,
            title,
            excerpt,
            body,
            category,
            minutes,
            state,
        } = article;
        let (published, deleted) = match state {
            State::Published(date) => (format!("'{date}T08:00:00Z'::timestamptz"), "NULL"),
            State::Deleted => ("'2025-01-01T00:00:00Z'::timestamptz".into(), "now()"),
            State::Scheduled => ("now() + interval '1 day'".into(), "NULL"),
            State::Draft => ("NULL".into(), "NULL"),
        };
        client
            .query_typed(
                &format!(
                    "INSERT INTO articles (slug, title, excerpt, body, category_id, author_id, reading_minutes, published_at, deleted_at, internal_notes)
                     SELECT $1, $2, $3, $4, c.id, a.id, $5, {published}, {deleted}, 'secret'
                     FROM categories c, authors a WHERE c.slug = $6 AND a.slug = 'zhang-san'"
                ),
                &[
                    (&slug, Type::TEXT),
                    (&title, Type::TEXT),
                    (&excerpt, Type::TEXT),
                    (&body, Type::TEXT),
                    (&minutes, Type::INT4),
                    (&category, Type::TEXT),
                ],
            )
            .await
            .expect("article");
    }
    client
        .batch_execute(
            "INSERT INTO article_tags (article_id, tag_id)
             SELECT a.id, t.id FROM articles a, tags t
             WHERE (a.slug, t.slug) IN (('ai-road', 'chatgpt'), ('ai-road', 'side-hustle'),
                   ('prompt-basics', 'chatgpt'), ('prompt-basics', 'python'),
                   ('side-guide', 'side-hustle'))",
        )
        .await
        .expect("article tags");
    (db, client)
}

/// The slugs a list query returns, in order.
async fn slugs(client: &Client, content_type: &'static ContentType, raw: &str) -> Vec<String> {
    let query = Query::parse(content_type, raw).expect("valid query");
    let statement = sql::list_statement(&query).expect("sql");
    client
        .query_typed(&statement.sql, &statement.params_ref())
        .await
        .unwrap_or_else(|e| panic!("{raw}: {e}\n{}", statement.sql))
        .iter()
        .map(|row| row.get("slug"))
        .collect()
}

async fn total(client: &Client, raw: &str) -> i64 {
    let query = Query::parse(&ARTICLES, raw).expect("valid query");
    let statement = sql::count_statement(&query).expect("sql");
    client
        .query_typed(&statement.sql, &statement.params_ref())
        .await
        .expect("count")[0]
        .get(0)
}

#[tokio::test]
async fn published_articles_newest_first_without_drafts_deleted_or_scheduled() {
    let (_db, client) = publication().await;
    assert_eq!(
        slugs(&client, &ARTICLES, "").await,
        ["side-guide", "prompt-basics", "ai-road"]
    );
    assert_eq!(total(&client, "").await, 3);
    assert_eq!(
        slugs(&client, &ARTICLES, "status=draft").await,
        ["draft-one"]
    );
}

#[tokio::test]
async fn text_operators_work_on_chinese_and_english() {
    let (_db, client) = publication().await;
    let eq = query_string(&[("filters[title][$eq]", "副业指南")]);
    assert_eq!(slugs(&client, &ARTICLES, &eq).await, ["side-guide"]);
    let containsi = query_string(&[("filters[title][$containsi]", "变现")]);
    assert_eq!(slugs(&client, &ARTICLES, &containsi).await, ["ai-road"]);
    let english = query_string(&[("filters[title][$containsi]", "prompt ENGINEERING")]);
    assert_eq!(slugs(&client, &ARTICLES, &english).await, ["prompt-basics"]);
    let eqi = query_string(&[("filters[slug][$eqi]", "AI-ROAD")]);
    assert_eq!(slugs(&client, &ARTICLES, &eqi).await, ["ai-road"]);
    let starts = query_string(&[("filters[title][$startsWith]", "AI")]);
    assert_eq!(slugs(&client, &ARTICLES, &starts).await, ["ai-road"]);
    // `%` is a character, not a wildcard.
    let percent = query_string(&[("filters[title][$contains]", "%")]);
    assert!(slugs(&client, &ARTICLES, &percent).await.is_empty());
}

#[tokio::test]
async fn relation_filters_follow_categories_and_tags() {
    let (_db, client) = publication().await;
    assert_eq!(
        slugs(
            &client,
            &ARTICLES,
            "filters[category][slug][$eq]=writing&sort=publishedAt:asc"
        )
        .await,
        ["prompt-basics", "side-guide"]
    );
    assert_eq!(
        slugs(
            &client,
            &ARTICLES,
            "filters[tags][slug][$in][0]=python&filters[tags][slug][$in][1]=side-hustle"
        )
        .await,
        ["side-guide", "prompt-basics", "ai-road"]
    );
    // Two hops: categories with a published article tagged python.
    assert_eq!(
        slugs(
            &client,
            &CATEGORIES,
            "filters[articles][tags][slug][$eq]=python"
        )
        .await,
        ["writing"]
    );
    // Drafts and deleted articles do not make a category match.
    let hidden = query_string(&[("filters[articles][title][$contains]", "变现")]);
    assert_eq!(slugs(&client, &CATEGORIES, &hidden).await, ["ai-tools"]);
    let only_hidden = query_string(&[("filters[articles][title][$contains]", "草稿")]);
    assert!(slugs(&client, &CATEGORIES, &only_hidden).await.is_empty());
}

#[tokio::test]
async fn or_not_null_and_between_combine() {
    let (_db, client) = publication().await;
    let or = query_string(&[
        ("filters[$or][0][slug][$eq]", "ai-road"),
        ("filters[$or][1][readingMinutes][$gte]", "10"),
        ("sort", "slug:asc"),
    ]);
    assert_eq!(
        slugs(&client, &ARTICLES, &or).await,
        ["ai-road", "prompt-basics"]
    );
    assert_eq!(
        slugs(
            &client,
            &ARTICLES,
            "filters[$not][category][slug][$eq]=writing"
        )
        .await,
        ["ai-road"]
    );
    assert_eq!(
        slugs(&client, &ARTICLES, "filters[excerpt][$null]=true").await,
        ["ai-road"]
    );
    assert_eq!(
        slugs(&client, &ARTICLES, "filters[excerpt][$notNull]=true").await,
        ["side-guide", "prompt-basics"]
    );
    assert_eq!(
        slugs(
            &client,
            &ARTICLES,
            "filters[publishedAt][$between][0]=2025-02-01&filters[publishedAt][$between][1]=2025-03-31"
        )
        .await,
        ["side-guide", "prompt-basics"]
    );
}

#[tokio::test]
async fn sort_and_pagination_page_through_the_rows() {
    let (_db, client) = publication().await;
    let by_minutes = "sort=readingMinutes:desc&pagination[page]=1&pagination[pageSize]=2";
    assert_eq!(
        slugs(&client, &ARTICLES, by_minutes).await,
        ["prompt-basics", "side-guide"]
    );
    let second = "sort=readingMinutes:desc&pagination[page]=2&pagination[pageSize]=2";
    assert_eq!(slugs(&client, &ARTICLES, second).await, ["ai-road"]);
    // Titles in code point order: Latin before CJK.
    let offset = "sort=title:asc&pagination[start]=1&pagination[limit]=1";
    assert_eq!(slugs(&client, &ARTICLES, offset).await, ["prompt-basics"]);
    assert_eq!(total(&client, second).await, 3);
}

#[tokio::test]
async fn search_finds_chinese_inside_bodies_and_english_in_any_case() {
    let (_db, client) = publication().await;
    let chinese = query_string(&[("_q", "提示词")]);
    assert_eq!(slugs(&client, &ARTICLES, &chinese).await, ["ai-road"]);
    let two_characters = query_string(&[("_q", "副业")]);
    assert_eq!(
        slugs(&client, &ARTICLES, &two_characters).await,
        ["side-guide"]
    );
    let english = query_string(&[("_q", "prompts")]);
    assert_eq!(slugs(&client, &ARTICLES, &english).await, ["prompt-basics"]);
    let both = query_string(&[("_q", "chatgpt primer")]);
    assert_eq!(slugs(&client, &ARTICLES, &both).await, ["prompt-basics"]);
    let hidden = query_string(&[("_q", "还没")]);
    assert!(slugs(&client, &ARTICLES, &hidden).await.is_empty());
}

#[tokio::test]
async fn search_ranks_title_matches_first_then_newest_and_follows_every_write() {
    let (_db, client) = publication().await;
    client
        .batch_execute(
            "INSERT INTO articles (slug, title, body, published_at) VALUES
               ('body-only', '第二份收入', '讲讲怎样变现。', '2025-04-10T08:00:00Z'),
               ('new-title', '变现清单', '十条。', '2025-04-20T08:00:00Z'),
               ('english', 'Side income', 'Monetize 变现 in English too.', '2025-04-01T08:00:00Z')",
        )
        .await
        .expect("more articles");
    let search = |extra: &str| format!("{}{extra}", query_string(&[("_q", "变现")]));
    // Titles first (newest first among them), then bodies; the count agrees.
    assert_eq!(
        slugs(&client, &ARTICLES, &search("")).await,
        ["new-title", "ai-road", "body-only", "english"]
    );
    assert_eq!(total(&client, &search("")).await, 4);
    assert_eq!(
        slugs(
            &client,
            &ARTICLES,
            &search("&pagination[page]=2&pagination[pageSize]=2")
        )
        .await,
        ["body-only", "english"]
    );
    // With a filter the same ranking, and an explicit sort is the client's order.
    assert_eq!(
        slugs(&client, &ARTICLES, &search("&filters[slug][$ne]=ai-road")).await,
        ["new-title", "body-only", "english"]
    );
    assert_eq!(
        slugs(&client, &ARTICLES, &search("&sort=publishedAt:asc")).await,
        ["ai-road", "english", "body-only", "new-title"]
    );
    // One character finds by prefix; a word by its start, in any case.
    assert_eq!(
        slugs(&client, &ARTICLES, &query_string(&[("_q", "清")])).await,
        ["new-title"]
    );
    assert_eq!(
        slugs(&client, &ARTICLES, &query_string(&[("_q", "MONET")])).await,
        ["english"]
    );
    assert!(
        slugs(&client, &ARTICLES, &query_string(&[("_q", "onetize")]))
            .await
            .is_empty()
    );
    // Nothing searchable (punctuation only) finds nothing, and is no error.
    assert_eq!(total(&client, &query_string(&[("_q", "！？")])).await, 0);
    // Drafts are searched when drafts are asked for.
    assert_eq!(
        slugs(&client, &ARTICLES, &search("&status=draft")).await,
        ["draft-one"]
    );
    // Every write is seen at once: an edit, an unpublish, a soft delete, a gate.
    client
        .batch_execute(
            "UPDATE articles SET body = '讲讲收入。' WHERE slug = 'body-only';
             UPDATE articles SET published_at = NULL WHERE slug = 'new-title';
             UPDATE articles SET deleted_at = now() WHERE slug = 'ai-road';
             UPDATE articles SET visibility = 'paid' WHERE slug = 'english';",
        )
        .await
        .expect("writes");
    assert!(slugs(&client, &ARTICLES, &search("")).await.is_empty());
    assert_eq!(total(&client, &search("")).await, 0);
    client
        .batch_execute(
            "UPDATE articles SET published_at = '2025-05-01T08:00:00Z', title = '新的变现清单'
             WHERE slug = 'new-title';
             UPDATE articles SET deleted_at = NULL WHERE slug = 'ai-road';",
        )
        .await
        .expect("back");
    assert_eq!(
        slugs(&client, &ARTICLES, &search("")).await,
        ["new-title", "ai-road"]
    );
    // A short page looks for its title matches among the newest titles (16 per
    // entry of the window) and, when too few are there, through the title index.
    let first_pages = || async {
        [
            slugs(&client, &ARTICLES, &search("&pagination[pageSize]=1")).await,
            slugs(
                &client,
                &ARTICLES,
                &search("&pagination[page]=2&pagination[pageSize]=1"),
            )
            .await,
        ]
    };
    assert_eq!(first_pages().await, [["new-title"], ["ai-road"]]);
    client
        .batch_execute(
            "INSERT INTO articles (slug, title, body, published_at)
             SELECT 'newer-' || n, '别的话题' || n, '无关。',
               '2025-06-01T08:00:00Z'::timestamptz + n * interval '1 hour'
             FROM generate_series(1, 40) n",
        )
        .await
        .expect("newer articles");
    assert_eq!(first_pages().await, [["new-title"], ["ai-road"]]);
    assert_eq!(total(&client, &search("")).await, 2);
}

#[tokio::test]
async fn sql_looking_values_are_only_values() {
    let (_db, client) = publication().await;
    let hostile = "'; DROP TABLE articles; --";
    for name in [
        "filters[title][$eq]",
        "filters[title][$containsi]",
        "filters[category][slug][$in][0]",
        "_q",
    ] {
        let raw = query_string(&[(name, hostile)]);
        assert!(slugs(&client, &ARTICLES, &raw).await.is_empty(), "{name}");
    }
    assert_eq!(total(&client, "").await, 3);
}

#[tokio::test]
async fn populate_loads_each_relation_level_in_one_statement() {
    let (_db, client) = publication().await;
    let query = Query::parse(
        &ARTICLES,
        "populate[tags][sort]=slug:asc&populate[author]=true",
    )
    .expect("query");
    let list = sql::list_statement(&query).expect("sql");
    let rows = client
        .query_typed(&list.sql, &list.params_ref())
        .await
        .expect("list");
    let ids: Vec<i64> = rows.iter().map(|row| row.get("id")).collect();
    // The author is read by the key the articles carry in their hidden column.
    let author = &query.populate[0];
    let column = sql::foreign_key_column(&ARTICLES, author)
        .expect("link")
        .expect("the author is stored in the article row");
    let mut keys: Vec<i64> = rows.iter().map(|row| row.get(column.as_str())).collect();
    keys.sort_unstable();
    keys.dedup();
    let statement = sql::populate_statement(&ARTICLES, author, &keys, query.status).expect("sql");
    let authors = client
        .query_typed(&statement.sql, &statement.params_ref())
        .await
        .expect("authors");
    assert_eq!(authors.len(), 1, "one author for the three articles");
    assert!(
        authors
            .iter()
            .all(|row| row.get::<_, &str>("name") == "张三")
    );
    assert!(
        authors[0].columns().iter().all(|c| c.name() != "email"),
        "private fields are never selected"
    );
    let tags = &query.populate[1];
    let statement = sql::populate_statement(&ARTICLES, tags, &ids, query.status).expect("sql");
    let pairs: Vec<(i64, String)> = client
        .query_typed(&statement.sql, &statement.params_ref())
        .await
        .expect("tags")
        .iter()
        .map(|row| (row.get(PARENT_COLUMN), row.get("slug")))
        .collect();
    assert_eq!(pairs.len(), 5);
    let of_first = |id: i64| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(parent, _)| *parent == id)
            .map(|(_, slug)| slug.as_str())
            .collect()
    };
    // ids[2] is ai-road (oldest): its tags, sorted by slug.
    assert_eq!(of_first(ids[2]), ["chatgpt", "side-hustle"]);

    // The way back counts only published articles.
    let authors_query = Query::parse(&AUTHORS, "populate[articles][count]=true").expect("query");
    let author_id: i64 = client
        .query_typed("SELECT id FROM authors", &[])
        .await
        .expect("author")[0]
        .get(0);
    let statement = sql::populate_statement(
        &AUTHORS,
        &authors_query.populate[0],
        &[author_id],
        Status::Published,
    )
    .expect("sql");
    let counted = client
        .query_typed(&statement.sql, &statement.params_ref())
        .await
        .expect("count");
    assert_eq!(counted[0].get::<_, i64>(sql::COUNT_COLUMN), 3);
}
