//! The catalogue: plans and courses with their prices (Medusa's products and price
//! lists, Stripe's products and prices). A product's `kind` and `code` are what
//! entitlements and gated articles name, so they never change; a course may grant
//! access for a number of days instead of for life. Prices say how a product is sold:
//! a plan by the month or year, prepaid (the period added to the member's access) or
//! as a subscription Stripe renews; a course once. A price is immutable, as Stripe's
//! are: a new amount is a new price and the old one is deactivated, so an order keeps
//! pointing at what was paid. Nothing here is ever deleted.

use chrono::{DateTime, Utc};
use identity::entitlements::ProductKind;
use platform::db::GenericClient;
use platform::{
    audit,
    error::{Error, Result, map_conflict},
    http::bounded,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::{Row, types::Type};

use crate::money::{Amount, Currency};

/// How a product is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Billing {
    /// A plan's period paid up front; buying again extends access.
    Prepaid,
    /// A plan renewed by Stripe every period until cancelled.
    Subscription,
    /// A course, bought once.
    OneTime,
}

impl Billing {
    fn sql(self) -> &'static str {
        match self {
            Billing::Prepaid => "prepaid",
            Billing::Subscription => "subscription",
            Billing::OneTime => "one_time",
        }
    }
}

/// A plan's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Month,
    Year,
}

impl Period {
    fn as_str(self) -> &'static str {
        match self {
            Period::Month => "month",
            Period::Year => "year",
        }
    }
}

/// One way to buy a product, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    /// What checkout names.
    pub document_id: String,
    pub currency: Currency,
    /// Minor units: fen for CNY, cents for USD.
    pub amount: Amount,
    pub billing: Billing,
    /// Plans: what one purchase or renewal adds.
    pub period: Option<Period>,
}

/// A price as an admin writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceInput {
    pub currency: Currency,
    pub amount: Amount,
    pub billing: Billing,
    #[serde(default)]
    pub period: Option<Period>,
}

/// A product as the admin API answers it, with its active prices.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub document_id: String,
    pub kind: ProductKind,
    pub code: String,
    pub name: String,
    pub description: String,
    /// Courses: days of access from purchase; none for life.
    pub access_days: Option<i32>,
    pub active: bool,
    pub prices: Vec<Price>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A product's fields as an admin writes them: all of them to create one, any of
/// them to change one (but never `kind` or `code`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductInput {
    pub kind: Option<ProductKind>,
    /// Lower-case letters, digits and single hyphens, as entitlements name it.
    pub code: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub access_days: Option<i32>,
    pub active: Option<bool>,
    /// The whole list of active prices: an unchanged price keeps its id, a changed
    /// or missing one is deactivated, a new one added.
    pub prices: Option<Vec<PriceInput>>,
}

const MAX_NAME: usize = 120;
const MAX_DESCRIPTION: usize = 2000;
const MAX_CODE: usize = 64;

const COLUMNS: &str = "p.document_id, p.kind, p.code, p.name, p.description, p.access_days,
     p.active, p.created_at, p.updated_at,
     COALESCE((SELECT json_agg(json_build_object('documentId', pr.document_id,
                   'currency', pr.currency, 'amount', pr.amount,
                   'billing', replace(pr.billing, '_', '-'), 'period', pr.period)
                 ORDER BY pr.currency, pr.billing, pr.period)
               FROM prices pr WHERE pr.product_id = p.id AND pr.active), '[]')";

const CONFLICTS: &[(&str, &str)] = &[(
    "products_kind_code_key",
    "a product of this kind already has this code",
)];

impl Product {
    fn from_row(row: &Row) -> Result<Self> {
        let prices: Value = row.try_get(9)?;
        Ok(Product {
            document_id: row.try_get(0)?,
            kind: ProductKind::parse(row.try_get(1)?)?,
            code: row.try_get(2)?,
            name: row.try_get(3)?,
            description: row.try_get(4)?,
            access_days: row.try_get(5)?,
            active: row.try_get(6)?,
            created_at: row.try_get(7)?,
            updated_at: row.try_get(8)?,
            prices: serde_json::from_value(prices).map_err(Error::internal)?,
        })
    }
}

/// Every product, active or not, oldest first.
pub async fn list(client: &impl GenericClient) -> Result<Vec<Product>> {
    client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM products p ORDER BY p.id"),
            &[],
        )
        .await?
        .iter()
        .map(Product::from_row)
        .collect()
}

/// What is on sale: active products with their active prices, oldest first.
pub async fn on_sale(client: &impl GenericClient) -> Result<Vec<Product>> {
    client
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM products p WHERE p.active
                   AND EXISTS (SELECT 1 FROM prices pr WHERE pr.product_id = p.id AND pr.active)
                 ORDER BY p.id"
            ),
            &[],
        )
        .await?
        .iter()
        .map(Product::from_row)
        .collect()
}

pub async fn by_document_id(client: &impl GenericClient, document_id: &str) -> Result<Product> {
    client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM products p WHERE p.document_id = $1"),
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(Product::from_row)
        .unwrap_or_else(|| Err(Error::NotFound("no such product".into())))
}

/// A product's prices, checked against its kind: a plan's are prepaid or a
/// subscription, by the month or the year; a course's are one-time. At least one,
/// and one per currency and terms.
fn check_prices(kind: ProductKind, prices: &[PriceInput]) -> Result<()> {
    if prices.is_empty() {
        return Err(Error::invalid(
            "prices",
            "a product needs at least one price",
        ));
    }
    for price in prices {
        match (kind, price.billing, price.period) {
            (ProductKind::Plan, Billing::Prepaid | Billing::Subscription, Some(_)) => {}
            (ProductKind::Plan, Billing::OneTime, _) => {
                return Err(Error::invalid(
                    "prices",
                    "a plan is sold prepaid or as a subscription",
                ));
            }
            (ProductKind::Plan, _, None) => {
                return Err(Error::invalid(
                    "prices",
                    "a plan's price needs a period: month or year",
                ));
            }
            (ProductKind::Course, Billing::OneTime, None) => {}
            (ProductKind::Course, _, _) => {
                return Err(Error::invalid(
                    "prices",
                    "a course is sold once: billing one-time, no period",
                ));
            }
        }
    }
    let mut terms: Vec<_> = prices
        .iter()
        .map(|p| (p.currency, p.billing.sql(), p.period.map(Period::as_str)))
        .collect();
    terms.sort();
    terms.dedup();
    if terms.len() != prices.len() {
        return Err(Error::invalid(
            "prices",
            "one price per currency, billing and period",
        ));
    }
    Ok(())
}

fn check_access_days(kind: ProductKind, access_days: Option<i32>) -> Result<()> {
    match (kind, access_days) {
        (ProductKind::Plan, Some(_)) => Err(Error::invalid(
            "accessDays",
            "a plan's access follows its prices' periods, not accessDays",
        )),
        (ProductKind::Course, Some(days)) if !(1..=3650).contains(&days) => Err(Error::invalid(
            "accessDays",
            "accessDays must be 1 to 3650, or absent for life",
        )),
        _ => Ok(()),
    }
}

fn check_code(code: &str) -> Result<String> {
    let valid = !code.is_empty()
        && code.len() <= MAX_CODE
        && code.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if valid {
        Ok(code.to_owned())
    } else {
        Err(Error::invalid(
            "code",
            "code must be lower-case letters, digits and single hyphens, at most 64",
        ))
    }
}

fn check_description(description: Option<&str>) -> Result<()> {
    platform::http::at_most(description, "description", MAX_DESCRIPTION)
}

/// Makes `prices` the product's active price list: an active price with the same
/// currency, terms and amount stays (and keeps its id), every other active one is
/// deactivated, and the rest are added.
async fn save_prices(
    client: &impl GenericClient,
    product_id: i64,
    prices: &[PriceInput],
) -> Result<()> {
    let currencies: Vec<&str> = prices.iter().map(|p| p.currency.as_str()).collect();
    let amounts: Vec<i64> = prices.iter().map(|p| p.amount.minor()).collect();
    let billings: Vec<&str> = prices.iter().map(|p| p.billing.sql()).collect();
    let periods: Vec<&str> = prices
        .iter()
        .map(|p| p.period.map_or("", Period::as_str))
        .collect();
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 5] = [
        (&product_id, Type::INT8),
        (&currencies, Type::TEXT_ARRAY),
        (&amounts, Type::INT8_ARRAY),
        (&billings, Type::TEXT_ARRAY),
        (&periods, Type::TEXT_ARRAY),
    ];
    client
        .query_typed(
            "UPDATE prices SET active = false
             WHERE product_id = $1 AND active
               AND (currency, amount, billing, coalesce(period, '')) NOT IN (
                   SELECT * FROM unnest($2::text[], $3::int8[], $4::text[], $5::text[]))",
            &params,
        )
        .await?;
    client
        .query_typed(
            "INSERT INTO prices (product_id, currency, amount, billing, period)
             SELECT $1, c, a, b, nullif(p, '')
             FROM unnest($2::text[], $3::int8[], $4::text[], $5::text[]) AS t (c, a, b, p)
             WHERE NOT EXISTS (
                 SELECT 1 FROM prices x WHERE x.product_id = $1 AND x.active AND x.currency = c
                   AND x.amount = a AND x.billing = b AND coalesce(x.period, '') = p)",
            &params,
        )
        .await?;
    Ok(())
}

/// Adds a product (in the caller's transaction, with its audit entry by `actor`).
pub async fn create(
    client: &impl platform::db::Transactional,
    actor: &str,
    input: ProductInput,
) -> Result<Product> {
    let kind = input
        .kind
        .ok_or_else(|| Error::invalid("kind", "kind is required: plan or course"))?;
    let code = check_code(input.code.as_deref().unwrap_or_default())?;
    let name = bounded(input.name.as_deref().unwrap_or_default(), "name", MAX_NAME)?;
    check_description(input.description.as_deref())?;
    check_access_days(kind, input.access_days)?;
    let prices = input
        .prices
        .ok_or_else(|| Error::invalid("prices", "prices are required"))?;
    check_prices(kind, &prices)?;
    let row = client
        .query_typed(
            "INSERT INTO products (kind, code, name, description, access_days, active)
             VALUES ($1, $2, $3, COALESCE($4, ''), $5, COALESCE($6, true))
             RETURNING id, document_id",
            &[
                (&kind.as_str(), Type::TEXT),
                (&code, Type::TEXT),
                (&name, Type::TEXT),
                (&input.description, Type::TEXT),
                (&input.access_days, Type::INT4),
                (&input.active, Type::BOOL),
            ],
        )
        .await
        .map_err(|e| map_conflict(e, CONFLICTS))?;
    let row = row
        .first()
        .ok_or_else(|| Error::internal("product insert returned no row"))?;
    let (id, document_id): (i64, String) = (row.get(0), row.get(1));
    save_prices(client, id, &prices).await?;
    audit::record(
        client,
        actor,
        "product.create",
        &format!("product:{document_id}"),
        json!({ "kind": kind.as_str(), "code": code }),
    )
    .await?;
    by_document_id(client, &document_id).await
}

/// Changes a product's name, description, access days, prices or active state (in
/// the caller's transaction, with its audit entry by `actor`).
pub async fn update(
    client: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
    input: ProductInput,
) -> Result<Product> {
    let rows = client
        .query_typed(
            "SELECT id, kind, code FROM products WHERE document_id = $1 FOR UPDATE",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::NotFound("no such product".into()))?;
    let (id, kind, code): (i64, ProductKind, String) =
        (row.get(0), ProductKind::parse(row.get(1))?, row.get(2));
    if input.kind.is_some_and(|k| k != kind) || input.code.as_ref().is_some_and(|c| *c != code) {
        return Err(Error::invalid(
            "code",
            "a product's kind and code never change: entitlements and articles name them",
        ));
    }
    let name = match input.name.as_deref() {
        Some(name) => Some(bounded(name, "name", MAX_NAME)?),
        None => None,
    };
    check_description(input.description.as_deref())?;
    check_access_days(kind, input.access_days)?;
    if let Some(prices) = &input.prices {
        check_prices(kind, prices)?;
    }
    client
        .query_typed(
            "UPDATE products SET name = COALESCE($2, name), description = COALESCE($3, description),
                 access_days = COALESCE($4, access_days), active = COALESCE($5, active),
                 updated_at = now()
             WHERE id = $1",
            &[
                (&id, Type::INT8),
                (&name, Type::TEXT),
                (&input.description, Type::TEXT),
                (&input.access_days, Type::INT4),
                (&input.active, Type::BOOL),
            ],
        )
        .await?;
    if let Some(prices) = &input.prices {
        save_prices(client, id, prices).await?;
    }
    audit::record(
        client,
        actor,
        "product.update",
        &format!("product:{document_id}"),
        json!({ "active": input.active, "prices": input.prices.is_some() }),
    )
    .await?;
    by_document_id(client, document_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(billing: Billing, period: Option<Period>) -> PriceInput {
        PriceInput {
            currency: Currency::Cny,
            amount: Amount::new(9900).unwrap(),
            billing,
            period,
        }
    }

    #[test]
    fn prices_follow_the_kind() {
        use Billing::*;
        let (plan, course) = (ProductKind::Plan, ProductKind::Course);
        let month = Some(Period::Month);
        assert!(check_prices(plan, &[price(Prepaid, month)]).is_ok());
        assert!(check_prices(plan, &[price(Prepaid, month), price(Subscription, month)]).is_ok());
        assert!(
            check_prices(
                plan,
                &[price(Prepaid, month), price(Prepaid, Some(Period::Year))]
            )
            .is_ok()
        );
        assert!(check_prices(plan, &[price(Prepaid, month), price(Prepaid, month)]).is_err());
        assert!(check_prices(plan, &[price(OneTime, None)]).is_err());
        assert!(check_prices(plan, &[price(Prepaid, None)]).is_err());
        assert!(check_prices(plan, &[]).is_err());
        assert!(check_prices(course, &[price(OneTime, None)]).is_ok());
        assert!(check_prices(course, &[price(Prepaid, month)]).is_err());
        assert!(check_prices(course, &[price(OneTime, month)]).is_err());
        assert!(check_access_days(plan, Some(30)).is_err());
        assert!(check_access_days(course, Some(0)).is_err());
        assert!(check_access_days(course, Some(365)).is_ok());
        assert!(check_access_days(course, None).is_ok());
    }

    #[test]
    fn codes_are_what_entitlements_can_name() {
        for good in ["pro", "prompt-101", "a1-b2-c3"] {
            assert!(check_code(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Pro",
            "pro plan",
            "-pro",
            "pro-",
            "pro--plus",
            "专业",
            &"x".repeat(65),
        ] {
            assert!(check_code(bad).is_err(), "{bad}");
        }
    }
}
