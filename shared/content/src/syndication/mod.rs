//! The publication as feed readers, search engines and chat apps see it: RSS 2.0 and
//! Atom feeds of the latest published articles ([`feed`]), the sitemap ([`sitemap`]),
//! each article's social preview ([`share`]), and the reader-facing URLs they point
//! at ([`Links`]).
//!
//! Everything here reads published articles only, and a gated (`members`, `paid`)
//! article never leaves with more than its teaser ([`crate::teaser`]). The documents
//! are plain strings built from rows; the feeds function caches and answers them.

pub mod feed;
pub mod share;
pub mod sitemap;
mod xml;

use chrono::{DateTime, Utc};
use platform::config::{Section, Vars};
use url::Url;

/// The locale whose articles live at the root of the site (`articles/{slug}`); any
/// other locale's under its code (`en/articles/{slug}`), the routing Next.js and
/// Nuxt's i18n modules use by default.
pub const DEFAULT_LOCALE: &str = "zh-CN";

/// How the publication names itself in feeds.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// `SITE_NAME` (default `AI变现之路`): the feeds' title.
    pub name: String,
    /// `SITE_DESCRIPTION`: the feeds' description.
    pub description: String,
}

impl Section for SiteConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        let text = |vars: &mut Vars<'_>, name: &str, default: &str| {
            vars.optional(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            name: text(vars, "SITE_NAME", "AI变现之路"),
            description: text(
                vars,
                "SITE_DESCRIPTION",
                "用 AI 把能力变成收入：工具、案例与方法。",
            ),
        }
    }
}

/// Where things are: reader pages on the site (`SITE_URL`), feeds and sitemaps on
/// this API (`API_URL`). Both bases end with `/`.
#[derive(Debug, Clone, Copy)]
pub struct Links<'a> {
    pub site: &'a Url,
    pub api: &'a Url,
}

/// A page of the site that lists articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Category,
    Tag,
    Author,
}

impl Listing {
    /// The path segment of its pages and feeds: `categories/{slug}`.
    pub fn segment(self) -> &'static str {
        match self {
            Listing::Category => "categories",
            Listing::Tag => "tags",
            Listing::Author => "authors",
        }
    }
}

impl Links<'_> {
    /// The article's canonical page.
    pub fn article(&self, locale: &str, slug: &str) -> String {
        let path = if locale == DEFAULT_LOCALE {
            format!("articles/{slug}")
        } else {
            format!("{locale}/articles/{slug}")
        };
        join(self.site, &path)
    }

    /// A category's, tag's or author's page.
    pub fn listing(&self, listing: Listing, slug: &str) -> String {
        join(self.site, &format!("{}/{slug}", listing.segment()))
    }

    /// The site's home page.
    pub fn home(&self) -> String {
        self.site.to_string()
    }

    /// A document this API serves (`rss.xml`, `sitemaps/articles-1.xml`).
    pub fn api(&self, path: &str) -> String {
        join(self.api, path)
    }
}

/// `base` + `path`; `path` is built from slugs and codes we validated, so the join
/// cannot fail, and if it ever did the base alone is the safe answer.
fn join(base: &Url, path: &str) -> String {
    base.join(path).unwrap_or_else(|_| base.clone()).into()
}

/// The later of two optional times.
fn latest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.max(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_pages_sit_under_their_locale_except_the_default_one() {
        let site: Url = "https://example.com/blog/".parse().unwrap();
        let api: Url = "https://api.example.com/".parse().unwrap();
        let links = Links {
            site: &site,
            api: &api,
        };
        assert_eq!(
            links.article("zh-CN", "ai-8f3k2a"),
            "https://example.com/blog/articles/ai-8f3k2a"
        );
        assert_eq!(
            links.article("en", "prompts"),
            "https://example.com/blog/en/articles/prompts"
        );
        assert_eq!(
            links.listing(Listing::Tag, "gpt"),
            "https://example.com/blog/tags/gpt"
        );
        assert_eq!(
            links.api("sitemaps/articles-1.xml"),
            "https://api.example.com/sitemaps/articles-1.xml"
        );
    }
}
