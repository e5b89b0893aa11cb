//! `sort`: order by public, sortable fields of the queried type.
//!
//! Strapi accepts `sort=title:asc,publishedAt:desc`, any `qs` list of such strings, and
//! the object form `sort[title]=asc`; all become one list in the order given, because
//! here, unlike in filters, order is the meaning.

use std::fmt::{self, Display};

use super::{MAX_SORT_KEYS, invalid, not_allowed, params::Node};
use crate::schema::{ContentType, Field};
use platform::error::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub field: &'static Field,
    pub direction: Direction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        }
    }
}

/// One requested key before it is checked against the schema.
struct Key<'a> {
    path: String,
    name: &'a str,
    direction: Option<&'a str>,
}

pub(super) fn parse(content_type: &ContentType, node: &Node, path: &str) -> Result<Vec<Sort>> {
    let mut keys = Vec::new();
    collect(node, path, &mut keys)?;
    if keys.len() > MAX_SORT_KEYS {
        return Err(invalid(
            path,
            format_args!("takes at most {MAX_SORT_KEYS} keys"),
        ));
    }
    let mut sorts: Vec<Sort> = Vec::with_capacity(keys.len());
    for key in keys {
        let sort = resolve(content_type, &key)?;
        if sorts.iter().any(|s| s.field == sort.field) {
            return Err(invalid(
                &key.path,
                format_args!("sorts by `{}` twice", key.name),
            ));
        }
        sorts.push(sort);
    }
    Ok(sorts)
}

/// Gathers the keys of every accepted spelling, in the order given.
fn collect<'a>(node: &'a Node, path: &str, keys: &mut Vec<Key<'a>>) -> Result<()> {
    match node {
        Node::Values(_) => {
            for key in node.names(path)? {
                let (name, direction) = match key.split_once(':') {
                    Some((name, direction)) => (name, Some(direction)),
                    None => (key, None),
                };
                keys.push(Key {
                    path: path.to_string(),
                    name,
                    direction,
                });
            }
        }
        Node::Object(_) if node.is_list() => {
            for (item_path, item) in node.items(path)? {
                collect(item, &item_path, keys)?;
            }
        }
        Node::Object(entries) => {
            for (name, direction) in entries {
                let path = format!("{path}[{name}]");
                let direction = Some(direction.value(&path)?);
                keys.push(Key {
                    path,
                    name,
                    direction,
                });
            }
        }
    }
    Ok(())
}

fn resolve(content_type: &ContentType, key: &Key<'_>) -> Result<Sort> {
    let (path, name) = (key.path.as_str(), key.name);
    let field = content_type
        .public_field(name)
        .ok_or_else(|| not_allowed(path, name))?;
    if !field.sortable {
        return Err(invalid(path, format_args!("`{name}` cannot be sorted on")));
    }
    let direction = match key.direction.map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => Direction::Asc,
        Some("desc") => Direction::Desc,
        Some(_) => {
            return Err(invalid(
                path,
                format_args!("`{name}` must be followed by :asc or :desc"),
            ));
        }
    };
    Ok(Sort { field, direction })
}

impl Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.field.name, self.direction.as_str())
    }
}
