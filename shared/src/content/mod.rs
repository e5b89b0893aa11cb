//! Content: the articles, authors, categories and tags of the publication.
//!
//! [`schema`] is the one declaration of what the public API exposes; [`query`] turns a
//! Strapi v5 REST query string into a validated [`Query`] against it, with no database
//! or HTTP in sight, so the rules about what a reader may ask for live and are tested
//! in one place.

pub mod query;
pub mod schema;
pub mod sql;

pub use query::Query;
