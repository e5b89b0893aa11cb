//! Member gating of article bodies (Ghost's model): who is reading, and what of a
//! `members` or `paid` article they may see.
//!
//! Gating works on assembled entries, after the SQL layer selected them, so one rule
//! covers every way an article body can leave the API: a list, a single document, or
//! articles populated under an author, a category or a tag. What each article asks
//! for comes with its row (hidden columns the SQL layer adds whenever a body is
//! selected); what a member holds comes with the [`Reader`], decided once per
//! request (`entitlements::held`), so gating asks the database nothing and every
//! level, and the response cache's access class, follow the same decision.

use std::sync::Arc;

use serde_json::Value;

use crate::{
    query::{Populate, Query, State},
    schema::{
        ARTICLES, ContentType, EXCERPT_COLUMN, Entry, Field, GATED_FIELDS, PRODUCTS_COLUMN,
        STATE_FIELD, VISIBILITY_COLUMN,
    },
    teaser,
};
use identity::{
    access::{Permission, Principal},
    entitlements::{Product, ProductKind, Requirement},
};

/// Who reads, as far as gating cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reader {
    Anonymous,
    /// A signed-in member, with every product they hold now (`entitlements::held`).
    Member(Arc<[Product]>),
    /// Staff or an API token allowed to read content: sees every body.
    Staff,
    /// An API token reading the staff's list of every state: [`Reader::staff`]'s rule
    /// decided per article, by the state each entry carries (drafts and scheduled
    /// articles whole, published ones as visitors read them).
    Token,
}

impl Reader {
    /// The one rule for what staff credentials read, on every route that returns an
    /// article body (the public API, revisions, and the answers to writes). Staff
    /// sessions allowed to read content read every body. API tokens read drafts whole,
    /// because previewing them is what a frontend's token is for, but a published
    /// gated body only as visitors do: such a token sits in a frontend server, and a
    /// leaked one must not open the paid catalogue (Ghost's Content API keys likewise
    /// never unlock members' content).
    pub fn staff(principal: &Principal, draft: bool) -> Reader {
        match principal {
            Principal::Staff(_) if principal.can(Permission::ReadContent) => Reader::Staff,
            Principal::Token(_) if draft => Reader::Staff,
            _ => Reader::Anonymous,
        }
    }

    /// The reader of the staff's list, which mixes drafts and published articles:
    /// [`Reader::staff`]'s rule for each, without knowing them in advance.
    pub fn staff_list(principal: &Principal) -> Reader {
        match principal {
            Principal::Staff(_) if principal.can(Permission::ReadContent) => Reader::Staff,
            Principal::Token(_) => Reader::Token,
            _ => Reader::Anonymous,
        }
    }
}

/// An article as the admin API answers it (its `visibility`, `excerpt` and
/// `publishedAt` fields), gated for `principal` by [`Reader::staff`].
pub fn admin_article(principal: &Principal, article: &mut Entry) {
    let published = article.get("publishedAt").is_some_and(|p| !p.is_null());
    let visibility = article.get("visibility").and_then(Value::as_str);
    let state = ArticleState {
        published,
        public: visibility == Some("public"),
        excerpt: article
            .get("excerpt")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    state.gate(principal, article);
}

/// What gating an admin answer needs to know of its article.
pub struct ArticleState {
    pub published: bool,
    pub public: bool,
    pub excerpt: Option<String>,
}

impl ArticleState {
    /// Replaces the `body` and `bodyHtml` of `entry` (the article or one of its
    /// revisions) with their teasers unless `principal` reads this article whole.
    pub fn gate(&self, principal: &Principal, entry: &mut Entry) {
        if self.public || Reader::staff(principal, !self.published) == Reader::Staff {
            return;
        }
        let excerpt = self.excerpt.as_deref();
        tease(entry, "body", excerpt, teaser::markdown);
        tease(entry, "bodyHtml", excerpt, teaser::html);
    }
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

const HIDDEN_COLUMNS: [&str; 3] = [VISIBILITY_COLUMN, EXCERPT_COLUMN, PRODUCTS_COLUMN];

/// What one article asks of its reader, and its teaser fallback.
struct Gate {
    requirement: Requirement,
    excerpt: Option<String>,
}

impl Gate {
    /// The gate carried by an entry's hidden columns; `None` when they are missing,
    /// which [`apply`] treats as closed.
    fn of(entry: &Entry) -> Option<Gate> {
        let visibility = entry.get(VISIBILITY_COLUMN)?.as_str()?;
        let requirement = match visibility {
            "public" => Requirement::Public,
            "members" => Requirement::Members,
            // `paid`, and anything a future migration adds: closed until handled.
            _ => Requirement::Paid(
                entry
                    .get(PRODUCTS_COLUMN)?
                    .as_array()?
                    .iter()
                    .filter_map(|p| product(p.as_str()?))
                    .collect(),
            ),
        };
        let excerpt = entry
            .get(EXCERPT_COLUMN)
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some(Gate {
            requirement,
            excerpt,
        })
    }
}

fn product(key: &str) -> Option<Product> {
    let (kind, code) = key.split_once('/')?;
    Some(Product {
        kind: ProductKind::parse(kind).ok()?,
        code: code.to_owned(),
    })
}

/// Gates article `entries` for `reader`: every entry carrying a body gets `access`,
/// and without access its `body` and `bodyHtml` become the teaser. The hidden gate
/// columns leave every entry.
pub fn apply(reader: &Reader, entries: &mut [Entry]) {
    let (member, held): (bool, &[Product]) = match reader {
        Reader::Member(held) => (true, held),
        _ => (false, &[]),
    };
    for entry in entries.iter_mut() {
        if carries_body(entry) {
            let gate = Gate::of(entry);
            let access = match (reader, &gate) {
                (Reader::Staff, _) => true,
                (Reader::Token, _) if unpublished(entry) => true,
                (_, Some(gate)) => gate.requirement.met_by(member, held),
                (_, None) => false,
            };
            if !access {
                let excerpt = gate.as_ref().and_then(|g| g.excerpt.as_deref());
                tease(entry, "body", excerpt, teaser::markdown);
                tease(entry, "bodyHtml", excerpt, teaser::html);
            }
            entry.insert("access".into(), Value::Bool(access));
        }
        for column in HIDDEN_COLUMNS {
            entry.remove(column);
        }
    }
}

/// Whether a staff list's entry is a draft or scheduled; without its state, it counts
/// as published, the closed case.
fn unpublished(entry: &Entry) -> bool {
    entry
        .get(STATE_FIELD)
        .and_then(Value::as_str)
        .is_some_and(|state| state != State::Published.as_str())
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn article(id: i64, visibility: &str, products: &[&str]) -> Entry {
        let Value::Object(entry) = json!({
            "id": id,
            "title": "t",
            "body": "open part\n\n<!--members-only-->\n\nclosed part",
            VISIBILITY_COLUMN: visibility,
            EXCERPT_COLUMN: "the excerpt",
            PRODUCTS_COLUMN: products,
        }) else {
            unreachable!()
        };
        entry
    }

    #[test]
    fn gating_follows_the_hidden_columns_and_removes_them() {
        let plan = Product {
            kind: ProductKind::Plan,
            code: "pro".into(),
        };
        let mut entries = vec![
            article(1, "public", &[]),
            article(2, "members", &[]),
            article(3, "paid", &["plan/pro"]),
            article(4, "paid", &["course/other"]),
        ];
        // A member holding plan/pro: everything but the other course's article.
        apply(&Reader::Member(Arc::from([plan])), &mut entries);
        let access: Vec<bool> = entries.iter().map(|e| e["access"] == true).collect();
        assert_eq!(access, [true, true, true, false]);
        assert!(!entries[3]["body"].as_str().unwrap().contains("closed part"));
        assert!(entries[2]["body"].as_str().unwrap().contains("closed part"));
        for entry in &entries {
            assert!(entry.keys().all(|k| !k.starts_with("__")), "{entry:?}");
        }

        let mut anonymous = vec![article(2, "members", &[]), article(5, "public", &[])];
        apply(&Reader::Anonymous, &mut anonymous);
        assert_eq!(anonymous[0]["access"], false);
        assert_eq!(anonymous[1]["access"], true);
        assert!(anonymous[0].keys().all(|k| !k.starts_with("__")));
    }

    #[test]
    fn tokens_read_drafts_whole_and_published_articles_as_visitors() {
        let mut entries = vec![
            article(1, "members", &[]),
            article(2, "members", &[]),
            article(3, "members", &[]),
        ];
        for (entry, state) in entries.iter_mut().zip(["draft", "scheduled", "published"]) {
            entry.insert(STATE_FIELD.into(), json!(state));
        }
        apply(&Reader::Token, &mut entries);
        let access: Vec<bool> = entries.iter().map(|e| e["access"] == true).collect();
        assert_eq!(access, [true, true, false]);
        assert!(!entries[2]["body"].as_str().unwrap().contains("closed part"));
        // An entry without its state is treated as published.
        let mut stateless = vec![article(4, "members", &[])];
        apply(&Reader::Token, &mut stateless);
        assert_eq!(stateless[0]["access"], false);
    }

    #[test]
    fn an_article_without_its_gate_is_closed() {
        let Value::Object(mut entry) = json!({ "id": 1, "body": "whole body" }) else {
            unreachable!()
        };
        let mut entries = vec![std::mem::take(&mut entry)];
        apply(&Reader::Member(Arc::from([])), &mut entries);
        assert_eq!(entries[0]["access"], false);
        assert_ne!(entries[0]["body"], "whole body");
    }
}
