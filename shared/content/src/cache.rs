//! Which cached read responses a content write makes stale, and how long they live.
//!
//! Read responses are cached per content type in a versioned namespace
//! (`platform::cache::Cache`), so a write invalidates by naming namespaces, never keys.
//! A write to one type shows in the responses of every type that can populate or
//! filter by it, through relations at any depth: an article's title appears under
//! `/api/authors?populate=articles`, and an author's name under
//! `/api/categories?populate[articles][populate]=author`. [`namespaces_for_write`]
//! follows the schema's relations rather than a hand-kept list, so a new relation
//! cannot silently leave a stale namespace behind.

use std::time::Duration;

use platform::{
    cache::Cache,
    config::{Section, Vars},
};

use crate::schema::{CONTENT_TYPES, ContentType, FILES};

/// The read side's section of the configuration.
#[derive(Debug, Clone)]
pub struct ReadConfig {
    /// `CONTENT_CACHE_TTL_SECS`: how long the public content API keeps a response in
    /// Redis (default 60); `0` turns the response cache off, which is how
    /// `scripts/bench content` measures the database path.
    pub cache_ttl: Duration,
    /// `SEARCH_MAX_CONCURRENT`: how many uncached `_q` searches may run at once
    /// across every sandbox (default 4); more answer 429 with `Retry-After: 1`, so
    /// searches cannot take every database connection and CPU from other reads.
    pub search_concurrency: u32,
}

impl Section for ReadConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        let search_concurrency = vars.parsed("SEARCH_MAX_CONCURRENT", 4_u32);
        if search_concurrency == 0 {
            vars.problem("SEARCH_MAX_CONCURRENT", "must be at least 1");
        }
        Self {
            cache_ttl: Duration::from_secs(vars.parsed("CONTENT_CACHE_TTL_SECS", 60_u64)),
            search_concurrency,
        }
    }
}

/// The cache namespace of responses read from `/api/{content_type}`.
pub fn namespace(content_type: &ContentType) -> String {
    format!("content:{}", content_type.name)
}

/// The namespaces to invalidate after writing a document of `content_type`: its own
/// and those of every type connected to it by relations, followed both ways (a media
/// field has no way back: a file shows in the articles and authors that name it).
pub fn namespaces_for_write(content_type: &'static ContentType) -> Vec<String> {
    let every: Vec<&'static ContentType> = CONTENT_TYPES.iter().copied().chain([&FILES]).collect();
    let mut reached: Vec<&'static ContentType> = vec![content_type];
    let mut next = 0;
    while let Some(current) = reached.get(next).copied() {
        let forwards = current.relations.iter().map(|r| r.target);
        let backwards = every
            .iter()
            .copied()
            .filter(|other| other.relations.iter().any(|r| r.target == current));
        for linked in forwards.chain(backwards).collect::<Vec<_>>() {
            if !reached.contains(&linked) {
                reached.push(linked);
            }
        }
        next += 1;
    }
    reached.into_iter().map(namespace).collect()
}

/// Ends a committed write of `content_type`: makes the cached responses it can show
/// in stale. Best effort: the write has happened and must not be reported as failed,
/// so a Redis outage is logged and the entries expire on their own.
pub async fn invalidate_after_write(cache: &Cache, content_type: &'static ContentType) {
    let namespaces = namespaces_for_write(content_type);
    let names: Vec<&str> = namespaces.iter().map(String::as_str).collect();
    if let Err(err) = cache.invalidate(&names).await {
        tracing::warn!(
            error = %err,
            content_type = content_type.name,
            "content cache invalidation failed; entries expire on their own"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ARTICLES, AUTHORS, TAGS};

    #[test]
    fn a_write_invalidates_every_type_that_can_show_it() {
        let mut articles = namespaces_for_write(&ARTICLES);
        articles.sort();
        assert_eq!(
            articles,
            [
                "content:articles",
                "content:authors",
                "content:categories",
                "content:files",
                "content:tags"
            ]
        );
        // A file (its formats made) shows wherever a media field names it.
        let files = namespaces_for_write(&FILES);
        assert!(files.contains(&namespace(&ARTICLES)), "{files:?}");
        assert!(files.contains(&namespace(&AUTHORS)), "{files:?}");
        // Tags reach authors through articles (`populate[articles][populate]=author`).
        assert!(namespaces_for_write(&TAGS).contains(&namespace(&AUTHORS)));
        for content_type in CONTENT_TYPES {
            assert_eq!(
                namespaces_for_write(content_type)[0],
                namespace(content_type)
            );
        }
    }
}
