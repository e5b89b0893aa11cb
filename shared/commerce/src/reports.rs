//! What finance reads across orders: revenue per day by channel and currency with
//! refunds netted (the console's charts), and the order list as CSV.

use chrono::{DateTime, Utc};
use platform::db::GenericClient;
use platform::{
    csv::push_row,
    error::{Error, Result},
};
use schemars::JsonSchema;
use serde::Serialize;
use tokio_postgres::types::Type;

use crate::{
    money::Currency,
    orders::{self, Channel, Filter},
};

/// Days are the publication's: China Standard Time.
pub const TIME_ZONE: &str = "Asia/Shanghai";
/// The longest range one revenue report covers.
pub const MAX_DAYS: i64 = 366;
/// The most orders one CSV export holds; narrow the filter for more.
pub const MAX_EXPORT_ROWS: i64 = 50_000;

/// One day's takings through one channel in one currency.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevenueDay {
    /// `YYYY-MM-DD` in the report's time zone (`/admin/revenue`: China Standard Time).
    pub day: String,
    pub channel: Channel,
    pub currency: Currency,
    /// Orders paid that day.
    pub orders: i64,
    /// What they captured, in minor units.
    pub gross: i64,
    /// What was refunded that day (of any day's orders).
    pub refunded: i64,
    pub net: i64,
}

/// Revenue from `from` (inclusive) to `to` (exclusive), day by day in China Standard
/// Time; days without payments or refunds are absent.
pub async fn revenue(
    client: &impl GenericClient,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<RevenueDay>> {
    revenue_in(client, from, to, TIME_ZONE).await
}

/// [`revenue`] with days in `time_zone` (an IANA name PostgreSQL knows, e.g. `UTC`).
pub async fn revenue_in(
    client: &impl GenericClient,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    time_zone: &str,
) -> Result<Vec<RevenueDay>> {
    if to <= from {
        return Err(Error::invalid("to", "to must be after from"));
    }
    if (to - from).num_days() > MAX_DAYS {
        return Err(Error::invalid(
            "from",
            format!("at most {MAX_DAYS} days at once"),
        ));
    }
    let rows = client
        .query_typed(
            "SELECT to_char(day, 'YYYY-MM-DD'), channel, currency, sum(orders)::bigint,
                    sum(gross)::bigint, sum(refunded)::bigint
             FROM (
               SELECT (paid_at AT TIME ZONE $3)::date AS day, channel, currency,
                      1 AS orders, amount AS gross, 0::bigint AS refunded
               FROM orders WHERE paid_at >= $1 AND paid_at < $2
               UNION ALL
               SELECT (r.settled_at AT TIME ZONE $3)::date, o.channel, o.currency, 0, 0, r.amount
               FROM refunds r JOIN orders o ON o.id = r.order_id
               WHERE r.status = 'succeeded' AND r.settled_at >= $1 AND r.settled_at < $2
             ) t
             GROUP BY day, channel, currency ORDER BY day, channel, currency",
            &[
                (&from, Type::TIMESTAMPTZ),
                (&to, Type::TIMESTAMPTZ),
                (&time_zone, Type::TEXT),
            ],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let (gross, refunded): (i64, i64) = (row.try_get(4)?, row.try_get(5)?);
            Ok(RevenueDay {
                day: row.try_get(0)?,
                channel: Channel::parse(row.try_get(1)?)
                    .ok_or_else(|| Error::internal("an order with an unknown channel"))?,
                currency: Currency::parse(row.try_get(2)?)?,
                orders: row.try_get(3)?,
                gross,
                refunded,
                net: gross - refunded,
            })
        })
        .collect()
}

const CSV_HEADER: &str = "documentId,createdAt,paidAt,status,channel,method,member,productKind,productCode,productName,currency,amount,discount,refunded,promotionCode,providerRef\r\n";

/// The orders `filter` selects, newest first, as RFC 4180 CSV (at most
/// [`MAX_EXPORT_ROWS`]; 400 beyond, so an export is never silently cut short).
pub async fn orders_csv(client: &impl GenericClient, filter: &Filter) -> Result<String> {
    let rows = orders::export(client, filter, MAX_EXPORT_ROWS + 1).await?;
    if rows.len() as i64 > MAX_EXPORT_ROWS {
        return Err(Error::invalid(
            "from",
            format!("more than {MAX_EXPORT_ROWS} orders: narrow the dates or filters"),
        ));
    }
    let mut csv = String::with_capacity(CSV_HEADER.len() + rows.len() * 200);
    csv.push_str(CSV_HEADER);
    for row in &rows {
        push_row(&mut csv, &row.fields());
    }
    Ok(csv)
}
