//! Promotion codes (Ghost's offers, Medusa's promotions): a percentage or a fixed
//! amount off, for one product or any, between two times, with a limit of
//! redemptions in all and per member. [`quote`] prices an order with a code when it
//! is made (the order keeps what it was promised); [`redeem`] counts the code when
//! the order is paid, once per order, inside fulfilment's transaction.
//!
//! A discount always leaves something to pay (percentages run 1 to 99, and an
//! amount off must be less than the price): an order is paid through a provider.

use chrono::{DateTime, Utc};
use platform::db::GenericClient;
use platform::{
    audit,
    error::{Error, Result, map_conflict},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::{Row, types::Type};

use crate::money::{Amount, Currency};

/// A promotion as the admin API answers it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub document_id: String,
    pub code: String,
    pub percent_off: Option<i32>,
    pub amount_off: Option<Amount>,
    pub currency: Option<Currency>,
    /// The product it is for (its documentId); none for any.
    pub product: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_redemptions: Option<i32>,
    pub max_per_member: i32,
    pub active: bool,
    /// Paid orders that used it.
    pub redemptions: i64,
}

/// A promotion as an admin writes it: the code and its discount once, the rest
/// whenever.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromotionInput {
    /// 3 to 32 upper-case letters and digits; members type it case-insensitively.
    pub code: Option<String>,
    pub percent_off: Option<i32>,
    pub amount_off: Option<Amount>,
    pub currency: Option<Currency>,
    /// A product's documentId, to limit the code to it.
    pub product: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_redemptions: Option<i32>,
    pub max_per_member: Option<i32>,
    pub active: Option<bool>,
}

const COLUMNS: &str = "pm.document_id, pm.code, pm.percent_off, pm.amount_off, pm.currency,
     (SELECT document_id FROM products WHERE id = pm.product_id), pm.starts_at, pm.ends_at,
     pm.max_redemptions, pm.max_per_member, pm.active,
     (SELECT count(*) FROM promotion_redemptions r WHERE r.promotion_id = pm.id)";

const CONFLICTS: &[(&str, &str)] = &[("promotions_code_key", "this code exists already")];

impl Promotion {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Promotion {
            document_id: row.try_get(0)?,
            code: row.try_get(1)?,
            percent_off: row.try_get(2)?,
            amount_off: row
                .try_get::<_, Option<i64>>(3)?
                .map(Amount::new)
                .transpose()?,
            currency: row
                .try_get::<_, Option<&str>>(4)?
                .map(Currency::parse)
                .transpose()?,
            product: row.try_get(5)?,
            starts_at: row.try_get(6)?,
            ends_at: row.try_get(7)?,
            max_redemptions: row.try_get(8)?,
            max_per_member: row.try_get(9)?,
            active: row.try_get(10)?,
            redemptions: row.try_get(11)?,
        })
    }
}

/// A code as members type it: trimmed and upper-cased; 400 naming `field` unless it
/// is 3 to 32 letters and digits.
pub fn normalize_code(raw: &str, field: &str) -> Result<String> {
    let code = raw.trim().to_ascii_uppercase();
    if (3..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(Error::invalid(
            field,
            "a promotion code is 3 to 32 letters and digits",
        ))
    }
}

pub async fn list(client: &impl GenericClient) -> Result<Vec<Promotion>> {
    client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM promotions pm ORDER BY pm.id"),
            &[],
        )
        .await?
        .iter()
        .map(Promotion::from_row)
        .collect()
}

pub async fn by_document_id(client: &impl GenericClient, document_id: &str) -> Result<Promotion> {
    client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM promotions pm WHERE pm.document_id = $1"),
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(Promotion::from_row)
        .unwrap_or_else(|| Err(Error::NotFound("no such promotion".into())))
}

fn check_limits(input: &PromotionInput) -> Result<()> {
    if input.max_redemptions.is_some_and(|n| n < 1) {
        return Err(Error::invalid(
            "maxRedemptions",
            "maxRedemptions must be at least 1",
        ));
    }
    if input.max_per_member.is_some_and(|n| n < 1) {
        return Err(Error::invalid(
            "maxPerMember",
            "maxPerMember must be at least 1",
        ));
    }
    Ok(())
}

/// Adds a promotion (in the caller's transaction, audited as `actor`).
pub async fn create(
    client: &impl platform::db::Transactional,
    actor: &str,
    input: PromotionInput,
) -> Result<Promotion> {
    let code = normalize_code(input.code.as_deref().unwrap_or_default(), "code")?;
    match (input.percent_off, input.amount_off, input.currency) {
        (Some(percent), None, None) if (1..=99).contains(&percent) => {}
        (Some(_), None, None) => {
            return Err(Error::invalid("percentOff", "percentOff must be 1 to 99"));
        }
        (None, Some(_), Some(_)) => {}
        (None, Some(_), None) => {
            return Err(Error::invalid(
                "currency",
                "an amount off needs its currency",
            ));
        }
        _ => {
            return Err(Error::invalid(
                "percentOff",
                "give either percentOff, or amountOff with its currency",
            ));
        }
    }
    check_limits(&input)?;
    let product_id = match &input.product {
        Some(product) => Some(product_id(client, product).await?),
        None => None,
    };
    let rows = client
        .query_typed(
            "INSERT INTO promotions (code, percent_off, amount_off, currency, product_id, starts_at,
                 ends_at, max_redemptions, max_per_member, active)
             VALUES ($1, $2, $3, $4, $5, COALESCE($6, now()), $7, $8, COALESCE($9, 1),
                 COALESCE($10, true))
             RETURNING document_id",
            &[
                (&code, Type::TEXT),
                (&input.percent_off, Type::INT4),
                (&input.amount_off.map(Amount::minor), Type::INT8),
                (&input.currency.map(Currency::as_str), Type::TEXT),
                (&product_id, Type::INT8),
                (&input.starts_at, Type::TIMESTAMPTZ),
                (&input.ends_at, Type::TIMESTAMPTZ),
                (&input.max_redemptions, Type::INT4),
                (&input.max_per_member, Type::INT4),
                (&input.active, Type::BOOL),
            ],
        )
        .await
        .map_err(window_error)?;
    let document_id: String = rows
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::internal("promotion insert returned no row"))?;
    audit::record(
        client,
        actor,
        "promotion.create",
        &format!("promotion:{document_id}"),
        json!({ "code": code }),
    )
    .await?;
    by_document_id(client, &document_id).await
}

/// A write's database error as the client's: an inverted window (the one CHECK a
/// valid input can still break) or a taken code.
fn window_error(err: tokio_postgres::Error) -> Error {
    if err.code() == Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION) {
        return Error::invalid("endsAt", "endsAt must be after startsAt");
    }
    map_conflict(err, CONFLICTS)
}

/// Changes a promotion's window, limits or active state; its code and discount
/// never change (orders were promised them).
pub async fn update(
    client: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
    input: PromotionInput,
) -> Result<Promotion> {
    if input.code.is_some()
        || input.percent_off.is_some()
        || input.amount_off.is_some()
        || input.currency.is_some()
        || input.product.is_some()
    {
        return Err(Error::invalid(
            "code",
            "a promotion's code, discount and product never change: make a new one",
        ));
    }
    check_limits(&input)?;
    let rows = client
        .query_typed(
            "UPDATE promotions SET starts_at = COALESCE($2, starts_at), ends_at = COALESCE($3, ends_at),
                 max_redemptions = COALESCE($4, max_redemptions),
                 max_per_member = COALESCE($5, max_per_member), active = COALESCE($6, active)
             WHERE document_id = $1 RETURNING id",
            &[
                (&document_id, Type::TEXT),
                (&input.starts_at, Type::TIMESTAMPTZ),
                (&input.ends_at, Type::TIMESTAMPTZ),
                (&input.max_redemptions, Type::INT4),
                (&input.max_per_member, Type::INT4),
                (&input.active, Type::BOOL),
            ],
        )
        .await
        .map_err(window_error)?;
    if rows.is_empty() {
        return Err(Error::NotFound("no such promotion".into()));
    }
    audit::record(
        client,
        actor,
        "promotion.update",
        &format!("promotion:{document_id}"),
        json!({ "active": input.active }),
    )
    .await?;
    by_document_id(client, document_id).await
}

async fn product_id(client: &impl GenericClient, document_id: &str) -> Result<i64> {
    client
        .query_typed(
            "SELECT id FROM products WHERE document_id = $1",
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::invalid("product", "no such product"))
}

/// Whether promotion `pm` is used up in all, and by member `$2`: the first two
/// columns of the statements that quote and redeem.
const LIMITS_REACHED: &str = "pm.max_redemptions IS NOT NULL
       AND (SELECT count(*) FROM promotion_redemptions r WHERE r.promotion_id = pm.id)
           >= pm.max_redemptions,
     (SELECT count(*) FROM promotion_redemptions r
       WHERE r.promotion_id = pm.id AND r.member_id = $2) >= pm.max_per_member";

/// What an order with a code costs: the promotion's id and the discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub promotion_id: i64,
    pub discount: i64,
}

/// Prices `amount` of `currency` for the product `product_id` with `code`, for the
/// member: 400 naming `promotionCode` when the code is unknown, inactive, outside its
/// window, for another product or currency, used up (in all or by this member), or
/// would leave nothing to pay.
pub async fn quote(
    client: &impl GenericClient,
    code: &str,
    member_id: i64,
    product_id: i64,
    currency: Currency,
    amount: Amount,
) -> Result<Quote> {
    let refused = |why: &str| Error::invalid("promotionCode", why);
    let code = normalize_code(code, "promotionCode")?;
    let rows = client
        .query_typed(
            &format!(
                "SELECT {LIMITS_REACHED}, pm.id, pm.percent_off, pm.amount_off, pm.currency,
                        pm.product_id,
                        pm.active AND pm.starts_at <= now()
                          AND (pm.ends_at IS NULL OR pm.ends_at > now())
                 FROM promotions pm WHERE pm.code = $1"
            ),
            &[(&code, Type::TEXT), (&member_id, Type::INT8)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| refused("no such promotion code"))?;
    let (id, percent, amount_off, for_currency, for_product): (
        i64,
        Option<i32>,
        Option<i64>,
        Option<String>,
        Option<i64>,
    ) = (row.get(2), row.get(3), row.get(4), row.get(5), row.get(6));
    let (exhausted, used_by_member, open): (bool, bool, bool) =
        (row.get(0), row.get(1), row.get(7));
    if !open {
        return Err(refused("this promotion code is not valid now"));
    }
    if for_product.is_some_and(|p| p != product_id) {
        return Err(refused("this promotion code is for another product"));
    }
    if exhausted {
        return Err(refused("this promotion code has been used up"));
    }
    if used_by_member {
        return Err(refused("you have used this promotion code already"));
    }
    let discount = match (percent, amount_off, for_currency) {
        (Some(percent), _, _) => amount.minor() * i64::from(percent) / 100,
        (None, Some(off), Some(c)) if c == currency.as_str() => off,
        _ => return Err(refused("this promotion code is for another currency")),
    };
    if discount >= amount.minor() {
        return Err(refused("this promotion code would leave nothing to pay"));
    }
    Ok(Quote {
        promotion_id: id,
        discount,
    })
}

/// Counts the order's promotion as used, once: inside fulfilment's transaction,
/// with the promotion locked so concurrent orders count one after another. An order
/// paid after the code ran out meanwhile keeps the price it was promised; the
/// redemption is still recorded, and the limit it went over returned for the record.
pub async fn redeem(
    client: &impl platform::db::Transactional,
    order_id: i64,
    member_id: i64,
    promotion_id: i64,
) -> Result<Option<&'static str>> {
    let rows = client
        .query_typed(
            &format!("SELECT {LIMITS_REACHED} FROM promotions pm WHERE pm.id = $1 FOR UPDATE"),
            &[(&promotion_id, Type::INT8), (&member_id, Type::INT8)],
        )
        .await?;
    let over = rows.first().and_then(|row| {
        if row.get(0) {
            Some("redemptions")
        } else if row.get(1) {
            Some("per member")
        } else {
            None
        }
    });
    client
        .query_typed(
            "INSERT INTO promotion_redemptions (promotion_id, order_id, member_id)
             VALUES ($1, $2, $3) ON CONFLICT (order_id) DO NOTHING",
            &[
                (&promotion_id, Type::INT8),
                (&order_id, Type::INT8),
                (&member_id, Type::INT8),
            ],
        )
        .await?;
    Ok(over)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_typed_case_insensitively_and_bounded() {
        assert_eq!(normalize_code(" launch50 ", "c").unwrap(), "LAUNCH50");
        for bad in ["", "AB", "早鸟优惠", "LAUNCH-50", &"A".repeat(33)] {
            assert!(normalize_code(bad, "c").is_err(), "{bad}");
        }
    }
}
