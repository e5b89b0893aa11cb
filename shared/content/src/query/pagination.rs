//! `pagination[...]`: page-based or offset-based, never both (Strapi's rule).
//!
//! Every number is bounded so that `page * pageSize` and `start + limit` stay far from
//! overflow and from scans no reader needs; out-of-range values are a 400 rather than
//! silently clamped, so a client learns its request was not served as written.

use std::fmt::{self, Display};

use super::{invalid, params::Node};
use platform::error::Result;

pub const DEFAULT_PAGE_SIZE: u32 = 25;
/// Largest `pageSize` and `limit`.
pub const MAX_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE: u32 = 10_000;
/// Largest `start`: as far as the last page reaches.
pub const MAX_START: u32 = MAX_PAGE * MAX_PAGE_SIZE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    pub mode: PageMode,
    /// Whether `meta.pagination` carries `total` (and `pageCount`): a `COUNT(*)`.
    pub with_count: bool,
}

/// The two ways Strapi pages, each answered with its own `meta.pagination` shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageMode {
    Page { page: u32, page_size: u32 },
    Offset { start: u32, limit: u32 },
}

impl Default for Pagination {
    fn default() -> Self {
        Pagination {
            mode: PageMode::Page {
                page: 1,
                page_size: DEFAULT_PAGE_SIZE,
            },
            with_count: true,
        }
    }
}

impl Pagination {
    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        match self.mode {
            PageMode::Page { page, page_size } => {
                u64::from(page.saturating_sub(1)) * u64::from(page_size)
            }
            PageMode::Offset { start, .. } => u64::from(start),
        }
    }

    /// Rows to return.
    pub fn limit(&self) -> u32 {
        match self.mode {
            PageMode::Page { page_size, .. } => page_size,
            PageMode::Offset { limit, .. } => limit,
        }
    }
}

#[derive(Default)]
struct Given {
    page: Option<u32>,
    page_size: Option<u32>,
    start: Option<u32>,
    limit: Option<u32>,
}

pub(super) fn parse(node: &Node, path: &str) -> Result<Pagination> {
    let Node::Object(entries) = node else {
        return Err(invalid(path, "must be an object, e.g. pagination[page]=2"));
    };
    let mut given = Given::default();
    let mut with_count = true;
    for (name, child) in entries {
        let path = format!("{path}[{name}]");
        let raw = child.value(&path)?;
        match name.as_str() {
            "page" => given.page = Some(count(raw, &path, 1, MAX_PAGE)?),
            "pageSize" => given.page_size = Some(count(raw, &path, 1, MAX_PAGE_SIZE)?),
            "start" => given.start = Some(count(raw, &path, 0, MAX_START)?),
            "limit" => given.limit = Some(count(raw, &path, 1, MAX_PAGE_SIZE)?),
            "withCount" => with_count = flag(raw, &path)?,
            _ => return Err(invalid(&path, "is not a pagination parameter")),
        }
    }
    let paged = given.page.is_some() || given.page_size.is_some();
    let offset = given.start.is_some() || given.limit.is_some();
    let mode = match (paged, offset) {
        (true, true) => {
            return Err(invalid(
                path,
                "use either page and pageSize or start and limit, not both",
            ));
        }
        (_, false) => PageMode::Page {
            page: given.page.unwrap_or(1),
            page_size: given.page_size.unwrap_or(DEFAULT_PAGE_SIZE),
        },
        (false, true) => PageMode::Offset {
            start: given.start.unwrap_or(0),
            limit: given.limit.unwrap_or(DEFAULT_PAGE_SIZE),
        },
    };
    Ok(Pagination { mode, with_count })
}

/// A whole number in `min..=max`, in plain decimal digits.
fn count(raw: &str, path: &str, min: u32, max: u32) -> Result<u32> {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, raw),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(path, "must be a whole number"));
    }
    match digits.parse::<u32>() {
        Ok(value) if !negative && (min..=max).contains(&value) => Ok(value),
        Ok(value) if negative || value < min => {
            Err(invalid(path, format_args!("must be at least {min}")))
        }
        _ => Err(invalid(path, format_args!("must be at most {max}"))),
    }
}

/// Strapi's spellings for `withCount`.
fn flag(raw: &str, path: &str) -> Result<bool> {
    match raw {
        "true" | "t" | "1" => Ok(true),
        "false" | "f" | "0" => Ok(false),
        _ => Err(invalid(path, "must be true or false")),
    }
}

impl Display for Pagination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mode {
            PageMode::Page { page, page_size } => write!(f, "page:{page}:{page_size}")?,
            PageMode::Offset { start, limit } => write!(f, "offset:{start}:{limit}")?,
        }
        f.write_str(if self.with_count { ":count" } else { "" })
    }
}
