//! `filters[...]`: Strapi's condition tree, typed against the schema.
//!
//! Each condition ends up holding the schema's own field and relation entries and a
//! value already converted to the field's type, so a bad value is a 400 here rather
//! than a database error later, and the SQL layer has nothing left to validate.
//! Members of one object are read in name order: their order means nothing to Strapi,
//! and a fixed order gives equivalent queries the same cache key.

use std::fmt::{self, Display};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

use super::{
    Budget, Joined, MAX_LIST_ITEMS, MAX_RELATION_DEPTH, MAX_VALUE_CHARS, checked_text, invalid,
    not_allowed,
    params::{Node, by_name},
    parse_bool,
};
use crate::schema::{ContentType, Field, FieldKind, Relation};
use platform::error::Result;

/// A condition tree. Several conditions in one object mean `And`, as in Strapi.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Condition(Condition),
}

/// `relations.field operator value`, e.g. `category.slug $eq "ai-tools"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Relations walked from the queried type, outermost first; empty for its own fields.
    pub relations: Vec<&'static Relation>,
    pub field: &'static Field,
    pub operator: Operator,
    /// Typed by the field: `List` for `$in`, `$notIn` and `$between` (exactly two),
    /// `Bool` for `$null` and `$notNull`. Text for the `LIKE` family is literal: the
    /// SQL layer escapes `%` and `_`.
    pub value: Value,
}

/// Strapi's attribute operators. `$and`, `$or` and `$not` are [`Filter`] variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Eqi,
    Ne,
    Nei,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
    NotIn,
    Contains,
    NotContains,
    Containsi,
    NotContainsi,
    Null,
    NotNull,
    Between,
    StartsWith,
    StartsWithi,
    EndsWith,
    EndsWithi,
}

/// What an operator takes from the query string.
enum Operand {
    One,
    List,
    Pair,
    Flag,
}

impl Operator {
    pub const ALL: [Operator; 21] = [
        Operator::Eq,
        Operator::Eqi,
        Operator::Ne,
        Operator::Nei,
        Operator::Lt,
        Operator::Lte,
        Operator::Gt,
        Operator::Gte,
        Operator::In,
        Operator::NotIn,
        Operator::Contains,
        Operator::NotContains,
        Operator::Containsi,
        Operator::NotContainsi,
        Operator::Null,
        Operator::NotNull,
        Operator::Between,
        Operator::StartsWith,
        Operator::StartsWithi,
        Operator::EndsWith,
        Operator::EndsWithi,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "$eq",
            Operator::Eqi => "$eqi",
            Operator::Ne => "$ne",
            Operator::Nei => "$nei",
            Operator::Lt => "$lt",
            Operator::Lte => "$lte",
            Operator::Gt => "$gt",
            Operator::Gte => "$gte",
            Operator::In => "$in",
            Operator::NotIn => "$notIn",
            Operator::Contains => "$contains",
            Operator::NotContains => "$notContains",
            Operator::Containsi => "$containsi",
            Operator::NotContainsi => "$notContainsi",
            Operator::Null => "$null",
            Operator::NotNull => "$notNull",
            Operator::Between => "$between",
            Operator::StartsWith => "$startsWith",
            Operator::StartsWithi => "$startsWithi",
            Operator::EndsWith => "$endsWith",
            Operator::EndsWithi => "$endsWithi",
        }
    }

    pub fn parse(name: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|op| op.as_str() == name)
    }

    fn operand(self) -> Operand {
        match self {
            Operator::In | Operator::NotIn => Operand::List,
            Operator::Between => Operand::Pair,
            Operator::Null | Operator::NotNull => Operand::Flag,
            _ => Operand::One,
        }
    }

    fn applies_to(self, kind: FieldKind) -> bool {
        match self {
            Operator::Eq
            | Operator::Ne
            | Operator::In
            | Operator::NotIn
            | Operator::Null
            | Operator::NotNull => true,
            Operator::Lt | Operator::Lte | Operator::Gt | Operator::Gte | Operator::Between => {
                kind.is_ordered()
            }
            _ => kind.is_textual(),
        }
    }
}

/// A filter value converted to its field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    DateTime(DateTime<Utc>),
    List(Vec<Value>),
}

pub(super) fn parse(
    content_type: &'static ContentType,
    node: &Node,
    path: &str,
    budget: &mut Budget,
) -> Result<Filter> {
    let scope = Scope {
        content_type,
        relations: Vec::new(),
    };
    Parser { budget }.object(&scope, node, path)
}

/// Where in the schema a part of the tree applies.
struct Scope {
    content_type: &'static ContentType,
    relations: Vec<&'static Relation>,
}

struct Parser<'b> {
    budget: &'b mut Budget,
}

impl Parser<'_> {
    /// `{ field: ..., relation: {...}, $and: [...], $or: [...], $not: {...} }`
    fn object(&mut self, scope: &Scope, node: &Node, path: &str) -> Result<Filter> {
        let Node::Object(entries) = node else {
            return Err(invalid(
                path,
                "must be an object of conditions, e.g. [title][$eq]=...",
            ));
        };
        let mut parts = Vec::with_capacity(entries.len());
        for (name, child) in by_name(entries) {
            parts.push(self.member(scope, name, child, &format!("{path}[{name}]"))?);
        }
        Ok(conjunction(parts))
    }

    fn member(&mut self, scope: &Scope, name: &str, node: &Node, path: &str) -> Result<Filter> {
        match name {
            "$and" => Ok(Filter::And(self.list(scope, node, path)?)),
            "$or" => Ok(Filter::Or(self.list(scope, node, path)?)),
            "$not" => Ok(Filter::Not(Box::new(self.object(scope, node, path)?))),
            _ => {
                if let Some(field) = scope.content_type.public_field(name) {
                    if !field.filterable {
                        return Err(invalid(
                            path,
                            format_args!("`{name}` cannot be filtered on"),
                        ));
                    }
                    self.attribute(scope, field, node, path)
                } else if let Some(relation) = scope.content_type.relation(name) {
                    self.relation(scope, relation, node, path)
                } else if Operator::parse(name).is_some() {
                    Err(invalid(
                        path,
                        format_args!("`{name}` must follow a field name"),
                    ))
                } else {
                    Err(not_allowed(path, name))
                }
            }
        }
    }

    /// `$and` / `$or`: `[0][...]&[1][...]`.
    fn list(&mut self, scope: &Scope, node: &Node, path: &str) -> Result<Vec<Filter>> {
        node.items(path)?
            .into_iter()
            .map(|(item_path, item)| self.object(scope, item, &item_path))
            .collect()
    }

    fn relation(
        &mut self,
        scope: &Scope,
        relation: &'static Relation,
        node: &Node,
        path: &str,
    ) -> Result<Filter> {
        if !matches!(node, Node::Object(_)) {
            return Err(invalid(
                path,
                format_args!(
                    "`{}` is a relation: filter on one of its fields, e.g. {path}[id][$eq]=...",
                    relation.name
                ),
            ));
        }
        if scope.relations.len() == MAX_RELATION_DEPTH {
            return Err(invalid(
                path,
                format_args!("filters may follow at most {MAX_RELATION_DEPTH} relations"),
            ));
        }
        let mut relations = scope.relations.clone();
        relations.push(relation);
        let inner = Scope {
            content_type: relation.target,
            relations,
        };
        self.object(&inner, node, path)
    }

    /// What follows a field name: a value (`$eq`), several values (`$in`), or an
    /// object of operators.
    fn attribute(
        &mut self,
        scope: &Scope,
        field: &'static Field,
        node: &Node,
        path: &str,
    ) -> Result<Filter> {
        match node {
            Node::Values(values) if values.len() == 1 => {
                self.condition(scope, field, Operator::Eq, node, path)
            }
            Node::Values(_) => self.condition(scope, field, Operator::In, node, path),
            Node::Object(_) if node.is_list() => {
                self.condition(scope, field, Operator::In, node, path)
            }
            Node::Object(entries) => self.operators(scope, field, entries, path),
        }
    }

    /// `[$gte]=1&[$lt]=5`, and `[$not][...]` around more of the same.
    fn operators(
        &mut self,
        scope: &Scope,
        field: &'static Field,
        entries: &[(String, Node)],
        path: &str,
    ) -> Result<Filter> {
        let mut parts = Vec::with_capacity(entries.len());
        for (name, child) in by_name(entries) {
            let child_path = format!("{path}[{name}]");
            let part = if name == "$not" {
                Filter::Not(Box::new(self.attribute(
                    scope,
                    field,
                    child,
                    &child_path,
                )?))
            } else if let Some(operator) = Operator::parse(name) {
                self.condition(scope, field, operator, child, &child_path)?
            } else {
                return Err(invalid(
                    &child_path,
                    format_args!("`{name}` is not a filter operator"),
                ));
            };
            parts.push(part);
        }
        Ok(conjunction(parts))
    }

    fn condition(
        &mut self,
        scope: &Scope,
        field: &'static Field,
        operator: Operator,
        node: &Node,
        path: &str,
    ) -> Result<Filter> {
        self.budget.spend_condition(path)?;
        if !operator.applies_to(field.kind) {
            return Err(invalid(
                path,
                format_args!(
                    "{} does not apply to the {} field `{}`",
                    operator.as_str(),
                    field.kind.name(),
                    field.name
                ),
            ));
        }
        let value = match operator.operand() {
            Operand::One => coerce(field.kind, node.value(path)?, path)?,
            Operand::Flag => Value::Bool(parse_bool(node.value(path)?, path)?),
            Operand::List => {
                let raw = node.values(path)?;
                if raw.len() > MAX_LIST_ITEMS {
                    return Err(invalid(
                        path,
                        format_args!("takes at most {MAX_LIST_ITEMS} values"),
                    ));
                }
                coerce_all(field.kind, &raw, path)?
            }
            Operand::Pair => {
                let raw = node.values(path)?;
                if raw.len() != 2 {
                    return Err(invalid(path, "takes exactly two values, [0] and [1]"));
                }
                coerce_all(field.kind, &raw, path)?
            }
        };
        Ok(Filter::Condition(Condition {
            relations: scope.relations.clone(),
            field,
            operator,
            value,
        }))
    }
}

/// One condition stays itself; several are `And`, as Strapi reads an object.
fn conjunction(mut parts: Vec<Filter>) -> Filter {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        Filter::And(parts)
    }
}

fn coerce_all(kind: FieldKind, raw: &[&str], path: &str) -> Result<Value> {
    raw.iter()
        .map(|value| coerce(kind, value, path))
        .collect::<Result<Vec<_>>>()
        .map(Value::List)
}

/// Converts one query-string value to the field's type.
fn coerce(kind: FieldKind, raw: &str, path: &str) -> Result<Value> {
    match kind {
        FieldKind::String | FieldKind::Text | FieldKind::Uid => {
            checked_text(raw, path, MAX_VALUE_CHARS).map(Value::Text)
        }
        FieldKind::Enum(allowed) => match allowed.iter().find(|a| **a == raw) {
            Some(value) => Ok(Value::Text((*value).to_string())),
            None => Err(invalid(
                path,
                format_args!("must be one of {}", allowed.join(", ")),
            )),
        },
        FieldKind::Integer => raw
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| invalid(path, "must be a 64-bit integer")),
        FieldKind::Float => raw
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float)
            .ok_or_else(|| invalid(path, "must be a finite number")),
        FieldKind::Boolean => parse_bool(raw, path).map(Value::Bool),
        // Not filterable: refused before a value is read.
        FieldKind::Json => Err(invalid(path, "a JSON field cannot be filtered")),
        FieldKind::DateTime => parse_datetime(raw)
            .filter(|at| (MIN_YEAR..=MAX_YEAR).contains(&at.year()))
            .map(Value::DateTime)
            .ok_or_else(|| {
                invalid(
                    path,
                    "must be an ISO 8601 date or date-time between the years 1 and 9999",
                )
            }),
    }
}

/// The years a date filter may name: ISO 8601's four digits, well inside what
/// PostgreSQL's `timestamptz` holds, so no value reaches the database as an error.
const MIN_YEAR: i32 = 1;
const MAX_YEAR: i32 = 9999;

/// RFC 3339 (`2025-01-31T08:00:00+08:00`), or a date / date-time without offset,
/// read as UTC the way Strapi stores timestamps.
fn parse_datetime(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(datetime) = DateTime::parse_from_rfc3339(raw) {
        return Some(datetime.with_timezone(&Utc));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(naive.and_utc());
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

impl Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(parts) => write!(f, "$and({})", Joined(parts)),
            Filter::Or(parts) => write!(f, "$or({})", Joined(parts)),
            Filter::Not(inner) => write!(f, "$not({inner})"),
            Filter::Condition(condition) => write!(f, "{condition}"),
        }
    }
}

impl Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for relation in &self.relations {
            write!(f, "{}.", relation.name)?;
        }
        write!(
            f,
            "{} {} {}",
            self.field.name,
            self.operator.as_str(),
            self.value
        )
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Text(text) => write!(f, "{text:?}"),
            Value::DateTime(at) => f.write_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Value::List(items) => write!(f, "[{}]", Joined(items)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names_round_trip() {
        for operator in Operator::ALL {
            assert_eq!(Operator::parse(operator.as_str()), Some(operator));
        }
        assert_eq!(Operator::parse("$EQ"), None);
    }

    // No content type has a float field yet; the conversion is ready for one.
    #[test]
    fn floats_must_be_finite_numbers() {
        let float = |raw: &str| coerce(FieldKind::Float, raw, "f").ok();
        assert_eq!(float("4.5"), Some(Value::Float(4.5)));
        assert_eq!(float("-1e3"), Some(Value::Float(-1000.0)));
        for bad in [
            "1e999", "-1e999", "NaN", "inf", "infinity", "", "1,5", "0x10",
        ] {
            assert_eq!(float(bad), None, "{bad}");
        }
    }
}
