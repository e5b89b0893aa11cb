//! `bianxian-local seed`: demo content for the local stack and for `scripts/bench content`.
//!
//! A frontend under development, and a benchmark comparable with Strapi's (10,000
//! published articles with author, category and tags), both need a database that
//! looks like the publication's: Chinese and English titles, Markdown bodies with
//! headings and lists, `members` and `paid` articles behind the members-only marker,
//! a few drafts and scheduled posts. Content comes from a fixed-seed PRNG so two runs
//! with the same `--articles` produce the same database, and bodies are rendered with
//! [`content::render`], exactly as the admin API does on save.
//!
//! Rows go in as multi-row `INSERT … SELECT FROM unnest($1::text[], …)` statements
//! (one per batch, through `query_typed`, so it also works behind a transaction-mode
//! pooler): 10,000 articles take a few statements instead of tens of thousands of
//! round trips. Everything is one transaction, so a failed seed leaves nothing behind.

use std::{collections::HashMap, io::Write};

use content::{cache::namespace, render, schema::CONTENT_TYPES, teaser::MARKER};
use platform::Platform;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use tokio_postgres::{Transaction, types::Type};

mod strapi;

/// The same seed every time: the content is a fixture, not a sample.
const SEED: u64 = 0x6269_616e_7869_616e;
/// Articles per INSERT: large enough to amortize the round trip, small enough to
/// show progress and keep each statement's parameters a few MiB.
const BATCH: usize = 1000;
/// `published_at` is spread over this many seconds before now (two years).
const SPREAD_SECS: i64 = 2 * 365 * 24 * 3600;

/// (name, slug, bio)
const AUTHORS: [(&str, &str, &str); 8] = [
    (
        "林晓",
        "lin-xiao",
        "前大厂产品经理，现全职做 AI 副业，专注内容变现。",
    ),
    (
        "陈一鸣",
        "chen-yiming",
        "独立开发者，写过三个月入过万的小工具。",
    ),
    (
        "王小雨",
        "wang-xiaoyu",
        "小红书 20 万粉博主，分享 AI 绘画与个人品牌。",
    ),
    (
        "周明",
        "zhou-ming",
        "跨境电商老兵，用 AI 把客服成本降了七成。",
    ),
    (
        "Alex Chen",
        "alex-chen",
        "Indie hacker writing about AI products and pricing.",
    ),
    (
        "Emily Zhang",
        "emily-zhang",
        "Growth marketer; newsletters, SEO and funnels.",
    ),
    ("李然", "li-ran", "提示词工程师，AI变现之路专栏作者。"),
    (
        "Sam Wu",
        "sam-wu",
        "Engineer turned creator, automating everything with LLMs.",
    ),
];

/// (name, slug, description)
const CATEGORIES: [(&str, &str, &str); 10] = [
    ("AI 工具", "ai-tools", "值得花时间的 AI 工具评测与用法"),
    ("副业变现", "side-hustle", "从第一块钱到稳定收入"),
    (
        "提示词工程",
        "prompt-engineering",
        "写出好用、可复用的提示词",
    ),
    (
        "内容创作",
        "content-creation",
        "图文、视频与播客的 AI 工作流",
    ),
    ("私域运营", "private-traffic", "社群、公众号与会员体系"),
    ("出海", "going-global", "面向海外市场的 AI 产品与服务"),
    ("AI 编程", "ai-coding", "用 AI 写代码、做产品"),
    ("案例拆解", "case-studies", "真实项目的收入与复盘"),
    ("Growth", "growth", "Acquisition, retention and pricing"),
    (
        "Newsletter",
        "newsletter",
        "Weekly notes from the road to AI income",
    ),
];

/// (name, slug)
const TAGS: [(&str, &str); 40] = [
    ("ChatGPT", "chatgpt"),
    ("Claude", "claude"),
    ("Midjourney", "midjourney"),
    ("Stable Diffusion", "stable-diffusion"),
    ("提示词", "prompts"),
    ("小红书", "xiaohongshu"),
    ("公众号", "wechat-oa"),
    ("抖音", "douyin"),
    ("视频号", "channels"),
    ("知识付费", "paid-knowledge"),
    ("私域", "private-domain"),
    ("社群", "community"),
    ("副业", "side-project"),
    ("独立开发", "indie-dev"),
    ("自动化", "automation"),
    ("工作流", "workflow"),
    ("AI 绘画", "ai-art"),
    ("AI 写作", "ai-writing"),
    ("数字人", "digital-human"),
    ("跨境电商", "cross-border"),
    ("SEO", "seo"),
    ("Newsletter", "newsletter-tag"),
    ("定价", "pricing"),
    ("增长", "growth-tag"),
    ("复盘", "retrospective"),
    ("新手入门", "beginners"),
    ("效率", "productivity"),
    ("Notion", "notion"),
    ("Python", "python"),
    ("Rust", "rust"),
    ("API", "api"),
    ("RAG", "rag"),
    ("Agent", "agent"),
    ("开源", "open-source"),
    ("SaaS", "saas"),
    ("Side Hustle", "side-hustle-tag"),
    ("Case Study", "case-study"),
    ("Marketing", "marketing"),
    ("Copywriting", "copywriting"),
    ("Productivity", "productivity-en"),
];

/// (Chinese name, English name, slug part)
const TOPICS: [(&str, &str, &str); 20] = [
    ("ChatGPT", "ChatGPT", "chatgpt"),
    ("Claude", "Claude", "claude"),
    ("Midjourney", "Midjourney", "midjourney"),
    ("提示词", "prompts", "prompts"),
    ("小红书", "Xiaohongshu", "xiaohongshu"),
    ("公众号", "WeChat articles", "wechat"),
    ("知识付费", "paid courses", "paid-courses"),
    ("短视频", "short video", "short-video"),
    ("AI 绘画", "AI art", "ai-art"),
    ("自动化工作流", "automation", "automation"),
    ("Notion AI", "Notion AI", "notion-ai"),
    ("独立开发", "indie hacking", "indie-hacking"),
    ("跨境电商", "cross-border e-commerce", "cross-border"),
    ("私域流量", "private traffic", "private-traffic"),
    ("AI 写作", "AI writing", "ai-writing"),
    ("Stable Diffusion", "Stable Diffusion", "stable-diffusion"),
    ("数字人", "digital humans", "digital-humans"),
    ("AI 客服", "AI support bots", "ai-support"),
    ("Newsletter", "newsletters", "newsletters"),
    ("SEO", "SEO", "seo"),
];

const ZH_TITLES: [&str; 8] = [
    "用{t}做副业：从 0 到月入{n}千的完整复盘",
    "{t}实战指南：{n} 个立刻能用的技巧",
    "我用{t}三个月赚到第一笔钱，踩过的{n}个坑",
    "{t}变现的{n}种路径，哪一种适合你？",
    "深度拆解：一个{t}账号如何做到{n}万粉丝",
    "新手必看：{t}从入门到精通",
    "{t}提示词模板大全（第{n}期）",
    "为什么说{t}是普通人最好的杠杆",
];

const EN_TITLES: [&str; 6] = [
    "How to Make Money with {t}: {n} Proven Strategies",
    "{n} Lessons from a Year of Building with {t}",
    "The Complete Beginner's Guide to {t}",
    "Case Study: Growing a {t} Side Business to ${n}k a Month",
    "Why {t} Is the Best Side Hustle Right Now",
    "{t} Playbook, Part {n}",
];

const ZH_SENTENCES: [&str; 14] = [
    "很多人第一次接触{t}时，都以为它只是一个工具。",
    "真正让人持续赚钱的，是把{t}嵌入到一个可以复利的工作流里。",
    "我们统计了过去半年的数据，发现提示词质量直接决定了产出的下限。",
    "变现的关键不在于流量多少，而在于你能否解决一个具体的问题。",
    "如果你每天只有一小时，建议先从最小可行产品开始。",
    "不要追逐每一个新模型，先把一个场景做深做透。",
    "付费用户最在意的是结果，而不是你用了什么技术。",
    "把重复的工作交给 AI，把判断留给自己。",
    "第一个月的收入只有几百元，但它证明了需求真实存在。",
    "定价时不妨大胆一些，便宜往往意味着更难服务的客户。",
    "用{t}批量生成初稿，再由人工润色，效率至少提升三倍。",
    "社群里的反馈比任何数据分析都来得更快、更真实。",
    "复盘时我们发现，最赚钱的反而是最不起眼的那个产品。",
    "坚持每周更新，是从零积累信任最朴素也最有效的方法。",
];

const EN_SENTENCES: [&str; 10] = [
    "Most people treat {t} as a toy until the first invoice gets paid.",
    "The money is not in the model but in the workflow around it.",
    "We tracked every experiment for six months and kept only what paid for itself.",
    "Pick one painful problem and solve it better than anyone else.",
    "Price for the outcome, not for the hours the AI saved you.",
    "Ship a small version this week; polish it when someone pays.",
    "Our best month came from a template we almost did not publish.",
    "Readers trust consistency more than brilliance.",
    "Automate the boring parts with {t} and keep the judgement for yourself.",
    "A newsletter with a thousand engaged readers beats a hundred thousand followers.",
];

const ZH_STEPS: [&str; 8] = [
    "明确目标用户和他们愿意付费的问题",
    "用{t}做出第一个可演示的样品",
    "在小红书或公众号发布过程记录",
    "收集前 10 位用户的反馈并迭代",
    "设计一个 99 元的入门产品",
    "把交付流程写成标准操作手册",
    "用自动化工具连接收款与交付",
    "每月复盘一次收入结构",
];

const EN_STEPS: [&str; 6] = [
    "Define who pays and why",
    "Build a demo with {t} in a weekend",
    "Write about the process in public",
    "Interview your first ten users",
    "Launch a small paid tier",
    "Automate delivery and support",
];

const COURSES: [&str; 3] = ["prompt-101", "ai-side-hustle", "xiaohongshu-growth"];

/// The plan and courses the seeded articles ask for, with prices, written through the
/// catalogue as an admin would; left alone when the catalogue has products already.
async fn seed_catalogue(tx: &Transaction<'_>) -> Result<(), String> {
    let existing: i64 = tx
        .query_one("SELECT count(*) FROM products", &[])
        .await
        .map_err(db)?
        .get(0);
    if existing > 0 {
        return Ok(());
    }
    let price = |currency: &str, amount: i64, billing: &str, period: Option<&str>| serde_json::json!({ "currency": currency, "amount": amount, "billing": billing, "period": period });
    let mut products = vec![serde_json::json!({
        "kind": "plan", "code": "pro", "name": "专业会员",
        "description": "解锁全部付费文章",
        "prices": [
            price("CNY", 9900, "prepaid", Some("month")),
            price("CNY", 99900, "prepaid", Some("year")),
            price("USD", 1299, "subscription", Some("month")),
        ],
    })];
    for (code, (name, amount)) in COURSES.iter().zip([
        ("提示词入门课", 19900),
        ("AI 副业实战课", 29900),
        ("小红书增长课", 39900),
    ]) {
        products.push(serde_json::json!({
            "kind": "course", "code": code, "name": name,
            "prices": [price("CNY", amount, "one-time", None)],
        }));
    }
    for product in products {
        let input = serde_json::from_value(product).map_err(|e| e.to_string())?;
        commerce::catalogue::create(tx, "cli", input)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The newsletter's lists, written as an admin would; left alone when there are lists.
async fn seed_lists(tx: &Transaction<'_>) -> Result<(), String> {
    let existing: i64 = tx
        .query_one("SELECT count(*) FROM mailing_lists", &[])
        .await
        .map_err(db)?
        .get(0);
    if existing > 0 {
        return Ok(());
    }
    for list in [
        serde_json::json!({ "name": "每周精选", "description": "每周五，一周最值得读的 AI 变现文章", "visibility": "public", "optin": "double" }),
        serde_json::json!({ "name": "产品更新", "description": "新课程与会员权益", "visibility": "public", "optin": "single" }),
        serde_json::json!({ "name": "付费会员通知", "visibility": "private", "optin": "single" }),
    ] {
        let input = serde_json::from_value(list).map_err(|e| e.to_string())?;
        marketing::lists::create(tx, "cli", input)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What a seed writes: `(name, slug, text)` authors, categories and tags, and the
/// articles that refer to them by index.
pub struct Fixture {
    authors: Vec<(String, String, String)>,
    categories: Vec<(String, String, String)>,
    tags: Vec<(String, String, String)>,
    articles: Vec<Article>,
}

/// Which data set `seed` writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The publication's own demo content (Chinese and English, drafts, gated bodies).
    Demo,
    /// The Strapi anchor's data set, for `scripts/bench strapi` ([`strapi`]).
    Strapi,
}

impl Profile {
    pub fn parse(name: &str) -> Result<Profile, String> {
        match name {
            "demo" => Ok(Profile::Demo),
            "strapi" => Ok(Profile::Strapi),
            other => Err(format!("--profile: `{other}` is not `demo` or `strapi`")),
        }
    }
}

/// When a seeded article was published.
#[derive(Clone, Copy)]
enum Published {
    /// Seconds before the seed ran.
    Ago(i64),
    /// Minutes after 2024-01-01T00:00:00Z, the anchor's fixed schedule.
    Since2024(i64),
}

/// One generated article, before it has an id.
struct Article {
    title: String,
    slug: String,
    excerpt: String,
    body: String,
    body_html: String,
    reading_minutes: i32,
    /// `en` for the English column, else `zh-CN`.
    locale: &'static str,
    visibility: &'static str,
    featured: bool,
    seo_title: Option<String>,
    author: usize,
    category: usize,
    internal_notes: Option<String>,
    /// `None` is a draft.
    published: Option<Published>,
    /// Seconds after now, for scheduled drafts.
    scheduled_in: Option<i64>,
    tags: Vec<usize>,
    /// `(kind, code)` unlocking a `paid` article.
    product: Option<(&'static str, &'static str)>,
}

impl Article {
    /// A published English article of the anchor's data set; paid ones unlock with the plan.
    #[allow(clippy::too_many_arguments)]
    fn published_at_minutes(
        title: String,
        slug: String,
        excerpt: String,
        body: String,
        visibility: &'static str,
        author: usize,
        category: usize,
        tags: Vec<usize>,
        minutes: i64,
    ) -> Article {
        let rendered = render::render(&body);
        Article {
            title,
            slug,
            excerpt,
            body,
            body_html: rendered.html,
            reading_minutes: rendered.reading_minutes,
            locale: "en",
            visibility,
            featured: false,
            seo_title: None,
            author,
            category,
            internal_notes: None,
            published: Some(Published::Since2024(minutes)),
            scheduled_in: None,
            tags,
            product: (visibility == "paid").then_some(("plan", "pro")),
        }
    }
}

/// The demo data set: the constant authors, categories and tags, and `articles`
/// generated articles.
fn demo(articles: usize) -> Fixture {
    let owned = |rows: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        rows.iter()
            .map(|&(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
            .collect()
    };
    let tags: Vec<(&str, &str, &str)> = TAGS.iter().map(|&(n, s)| (n, s, "")).collect();
    let mut rng = StdRng::seed_from_u64(SEED);
    Fixture {
        authors: owned(&AUTHORS),
        categories: owned(&CATEGORIES),
        tags: owned(&tags),
        articles: (0..articles).map(|i| generate(&mut rng, i)).collect(),
    }
}

/// Fills the database with `articles` articles of `profile` and their authors,
/// categories and tags; refuses when articles exist unless `reset`, which deletes all
/// content first.
pub async fn seed(
    platform: &Platform,
    profile: Profile,
    articles: usize,
    reset: bool,
) -> Result<(), String> {
    let started = std::time::Instant::now();
    let mut client = platform.db.client().await.map_err(|e| e.to_string())?;
    let tx = client.transaction().await.map_err(db)?;
    let existing: i64 = tx
        .query_one("SELECT count(*) FROM articles", &[])
        .await
        .map_err(db)?
        .get(0);
    if existing > 0 && !reset {
        return Err(format!(
            "the database already has {existing} articles; pass --reset to delete all \
             articles, authors, categories and tags first"
        ));
    }
    if reset {
        // Tags, products and revisions go with their articles (ON DELETE CASCADE).
        tx.batch_execute(
            "DELETE FROM articles; DELETE FROM tags; DELETE FROM categories; DELETE FROM authors;",
        )
        .await
        .map_err(db)?;
    }
    let fixture = match profile {
        Profile::Demo => demo(articles),
        Profile::Strapi => strapi::fixture(articles),
    };

    let author_ids = insert_named(
        &tx,
        "INSERT INTO authors (name, slug, bio, email)
         SELECT n, s, d, s || '@example.com' FROM unnest($1::text[], $2::text[], $3::text[]) AS t (n, s, d)
         RETURNING id, slug",
        &fixture.authors,
    )
    .await?;
    let category_ids =
        insert_named(&tx, "INSERT INTO categories (name, slug, description) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) RETURNING id, slug", &fixture.categories)
            .await?;
    let tag_ids = insert_named(
        &tx,
        "INSERT INTO tags (name, slug) SELECT n, s FROM unnest($1::text[], $2::text[], $3::text[]) AS t (n, s, d) RETURNING id, slug",
        &fixture.tags,
    )
    .await?;

    let mut done = 0;
    for batch in fixture.articles.chunks(BATCH) {
        insert_articles(&tx, batch, &author_ids, &category_ids, &tag_ids).await?;
        done += batch.len();
        eprint!("\rseeding articles {}", progress_bar(done, articles));
        // Progress only; a closed stderr must not fail the seed.
        std::io::stderr().flush().ok();
    }
    eprintln!();
    seed_catalogue(&tx).await?;
    seed_lists(&tx).await?;
    // Revision 1 of every article, as if each had been saved once through the admin API.
    tx.execute(
        "INSERT INTO article_revisions (article_id, revision, title, body)
         SELECT id, 1, title, body FROM articles",
        &[],
    )
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    // What autovacuum would do some time after a bulk load, done now. Statistics: else
    // the planner believes the tables nearly empty and picks plans for that. The
    // visibility map: else `count(*)` for pagination totals reads the whole table
    // instead of the index (10 ms against 1 ms at 10,000 articles). And the search
    // index's pending list, merged into the GIN tree: else every search scans the
    // bulk load's unsorted pending entries too.
    client
        .batch_execute(
            "VACUUM (ANALYZE) authors, categories, tags, articles, article_tags, \
             article_products, article_totals, article_search",
        )
        .await
        .map_err(db)?;

    // Responses cached before the seed would otherwise be served for up to a minute.
    let namespaces: Vec<String> = CONTENT_TYPES.iter().map(|ct| namespace(ct)).collect();
    let namespaces: Vec<&str> = namespaces.iter().map(String::as_str).collect();
    if let Err(e) = platform.cache.invalidate(&namespaces).await {
        eprintln!(
            "seed: could not invalidate cached content responses ({e}); \
             a running gateway may serve them for up to CONTENT_CACHE_TTL_SECS"
        );
    }
    eprintln!(
        "seeded {} authors, {} categories, {} tags and {articles} articles in {:.1} s",
        fixture.authors.len(),
        fixture.categories.len(),
        fixture.tags.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn db(e: tokio_postgres::Error) -> String {
    format!("database: {e}")
}

/// Inserts `(name, slug, text)` rows with `sql` and returns their ids in row order.
async fn insert_named(
    tx: &Transaction<'_>,
    sql: &str,
    rows: &[(String, String, String)],
) -> Result<Vec<i64>, String> {
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let slugs: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let texts: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    let ids: HashMap<String, i64> = tx
        .query_typed(
            sql,
            &[
                (&names, Type::TEXT_ARRAY),
                (&slugs, Type::TEXT_ARRAY),
                (&texts, Type::TEXT_ARRAY),
            ],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|row| (row.get(1), row.get(0)))
        .collect();
    slugs
        .iter()
        .map(|slug| ids.get(*slug).copied().ok_or(format!("no id for `{slug}`")))
        .collect()
}

async fn insert_articles(
    tx: &Transaction<'_>,
    batch: &[Article],
    author_ids: &[i64],
    category_ids: &[i64],
    tag_ids: &[i64],
) -> Result<(), String> {
    let texts = |f: fn(&Article) -> &str| -> Vec<&str> { batch.iter().map(f).collect() };
    let title = texts(|a| &a.title);
    let slug = texts(|a| &a.slug);
    let excerpt = texts(|a| &a.excerpt);
    let body = texts(|a| &a.body);
    let body_html = texts(|a| &a.body_html);
    let visibility = texts(|a| a.visibility);
    let locale = texts(|a| a.locale);
    let seo_title: Vec<Option<&str>> = batch.iter().map(|a| a.seo_title.as_deref()).collect();
    let notes: Vec<Option<&str>> = batch.iter().map(|a| a.internal_notes.as_deref()).collect();
    let minutes: Vec<i32> = batch.iter().map(|a| a.reading_minutes).collect();
    let featured: Vec<bool> = batch.iter().map(|a| a.featured).collect();
    let author: Vec<i64> = batch.iter().map(|a| author_ids[a.author]).collect();
    let category: Vec<i64> = batch.iter().map(|a| category_ids[a.category]).collect();
    let (ago, since_2024): (Vec<Option<i64>>, Vec<Option<i64>>) = batch
        .iter()
        .map(|a| match a.published {
            Some(Published::Ago(seconds)) => (Some(seconds), None),
            Some(Published::Since2024(minutes)) => (None, Some(minutes)),
            None => (None, None),
        })
        .unzip();
    let scheduled: Vec<Option<i64>> = batch.iter().map(|a| a.scheduled_in).collect();
    let rows = tx
        .query_typed(
            "INSERT INTO articles (title, slug, excerpt, body, body_html, reading_minutes,
                visibility, featured, seo_title, seo_description, author_id, category_id,
                internal_notes, published_at, scheduled_at, locale)
             SELECT ti, sl, ex, bo, ht, mi, vi, fe, st, ex, au, ca, no,
                    coalesce(timestamptz '2024-01-01 00:00:00Z' + pm * interval '1 minute',
                             now() - pa * interval '1 second'),
                    now() + sc * interval '1 second', lo
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[],
                         $7::text[], $8::bool[], $9::text[], $10::int8[], $11::int8[],
                         $12::text[], $13::int8[], $14::int8[], $15::text[], $16::int8[])
                  AS t (ti, sl, ex, bo, ht, mi, vi, fe, st, au, ca, no, pa, sc, lo, pm)
             RETURNING id, slug",
            &[
                (&title, Type::TEXT_ARRAY),
                (&slug, Type::TEXT_ARRAY),
                (&excerpt, Type::TEXT_ARRAY),
                (&body, Type::TEXT_ARRAY),
                (&body_html, Type::TEXT_ARRAY),
                (&minutes, Type::INT4_ARRAY),
                (&visibility, Type::TEXT_ARRAY),
                (&featured, Type::BOOL_ARRAY),
                (&seo_title, Type::TEXT_ARRAY),
                (&author, Type::INT8_ARRAY),
                (&category, Type::INT8_ARRAY),
                (&notes, Type::TEXT_ARRAY),
                (&ago, Type::INT8_ARRAY),
                (&scheduled, Type::INT8_ARRAY),
                (&locale, Type::TEXT_ARRAY),
                (&since_2024, Type::INT8_ARRAY),
            ],
        )
        .await
        .map_err(db)?;
    let ids: HashMap<&str, i64> = rows.iter().map(|row| (row.get(1), row.get(0))).collect();

    let (mut tag_article, mut tag) = (Vec::new(), Vec::new());
    let (mut product_article, mut kind, mut code) = (Vec::new(), Vec::new(), Vec::new());
    for article in batch {
        let id = *ids
            .get(article.slug.as_str())
            .ok_or(format!("no id for `{}`", article.slug))?;
        for &t in &article.tags {
            tag_article.push(id);
            tag.push(tag_ids[t]);
        }
        if let Some((k, c)) = article.product {
            product_article.push(id);
            kind.push(k);
            code.push(c);
        }
    }
    tx.query_typed(
        "INSERT INTO article_tags (article_id, tag_id) SELECT * FROM unnest($1::int8[], $2::int8[])",
        &[(&tag_article, Type::INT8_ARRAY), (&tag, Type::INT8_ARRAY)],
    )
    .await
    .map_err(db)?;
    tx.query_typed(
        "INSERT INTO article_products (article_id, product_kind, product_code)
         SELECT * FROM unnest($1::int8[], $2::text[], $3::text[])",
        &[
            (&product_article, Type::INT8_ARRAY),
            (&kind, Type::TEXT_ARRAY),
            (&code, Type::TEXT_ARRAY),
        ],
    )
    .await
    .map_err(db)?;
    Ok(())
}

/// `[#########...........]  450/1000`: a fixed-width bar for a `\r`-rewritten line.
fn progress_bar(done: usize, total: usize) -> String {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    format!(
        "[{}{}] {done:>width$}/{total}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        width = total.to_string().len()
    )
}

/// Article number `index`: the slug embeds it, so slugs are unique however many there are.
fn generate(rng: &mut StdRng, index: usize) -> Article {
    let &(zh_topic, en_topic, topic_slug) = pick(rng, &TOPICS);
    // A Chinese publication with an English column: about one article in five.
    let english = rng.random_ratio(1, 5);
    let n = rng.random_range(3..=12).to_string();
    let title = if english {
        pick(rng, &EN_TITLES)
            .replace("{t}", en_topic)
            .replace("{n}", &n)
    } else {
        pick(rng, &ZH_TITLES)
            .replace("{t}", zh_topic)
            .replace("{n}", &n)
    };
    let slug = format!(
        "{topic_slug}-{}-{}",
        if english { "guide" } else { "shizhan" },
        index + 1
    );

    let visibility = match rng.random_range(0..100) {
        0..70 => "public",
        70..88 => "members",
        _ => "paid",
    };
    let gated = visibility != "public";
    let (body, excerpt) = if english {
        body(rng, en_topic, &ENGLISH, gated)
    } else {
        body(rng, zh_topic, &CHINESE, gated)
    };
    let rendered = render::render(&body);
    let product = (visibility == "paid").then(|| {
        if rng.random_ratio(7, 10) {
            ("plan", "pro")
        } else {
            ("course", *pick(rng, &COURSES))
        }
    });

    // 3% drafts, 2% scheduled within the next month, the rest published.
    let (published, scheduled_in) = match rng.random_range(0..100) {
        0..3 => (None, None),
        3..5 => (None, Some(rng.random_range(3600..30 * 24 * 3600))),
        _ => (Some(Published::Ago(rng.random_range(0..SPREAD_SECS))), None),
    };
    let mut tags: Vec<usize> = (0..rng.random_range(1..=4))
        .map(|_| rng.random_range(0..TAGS.len()))
        .collect();
    tags.sort_unstable();
    tags.dedup();

    Article {
        seo_title: rng
            .random_ratio(1, 2)
            .then(|| format!("{title} | AI变现之路")),
        title,
        slug,
        excerpt,
        body,
        body_html: rendered.html,
        reading_minutes: rendered.reading_minutes,
        locale: if english { "en" } else { "zh-CN" },
        visibility,
        featured: rng.random_ratio(1, 20),
        author: rng.random_range(0..AUTHORS.len()),
        category: rng.random_range(0..CATEGORIES.len()),
        internal_notes: rng
            .random_ratio(1, 10)
            .then(|| "待补充数据截图 / needs screenshots".to_owned()),
        published,
        scheduled_in,
        tags,
        product,
    }
}

/// What a body is written from, per language.
struct Language {
    sentences: &'static [&'static str],
    steps: &'static [&'static str],
    /// Why, steps, questions, and the deep dive after the members-only marker.
    headings: [&'static str; 4],
    /// Between sentences: none in Chinese, a space in English.
    separator: &'static str,
}

const CHINESE: Language = Language {
    sentences: &ZH_SENTENCES,
    steps: &ZH_STEPS,
    headings: ["为什么是{t}", "具体步骤", "常见问题", "进阶：{t}的高级玩法"],
    separator: "",
};

const ENGLISH: Language = Language {
    sentences: &EN_SENTENCES,
    steps: &EN_STEPS,
    headings: [
        "Why {t}",
        "Step by step",
        "Common questions",
        "Going further with {t}",
    ],
    separator: " ",
};

/// A Markdown body (and its excerpt, the first sentence): headings, paragraphs, an
/// ordered and an unordered list, and the members-only marker before the deep dive
/// when `gated`.
fn body(rng: &mut StdRng, topic: &str, language: &Language, gated: bool) -> (String, String) {
    let separator = language.separator;
    let sentence = |rng: &mut StdRng| pick(rng, language.sentences).replace("{t}", topic);
    let paragraph = |rng: &mut StdRng| {
        let count = rng.random_range(3..=6);
        (0..count)
            .map(|_| sentence(rng))
            .collect::<Vec<_>>()
            .join(separator)
    };
    let heading = |i: usize| language.headings[i].replace("{t}", topic);
    let excerpt = sentence(rng);
    let mut out = format!("{excerpt}{separator}{}\n\n", paragraph(rng));
    out += &format!("## {}\n\n{}\n\n", heading(0), paragraph(rng));
    out += &format!("## {}\n\n", heading(1));
    for (i, step) in language.steps.choose_multiple(rng, 4).enumerate() {
        out += &format!("{}. {}\n", i + 1, step.replace("{t}", topic));
    }
    out += &format!("\n{}\n\n## {}\n\n", paragraph(rng), heading(2));
    for _ in 0..3 {
        out += &format!("- {}\n", sentence(rng));
    }
    out += "\n";
    if gated {
        out += MARKER;
        out += "\n\n";
    }
    out += &format!(
        "## {}\n\n{}\n\n{}\n",
        heading(3),
        paragraph(rng),
        paragraph(rng)
    );
    (out, excerpt)
}

/// A random element of one of our constant, non-empty tables.
fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    items.choose(rng).expect("constant tables are not empty")
}

#[cfg(test)]
mod tests {
    use super::progress_bar;

    #[test]
    fn the_progress_bar_fills_in_proportion() {
        assert_eq!(
            progress_bar(0, 200),
            "[..............................]   0/200"
        );
        assert_eq!(
            progress_bar(100, 200),
            "[###############...............] 100/200"
        );
        assert_eq!(
            progress_bar(200, 200),
            "[##############################] 200/200"
        );
        assert_eq!(progress_bar(0, 0), "[##############################] 0/0");
    }
}
