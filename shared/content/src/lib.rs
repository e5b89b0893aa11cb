//! Content: the articles, authors, categories and tags of the publication, on top of
//! platform and identity.
//!
//! [`schema`] is the one declaration of what the public API exposes; [`query`] turns a
//! Strapi v5 REST query string into a validated [`Query`] against it, with no database
//! or HTTP in sight, so the rules about what a reader may ask for live and are tested
//! in one place. [`sql`] builds the statements, [`documents`] runs them and assembles
//! Strapi's entries, [`gate`] with [`teaser`] decides what of a gated article a
//! reader receives, and [`highlight`] marks what a search found; [`cache`] says
//! which cached responses a write makes stale. On the write side, [`write`] is
//! every write to every content type with its one tail
//! (audit, [`outgoing_webhooks`], COMMIT, invalidation), [`render`] turns a Markdown
//! body into safe HTML and [`slug`] makes and checks slugs; [`reports`] counts
//! what an overview shows. [`syndication`] writes the feeds and the sitemap.
//!
//! It owns the tables `articles`, `authors`, `categories`, `tags`, `article_tags`,
//! `article_products`, `article_revisions`, `article_search`, `webhooks`,
//! `webhook_deliveries` and, with content-admin, `uploads` ([`media`]).
//! Inside, the dependencies run one way: `schema` ← `query` ← `sql` ← `gate` ←
//! `documents`.

pub mod cache;
pub mod documents;
pub mod gate;
pub mod highlight;
pub mod media;
pub mod outgoing_webhooks;
pub mod query;
pub mod render;
pub mod reports;
pub mod schema;
pub mod search;
pub mod slug;
pub mod sql;
pub mod syndication;
pub mod teaser;
pub mod write;

pub use cache::ReadConfig;
pub use query::Query;
