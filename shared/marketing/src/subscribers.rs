//! Subscribers: an address with a name and attributes (what segments will filter
//! on), enabled or blocklisted, linked to the member with the same address when
//! there is one, and on lists with a status each.

use chrono::{DateTime, NaiveDate, Utc};
use identity::email::Email;
use platform::db::GenericClient;
use platform::{
    audit,
    error::{Error, Result, map_conflict},
    http::at_most,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio_postgres::{Row, types::Type};

use crate::lists;

/// Attributes are a flat object of at most this many bytes as JSON.
const MAX_ATTRIBUTES_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Enabled,
    /// Never mailed, whatever their lists say.
    Blocklisted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enabled => "enabled",
            Status::Blocklisted => "blocklisted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionStatus {
    Unconfirmed,
    Confirmed,
    Unsubscribed,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Unconfirmed => "unconfirmed",
            SubscriptionStatus::Confirmed => "confirmed",
            SubscriptionStatus::Unsubscribed => "unsubscribed",
        }
    }
}

/// One list a subscriber is on.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Membership {
    /// The list's documentId.
    pub list: String,
    pub name: String,
    pub status: SubscriptionStatus,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscriber {
    pub document_id: String,
    pub email: String,
    pub name: String,
    pub attributes: Map<String, Value>,
    pub status: Status,
    /// The member with this address, by documentId.
    pub member: Option<String>,
    pub lists: Vec<Membership>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A subscriber as staff write them. `lists` is the whole set of lists they are on
/// afterwards: new ones start unconfirmed on double opt-in lists unless
/// `preconfirm`, lists left out are left.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriberInput {
    pub email: Email,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
    #[serde(default = "enabled")]
    pub status: Status,
    #[serde(default)]
    pub lists: Vec<String>,
    #[serde(default)]
    pub preconfirm: bool,
}

fn enabled() -> Status {
    Status::Enabled
}

/// Which subscribers a page lists.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// On this list (documentId).
    pub list: Option<String>,
    /// In the email or name, case-insensitively.
    pub query: Option<String>,
    pub status: Option<Status>,
}

pub(crate) const COLUMNS: &str = "s.document_id, s.email, s.name, s.attributes, s.status,
    (SELECT m.document_id FROM members m WHERE m.id = s.member_id),
    COALESCE((SELECT jsonb_agg(jsonb_build_object('list', l.document_id, 'name', l.name, 'status', ls.status) ORDER BY l.id)
              FROM list_subscriptions ls JOIN mailing_lists l ON l.id = ls.list_id
              WHERE ls.subscriber_id = s.id), '[]'::jsonb),
    s.created_at, s.updated_at";

pub(crate) fn from_row(row: &Row) -> Result<Subscriber> {
    let attributes: Value = row.try_get(3)?;
    let lists: Value = row.try_get(6)?;
    Ok(Subscriber {
        document_id: row.get(0),
        email: row.get(1),
        name: row.get(2),
        attributes: match attributes {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        status: if row.get::<_, &str>(4) == "blocklisted" {
            Status::Blocklisted
        } else {
            Status::Enabled
        },
        member: row.get(5),
        lists: serde_json::from_value(lists).map_err(Error::internal)?,
        created_at: row.get(7),
        updated_at: row.get(8),
    })
}

/// A page of subscribers, newest first, and how many the filter selects.
pub async fn page(
    client: &impl GenericClient,
    filter: &Filter,
    page: i64,
    page_size: i64,
) -> Result<(Vec<Subscriber>, i64)> {
    const WHERE: &str = "($1::text IS NULL OR EXISTS (
            SELECT 1 FROM list_subscriptions ls JOIN mailing_lists l ON l.id = ls.list_id
            WHERE ls.subscriber_id = s.id AND l.document_id = $1))
        AND ($2::text IS NULL OR strpos(s.email, lower($2)) > 0 OR strpos(lower(s.name), lower($2)) > 0)
        AND ($3::text IS NULL OR s.status = $3)";
    let status = filter.status.map(Status::as_str);
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 5] = [
        (&filter.list, Type::TEXT),
        (&filter.query, Type::TEXT),
        (&status, Type::TEXT),
        (&page_size, Type::INT8),
        (&((page - 1) * page_size), Type::INT8),
    ];
    let rows = client
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM subscribers s WHERE {WHERE}
                 ORDER BY s.id DESC LIMIT $4 OFFSET $5"
            ),
            &params,
        )
        .await?;
    let total: i64 = client
        .query_typed(
            &format!("SELECT count(*) FROM subscribers s WHERE {WHERE}"),
            &params[..3],
        )
        .await?
        .first()
        .map_or(0, |r| r.get(0));
    Ok((rows.iter().map(from_row).collect::<Result<_>>()?, total))
}

/// Subscribers added from `from` (inclusive) to `to` (exclusive), whatever their lists
/// or confirmations, counted per UTC day (days without any are absent).
pub async fn joined_per_day(
    client: &impl GenericClient,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(NaiveDate, i64)>> {
    client
        .query_typed(
            "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) FROM subscribers
             WHERE created_at >= $1 AND created_at < $2
             GROUP BY day ORDER BY day",
            &[(&from, Type::TIMESTAMPTZ), (&to, Type::TIMESTAMPTZ)],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

pub async fn by_document_id(client: &impl GenericClient, document_id: &str) -> Result<Subscriber> {
    let sql = format!("SELECT {COLUMNS} FROM subscribers s WHERE s.document_id = $1");
    crate::one_by_key(client, &sql, document_id, "subscriber", from_row).await
}

struct Checked {
    name: String,
    attributes: Value,
}

fn check(input: &SubscriberInput) -> Result<Checked> {
    let name = input.name.trim().to_owned();
    at_most(Some(&name), "name", 200)?;
    let attributes = Value::Object(input.attributes.clone());
    attributes_fit(&attributes).map_err(|e| Error::invalid("attributes", e))?;
    Ok(Checked { name, attributes })
}

/// The largest number an attribute may hold: JavaScript's safe integers, so every
/// client (the console too) reads exactly what was stored.
const MAX_EXACT: f64 = 9_007_199_254_740_991.0;

/// Whether attributes may be stored as they are: at most 8 KiB as JSON, top-level
/// keys of 1 to 64 characters, numbers within ±2^53 − 1 (jsonb keeps numbers as
/// decimals, and one beyond `f64` would not come back).
pub(crate) fn attributes_fit(attributes: &Value) -> std::result::Result<(), String> {
    fn numbers_fit(value: &Value) -> bool {
        match value {
            Value::Number(n) => n
                .as_f64()
                .is_some_and(|x| x.is_finite() && x.abs() <= MAX_EXACT),
            Value::Array(items) => items.iter().all(numbers_fit),
            Value::Object(map) => map.values().all(numbers_fit),
            _ => true,
        }
    }
    let keys_fit = attributes
        .as_object()
        .is_some_and(|map| map.keys().all(|k| !k.is_empty() && k.chars().count() <= 64));
    if attributes.to_string().len() > MAX_ATTRIBUTES_BYTES || !keys_fit {
        return Err("attributes are at most 8 KiB, with keys of 1 to 64 characters".into());
    }
    if !numbers_fit(attributes) {
        return Err("attribute numbers must be within ±9007199254740991".into());
    }
    Ok(())
}

/// Puts subscriber `id` on exactly `list_ids`: new subscriptions start confirmed
/// when `preconfirm` or the list is single opt-in, existing ones keep their status.
async fn set_lists(
    client: &impl GenericClient,
    id: i64,
    list_ids: &[i64],
    preconfirm: bool,
) -> Result<()> {
    client
        .query_typed(
            "DELETE FROM list_subscriptions WHERE subscriber_id = $1 AND NOT list_id = ANY($2)",
            &[(&id, Type::INT8), (&list_ids, Type::INT8_ARRAY)],
        )
        .await?;
    client
        .query_typed(
            "INSERT INTO list_subscriptions (list_id, subscriber_id, status)
             SELECT l.id, $1, CASE WHEN $3 OR l.optin = 'single' THEN 'confirmed' ELSE 'unconfirmed' END
             FROM mailing_lists l WHERE l.id = ANY($2)
             ON CONFLICT (list_id, subscriber_id) DO NOTHING",
            &[
                (&id, Type::INT8),
                (&list_ids, Type::INT8_ARRAY),
                (&preconfirm, Type::BOOL),
            ],
        )
        .await?;
    Ok(())
}

const EMAIL_TAKEN: [(&str, &str); 1] = [(
    "subscribers_email_key",
    "this address is already a subscriber",
)];

pub async fn create(
    tx: &impl platform::db::Transactional,
    actor: &str,
    input: SubscriberInput,
) -> Result<Subscriber> {
    let checked = check(&input)?;
    let list_ids = lists::ids_of(tx, &input.lists, false, "lists").await?;
    let row = tx
        .query_typed(
            "INSERT INTO subscribers (email, name, attributes, status, member_id)
             VALUES ($1, $2, $3, $4,
                     (SELECT id FROM members WHERE email = $1 AND deleted_at IS NULL))
             RETURNING id, document_id",
            &[
                (&input.email.as_str(), Type::TEXT),
                (&checked.name, Type::TEXT),
                (&checked.attributes, Type::JSONB),
                (&input.status.as_str(), Type::TEXT),
            ],
        )
        .await
        .map_err(|e| map_conflict(e, &EMAIL_TAKEN))?;
    let row = row
        .first()
        .ok_or_else(|| Error::internal("an insert returned no row"))?;
    let (id, document_id): (i64, String) = (row.get(0), row.get(1));
    set_lists(tx, id, &list_ids, input.preconfirm).await?;
    audit::record(tx, actor, "subscriber.create", &document_id, json!({})).await?;
    by_document_id(tx, &document_id).await
}

pub async fn update(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
    input: SubscriberInput,
) -> Result<Subscriber> {
    let checked = check(&input)?;
    let list_ids = lists::ids_of(tx, &input.lists, false, "lists").await?;
    let rows = tx
        .query_typed(
            "UPDATE subscribers SET email = $2, name = $3, attributes = $4, status = $5,
                 member_id = (SELECT id FROM members WHERE email = $2 AND deleted_at IS NULL)
             WHERE document_id = $1 RETURNING id",
            &[
                (&document_id, Type::TEXT),
                (&input.email.as_str(), Type::TEXT),
                (&checked.name, Type::TEXT),
                (&checked.attributes, Type::JSONB),
                (&input.status.as_str(), Type::TEXT),
            ],
        )
        .await
        .map_err(|e| map_conflict(e, &EMAIL_TAKEN))?;
    let id: i64 = rows
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::NotFound("no such subscriber".into()))?;
    set_lists(tx, id, &list_ids, input.preconfirm).await?;
    audit::record(tx, actor, "subscriber.update", document_id, json!({})).await?;
    by_document_id(tx, document_id).await
}

/// Deletes a subscriber and their subscriptions (their suppression, if any, stays:
/// deleting someone must not make them mailable again).
pub async fn delete(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
) -> Result<()> {
    let deleted = tx
        .query_typed(
            "DELETE FROM subscribers WHERE document_id = $1 RETURNING id",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    if deleted.is_empty() {
        return Err(Error::NotFound("no such subscriber".into()));
    }
    audit::record(tx, actor, "subscriber.delete", document_id, json!({})).await
}
