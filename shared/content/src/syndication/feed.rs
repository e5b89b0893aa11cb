//! RSS 2.0 and Atom (RFC 4287) feeds of the latest published articles: the whole
//! publication, or one category, tag or author.
//!
//! Each item carries what Ghost's feeds carry: title, link, author, categories (the
//! article's category, then its tags), a plain-text description (the excerpt, else the
//! SEO description, else the start of the text) and the article's HTML
//! (`content:encoded` in RSS, `content` in Atom). A `members` or `paid` article is in
//! the feed like any other, with its teaser as its content: a feed reader is an
//! anonymous reader.

use chrono::{DateTime, SecondsFormat, Utc};
use platform::db::GenericClient;
use platform::error::Result;
use tokio_postgres::{Row, types::Type};

use super::{Links, Listing, SiteConfig, latest, xml::Xml};
use crate::teaser;

/// How many articles a feed lists, newest first (Ghost's feeds list 15 per page).
pub const ITEMS: i64 = 20;
/// The description is cut to this many characters when it comes from the text.
const SUMMARY_CHARS: usize = 140;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rss,
    Atom,
}

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
        }
    }

    /// The feed's file name, last segment of its URL.
    pub fn file(self) -> &'static str {
        match self {
            Format::Rss => "rss.xml",
            Format::Atom => "atom.xml",
        }
    }
}

/// Which articles a feed follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    Everything,
    Of(Listing, &'a str),
}

/// A feed, ready to be written in either format.
#[derive(Debug)]
pub struct Feed {
    pub title: String,
    pub description: String,
    /// The site page the feed follows.
    pub page: String,
    /// Where this feed is served, without the file name (`https://api/…/`).
    feed_base: String,
    pub items: Vec<Item>,
    /// When anything the feed shows last changed.
    pub last_modified: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct Item {
    pub document_id: String,
    pub title: String,
    pub url: String,
    pub published: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub author: Option<String>,
    /// The category's name first, then the tags'.
    pub categories: Vec<String>,
    pub summary: String,
    /// The body's HTML, or only its teaser for a gated article.
    pub content_html: String,
}

const LISTED_CATEGORY: &str =
    "SELECT id, name, description, updated_at FROM categories WHERE slug = $1";
const LISTED_TAG: &str = "SELECT id, name, description, updated_at FROM tags WHERE slug = $1";
const LISTED_AUTHOR: &str = "SELECT id, name, bio, updated_at FROM authors WHERE slug = $1";

/// The newest published articles, optionally of one category, tag or author. The
/// parameters are planned as the constants they are (an unnamed statement), so the
/// unused conditions fold away and the newest-first index answers.
const ITEMS_SQL: &str = "
    SELECT a.document_id, a.title, a.slug, a.locale, a.excerpt, a.seo_description,
           a.visibility, a.body_html, a.published_at, GREATEST(a.published_at, a.updated_at),
           au.name, c.name,
           ARRAY(SELECT t.name FROM article_tags x JOIN tags t ON t.id = x.tag_id
                 WHERE x.article_id = a.id ORDER BY t.name)
    FROM articles a
    LEFT JOIN authors au ON au.id = a.author_id
    LEFT JOIN categories c ON c.id = a.category_id
    WHERE a.published_at IS NOT NULL AND a.published_at <= now() AND a.deleted_at IS NULL
      AND ($1::int8 IS NULL OR a.category_id = $1)
      AND ($2::int8 IS NULL OR EXISTS (
            SELECT 1 FROM article_tags x WHERE x.article_id = a.id AND x.tag_id = $2))
      AND ($3::int8 IS NULL OR a.author_id = $3)
    ORDER BY a.published_at DESC, a.id DESC
    LIMIT $4";

/// The feed of `scope`, or `None` when its category, tag or author does not exist.
pub async fn load(
    client: &impl GenericClient,
    scope: Scope<'_>,
    site: &SiteConfig,
    links: Links<'_>,
) -> Result<Option<Feed>> {
    let (mut feed, ids) = match scope {
        Scope::Everything => (
            Feed {
                title: site.name.clone(),
                description: site.description.clone(),
                page: links.home(),
                feed_base: links.api(""),
                items: Vec::new(),
                last_modified: None,
            },
            [None; 3],
        ),
        Scope::Of(listing, slug) => {
            let sql = match listing {
                Listing::Category => LISTED_CATEGORY,
                Listing::Tag => LISTED_TAG,
                Listing::Author => LISTED_AUTHOR,
            };
            let rows = client.query_typed(sql, &[(&slug, Type::TEXT)]).await?;
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let id: i64 = row.get(0);
            let name: &str = row.get(1);
            let about: Option<&str> = row.get(2);
            let ids = match listing {
                Listing::Category => [Some(id), None, None],
                Listing::Tag => [None, Some(id), None],
                Listing::Author => [None, None, Some(id)],
            };
            (
                Feed {
                    title: format!("{name} · {}", site.name),
                    description: about
                        .map(str::trim)
                        .filter(|d| !d.is_empty())
                        .unwrap_or(&site.description)
                        .to_owned(),
                    page: links.listing(listing, slug),
                    feed_base: links.api(&format!("{}/{slug}/", listing.segment())),
                    items: Vec::new(),
                    last_modified: Some(row.get(3)),
                },
                ids,
            )
        }
    };
    let rows = client
        .query_typed(
            ITEMS_SQL,
            &[
                (&ids[0], Type::INT8),
                (&ids[1], Type::INT8),
                (&ids[2], Type::INT8),
                (&ITEMS, Type::INT8),
            ],
        )
        .await?;
    feed.items = rows.iter().map(|row| item(row, links)).collect();
    for item in &feed.items {
        feed.last_modified = latest(feed.last_modified, Some(item.updated));
    }
    Ok(Some(feed))
}

/// Text that is there: trimmed, and not empty.
fn given(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

fn item(row: &Row, links: Links<'_>) -> Item {
    let excerpt: Option<&str> = row.get(4);
    let body_html: &str = row.get(7);
    let content_html = if row.get::<_, &str>(6) == "public" {
        body_html.to_owned()
    } else {
        teaser::html(body_html, excerpt)
    };
    let summary = given(excerpt)
        .or_else(|| given(row.get(5)))
        .map_or_else(|| plain_start(&content_html, SUMMARY_CHARS), str::to_owned);
    let mut categories: Vec<String> = row.get::<_, Option<String>>(11).into_iter().collect();
    categories.extend(row.get::<_, Vec<String>>(12));
    Item {
        document_id: row.get(0),
        title: row.get(1),
        url: links.article(row.get(3), row.get(2)),
        published: row.get(8),
        updated: row.get(9),
        author: row.get(10),
        categories,
        summary,
        content_html,
    }
}

/// The first `max` characters of the text in `html` (tags dropped, the entities our
/// renderer writes decoded, whitespace collapsed), with `…` when cut.
pub fn plain_start(html: &str, max: usize) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let words: Vec<&str> = text.split_whitespace().collect();
    let collapsed = words.join(" ");
    if collapsed.chars().count() <= max {
        collapsed
    } else {
        let cut: String = collapsed.chars().take(max).collect();
        format!("{}…", cut.trim_end())
    }
}

impl Feed {
    /// Where this feed is served in `format`.
    pub fn self_url(&self, format: Format) -> String {
        format!("{}{}", self.feed_base, format.file())
    }

    pub fn write(&self, format: Format) -> String {
        match format {
            Format::Rss => self.rss(),
            Format::Atom => self.atom(),
        }
    }

    fn rss(&self) -> String {
        let mut xml = Xml::new();
        xml.open(
            "rss",
            &[
                ("version", "2.0"),
                ("xmlns:atom", "http://www.w3.org/2005/Atom"),
                ("xmlns:content", "http://purl.org/rss/1.0/modules/content/"),
                ("xmlns:dc", "http://purl.org/dc/elements/1.1/"),
            ],
        )
        .open("channel", &[])
        .element("title", &[], &self.title)
        .element("link", &[], &self.page)
        .element("description", &[], &self.description)
        .element("language", &[], super::DEFAULT_LOCALE)
        .empty(
            "atom:link",
            &[
                ("href", &self.self_url(Format::Rss)),
                ("rel", "self"),
                ("type", "application/rss+xml"),
            ],
        );
        if let Some(modified) = self.last_modified {
            xml.element("lastBuildDate", &[], &modified.to_rfc2822());
        }
        for item in &self.items {
            xml.open("item", &[])
                .element("title", &[], &item.title)
                .element("link", &[], &item.url)
                .element("guid", &[("isPermaLink", "false")], &item.document_id)
                .element("pubDate", &[], &item.published.to_rfc2822());
            if let Some(author) = &item.author {
                xml.element("dc:creator", &[], author);
            }
            for category in &item.categories {
                xml.element("category", &[], category);
            }
            xml.element("description", &[], &item.summary)
                .element("content:encoded", &[], &item.content_html)
                .close("item");
        }
        xml.close("channel").close("rss");
        xml.finish()
    }

    fn atom(&self) -> String {
        let self_url = self.self_url(Format::Atom);
        let updated = rfc3339(self.last_modified.unwrap_or(DateTime::UNIX_EPOCH));
        let mut xml = Xml::new();
        xml.open(
            "feed",
            &[
                ("xmlns", "http://www.w3.org/2005/Atom"),
                ("xml:lang", super::DEFAULT_LOCALE),
            ],
        )
        .element("id", &[], &self_url)
        .element("title", &[], &self.title)
        .element("subtitle", &[], &self.description)
        .element("updated", &[], &updated)
        .empty(
            "link",
            &[
                ("rel", "self"),
                ("type", "application/atom+xml"),
                ("href", &self_url),
            ],
        )
        .empty(
            "link",
            &[
                ("rel", "alternate"),
                ("type", "text/html"),
                ("href", &self.page),
            ],
        )
        .open("author", &[])
        .element("name", &[], &self.title)
        .close("author");
        for item in &self.items {
            xml.open("entry", &[])
                .element("id", &[], &entry_id(&item.document_id))
                .element("title", &[], &item.title)
                .empty(
                    "link",
                    &[
                        ("rel", "alternate"),
                        ("type", "text/html"),
                        ("href", &item.url),
                    ],
                )
                .element("published", &[], &rfc3339(item.published))
                .element("updated", &[], &rfc3339(item.updated));
            if let Some(author) = &item.author {
                xml.open("author", &[])
                    .element("name", &[], author)
                    .close("author");
            }
            for category in &item.categories {
                xml.empty("category", &[("term", category)]);
            }
            xml.element("summary", &[], &item.summary)
                .element("content", &[("type", "html")], &item.content_html)
                .close("entry");
        }
        xml.close("feed");
        xml.finish()
    }
}

/// An Atom entry's permanent id (RFC 4287 4.2.6): the document id, which no edit
/// changes (a slug can), as a UUID URN when it is the 32 hex digits the database makes.
fn entry_id(document_id: &str) -> String {
    let hex = document_id.len() == 32 && document_id.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        let d = document_id;
        format!(
            "urn:uuid:{}-{}-{}-{}-{}",
            &d[..8],
            &d[8..12],
            &d[12..16],
            &d[16..20],
            &d[20..]
        )
    } else {
        format!("urn:bianxian:article:{document_id}")
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atom_entry_ids_are_the_document_id() {
        assert_eq!(
            entry_id("0123456789abcdef0123456789abcdef"),
            "urn:uuid:01234567-89ab-cdef-0123-456789abcdef"
        );
        assert_eq!(entry_id("abc"), "urn:bianxian:article:abc");
    }

    #[test]
    fn the_plain_start_drops_markup_and_cuts_by_characters() {
        assert_eq!(
            plain_start("<h1>开篇</h1>\n<p>Tips &amp; <em>tricks</em></p>", 100),
            "开篇 Tips & tricks"
        );
        assert_eq!(plain_start("<p>变现之路变现之路</p>", 4), "变现之路…");
        assert_eq!(plain_start("", 10), "");
    }

    fn feed() -> Feed {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Feed {
            title: "AI变现之路".into(),
            description: "描述".into(),
            page: "https://example.com/".into(),
            feed_base: "https://api.example.com/".into(),
            items: vec![Item {
                document_id: "abc".into(),
                title: "标题 <1> & 2".into(),
                url: "https://example.com/articles/a".into(),
                published: at("2026-03-01T08:00:00Z"),
                updated: at("2026-03-02T09:30:00Z"),
                author: Some("小明".into()),
                categories: vec!["工具".into(), "GPT".into()],
                summary: "摘要".into(),
                content_html: "<p>正文</p>".into(),
            }],
            last_modified: Some(at("2026-03-02T09:30:00Z")),
        }
    }

    #[test]
    fn rss_items_carry_link_guid_dates_and_escaped_html() {
        let rss = feed().write(Format::Rss);
        for part in [
            "<atom:link href=\"https://api.example.com/rss.xml\" rel=\"self\" type=\"application/rss+xml\"/>",
            "<title>标题 &lt;1&gt; &amp; 2</title>",
            "<guid isPermaLink=\"false\">abc</guid>",
            "<pubDate>Sun, 1 Mar 2026 08:00:00 +0000</pubDate>",
            "<lastBuildDate>Mon, 2 Mar 2026 09:30:00 +0000</lastBuildDate>",
            "<category>工具</category>",
            "<content:encoded>&lt;p&gt;正文&lt;/p&gt;</content:encoded>",
        ] {
            assert!(rss.contains(part), "{part} in {rss}");
        }
    }

    #[test]
    fn atom_entries_have_ids_updated_and_html_content() {
        let atom = feed().write(Format::Atom);
        for part in [
            "<id>https://api.example.com/atom.xml</id>",
            "<updated>2026-03-02T09:30:00Z</updated>",
            "<id>urn:bianxian:article:abc</id>",
            "<link rel=\"alternate\" type=\"text/html\" href=\"https://example.com/articles/a\"/>",
            "<published>2026-03-01T08:00:00Z</published>",
            "<category term=\"GPT\"/>",
            "<content type=\"html\">&lt;p&gt;正文&lt;/p&gt;</content>",
        ] {
            assert!(atom.contains(part), "{part} in {atom}");
        }
    }
}
