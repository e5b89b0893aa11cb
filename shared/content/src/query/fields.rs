//! `fields`: which scalar fields to return.
//!
//! The answer is always a full list in schema order, `id` and `documentId` included,
//! so "no `fields`", `fields=*` and every list naming all fields are the same query
//! to the SQL layer and to the cache.

use super::{not_allowed, params::Node};
use crate::schema::{ALWAYS_SELECTED, ContentType, Field};
use platform::error::Result;

/// Every public field of the type: what a request without `fields` gets.
pub(super) fn all(content_type: &ContentType) -> Vec<&'static Field> {
    content_type.public_fields().collect()
}

/// `fields=title,slug`, `fields[0]=title&fields[1]=slug`, `fields=*`.
pub(super) fn parse(
    content_type: &ContentType,
    node: &Node,
    path: &str,
) -> Result<Vec<&'static Field>> {
    let names = node.names(path)?;
    if names.contains(&"*") {
        return Ok(all(content_type));
    }
    let mut chosen: Vec<&str> = ALWAYS_SELECTED.to_vec();
    for name in names {
        let field = content_type
            .public_field(name)
            .ok_or_else(|| not_allowed(path, name))?;
        chosen.push(field.name);
    }
    Ok(content_type
        .public_fields()
        .filter(|field| chosen.contains(&field.name))
        .collect())
}
