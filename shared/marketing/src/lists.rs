//! Mailing lists: public ones anyone may subscribe to from the site, private ones
//! only staff put people on; single opt-in (subscribed at once) or double opt-in
//! (subscribed once the mailed link is used).

use chrono::{DateTime, Utc};
use platform::db::GenericClient;
use platform::{
    audit,
    error::{Error, Result},
    http::{at_most, bounded},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::{Row, types::Type};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Offered on the site: anyone may subscribe.
    Public,
    /// Staff add people; never offered.
    Private,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Optin {
    Single,
    Double,
}

fn visibility(raw: &str) -> Visibility {
    if raw == "public" {
        Visibility::Public
    } else {
        Visibility::Private
    }
}

fn optin(raw: &str) -> Optin {
    if raw == "double" {
        Optin::Double
    } else {
        Optin::Single
    }
}

impl Visibility {
    fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

impl Optin {
    fn as_str(self) -> &'static str {
        match self {
            Optin::Single => "single",
            Optin::Double => "double",
        }
    }
}

/// How many subscriptions of a list are in each state.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Counts {
    pub unconfirmed: i64,
    pub confirmed: i64,
    pub unsubscribed: i64,
}

/// A list as staff see it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailingList {
    pub document_id: String,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub optin: Optin,
    pub subscriptions: Counts,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A public list as the site offers it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicList {
    pub document_id: String,
    pub name: String,
    pub description: String,
}

/// A list as staff write it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub visibility: Visibility,
    pub optin: Optin,
}

const COLUMNS: &str = "l.document_id, l.name, l.description, l.visibility, l.optin,
    (SELECT count(*) FROM list_subscriptions s WHERE s.list_id = l.id AND s.status = 'unconfirmed'),
    (SELECT count(*) FROM list_subscriptions s WHERE s.list_id = l.id AND s.status = 'confirmed'),
    (SELECT count(*) FROM list_subscriptions s WHERE s.list_id = l.id AND s.status = 'unsubscribed'),
    l.created_at, l.updated_at";

fn from_row(row: &Row) -> MailingList {
    MailingList {
        document_id: row.get(0),
        name: row.get(1),
        description: row.get(2),
        visibility: visibility(row.get(3)),
        optin: optin(row.get(4)),
        subscriptions: Counts {
            unconfirmed: row.get(5),
            confirmed: row.get(6),
            unsubscribed: row.get(7),
        },
        created_at: row.get(8),
        updated_at: row.get(9),
    }
}

/// Every list, oldest first.
pub async fn list(client: &impl GenericClient) -> Result<Vec<MailingList>> {
    let rows = client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM mailing_lists l ORDER BY l.id"),
            &[],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// The public lists, oldest first, for the site's subscribe form.
pub async fn public(client: &impl GenericClient) -> Result<Vec<PublicList>> {
    let rows = client
        .query_typed(
            "SELECT document_id, name, description FROM mailing_lists
             WHERE visibility = 'public' ORDER BY id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| PublicList {
            document_id: row.get(0),
            name: row.get(1),
            description: row.get(2),
        })
        .collect())
}

pub async fn by_document_id(client: &impl GenericClient, document_id: &str) -> Result<MailingList> {
    client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM mailing_lists l WHERE l.document_id = $1"),
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(from_row)
        .ok_or_else(|| Error::NotFound("no such list".into()))
}

/// The ids of the lists named by `document_ids`, all of them existing and, when
/// `public_only`, public; otherwise a 400 naming `field`.
pub async fn ids_of(
    client: &impl GenericClient,
    document_ids: &[String],
    public_only: bool,
    field: &str,
) -> Result<Vec<i64>> {
    if document_ids.len() > 100 {
        return Err(Error::invalid(field, "at most 100 lists"));
    }
    let rows = client
        .query_typed(
            "SELECT id FROM mailing_lists
             WHERE document_id = ANY($1) AND (visibility = 'public' OR NOT $2)",
            &[
                (&document_ids, Type::TEXT_ARRAY),
                (&public_only, Type::BOOL),
            ],
        )
        .await?;
    let mut wanted = document_ids.to_vec();
    wanted.sort();
    wanted.dedup();
    if rows.len() != wanted.len() {
        return Err(Error::invalid(field, "names a list that does not exist"));
    }
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

struct Checked {
    name: String,
    description: String,
}

fn check(input: &ListInput) -> Result<Checked> {
    let description = input.description.trim();
    at_most(Some(description), "description", 2000)?;
    Ok(Checked {
        name: bounded(&input.name, "name", 100)?,
        description: description.to_owned(),
    })
}

pub async fn create(
    tx: &impl platform::db::Transactional,
    actor: &str,
    input: ListInput,
) -> Result<MailingList> {
    let checked = check(&input)?;
    let document_id: String = tx
        .query_typed(
            "INSERT INTO mailing_lists (name, description, visibility, optin)
             VALUES ($1, $2, $3, $4) RETURNING document_id",
            &[
                (&checked.name, Type::TEXT),
                (&checked.description, Type::TEXT),
                (&input.visibility.as_str(), Type::TEXT),
                (&input.optin.as_str(), Type::TEXT),
            ],
        )
        .await?
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::internal("an insert returned no row"))?;
    audit::record(
        tx,
        actor,
        "list.create",
        &document_id,
        json!({ "name": checked.name }),
    )
    .await?;
    by_document_id(tx, &document_id).await
}

pub async fn update(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
    input: ListInput,
) -> Result<MailingList> {
    let checked = check(&input)?;
    let updated = tx
        .query_typed(
            "UPDATE mailing_lists SET name = $2, description = $3, visibility = $4, optin = $5
             WHERE document_id = $1 RETURNING id",
            &[
                (&document_id, Type::TEXT),
                (&checked.name, Type::TEXT),
                (&checked.description, Type::TEXT),
                (&input.visibility.as_str(), Type::TEXT),
                (&input.optin.as_str(), Type::TEXT),
            ],
        )
        .await?;
    if updated.is_empty() {
        return Err(Error::NotFound("no such list".into()));
    }
    audit::record(
        tx,
        actor,
        "list.update",
        document_id,
        json!({ "name": checked.name }),
    )
    .await?;
    by_document_id(tx, document_id).await
}

/// Deletes a list and its subscriptions (the subscribers stay).
pub async fn delete(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
) -> Result<()> {
    let deleted = tx
        .query_typed(
            "DELETE FROM mailing_lists WHERE document_id = $1 RETURNING name",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let Some(row) = deleted.first() else {
        return Err(Error::NotFound("no such list".into()));
    };
    let name: String = row.get(0);
    audit::record(
        tx,
        actor,
        "list.delete",
        document_id,
        json!({ "name": name }),
    )
    .await
}
