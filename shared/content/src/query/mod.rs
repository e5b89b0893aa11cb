//! Strapi v5 REST query parameters, parsed and validated into a [`Query`].
//!
//! The public read API keeps Strapi's query syntax so existing frontends and
//! `@strapi/client` work unchanged, but the parsing happens before any database work:
//! a request either becomes a typed query whose every name comes from
//! [`schema`](super::schema), or a 400 that names the offending parameter. That split
//! is what lets the SQL layer bind every value and interpolate nothing, and lets the
//! cache key a response by what was asked ([`Query::normalized_key`]), not by how
//! it was spelled.
//!
//! Every dimension of a query is bounded (the `MAX_*` constants), because Strapi's
//! slowest requests are the unbounded `populate` and filter trees its parser accepts.

mod fields;
mod filter;
mod pagination;
mod params;
mod populate;
mod sort;

use std::fmt::{self, Display, Write as _};

pub use filter::{Condition, Filter, Operator, Value};
pub use pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, MAX_START, PageMode, Pagination};
pub use populate::Populate;
pub use sort::{Direction, Sort};

use super::schema::{ContentType, Field};
use platform::error::{Error, Result};

/// Longest raw query string accepted (API Gateway allows about 10 KiB of request line).
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Most `name=value` pairs in one query.
pub const MAX_PARAMS: usize = 400;
/// Most names in one parameter, e.g. `filters[$or][0][author][name][$eq]` has six.
pub const MAX_KEY_DEPTH: usize = 16;
/// Most relations a filter may walk, and how deep `populate` may nest.
pub const MAX_RELATION_DEPTH: usize = 2;
/// Most conditions in a whole query, populate filters included.
pub const MAX_CONDITIONS: usize = 100;
/// Most values in one `$in` / `$notIn` list.
pub const MAX_LIST_ITEMS: usize = 100;
/// Longest filter value, in characters.
pub const MAX_VALUE_CHARS: usize = 500;
/// Longest `_q` search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;
/// Most distinct `_q` terms: each is a pattern match over the searchable text, so
/// their number bounds what one search can cost.
pub const MAX_SEARCH_TERMS: usize = 8;
/// Most sort keys.
pub const MAX_SORT_KEYS: usize = 5;

/// A validated read query against one content type.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub content_type: &'static ContentType,
    pub filters: Option<Filter>,
    /// The fields to return, in schema order; `id` and `documentId` are always there,
    /// and all public fields when the request did not say.
    pub fields: Vec<&'static Field>,
    /// Relations to load, sorted by name.
    pub populate: Vec<Populate>,
    /// Sort keys in priority order; empty means the handler's default order.
    pub sort: Vec<Sort>,
    pub pagination: Pagination,
    pub status: Status,
    pub locale: Option<Locale>,
    /// Trimmed `_q` free-text search, if any.
    pub search: Option<String>,
}

/// What a query reads: a page of a collection or one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Collection,
    Document,
}

/// Who the query is parsed for, which decides what `status` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// Strapi's `status=published|draft`, published by default.
    Public,
    /// `status=draft|scheduled|published` narrows the staff's list of every state.
    Staff,
}

/// Which version of a document to read. Drafts are for staff: the handler decides who
/// may ask for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    #[default]
    Published,
    /// Strapi's draft version: every unpublished article, scheduled ones included.
    Draft,
    /// The staff's list ([`Query::parse_staff`]): every live article whatever its
    /// state, or only those in one state; each entry says its state.
    Staff(Option<State>),
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Published => "published",
            Status::Draft => "draft",
            Status::Staff(None) => "staff:any",
            Status::Staff(Some(state)) => match state {
                State::Draft => "staff:draft",
                State::Scheduled => "staff:scheduled",
                State::Published => "staff:published",
            },
        }
    }
}

/// Where an article stands editorially, as the staff's list reports it. An article is
/// one row whose edits are live at once, so there is no "published with unpublished
/// changes": a published article is what its readers see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Unpublished and not scheduled.
    Draft,
    /// Unpublished, with a time the scheduler will publish it at.
    Scheduled,
    Published,
}

impl State {
    pub const ALL: [State; 3] = [State::Draft, State::Scheduled, State::Published];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Scheduled => "scheduled",
            State::Published => "published",
        }
    }
}

/// A BCP 47-shaped locale (`en`, `zh-CN`, `zh-Hans-CN`) in canonical case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale(String);

impl Locale {
    /// Accepts `language[-Script][-REGION]`, case-insensitively, and writes it in the
    /// usual case (`zh-cn` → `zh-CN`), so one locale has one cache key.
    pub fn parse(raw: &str) -> Option<Locale> {
        let mut parts = raw.split('-');
        let language = parts
            .next()
            .filter(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()))?;
        let mut canonical = language.to_ascii_lowercase();
        let (mut script, mut region) = (false, false);
        for part in parts {
            let alphabetic = part.bytes().all(|b| b.is_ascii_alphabetic());
            if !script && !region && part.len() == 4 && alphabetic {
                script = true;
                canonical.push('-');
                canonical.push_str(&part[..1].to_ascii_uppercase());
                canonical.push_str(&part[1..].to_ascii_lowercase());
            } else if !region
                && ((part.len() == 2 && alphabetic)
                    || (part.len() == 3 && part.bytes().all(|b| b.is_ascii_digit())))
            {
                region = true;
                canonical.push('-');
                canonical.push_str(&part.to_ascii_uppercase());
            } else {
                return None;
            }
        }
        Some(Locale(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The parameters that only lists take.
const LIST_ONLY: [&str; 4] = ["filters", "sort", "pagination", "_q"];

impl Query {
    /// Parses the raw query string of a request (everything after `?`, still
    /// percent-encoded) for a collection of `content_type`.
    pub fn parse(content_type: &'static ContentType, raw: &str) -> Result<Query> {
        Query::parse_for(content_type, raw, Target::Collection, Audience::Public)
    }

    /// Parses the query of the staff's list of a collection: the same parameters as
    /// [`Query::parse`], but every live document whatever its state
    /// ([`Status::Staff`]), and `status` names one [`State`] to narrow it to.
    pub fn parse_staff(content_type: &'static ContentType, raw: &str) -> Result<Query> {
        Query::parse_for(content_type, raw, Target::Collection, Audience::Staff)
    }

    /// Parses the query of a single-document read (`/api/{name}/{documentId}`): only
    /// `fields`, `populate`, `status` and `locale` apply there, so `filters`, `sort`,
    /// `pagination` and `_q` are a 400 rather than silently ignored.
    pub fn parse_document(content_type: &'static ContentType, raw: &str) -> Result<Query> {
        Query::parse_for(content_type, raw, Target::Document, Audience::Public)
    }

    fn parse_for(
        content_type: &'static ContentType,
        raw: &str,
        target: Target,
        audience: Audience,
    ) -> Result<Query> {
        let mut query = Query {
            content_type,
            filters: None,
            fields: fields::all(content_type),
            populate: Vec::new(),
            sort: Vec::new(),
            pagination: Pagination::default(),
            status: match audience {
                Audience::Public => Status::default(),
                Audience::Staff => Status::Staff(None),
            },
            locale: None,
            search: None,
        };
        let mut budget = Budget::default();
        for (name, node) in params::decode(raw)? {
            let path = name.as_str();
            if target == Target::Document && LIST_ONLY.contains(&path) {
                return Err(invalid(path, "does not apply when reading one document"));
            }
            match path {
                "filters" => {
                    query.filters = Some(filter::parse(content_type, &node, path, &mut budget)?)
                }
                "fields" => query.fields = fields::parse(content_type, &node, path)?,
                "populate" => {
                    query.populate = populate::parse(content_type, &node, path, 1, &mut budget)?
                }
                "sort" => query.sort = sort::parse(content_type, &node, path)?,
                "pagination" => query.pagination = pagination::parse(&node, path)?,
                "status" => query.status = parse_status(node.value(path)?, path, audience)?,
                "locale" => {
                    let raw = node.value(path)?;
                    let locale = Locale::parse(raw)
                        .ok_or_else(|| invalid(path, "must be a locale such as zh-CN or en"))?;
                    query.locale = Some(locale);
                }
                "_q" => query.search = parse_search(node.value(path)?, path)?,
                _ => return Err(invalid(path, "is not a supported query parameter")),
            }
        }
        Ok(query)
    }

    /// The query parameters a list read accepts, for the OpenAPI document: exactly the
    /// names [`Query::parse`] matches on (a unit test holds the two together). Nested
    /// parameters are objects, spelled as `qs` spells them (`filters[title][$eq]=…`);
    /// which fields and operators are allowed depends on the content type and is the
    /// parser's to check.
    pub fn list_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "properties": {
                "filters": { "type": "object", "description": "Strapi v5 filters: fields, relations, $eq $ne $lt … $or $and $not" },
                "fields": { "type": "array", "items": { "type": "string" } },
                "populate": { "type": "object", "description": "relations to populate, with their own fields, filters, sort and populate" },
                "sort": { "type": "array", "items": { "type": "string" } },
                "pagination": {
                    "type": "object",
                    "properties": {
                        "page": { "type": "integer" },
                        "pageSize": { "type": "integer" },
                        "start": { "type": "integer" },
                        "limit": { "type": "integer" },
                        "withCount": { "type": "boolean" },
                    },
                },
                "status": { "type": "string", "enum": ["published", "draft"] },
                "locale": { "type": "string" },
                "_q": {
                    "type": "string",
                    "description": "full-text search, Chinese and English: every term must occur (Chinese by \
                        character pairs, other words by their start). On articles, without `sort`, \
                        title matches come first, then the newest; each found article carries \
                        `_highlight: {title, snippet}`, HTML-escaped with the terms in `<mark>`",
                },
            },
        })
    }

    /// The query parameters of the staff's list ([`Query::parse_staff`]): the list's,
    /// with `status` naming a [`State`].
    pub fn staff_list_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = Self::list_schema(generator);
        if let Some(status) = schema
            .get_mut("properties")
            .and_then(|properties| properties.get_mut("status"))
        {
            *status = serde_json::json!({
                "type": "string",
                "enum": State::ALL.map(State::as_str),
                "description": "only articles in this state (every state when absent)",
            });
        }
        schema
    }

    /// The query parameters a single-document read accepts ([`Query::parse_document`]).
    pub fn document_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = Self::list_schema(generator);
        if let Some(properties) = schema
            .get_mut("properties")
            .and_then(serde_json::Value::as_object_mut)
        {
            for list_only in LIST_ONLY {
                properties.remove(list_only);
            }
        }
        schema
    }

    /// A canonical spelling of this query for cache keys: equivalent requests (raw or
    /// encoded brackets, parameters in another order, defaults spelled out or left
    /// implicit, any `qs` list spelling) give the same string. Client text appears
    /// quoted and escaped, so no value can imitate the key's own punctuation.
    pub fn normalized_key(&self) -> String {
        let mut key = format!(
            "{}?fields={}",
            self.content_type.name,
            FieldList(&self.fields)
        );
        if let Some(filters) = &self.filters {
            let _ = write!(key, "&filters={filters}");
        }
        if !self.populate.is_empty() {
            let _ = write!(key, "&populate={}", Joined(&self.populate));
        }
        if !self.sort.is_empty() {
            let _ = write!(key, "&sort={}", Joined(&self.sort));
        }
        let _ = write!(
            key,
            "&pagination={}&status={}",
            self.pagination,
            self.status.as_str()
        );
        if let Some(locale) = &self.locale {
            let _ = write!(key, "&locale={}", locale.as_str());
        }
        if let Some(search) = &self.search {
            let _ = write!(key, "&_q={search:?}");
        }
        key
    }
}

fn parse_status(raw: &str, path: &str, audience: Audience) -> Result<Status> {
    match audience {
        Audience::Public => match raw {
            "published" => Ok(Status::Published),
            "draft" => Ok(Status::Draft),
            _ => Err(invalid(path, "must be published or draft")),
        },
        Audience::Staff => State::ALL
            .into_iter()
            .find(|state| state.as_str() == raw)
            .map(|state| Status::Staff(Some(state)))
            .ok_or_else(|| invalid(path, "must be draft, scheduled or published")),
    }
}

/// The `_q` terms, distinct and in one order (every term must match, so order and
/// repeats do not change the answer, and must not change the cache key either).
fn parse_search(raw: &str, path: &str) -> Result<Option<String>> {
    let text = checked_text(raw.trim(), path, MAX_SEARCH_CHARS)?;
    let mut terms: Vec<&str> = text.split_whitespace().collect();
    terms.sort_unstable();
    terms.dedup();
    if terms.len() > MAX_SEARCH_TERMS {
        return Err(invalid(
            path,
            format_args!("has more than {MAX_SEARCH_TERMS} distinct terms"),
        ));
    }
    Ok((!terms.is_empty()).then(|| terms.join(" ")))
}

/// Text a client sends for comparison or search: bounded, and free of control
/// characters (PostgreSQL refuses NUL in text, which would otherwise be a 500).
fn checked_text(raw: &str, path: &str, max_chars: usize) -> Result<String> {
    if raw.chars().count() > max_chars {
        return Err(invalid(
            path,
            format_args!("is longer than {max_chars} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(invalid(path, "contains control characters"));
    }
    Ok(raw.to_string())
}

/// `true` or `false`, exactly.
fn parse_bool(raw: &str, path: &str) -> Result<bool> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(path, "must be true or false")),
    }
}

/// The 400 every parsing failure becomes: `details` names the parameter and the
/// message repeats it, so a reader of either knows what to fix.
fn invalid(path: &str, problem: impl Display) -> Error {
    Error::invalid(path, format!("{path}: {problem}"))
}

/// A name that is neither a public field nor a relation. Unknown and private names
/// get this same answer, so the error never confirms that a private field exists.
fn not_allowed(path: &str, name: &str) -> Error {
    invalid(
        path,
        format_args!("invalid key `{name}` (unknown or not allowed)"),
    )
}

/// Conditions counted across the whole query, populate filters included.
#[derive(Debug, Default)]
struct Budget {
    conditions: usize,
}

impl Budget {
    fn spend_condition(&mut self, path: &str) -> Result<()> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(invalid(
                path,
                format_args!("the query has more than {MAX_CONDITIONS} filter conditions"),
            ));
        }
        Ok(())
    }
}

/// Comma-joined display, for the canonical key.
struct Joined<'a, T>(&'a [T]);

impl<T: Display> Display for Joined<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

struct FieldList<'a>(&'a [&'static Field]);

impl Display for FieldList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|field| field.name).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests;
