//! The sitemap (sitemaps.org protocol 0.9): an index at `sitemap.xml` naming one file
//! per kind and page (`sitemaps/articles-1.xml`, …), each a `urlset` of reader pages
//! on `SITE_URL` with their `lastmod`.
//!
//! Kinds: `pages` (the home page, so the index is never empty, which the protocol's
//! schema forbids), `articles` (every published article), and `categories`, `tags`
//! and `authors` that have at least one published article (an empty listing page is
//! not worth a crawl). A page's `lastmod` is the last time anything it shows was
//! published or updated. Files are split at [`URLS_PER_FILE`], below the protocol's
//! 50,000: a Lambda answer is at most 6 MB, and 50,000 URLs of long slugs are more.

use chrono::{DateTime, SecondsFormat, Utc};
use platform::db::GenericClient;
use platform::error::Result;
use tokio_postgres::{Row, types::Type};

use super::{Links, Listing, xml::Xml};

/// URLs per sitemap file: 10,000 of up to ~250 bytes each stay well under Lambda's
/// 6 MB response limit.
pub const URLS_PER_FILE: i64 = 10_000;

const NAMESPACE: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pages,
    Articles,
    Listing(Listing),
}

const KINDS: [Kind; 5] = [
    Kind::Pages,
    Kind::Articles,
    Kind::Listing(Listing::Category),
    Kind::Listing(Listing::Tag),
    Kind::Listing(Listing::Author),
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Pages => "pages",
            Kind::Articles => "articles",
            Kind::Listing(listing) => listing.segment(),
        }
    }

    /// Its pages as rows of (id, slug, locale, lastmod), in id order. Constant SQL:
    /// the kind picks one of five fixed statements.
    fn rows_sql(self) -> &'static str {
        match self {
            Kind::Pages => {
                "SELECT 0::int8 AS id, ''::text AS slug, NULL::text AS locale,
                        max(GREATEST(a.published_at, a.updated_at)) AS lastmod
                 FROM articles a
                 WHERE a.published_at IS NOT NULL AND a.published_at <= now()
                   AND a.deleted_at IS NULL"
            }
            Kind::Articles => {
                "SELECT a.id, a.slug, a.locale, GREATEST(a.published_at, a.updated_at) AS lastmod
                 FROM articles a
                 WHERE a.published_at IS NOT NULL AND a.published_at <= now()
                   AND a.deleted_at IS NULL"
            }
            Kind::Listing(Listing::Category) => {
                "SELECT c.id, c.slug, NULL::text AS locale,
                        GREATEST(c.updated_at, max(GREATEST(a.published_at, a.updated_at))) AS lastmod
                 FROM categories c JOIN articles a ON a.category_id = c.id
                 WHERE a.published_at IS NOT NULL AND a.published_at <= now()
                   AND a.deleted_at IS NULL
                 GROUP BY c.id"
            }
            Kind::Listing(Listing::Tag) => {
                "SELECT t.id, t.slug, NULL::text AS locale,
                        GREATEST(t.updated_at, max(GREATEST(a.published_at, a.updated_at))) AS lastmod
                 FROM tags t
                 JOIN article_tags x ON x.tag_id = t.id
                 JOIN articles a ON a.id = x.article_id
                 WHERE a.published_at IS NOT NULL AND a.published_at <= now()
                   AND a.deleted_at IS NULL
                 GROUP BY t.id"
            }
            Kind::Listing(Listing::Author) => {
                "SELECT au.id, au.slug, NULL::text AS locale,
                        GREATEST(au.updated_at, max(GREATEST(a.published_at, a.updated_at))) AS lastmod
                 FROM authors au JOIN articles a ON a.author_id = au.id
                 WHERE a.published_at IS NOT NULL AND a.published_at <= now()
                   AND a.deleted_at IS NULL
                 GROUP BY au.id"
            }
        }
    }

    fn loc(self, links: Links<'_>, row: &Row) -> String {
        let slug: &str = row.get(1);
        match self {
            Kind::Pages => links.home(),
            Kind::Articles => links.article(row.get(2), slug),
            Kind::Listing(listing) => links.listing(listing, slug),
        }
    }
}

/// A sitemap file's name: `{kind}-{page}.xml`, pages from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct File {
    pub kind: Kind,
    pub page: i64,
}

impl File {
    /// The file a request names, or `None` for any other name.
    pub fn parse(name: &str) -> Option<File> {
        let (kind, page) = name.strip_suffix(".xml")?.rsplit_once('-')?;
        let kind = KINDS.into_iter().find(|k| k.name() == kind)?;
        // Digits only: `+1` and `01` would name the same file twice.
        if page.is_empty() || page.starts_with('0') || !page.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(File {
            kind,
            page: page.parse().ok()?,
        })
    }

    fn name(self) -> String {
        format!("{}-{}.xml", self.kind.name(), self.page)
    }
}

/// The sitemap index: every non-empty file of every kind, each with the latest
/// `lastmod` of its URLs.
pub async fn index(client: &impl GenericClient, links: Links<'_>, per_file: i64) -> Result<String> {
    let mut xml = Xml::new();
    xml.open("sitemapindex", &[("xmlns", NAMESPACE)]);
    for kind in KINDS {
        let sql = format!(
            "SELECT (row_number() OVER (ORDER BY id) - 1) / $1 + 1 AS page, lastmod
             FROM ({}) r",
            kind.rows_sql()
        );
        let sql = format!("SELECT page, max(lastmod) FROM ({sql}) p GROUP BY page ORDER BY page");
        let rows = client.query_typed(&sql, &[(&per_file, Type::INT8)]).await?;
        for row in rows {
            let file = File {
                kind,
                page: row.get(0),
            };
            let modified: Option<DateTime<Utc>> = row.get(1);
            xml.open("sitemap", &[]).element(
                "loc",
                &[],
                &links.api(&format!("sitemaps/{}", file.name())),
            );
            if let Some(modified) = modified {
                xml.element("lastmod", &[], &w3c(modified));
            }
            xml.close("sitemap");
        }
    }
    xml.close("sitemapindex");
    Ok(xml.finish())
}

/// One sitemap file, or `None` when it would be empty (past the last page).
pub async fn urlset(
    client: &impl GenericClient,
    links: Links<'_>,
    file: File,
    per_file: i64,
) -> Result<Option<String>> {
    let sql = format!(
        "SELECT * FROM ({}) r ORDER BY id LIMIT $1 OFFSET $2",
        file.kind.rows_sql()
    );
    let offset = (file.page - 1).saturating_mul(per_file);
    let rows = client
        .query_typed(&sql, &[(&per_file, Type::INT8), (&offset, Type::INT8)])
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut xml = Xml::new();
    xml.open("urlset", &[("xmlns", NAMESPACE)]);
    for row in &rows {
        let modified: Option<DateTime<Utc>> = row.get(3);
        xml.open("url", &[])
            .element("loc", &[], &file.kind.loc(links, row));
        if let Some(modified) = modified {
            xml.element("lastmod", &[], &w3c(modified));
        }
        xml.close("url");
    }
    xml.close("urlset");
    Ok(Some(xml.finish()))
}

/// A W3C datetime, as `lastmod` takes it.
fn w3c(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_name_one_kind_and_page() {
        assert_eq!(
            File::parse("articles-12.xml"),
            Some(File {
                kind: Kind::Articles,
                page: 12
            })
        );
        assert_eq!(
            File::parse("tags-1.xml").map(|f| f.kind),
            Some(Kind::Listing(Listing::Tag))
        );
        for bad in [
            "articles-0.xml",
            "articles-01.xml",
            "articles-+1.xml",
            "articles-1",
            "articles.xml",
            "members-1.xml",
            "articles-99999999999999999999.xml",
            "../articles-1.xml",
        ] {
            assert_eq!(File::parse(bad), None, "{bad}");
        }
        let file = File::parse("authors-3.xml").unwrap();
        assert_eq!(file.name(), "authors-3.xml");
    }
}
