//! The console's overview (`GET /admin/dashboard?days=N`): the last N days (UTC) of
//! revenue, new members, new subscribers and publications, the campaigns sent last,
//! scheduled articles waiting, and deliveries that failed for good.
//!
//! Any staff credential may ask, and each section is there only for callers allowed
//! to read what it counts (null otherwise): revenue with `payments.read`, members
//! with `members.read`, marketing with `marketing.read`, content with
//! `content.read`, failed deliveries with `audit.read` (the operators'). Each
//! table's SQL stays with the crate that owns it (`commerce::reports`,
//! `identity::members`, `marketing::{subscribers, campaigns}`, `content::reports`,
//! `content::outgoing_webhooks`, `mail`); this function only composes, so it
//! is the one place that links all of them for the console, and the admin function
//! keeps linking only what it manages.

use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, Utc};
use commerce::reports::{self, RevenueDay};
use content::outgoing_webhooks;
use http::StatusCode;
use identity::{
    access::{Permission, Principal},
    route::{Call, Doc, Guard, Route, Router, Schema, SchemaGenerator, schema_of},
};
use lambda_http::{Body, Response};
use marketing::campaigns::Sent;
use platform::{
    Error, Platform, Result,
    http::{data, page_param},
};
use schemars::{JsonSchema, json_schema};
use serde::Serialize;

/// Days covered when `days` is absent, and at most.
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 365;
/// Campaigns in the overview.
const RECENT_CAMPAIGNS: i64 = 5;

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Platform>] = &[
    identity::route!(GET "/admin/dashboard", Guard::Staff, dashboard,
    Doc::new("The console's overview of the last `days` days (UTC): each section only for callers allowed to read it, null otherwise", schema_of::<Dashboard>)
        .query(query_schema)),
];

fn query_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "days": { "type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": DEFAULT_DAYS },
        },
    })
}

/// One UTC day's count.
#[derive(Debug, PartialEq, Serialize, JsonSchema)]
pub struct DayCount {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub count: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    /// The first and last day covered (`YYYY-MM-DD`, UTC; today is the last).
    pub from: String,
    pub to: String,
    pub days: i64,
    /// Paid and refunded per UTC day, channel and currency, in minor units (days
    /// without either are absent). `payments.read`.
    pub revenue: Option<Vec<RevenueDay>>,
    /// `members.read`.
    pub members: Option<Members>,
    /// `marketing.read`.
    pub marketing: Option<Marketing>,
    /// `content.read`.
    pub content: Option<Content>,
    /// `audit.read`.
    pub failures: Option<Failures>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Members {
    /// Members who joined, every day of the range.
    pub joined: Vec<DayCount>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Marketing {
    /// Subscribers added, every day of the range.
    pub subscribed: Vec<DayCount>,
    /// The campaigns that started sending last, newest first (whenever they did).
    pub campaigns: Vec<Sent>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Content {
    /// Articles published, every day of the range.
    pub published: Vec<DayCount>,
    /// Articles scheduled and not published yet (whenever they are due).
    pub scheduled: i64,
}

/// Jobs of the range's days that failed for good.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Failures {
    pub webhook_deliveries: i64,
    /// Transactional mail (`mail_outbox`).
    pub mail: i64,
    /// Campaign mail, cancellations aside.
    pub campaign_mail: i64,
}

/// The days an overview covers: `days` UTC days ending today.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Range {
    first: NaiveDate,
    last: NaiveDate,
}

impl Range {
    fn ending(last: NaiveDate, days: i64) -> Result<Range> {
        let back = u64::try_from(days - 1).map_err(Error::internal)?;
        let first = last
            .checked_sub_days(Days::new(back))
            .ok_or_else(|| Error::internal("a range before the calendar"))?;
        Ok(Range { first, last })
    }

    /// Where the range starts (inclusive).
    fn from(self) -> DateTime<Utc> {
        self.first.and_time(NaiveTime::MIN).and_utc()
    }

    /// Where it ends (exclusive): the start of the day after the last.
    fn to(self) -> DateTime<Utc> {
        self.last.and_time(NaiveTime::MIN).and_utc() + TimeDelta::days(1)
    }

    /// `counts` (sparse, by day) for every day of the range, zero where absent.
    fn series(self, counts: &[(NaiveDate, i64)]) -> Vec<DayCount> {
        self.first
            .iter_days()
            .take_while(|day| *day <= self.last)
            .map(|day| DayCount {
                day: ymd(day),
                count: counts
                    .iter()
                    .find(|(d, _)| *d == day)
                    .map_or(0, |(_, n)| *n),
            })
            .collect()
    }
}

fn ymd(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

async fn dashboard(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let days = page_param(&call.req, "days", DEFAULT_DAYS, MAX_DAYS)?;
    let range = Range::ending(Utc::now().date_naive(), days)?;
    let overview = gather(&platform, call.principal()?, range, days).await?;
    Ok(data(StatusCode::OK, overview))
}

/// Each section the principal may read, from the crates that own its tables.
async fn gather(
    platform: &Platform,
    principal: &Principal,
    range: Range,
    days: i64,
) -> Result<Dashboard> {
    let client = platform.db.client().await?;
    let client = &**client;
    let (from, to) = (range.from(), range.to());
    let may = |permission| principal.can(permission);
    let revenue = if may(Permission::ReadPayments) {
        Some(reports::revenue_in(client, from, to, "UTC").await?)
    } else {
        None
    };
    let members = if may(Permission::ReadMembers) {
        let joined = identity::members::joined_per_day(client, from, to).await?;
        Some(Members {
            joined: range.series(&joined),
        })
    } else {
        None
    };
    let marketing = if may(Permission::ReadMarketing) {
        let subscribed = marketing::subscribers::joined_per_day(client, from, to).await?;
        Some(Marketing {
            subscribed: range.series(&subscribed),
            campaigns: marketing::campaigns::recently_sent(client, RECENT_CAMPAIGNS).await?,
        })
    } else {
        None
    };
    let content = if may(Permission::ReadContent) {
        let published = content::reports::published_per_day(client, from, to).await?;
        Some(Content {
            published: range.series(&published),
            scheduled: content::reports::scheduled(client).await?,
        })
    } else {
        None
    };
    let failures = if may(Permission::ReadAudit) {
        Some(Failures {
            webhook_deliveries: outgoing_webhooks::OUTBOX
                .failed_between(client, from, to)
                .await?,
            mail: mail::OUTBOX.failed_between(client, from, to).await?,
            campaign_mail: marketing::campaigns::failed_messages(client, from, to).await?,
        })
    } else {
        None
    };
    Ok(Dashboard {
        from: ymd(range.first),
        to: ymd(range.last),
        days,
        revenue,
        members,
        marketing,
        content,
        failures,
    })
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(platform: Arc<Platform>, _: ()) -> Result<impl platform::runtime::Handler> {
    Router::new(&platform.clone(), platform, ROUTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").expect("a date")
    }

    #[test]
    fn a_range_is_its_days_ending_today_in_utc() {
        let range = Range::ending(day("2025-03-01"), 3).expect("range");
        assert_eq!(range.from().to_rfc3339(), "2025-02-27T00:00:00+00:00");
        assert_eq!(range.to().to_rfc3339(), "2025-03-02T00:00:00+00:00");
        let one = Range::ending(day("2025-03-01"), 1).expect("range");
        assert_eq!(one.series(&[]).len(), 1);
        assert_eq!(one.to() - one.from(), TimeDelta::days(1));
    }

    #[test]
    fn series_have_every_day_zero_filled() {
        let range = Range::ending(day("2025-03-01"), 3).expect("range");
        let series = range.series(&[(day("2025-02-28"), 4), (day("2025-01-01"), 9)]);
        let expected = [("2025-02-27", 0), ("2025-02-28", 4), ("2025-03-01", 0)];
        assert_eq!(
            series,
            expected.map(|(day, count)| DayCount {
                day: day.into(),
                count
            })
        );
    }
}
