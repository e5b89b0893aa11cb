//! Member gating of article bodies (Ghost's model): who is reading, and what of a
//! `members` or `paid` article they may see.
//!
//! Gating works on assembled entries, after the SQL layer selected them, so one rule
//! covers every way an article body can leave the API: a list, a single document, or
//! articles populated under an author, a category or a tag. For any number of
//! articles it costs two queries at most (their requirements, then which of the
//! required products the member holds), never one per article.

use std::collections::HashMap;

use serde_json::Value;
use tokio_postgres::{Client, types::Type};

use super::{
    documents::{Entry, entry_id},
    query::{Populate, Query},
    schema::{ARTICLES, ContentType, Field},
    teaser,
};
use crate::entitlements::{self, Product, ProductKind, Requirement};
use crate::error::Result;

/// The article fields a reader without access never receives whole.
pub const GATED_FIELDS: [&str; 2] = ["body", "bodyHtml"];

/// Who reads, as far as gating cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Anonymous,
    /// A signed-in member, by `members.id`.
    Member(i64),
    /// Staff or an API token allowed to read content: sees every body.
    Staff,
}

/// Whether answering `query` can return an article body at any level, i.e. whether
/// the reader must be known. Lists without bodies skip the session lookup entirely.
pub fn selects_gated(query: &Query) -> bool {
    gated(query.content_type, &query.fields) || populates_gated(&query.populate)
}

fn gated(content_type: &ContentType, fields: &[&'static Field]) -> bool {
    *content_type == ARTICLES && fields.iter().any(|f| GATED_FIELDS.contains(&f.name))
}

fn populates_gated(populate: &[Populate]) -> bool {
    populate
        .iter()
        .any(|p| !p.count && (gated(p.relation.target, &p.fields) || populates_gated(&p.populate)))
}

/// What one article asks of its reader, and its teaser fallback.
struct Gate {
    requirement: Requirement,
    excerpt: Option<String>,
}

/// What `reader` may see of each article: decided from the entries without changing
/// them, so the queries can run alongside the loading of populated relations.
pub struct Verdicts {
    reader: Reader,
    gates: HashMap<i64, Gate>,
    held: Vec<Product>,
}

impl Verdicts {
    /// Gates article `entries`: every entry carrying a body gets `access`, and without
    /// access its `body` and `bodyHtml` become the teaser.
    pub fn apply(&self, entries: &mut [Entry]) {
        let member = matches!(self.reader, Reader::Member(_));
        for entry in entries.iter_mut().filter(|e| carries_body(e)) {
            let gate = entry_id(entry).and_then(|id| self.gates.get(&id));
            let access = match (self.reader, gate) {
                (Reader::Staff, _) => true,
                (_, Some(gate)) => gate.requirement.met_by(member, &self.held),
                // Not found (deleted meanwhile): show nothing gated.
                (_, None) => false,
            };
            if !access {
                let excerpt = gate.and_then(|g| g.excerpt.as_deref());
                tease(entry, "body", excerpt, teaser::markdown);
                tease(entry, "bodyHtml", excerpt, teaser::html);
            }
            entry.insert("access".into(), Value::Bool(access));
        }
    }
}

/// Decides access to the article `entries` that carry a body, for `reader`.
pub async fn decide(client: &Client, reader: Reader, entries: &[Entry]) -> Result<Verdicts> {
    let mut ids: Vec<i64> = entries
        .iter()
        .filter(|e| carries_body(e))
        .filter_map(entry_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let gates = if reader == Reader::Staff || ids.is_empty() {
        HashMap::new()
    } else {
        load(client, &ids).await?
    };
    let held = match reader {
        Reader::Member(member_id) => {
            let mut candidates: Vec<Product> = Vec::new();
            for gate in gates.values() {
                if let Requirement::Paid(products) = &gate.requirement {
                    for product in products {
                        if !candidates.contains(product) {
                            candidates.push(product.clone());
                        }
                    }
                }
            }
            entitlements::active_products(client, member_id, &candidates).await?
        }
        _ => Vec::new(),
    };
    Ok(Verdicts {
        reader,
        gates,
        held,
    })
}

fn carries_body(entry: &Entry) -> bool {
    GATED_FIELDS.iter().any(|f| entry.contains_key(*f))
}

fn tease(
    entry: &mut Entry,
    field: &str,
    excerpt: Option<&str>,
    teaser: fn(&str, Option<&str>) -> String,
) {
    if let Some(value) = entry.get_mut(field) {
        let full = value.as_str().unwrap_or_default();
        *value = Value::String(teaser(full, excerpt));
    }
}

/// The visibility, products and excerpt of each article, in one query.
async fn load(client: &Client, ids: &[i64]) -> Result<HashMap<i64, Gate>> {
    let rows = client
        .query_typed(
            "SELECT a.id, a.visibility, a.excerpt,
                    coalesce(array_agg(p.product_kind ORDER BY p.product_kind, p.product_code)
                             FILTER (WHERE p.article_id IS NOT NULL), '{}'),
                    coalesce(array_agg(p.product_code ORDER BY p.product_kind, p.product_code)
                             FILTER (WHERE p.article_id IS NOT NULL), '{}')
             FROM articles a LEFT JOIN article_products p ON p.article_id = a.id
             WHERE a.id = ANY($1)
             GROUP BY a.id",
            &[(&ids, Type::INT8_ARRAY)],
        )
        .await?;
    let mut gates = HashMap::with_capacity(rows.len());
    for row in rows {
        let kinds: Vec<String> = row.try_get(3)?;
        let codes: Vec<String> = row.try_get(4)?;
        let products = kinds
            .iter()
            .zip(codes)
            .filter_map(|(kind, code)| {
                let kind = match kind.as_str() {
                    "plan" => ProductKind::Plan,
                    "course" => ProductKind::Course,
                    _ => return None,
                };
                Some(Product { kind, code })
            })
            .collect();
        let requirement = match row.try_get::<_, &str>(1)? {
            "public" => Requirement::Public,
            "members" => Requirement::Members,
            // `paid`, and anything a future migration adds: closed until handled.
            _ => Requirement::Paid(products),
        };
        gates.insert(
            row.try_get(0)?,
            Gate {
                requirement,
                excerpt: row.try_get(2)?,
            },
        );
    }
    Ok(gates)
}
