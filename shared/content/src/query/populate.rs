//! `populate`: which relations to load with each entry, and how.
//!
//! Accepts Strapi's spellings: `populate=*`, a comma list or any `qs` list of relation
//! names, and the object form `populate[author][fields][0]=name` with `fields`,
//! `filters`, `sort`, nested `populate` and `count`. Nesting stops at
//! [`MAX_RELATION_DEPTH`]: unbounded deep populate is what makes Strapi slow.

use std::fmt::{self, Display};

use super::{
    Budget, FieldList, Joined, MAX_RELATION_DEPTH, fields,
    filter::{self, Filter},
    invalid, not_allowed,
    params::{Node, by_name},
    parse_bool,
    sort::{self, Sort},
};
use crate::schema::{ContentType, Field, Relation};
use platform::error::Result;

/// One relation to load.
#[derive(Debug, Clone, PartialEq)]
pub struct Populate {
    pub relation: &'static Relation,
    /// The related entries' fields, resolved like the top-level `fields`.
    pub fields: Vec<&'static Field>,
    /// Which related entries to include; its relations start at the related type.
    pub filters: Option<Filter>,
    pub sort: Vec<Sort>,
    /// Relations of the related entries, sorted by name.
    pub populate: Vec<Populate>,
    /// Only the number of related entries is wanted (to-many relations only).
    pub count: bool,
}

impl Populate {
    fn plain(relation: &'static Relation) -> Populate {
        Populate {
            relation,
            fields: fields::all(relation.target),
            filters: None,
            sort: Vec::new(),
            populate: Vec::new(),
            count: false,
        }
    }
}

/// Parses a `populate` value at nesting `depth` (1 for the top level).
pub(super) fn parse(
    content_type: &'static ContentType,
    node: &Node,
    path: &str,
    depth: usize,
    budget: &mut Budget,
) -> Result<Vec<Populate>> {
    if depth > MAX_RELATION_DEPTH {
        return Err(invalid(
            path,
            format_args!("populate may nest at most {MAX_RELATION_DEPTH} relations deep"),
        ));
    }
    let mut populated = match node {
        Node::Object(entries) if !node.is_list() => {
            let mut populated = Vec::with_capacity(entries.len());
            for (name, options) in by_name(entries) {
                let relation = content_type
                    .relation(name)
                    .ok_or_else(|| not_allowed(path, name))?;
                let options_path = format!("{path}[{name}]");
                if let Some(populate) =
                    with_options(relation, options, &options_path, depth, budget)?
                {
                    populated.push(populate);
                }
            }
            populated
        }
        _ => by_names(content_type, node, path)?,
    };
    populated.sort_by_key(|p| p.relation.name);
    if let Some(pair) = populated
        .windows(2)
        .find(|pair| pair[0].relation == pair[1].relation)
    {
        return Err(invalid(
            path,
            format_args!("populates `{}` twice", pair[0].relation.name),
        ));
    }
    Ok(populated)
}

/// `*` or a list of relation names, each loaded with its defaults.
fn by_names(content_type: &'static ContentType, node: &Node, path: &str) -> Result<Vec<Populate>> {
    let names = node.names(path)?;
    if names == ["*"] {
        return Ok(content_type.relations.iter().map(Populate::plain).collect());
    }
    names
        .into_iter()
        .map(|name| match content_type.relation(name) {
            Some(relation) => Ok(Populate::plain(relation)),
            None if name == "*" => Err(invalid(path, "`*` cannot be combined with names")),
            None => Err(not_allowed(path, name)),
        })
        .collect()
}

/// `populate[author]=true`, or `populate[author][fields|filters|sort|populate|count]`.
/// `false` leaves the relation out.
fn with_options(
    relation: &'static Relation,
    node: &Node,
    path: &str,
    depth: usize,
    budget: &mut Budget,
) -> Result<Option<Populate>> {
    let Node::Object(entries) = node else {
        let wanted = parse_bool(node.value(path)?, path)?;
        return Ok(wanted.then(|| Populate::plain(relation)));
    };
    let target = relation.target;
    let mut populate = Populate::plain(relation);
    for (name, option) in by_name(entries) {
        let path = format!("{path}[{name}]");
        match name {
            "fields" => populate.fields = fields::parse(target, option, &path)?,
            "filters" => populate.filters = Some(filter::parse(target, option, &path, budget)?),
            "sort" => populate.sort = sort::parse(target, option, &path)?,
            "populate" => populate.populate = parse(target, option, &path, depth + 1, budget)?,
            "count" => {
                populate.count = parse_bool(option.value(&path)?, &path)?;
                if populate.count && !relation.cardinality.is_to_many() {
                    return Err(invalid(
                        &path,
                        format_args!(
                            "`{}` is a single entry: there is nothing to count",
                            relation.name
                        ),
                    ));
                }
            }
            _ => {
                return Err(invalid(
                    &path,
                    "is not a populate option (fields, filters, sort, populate, count)",
                ));
            }
        }
    }
    Ok(Some(populate))
}

impl Display for Populate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}(fields={}",
            self.relation.name,
            FieldList(&self.fields)
        )?;
        if let Some(filters) = &self.filters {
            write!(f, ";filters={filters}")?;
        }
        if !self.sort.is_empty() {
            write!(f, ";sort={}", Joined(&self.sort))?;
        }
        if !self.populate.is_empty() {
            write!(f, ";populate={}", Joined(&self.populate))?;
        }
        if self.count {
            f.write_str(";count")?;
        }
        f.write_str(")")
    }
}
