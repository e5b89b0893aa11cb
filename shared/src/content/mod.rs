//! Content: the articles, authors, categories and tags of the publication.
//!
//! [`schema`] is the one declaration of what the public API exposes; [`query`] turns a
//! Strapi v5 REST query string into a validated [`Query`] against it, with no database
//! or HTTP in sight, so the rules about what a reader may ask for live and are tested
//! in one place. [`documents`] runs a query and assembles Strapi's entries, and
//! [`gate`] with [`teaser`] decides what of a gated article a reader receives;
//! [`cache`] says which cached responses a write makes stale. On the write side,
//! [`render`] turns a Markdown body into safe HTML and [`slug`] makes and checks slugs;
//! [`schedule`] publishes drafts whose scheduled time has come.

pub mod cache;
pub mod documents;
pub mod gate;
pub mod query;
pub mod render;
pub mod schedule;
pub mod schema;
pub mod slug;
pub mod sql;
pub mod teaser;

pub use query::Query;
pub use schedule::publish_due;
