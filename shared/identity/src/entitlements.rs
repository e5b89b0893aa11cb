//! Entitlements: what a member may read, from plans and purchases, with expiry.
//!
//! Payments write them (one per purchase, keyed by `source_ref` so a replayed
//! webhook cannot grant twice), staff grant comp access, and content asks
//! [`may_access`] before serving a gated body.

use chrono::{DateTime, Utc};
use platform::db::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::types::Type;

use platform::error::{Error, Result};
use schemars::JsonSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProductKind {
    Plan,
    Course,
}

impl ProductKind {
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "plan" => Ok(ProductKind::Plan),
            "course" => Ok(ProductKind::Course),
            _ => Err(Error::invalid("kind", "kind must be plan or course")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProductKind::Plan => "plan",
            ProductKind::Course => "course",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Purchase,
    Subscription,
    Comp,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Purchase => "purchase",
            Source::Subscription => "subscription",
            Source::Comp => "comp",
        }
    }
}

/// A plan or course, by kind and code (`plan/pro`, `course/prompt-101`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Product {
    pub kind: ProductKind,
    pub code: String,
}

/// What reading a piece of content takes (Ghost's visibility model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Public,
    /// Any signed-in member.
    Members,
    /// An active entitlement to any of these products.
    Paid(Vec<Product>),
}

impl Requirement {
    /// Whether a reader meets this requirement, knowing whether they are a signed-in
    /// member and which of the requirement's products they hold now (see
    /// [`held`]). A paid requirement without products unlocks for nobody.
    pub fn met_by(&self, member: bool, held: &[Product]) -> bool {
        match self {
            Requirement::Public => true,
            Requirement::Members => member,
            Requirement::Paid(products) => member && products.iter().any(|p| held.contains(p)),
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entitlement {
    pub document_id: String,
    pub product: Product,
    pub source: Source,
    pub starts_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

pub const COLUMNS: &str = "document_id, product_kind, product_code, source, starts_at, expires_at, revoked_at IS NOT NULL";

impl Entitlement {
    pub fn from_row(row: &tokio_postgres::Row) -> Self {
        let kind = match row.get::<_, &str>(1) {
            "course" => ProductKind::Course,
            _ => ProductKind::Plan,
        };
        let source = match row.get::<_, &str>(3) {
            "purchase" => Source::Purchase,
            "subscription" => Source::Subscription,
            _ => Source::Comp,
        };
        Self {
            document_id: row.get(0),
            product: Product {
                kind,
                code: row.get(2),
            },
            source,
            starts_at: row.get(4),
            expires_at: row.get(5),
            revoked: row.get(6),
        }
    }
}

pub struct Grant<'a> {
    pub member_id: i64,
    pub product: &'a Product,
    pub source: Source,
    /// The order or subscription id; at most one grant per (source, source_ref).
    pub source_ref: Option<&'a str>,
    pub starts_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub granted_by: Option<i64>,
}

/// Grants access; returns `None` when this `source_ref` was already granted.
pub async fn grant(client: &impl GenericClient, grant: &Grant<'_>) -> Result<Option<Entitlement>> {
    // Decided here, not by the database's clock, so an end before it is the caller's
    // 400 rather than the table's CHECK failing as a 500.
    let starts_at = grant.starts_at.unwrap_or_else(Utc::now);
    if grant.expires_at.is_some_and(|end| end <= starts_at) {
        return Err(Error::invalid(
            "expiresAt",
            "expiresAt must be after startsAt (now, when startsAt is absent)",
        ));
    }
    let row = client
        .query_typed(
            &format!(
                "INSERT INTO entitlements (member_id, product_kind, product_code, source, source_ref, starts_at, expires_at, granted_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (source, source_ref) WHERE source_ref IS NOT NULL DO NOTHING
                 RETURNING {COLUMNS}"
            ),
            &[
                (&grant.member_id, Type::INT8),
                (&grant.product.kind.as_str(), Type::TEXT),
                (&grant.product.code, Type::TEXT),
                (&grant.source.as_str(), Type::TEXT),
                (&grant.source_ref, Type::TEXT),
                (&starts_at, Type::TIMESTAMPTZ),
                (&grant.expires_at, Type::TIMESTAMPTZ),
                (&grant.granted_by, Type::INT8),
            ],
        )
        .await?;
    Ok(row.first().map(Entitlement::from_row))
}

/// Every entitlement of a member, newest first (expired and revoked included).
pub async fn list(client: &impl GenericClient, member_id: i64) -> Result<Vec<Entitlement>> {
    let rows = client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM entitlements WHERE member_id = $1 ORDER BY created_at DESC, id DESC"),
            &[(&member_id, Type::INT8)],
        )
        .await?;
    Ok(rows.iter().map(Entitlement::from_row).collect())
}

/// Revokes one entitlement; false when there was none to revoke.
pub async fn revoke(client: &impl GenericClient, document_id: &str) -> Result<bool> {
    let rows = client
        .query_typed(
            "UPDATE entitlements SET revoked_at = now() WHERE document_id = $1 AND revoked_at IS NULL RETURNING id",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// Revokes what `source_ref` (an order) granted through `source`; false when it
/// granted nothing still in force.
pub async fn revoke_granted(
    client: &impl GenericClient,
    source: Source,
    source_ref: &str,
) -> Result<bool> {
    let rows = client
        .query_typed(
            "UPDATE entitlements SET revoked_at = now()
             WHERE source = $1 AND source_ref = $2 AND revoked_at IS NULL RETURNING id",
            &[(&source.as_str(), Type::TEXT), (&source_ref, Type::TEXT)],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// Where a new period of `product` for the member starts: when their current access
/// to it ends, if it has not ended yet (buying a month while a month is left adds a
/// month after it), else now. Callers lock the member first, so two purchases paid at
/// once cannot both start from the same end.
pub async fn extend_from(
    client: &impl GenericClient,
    member_id: i64,
    product: &Product,
) -> Result<DateTime<Utc>> {
    let row = client
        .query_typed(
            "SELECT greatest(now(), max(expires_at)) FROM entitlements
             WHERE member_id = $1 AND product_kind = $2 AND product_code = $3
               AND revoked_at IS NULL AND expires_at > now()",
            &[
                (&member_id, Type::INT8),
                (&product.kind.as_str(), Type::TEXT),
                (&product.code, Type::TEXT),
            ],
        )
        .await?;
    Ok(row
        .first()
        .and_then(|r| r.get::<_, Option<DateTime<Utc>>>(0))
        .unwrap_or_else(Utc::now))
}

/// SQL, for another crate's query to embed (marketing's segments): true when the
/// member whose id is the expression `member` holds an active plan now, any plan
/// or the one whose code is the text parameter `plan` (NULL: any). What "active"
/// means stays here, with [`held`].
pub fn holds_active_plan(member: &str, plan: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM entitlements e
                 WHERE e.member_id = {member} AND e.product_kind = 'plan'
                   AND ({plan}::text IS NULL OR e.product_code = {plan})
                   AND e.revoked_at IS NULL
                   AND e.starts_at <= now() AND (e.expires_at IS NULL OR e.expires_at > now()))"
    )
}

/// SQL, for another crate's query to embed: how many grants the member whose id is
/// the expression `member` paid for (purchases and subscription periods, revoked
/// or not: a refund does not undo having bought).
pub fn paid_grants(member: &str) -> String {
    format!(
        "(SELECT count(*) FROM entitlements e
          WHERE e.member_id = {member} AND e.source IN ('purchase', 'subscription'))"
    )
}

/// Every product the member holds an active entitlement to now, sorted: the one
/// entitlement decision a request makes (content's cache class and its gate both
/// follow from it, so they cannot disagree).
pub async fn held(client: &impl GenericClient, member_id: i64) -> Result<Vec<Product>> {
    let rows = client
        .query_typed(
            "SELECT DISTINCT product_kind, product_code FROM entitlements
             WHERE member_id = $1 AND revoked_at IS NULL
               AND starts_at <= now() AND (expires_at IS NULL OR expires_at > now())
             ORDER BY 1, 2",
            &[(&member_id, Type::INT8)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Product {
                kind: ProductKind::parse(row.try_get(0)?)?,
                code: row.try_get(1)?,
            })
        })
        .collect()
}

/// May this member (or an anonymous reader, `None`) read content with this requirement now?
pub async fn may_access(
    client: &impl GenericClient,
    member_id: Option<i64>,
    requirement: &Requirement,
) -> Result<bool> {
    let held = match (requirement, member_id) {
        (Requirement::Paid(_), Some(member_id)) => held(client, member_id).await?,
        _ => Vec::new(),
    };
    Ok(requirement.met_by(member_id.is_some(), &held))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(code: &str) -> Product {
        Product {
            kind: ProductKind::Plan,
            code: code.into(),
        }
    }

    #[test]
    fn requirements_are_met_by_membership_and_held_products() {
        let paid = Requirement::Paid(vec![plan("pro"), plan("vip")]);
        assert!(Requirement::Public.met_by(false, &[]));
        assert!(!Requirement::Members.met_by(false, &[]));
        assert!(Requirement::Members.met_by(true, &[]));
        assert!(!paid.met_by(true, &[]));
        assert!(!paid.met_by(true, &[plan("basic")]));
        assert!(paid.met_by(true, &[plan("vip")]));
        assert!(!paid.met_by(false, &[plan("vip")]));
        assert!(!Requirement::Paid(Vec::new()).met_by(true, &[plan("pro")]));
    }
}
