//! Segments: saved filters over subscribers that narrow a campaign's lists to the
//! people who match. Staff write rules, never SQL: each rule is one of a few kinds
//! (an attribute compared with a value, having an account, holding a paid plan,
//! purchases, opening or clicking lately, joining lately), each compiled to a fixed
//! SQL predicate whose values are bound parameters; only how the predicates are
//! joined (all, or any) is chosen by the rules. What an active plan or a purchase
//! is comes from `identity::entitlements`, which owns those rows.

use chrono::{DateTime, Utc};
use platform::db::GenericClient;
use platform::{
    audit,
    error::{Error, Result},
    http::bounded,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::{
    Row,
    types::{ToSql, Type},
};

/// The most rules a segment has.
const MAX_RULES: usize = 20;
/// The longest look-back of an engagement or join rule: ten years.
const MAX_DAYS: i32 = 3650;

/// How a segment's rules combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Matching {
    /// Every rule holds.
    All,
    /// At least one rule holds.
    Any,
}

/// How an attribute is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttributeOp {
    /// Equal to the value (a string, number or boolean; JSON equality).
    Eq,
    /// Not equal, or missing.
    Neq,
    /// A text attribute containing the value, ignoring case.
    Contains,
    /// Present, whatever its value.
    Exists,
    Missing,
    /// Numeric comparisons: a number attribute against a number.
    Gt,
    Gte,
    Lt,
    Lte,
}

/// One condition on a subscriber.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "field",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Rule {
    /// One of the subscriber's attributes (`subscribers.attributes`).
    Attribute {
        name: String,
        op: AttributeOp,
        /// What `eq`, `neq`, `contains` and the numeric comparisons compare with.
        #[serde(default)]
        value: Option<Value>,
    },
    /// Has a member account (`is: true`) or not.
    Member { is: bool },
    /// Holds a paid plan now (`is: true`) or not; any plan, or the one with `plan`'s
    /// code.
    PaidMember {
        is: bool,
        #[serde(default)]
        plan: Option<String>,
    },
    /// Paid at least `min` times (purchases and subscription periods).
    Purchases { min: i64 },
    /// Opened a campaign in the last `within_days` days (people, not machines:
    /// `is: true`), or did not.
    Opened { within_days: i32, is: bool },
    /// Clicked a link in a campaign in the last `within_days` days, or did not.
    Clicked { within_days: i32, is: bool },
    /// Became a subscriber in the last `within_days` days.
    Joined { within_days: i32 },
}

/// A segment's rules as staff write them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(rename = "match")]
    pub matching: Matching,
    pub rules: Vec<Rule>,
}

/// A bound value of a compiled predicate.
type Param = (Box<dyn ToSql + Sync + Send>, Type);

/// Rules compiled to a predicate over `subscribers s`, with its parameters
/// numbered from the offset it was compiled at.
pub struct Predicate {
    pub sql: String,
    params: Vec<Param>,
}

impl Predicate {
    /// The parameters, to follow the query's own.
    pub fn params(&self) -> impl Iterator<Item = (&(dyn ToSql + Sync), Type)> {
        self.params
            .iter()
            .map(|(value, ty)| (&**value as &(dyn ToSql + Sync), ty.clone()))
    }
}

fn days(within: i32) -> Result<i32> {
    if (1..=MAX_DAYS).contains(&within) {
        Ok(within)
    } else {
        Err(Error::invalid(
            "rules",
            format!("withinDays is 1 to {MAX_DAYS}"),
        ))
    }
}

impl Rules {
    /// Checks the rules: their number, names and values.
    pub fn check(&self) -> Result<()> {
        self.compile(1).map(drop)
    }

    /// The predicate, its first parameter numbered `first`.
    pub fn compile(&self, first: usize) -> Result<Predicate> {
        if self.rules.is_empty() || self.rules.len() > MAX_RULES {
            return Err(Error::invalid("rules", format!("1 to {MAX_RULES} rules")));
        }
        let mut params: Vec<Param> = Vec::new();
        let mut next = |value: Box<dyn ToSql + Sync + Send>, ty: Type| {
            params.push((value, ty));
            format!("${}", first + params.len() - 1)
        };
        let mut predicates = Vec::with_capacity(self.rules.len());
        for rule in &self.rules {
            let predicate = match rule {
                Rule::Attribute { name, op, value } => {
                    let name = bounded(name, "rules", 100)?;
                    let key = next(Box::new(name), Type::TEXT);
                    let number = || {
                        value.as_ref().and_then(Value::as_f64).ok_or_else(|| {
                            Error::invalid("rules", "a numeric comparison needs a number")
                        })
                    };
                    let scalar = || match value {
                        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                            Ok(v.clone())
                        }
                        _ => Err(Error::invalid(
                            "rules",
                            "`eq` and `neq` need a string, number or boolean",
                        )),
                    };
                    match op {
                        AttributeOp::Eq => {
                            let v = next(Box::new(scalar()?), Type::JSONB);
                            format!("s.attributes -> {key} = {v}")
                        }
                        AttributeOp::Neq => {
                            let v = next(Box::new(scalar()?), Type::JSONB);
                            format!("s.attributes -> {key} IS DISTINCT FROM {v}")
                        }
                        AttributeOp::Contains => {
                            let text = value.as_ref().and_then(Value::as_str).ok_or_else(|| {
                                Error::invalid("rules", "`contains` needs a string")
                            })?;
                            let v = next(Box::new(bounded(text, "rules", 200)?), Type::TEXT);
                            format!("strpos(lower(s.attributes ->> {key}), lower({v})) > 0")
                        }
                        AttributeOp::Exists => format!("s.attributes ? {key}"),
                        AttributeOp::Missing => format!("NOT (s.attributes ? {key})"),
                        AttributeOp::Gt | AttributeOp::Gte | AttributeOp::Lt | AttributeOp::Lte => {
                            let sign = match op {
                                AttributeOp::Gt => ">",
                                AttributeOp::Gte => ">=",
                                AttributeOp::Lt => "<",
                                _ => "<=",
                            };
                            let v = next(Box::new(number()?), Type::FLOAT8);
                            // The cast only where the attribute is a number.
                            format!(
                                "CASE WHEN jsonb_typeof(s.attributes -> {key}) = 'number'
                                      THEN (s.attributes ->> {key})::float8 {sign} {v} END"
                            )
                        }
                    }
                }
                Rule::Member { is } => {
                    let v = next(Box::new(*is), Type::BOOL);
                    format!("(s.member_id IS NOT NULL) = {v}")
                }
                Rule::PaidMember { is, plan } => {
                    let plan = plan
                        .as_deref()
                        .map(|p| bounded(p, "rules", 100))
                        .transpose()?;
                    let p = next(Box::new(plan), Type::TEXT);
                    let v = next(Box::new(*is), Type::BOOL);
                    format!(
                        "({}) = {v}",
                        identity::entitlements::holds_active_plan("s.member_id", &p)
                    )
                }
                Rule::Purchases { min } => {
                    if !(1..=1_000_000).contains(min) {
                        return Err(Error::invalid("rules", "`min` purchases is 1 to 1000000"));
                    }
                    let v = next(Box::new(*min), Type::INT8);
                    format!(
                        "{} >= {v}",
                        identity::entitlements::paid_grants("s.member_id")
                    )
                }
                Rule::Opened { within_days, is } | Rule::Clicked { within_days, is } => {
                    let kind = if matches!(rule, Rule::Opened { .. }) {
                        "open"
                    } else {
                        "click"
                    };
                    let d = next(Box::new(days(*within_days)?), Type::INT4);
                    let v = next(Box::new(*is), Type::BOOL);
                    format!(
                        "EXISTS (SELECT 1 FROM tracking_events t
                                 WHERE t.subscriber_id = s.id AND t.kind = '{kind}' AND NOT t.machine
                                   AND t.created_at > now() - make_interval(days => {d})) = {v}"
                    )
                }
                Rule::Joined { within_days } => {
                    let d = next(Box::new(days(*within_days)?), Type::INT4);
                    format!("s.created_at > now() - make_interval(days => {d})")
                }
            };
            // A comparison with nothing (a missing attribute) is false, not unknown.
            predicates.push(format!("COALESCE(({predicate}), false)"));
        }
        let joiner = match self.matching {
            Matching::All => " AND ",
            Matching::Any => " OR ",
        };
        Ok(Predicate {
            sql: format!("({})", predicates.join(joiner)),
            params,
        })
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    pub document_id: String,
    pub name: String,
    #[serde(rename = "match")]
    pub matching: Matching,
    pub rules: Vec<Rule>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A segment as staff write it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    pub name: String,
    #[serde(rename = "match")]
    pub matching: Matching,
    pub rules: Vec<Rule>,
}

impl SegmentInput {
    fn rules(&self) -> Rules {
        Rules {
            matching: self.matching,
            rules: self.rules.clone(),
        }
    }
}

const COLUMNS: &str = "document_id, name, rules, created_at, updated_at";

fn from_row(row: &Row) -> Result<Segment> {
    let rules: Rules = serde_json::from_value(row.try_get(2)?).map_err(Error::internal)?;
    Ok(Segment {
        document_id: row.try_get(0)?,
        name: row.try_get(1)?,
        matching: rules.matching,
        rules: rules.rules,
        created_at: row.try_get(3)?,
        updated_at: row.try_get(4)?,
    })
}

/// Every segment, newest first.
pub async fn list(client: &impl GenericClient) -> Result<Vec<Segment>> {
    client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM segments ORDER BY id DESC"),
            &[],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn by_document_id(client: &impl GenericClient, document_id: &str) -> Result<Segment> {
    let sql = format!("SELECT {COLUMNS} FROM segments WHERE document_id = $1");
    crate::one_by_key(client, &sql, document_id, "segment", from_row).await
}

/// The rules of the segment with this id (for a campaign that targets it).
pub async fn rules_of(client: &impl GenericClient, id: i64) -> Result<Rules> {
    let row = client
        .query_typed(
            "SELECT rules FROM segments WHERE id = $1",
            &[(&id, Type::INT8)],
        )
        .await?;
    let row = row
        .first()
        .ok_or_else(|| Error::internal("a campaign names a segment that is gone"))?;
    serde_json::from_value(row.try_get(0)?).map_err(Error::internal)
}

fn stored(input: &SegmentInput) -> Result<(String, Value)> {
    let name = bounded(&input.name, "name", 200)?;
    let rules = input.rules();
    rules.check()?;
    Ok((name, serde_json::to_value(&rules).map_err(Error::internal)?))
}

pub async fn create(
    tx: &impl platform::db::Transactional,
    actor: &str,
    input: SegmentInput,
) -> Result<Segment> {
    let (name, rules) = stored(&input)?;
    let row = tx
        .query_typed(
            &format!("INSERT INTO segments (name, rules) VALUES ($1, $2) RETURNING {COLUMNS}"),
            &[(&name, Type::TEXT), (&rules, Type::JSONB)],
        )
        .await?;
    let segment = from_row(
        row.first()
            .ok_or_else(|| Error::internal("an insert returned no row"))?,
    )?;
    audit::record(
        tx,
        actor,
        "segment.create",
        &segment.document_id,
        json!({ "name": name }),
    )
    .await?;
    Ok(segment)
}

pub async fn update(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
    input: SegmentInput,
) -> Result<Segment> {
    let (name, rules) = stored(&input)?;
    let row = tx
        .query_typed(
            &format!(
                "UPDATE segments SET name = $2, rules = $3 WHERE document_id = $1 RETURNING {COLUMNS}"
            ),
            &[
                (&document_id, Type::TEXT),
                (&name, Type::TEXT),
                (&rules, Type::JSONB),
            ],
        )
        .await?;
    let segment = from_row(
        row.first()
            .ok_or_else(|| Error::NotFound("no such segment".into()))?,
    )?;
    audit::record(
        tx,
        actor,
        "segment.update",
        document_id,
        json!({ "name": name }),
    )
    .await?;
    Ok(segment)
}

/// Deletes a segment no campaign that has not finished targets.
pub async fn delete(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
) -> Result<()> {
    let deleted = tx
        .query_typed(
            "DELETE FROM segments g WHERE document_id = $1
               AND NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.segment_id = g.id
                               AND c.status IN ('draft', 'scheduled', 'running', 'paused'))
             RETURNING name",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let Some(row) = deleted.first() else {
        by_document_id(tx, document_id).await?;
        return Err(Error::Conflict(
            "a campaign that has not finished targets this segment".into(),
        ));
    };
    audit::record(
        tx,
        actor,
        "segment.delete",
        document_id,
        json!({ "name": row.get::<_, String>(0) }),
    )
    .await
}

/// How many enabled, unsuppressed subscribers match `rules` now, and a few of
/// them: what staff see before they save or send.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Matches {
    pub count: i64,
    /// Up to 10 addresses, newest subscribers first.
    pub sample: Vec<String>,
}

pub async fn preview(client: &impl GenericClient, rules: &Rules) -> Result<Matches> {
    let predicate = rules.compile(1)?;
    let params: Vec<_> = predicate.params().collect();
    let eligible = "s.status = 'enabled' AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = s.email)";
    let count: i64 = client
        .query_typed(
            &format!(
                "SELECT count(*) FROM subscribers s WHERE {eligible} AND {}",
                predicate.sql
            ),
            &params,
        )
        .await?
        .first()
        .map(|r| r.get(0))
        .unwrap_or(0);
    let sample = client
        .query_typed(
            &format!(
                "SELECT s.email FROM subscribers s WHERE {eligible} AND {} ORDER BY s.id DESC LIMIT 10",
                predicate.sql
            ),
            &params,
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Matches { count, sample })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(value: Value) -> Result<Rules> {
        serde_json::from_value::<Rules>(value).map_err(|e| Error::validation(e.to_string()))
    }

    #[test]
    fn rules_compile_to_numbered_parameters_never_to_their_values() {
        let parsed = rules(json!({ "match": "all", "rules": [
            { "field": "attribute", "name": "city'; DROP TABLE x; --", "op": "eq", "value": "杭州" },
            { "field": "opened", "withinDays": 30, "is": true },
            { "field": "paid-member", "is": false },
        ]}))
        .unwrap();
        let predicate = parsed.compile(2).unwrap();
        assert!(!predicate.sql.contains("DROP"), "{}", predicate.sql);
        assert!(!predicate.sql.contains("杭州"));
        for n in 2..=7 {
            assert!(
                predicate.sql.contains(&format!("${n}")),
                "{}",
                predicate.sql
            );
        }
        assert!(!predicate.sql.contains("$8"));
        assert_eq!(predicate.params().count(), 6);
        assert!(predicate.sql.contains(" AND "));
    }

    #[test]
    fn wrong_rules_are_refused() {
        for wrong in [
            json!({ "match": "all", "rules": [] }),
            json!({ "match": "all", "rules": [{ "field": "attribute", "name": "age", "op": "gt", "value": "old" }] }),
            json!({ "match": "all", "rules": [{ "field": "attribute", "name": "x", "op": "eq", "value": { "a": 1 } }] }),
            json!({ "match": "all", "rules": [{ "field": "opened", "withinDays": 0, "is": true }] }),
            json!({ "match": "all", "rules": [{ "field": "purchases", "min": 0 }] }),
        ] {
            assert!(
                rules(wrong.clone()).and_then(|r| r.check()).is_err(),
                "{wrong}"
            );
        }
        for unparsable in [
            json!({ "match": "some", "rules": [{ "field": "member", "is": true }] }),
            json!({ "match": "all", "rules": [{ "field": "sql", "where": "1=1" }] }),
            json!({ "match": "all", "rules": [{ "field": "member", "is": true, "extra": 1 }] }),
        ] {
            assert!(rules(unparsable.clone()).is_err(), "{unparsable}");
        }
    }
}
