//! What feed readers and search engines fetch: RSS 2.0 and Atom feeds of the latest
//! published articles (the whole publication, or one category, tag or author), and
//! the sitemap with its files. `content::syndication` writes the documents; this
//! function caches and answers them.
//!
//! Caching: every document is cached in Redis in the articles' namespace, which every
//! content write invalidates (articles, and authors, categories and tags through
//! their relations), so a publish, unpublish or edit shows in the next fetch. Answers
//! carry a strong `ETag` and `Last-Modified`, and `Cache-Control: public, no-cache`: a
//! CDN or feed reader may keep a copy but asks again every time, which the validators
//! make a bodiless 304. `Last-Modified` is when the document was generated, not the
//! newest date in it: unpublishing the newest article changes a feed while its newest
//! date goes back, and a reader sending only `If-Modified-Since` must not get a 304.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use content::{
    ReadConfig,
    cache::namespace,
    schema::ARTICLES,
    slug,
    syndication::{
        Links, Listing, SiteConfig,
        feed::{self, Format, Scope},
        sitemap::{self, File},
    },
};
use identity::route::{Call, Doc, Guard, Route, Router, Schema, SchemaGenerator};
use lambda_http::{Body, Request, Response};
use platform::{
    Error, Platform, Result,
    http::{Representation, conditional, path_param, route_key},
};
use schemars::json_schema;

const CACHE_CONTROL: &str = "public, no-cache";
const SITEMAP_TYPE: &str = "application/xml; charset=utf-8";

/// The function's state: what its handlers share.
pub struct Feeds {
    platform: Arc<Platform>,
    settings: Settings,
}

/// The settings this function reads besides the core.
pub type Settings = (ReadConfig, SiteConfig);

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Feeds>] = &[
    identity::route!(GET "/rss.xml", Guard::Public, feed,
        Doc::new("RSS 2.0 feed of the latest published articles (gated ones with their teaser)", text)
            .text(200, "application/rss+xml", text)),
    identity::route!(GET "/atom.xml", Guard::Public, feed,
        Doc::new("Atom feed of the latest published articles (gated ones with their teaser)", text)
            .text(200, "application/atom+xml", text)),
    identity::route!(GET "/categories/{slug}/rss.xml", Guard::Public, feed,
        Doc::new("RSS 2.0 feed of a category's latest published articles", text)
            .text(200, "application/rss+xml", text)),
    identity::route!(GET "/categories/{slug}/atom.xml", Guard::Public, feed,
        Doc::new("Atom feed of a category's latest published articles", text)
            .text(200, "application/atom+xml", text)),
    identity::route!(GET "/tags/{slug}/rss.xml", Guard::Public, feed,
        Doc::new("RSS 2.0 feed of a tag's latest published articles", text)
            .text(200, "application/rss+xml", text)),
    identity::route!(GET "/tags/{slug}/atom.xml", Guard::Public, feed,
        Doc::new("Atom feed of a tag's latest published articles", text)
            .text(200, "application/atom+xml", text)),
    identity::route!(GET "/authors/{slug}/rss.xml", Guard::Public, feed,
        Doc::new("RSS 2.0 feed of an author's latest published articles", text)
            .text(200, "application/rss+xml", text)),
    identity::route!(GET "/authors/{slug}/atom.xml", Guard::Public, feed,
        Doc::new("Atom feed of an author's latest published articles", text)
            .text(200, "application/atom+xml", text)),
    identity::route!(GET "/sitemap.xml", Guard::Public, sitemap_index,
        Doc::new("Sitemap index: one file per kind (pages, articles, categories, tags, authors) and page", text)
            .text(200, "application/xml", text)),
    identity::route!(GET "/sitemaps/{file}", Guard::Public, sitemap_file,
        Doc::new("One sitemap file named by the index, e.g. `articles-1.xml`", text)
            .text(200, "application/xml", text)),
];

fn text(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string" })
}

impl Feeds {
    fn links(&self) -> Links<'_> {
        Links {
            site: &self.platform.config.site_url,
            api: &self.platform.config.api_url,
        }
    }

    /// The document cached under `key`, or loaded (`Ok(None)` is a 404), answered
    /// with its validators. The cached text is when it was generated (RFC 3339) on
    /// its first line, then the document, so every sandbox answers the same date.
    async fn answer<F, Fut>(
        &self,
        req: &Request,
        key: String,
        media_type: &'static str,
        load: F,
    ) -> Result<Response<Body>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<String>>>,
    {
        let framed = || async {
            let xml = load()
                .await?
                .ok_or_else(|| Error::NotFound("Not Found".into()))?;
            Ok(format!("{}\n{xml}", Utc::now().to_rfc3339()))
        };
        let ttl = self.settings.0.cache_ttl;
        let entry = if ttl.is_zero() {
            Arc::new(platform::cache::Entry::new(framed().await?))
        } else {
            let (entry, _) = self
                .platform
                .cache
                .get_or_load(&namespace(&ARTICLES), &key, ttl, framed)
                .await?;
            entry
        };
        let (modified, xml) = entry.body().split_once('\n').unwrap_or(("", entry.body()));
        let last_modified = DateTime::parse_from_rfc3339(modified)
            .ok()
            .map(|m| m.with_timezone(&Utc));
        let body = platform::cache::Entry::new(xml.to_owned());
        Ok(conditional(
            req,
            &body,
            &Representation {
                media_type,
                cache_control: CACHE_CONTROL,
                vary: None,
                last_modified,
            },
        ))
    }
}

/// Which feed a route names: its format by the file, its scope by the path.
fn feed_of(req: &Request) -> Result<(Format, Scope<'_>)> {
    let key = route_key(req);
    let format = if key.ends_with("/atom.xml") {
        Format::Atom
    } else {
        Format::Rss
    };
    let listing = match key.split('/').nth(1) {
        Some("categories") => Listing::Category,
        Some("tags") => Listing::Tag,
        Some("authors") => Listing::Author,
        _ => return Ok((format, Scope::Everything)),
    };
    let slug = path_param(req, "slug")?;
    slug::validate(slug, "slug")?;
    Ok((format, Scope::Of(listing, slug)))
}

async fn feed(app: Arc<Feeds>, call: Call) -> Result<Response<Body>> {
    let (format, scope) = feed_of(&call.req)?;
    let key = format!("feed {format:?} {scope:?}");
    app.answer(&call.req, key, format.media_type(), || async {
        let client = app.platform.db.client().await?;
        let feed = feed::load(&**client, scope, &app.settings.1, app.links()).await?;
        Ok(feed.map(|feed| feed.write(format)))
    })
    .await
}

async fn sitemap_index(app: Arc<Feeds>, call: Call) -> Result<Response<Body>> {
    app.answer(&call.req, "sitemap index".into(), SITEMAP_TYPE, || async {
        let client = app.platform.db.client().await?;
        let index = sitemap::index(&**client, app.links(), sitemap::URLS_PER_FILE).await?;
        Ok(Some(index))
    })
    .await
}

async fn sitemap_file(app: Arc<Feeds>, call: Call) -> Result<Response<Body>> {
    let file = File::parse(path_param(&call.req, "file")?)
        .ok_or_else(|| Error::NotFound("no such sitemap file".into()))?;
    app.answer(
        &call.req,
        format!("sitemap {file:?}"),
        SITEMAP_TYPE,
        || async {
            let client = app.platform.db.client().await?;
            let urlset =
                sitemap::urlset(&**client, app.links(), file, sitemap::URLS_PER_FILE).await?;
            Ok(urlset)
        },
    )
    .await
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    platform: Arc<Platform>,
    settings: Settings,
) -> Result<impl platform::runtime::Handler> {
    Router::new(&platform.clone(), Feeds { platform, settings }, ROUTES)
}
