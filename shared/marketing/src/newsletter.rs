//! The public side of the newsletter: subscribing from the site (double opt-in
//! where the list asks for it), confirming, unsubscribing (RFC 8058 one-click) and
//! choosing lists, each through a signed link ([`crate::links`]).
//!
//! Nothing here says whether an address is known: subscribing answers the same for
//! a new, a subscribed, a suppressed or a blocklisted address, and mails only a
//! confirmation (to the address itself) when a double opt-in list still waits for
//! one.

use platform::db::GenericClient;
use std::time::Duration;

use chrono::Utc;
use identity::email::Email;
use mail::MailJob;
use platform::{
    error::{Error, Result},
    outbox::RowId,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::types::Type;
use url::Url;

use crate::{
    links::{Link, LinkKey, Purpose},
    lists,
    suppressions::{self, Reason},
};

/// How long a confirmation link works.
pub const CONFIRM_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// `POST /newsletter/subscribe`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscribeRequest {
    pub email: Email,
    #[serde(default)]
    pub name: String,
    /// Public lists by documentId; every public list when absent.
    pub lists: Option<Vec<String>>,
}

/// Double opt-in lists a subscription waits on: what the confirmation mail is for.
#[derive(Debug, Clone)]
pub struct Pending {
    subscriber: String,
    name: String,
    lists: Vec<String>,
}

/// Subscribes `request.email` to the lists it names: the double opt-in lists that
/// wait for confirmation, if any ([`confirmation`] mails their link).
pub async fn subscribe(
    tx: &impl platform::db::Transactional,
    request: &SubscribeRequest,
) -> Result<Option<Pending>> {
    let name = request.name.trim();
    platform::http::at_most(Some(name), "name", 200)?;
    let list_ids = match &request.lists {
        Some(ids) if ids.is_empty() => {
            return Err(Error::invalid("lists", "choose at least one list"));
        }
        Some(ids) => lists::ids_of(tx, ids, true, "lists").await?,
        None => {
            let every: Vec<String> = lists::public(tx)
                .await?
                .into_iter()
                .map(|l| l.document_id)
                .collect();
            if every.is_empty() {
                return Err(Error::NotFound(
                    "there is no newsletter to subscribe to".into(),
                ));
            }
            lists::ids_of(tx, &every, true, "lists").await?
        }
    };
    let email = request.email.as_str();
    if suppressions::is_suppressed(tx, email).await? {
        return Ok(None);
    }
    // A stranger's form must not rename someone: an existing subscriber keeps theirs.
    let row = tx
        .query_typed(
            "INSERT INTO subscribers (email, name, member_id)
             VALUES ($1, $2, (SELECT id FROM members WHERE email = $1 AND deleted_at IS NULL))
             ON CONFLICT (email) DO UPDATE SET email = subscribers.email
             RETURNING id, document_id, status, name",
            &[(&email, Type::TEXT), (&name, Type::TEXT)],
        )
        .await?;
    let row = row
        .first()
        .ok_or_else(|| Error::internal("an upsert returned no row"))?;
    let (id, document_id, status, name): (i64, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if status == "blocklisted" {
        return Ok(None);
    }
    // Someone who unsubscribed and subscribes again starts over (a double opt-in
    // list asks again); other subscriptions stay as they are.
    let pending = tx
        .query_typed(
            "WITH upserted AS (
                 INSERT INTO list_subscriptions (list_id, subscriber_id, status)
                 SELECT l.id, $1, CASE l.optin WHEN 'double' THEN 'unconfirmed' ELSE 'confirmed' END
                 FROM mailing_lists l WHERE l.id = ANY($2)
                 ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = EXCLUDED.status
                 WHERE list_subscriptions.status = 'unsubscribed'
                 RETURNING list_id, status)
             SELECT l.name FROM mailing_lists l
             WHERE l.id IN (SELECT list_id FROM upserted WHERE status = 'unconfirmed')
                OR l.id IN (SELECT list_id FROM list_subscriptions
                            WHERE subscriber_id = $1 AND list_id = ANY($2) AND status = 'unconfirmed')
             ORDER BY l.id",
            &[(&id, Type::INT8), (&list_ids, Type::INT8_ARRAY)],
        )
        .await?;
    if pending.is_empty() {
        return Ok(None);
    }
    Ok(Some(Pending {
        subscriber: document_id,
        name,
        lists: pending.iter().map(|r| r.get(0)).collect(),
    }))
}

/// Writes the confirmation mail of `pending` to `to` in `tx`: its job id.
pub async fn confirmation(
    tx: &impl platform::db::Transactional,
    key: &LinkKey,
    site_url: &Url,
    to: &Email,
    pending: Pending,
) -> Result<RowId> {
    let expires = Utc::now().timestamp() + CONFIRM_LIFETIME.as_secs() as i64;
    let token = key.sign(&Link {
        purpose: Purpose::Confirm,
        subscriber: pending.subscriber,
        list: None,
        expires: Some(expires),
    });
    let mut link = site_url
        .join("newsletter/confirm")
        .map_err(Error::internal)?;
    link.query_pairs_mut().append_pair("token", &token);
    let variables = json!({
        "name": pending.name,
        "link": link.as_str(),
        "lists": pending.lists.join("、"),
    });
    mail::enqueue(
        tx,
        &MailJob {
            template: "newsletter-confirm",
            to: to.clone(),
            variables,
        },
    )
    .await
}

/// A subscriber a link names: id, email.
async fn subscriber(client: &impl GenericClient, link: &Link) -> Result<(i64, String)> {
    client
        .query_typed(
            "SELECT id, email FROM subscribers WHERE document_id = $1",
            &[(&link.subscriber, Type::TEXT)],
        )
        .await?
        .first()
        .map(|r| (r.get(0), r.get(1)))
        .ok_or_else(|| Error::invalid("token", "this link is invalid or has expired"))
}

/// What a link did: the names of the lists it changed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Changed {
    pub lists: Vec<String>,
}

/// Confirms every subscription the subscriber of a confirmation link still has
/// waiting. Using the link again confirms nothing more and is no error.
pub async fn confirm(client: &impl GenericClient, key: &LinkKey, token: &str) -> Result<Changed> {
    let link = key.verify(token, Purpose::Confirm, Utc::now().timestamp())?;
    let (id, _) = subscriber(client, &link).await?;
    let rows = client
        .query_typed(
            "UPDATE list_subscriptions ls SET status = 'confirmed' FROM mailing_lists l
             WHERE l.id = ls.list_id AND ls.subscriber_id = $1 AND ls.status = 'unconfirmed'
             RETURNING l.name",
            &[(&id, Type::INT8)],
        )
        .await?;
    Ok(Changed {
        lists: rows.iter().map(|r| r.get(0)).collect(),
    })
}

/// What an unsubscribe link is about, for the page a GET shows: the list's name,
/// or `None` for every list.
pub async fn unsubscribe_scope(
    client: &impl GenericClient,
    key: &LinkKey,
    token: &str,
) -> Result<Option<String>> {
    let link = key.verify(token, Purpose::Unsubscribe, Utc::now().timestamp())?;
    subscriber(client, &link).await?;
    let Some(list) = &link.list else {
        return Ok(None);
    };
    Ok(client
        .query_typed(
            "SELECT name FROM mailing_lists WHERE document_id = $1",
            &[(list, Type::TEXT)],
        )
        .await?
        .first()
        .map(|r| r.get(0)))
}

/// Unsubscribes at once, as an unsubscribe link says: from its list, or from every
/// list, which also suppresses the address. Using it again changes nothing more.
pub async fn unsubscribe(
    tx: &impl platform::db::Transactional,
    key: &LinkKey,
    token: &str,
) -> Result<Changed> {
    let link = key.verify(token, Purpose::Unsubscribe, Utc::now().timestamp())?;
    let (id, email) = subscriber(tx, &link).await?;
    let rows = tx
        .query_typed(
            "UPDATE list_subscriptions ls SET status = 'unsubscribed' FROM mailing_lists l
             WHERE l.id = ls.list_id AND ls.subscriber_id = $1 AND ls.status <> 'unsubscribed'
               AND ($2::text IS NULL OR l.document_id = $2)
             RETURNING l.name",
            &[(&id, Type::INT8), (&link.list, Type::TEXT)],
        )
        .await?;
    if link.list.is_none() {
        suppressions::suppress(tx, &email, Reason::Unsubscribe, json!({})).await?;
    }
    Ok(Changed {
        lists: rows.iter().map(|r| r.get(0)).collect(),
    })
}

/// One list on the preferences page.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Choice {
    pub document_id: String,
    pub name: String,
    pub description: String,
    pub subscribed: bool,
}

/// What the preferences page shows: the address, and every public list (and any
/// private one they are on) with whether they get it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Preferences {
    pub email: String,
    pub lists: Vec<Choice>,
}

/// `PUT /newsletter/preferences`: the lists to be on (documentIds).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesInput {
    pub lists: Vec<String>,
}

async fn choices(client: &impl GenericClient, id: i64) -> Result<Vec<Choice>> {
    let rows = client
        .query_typed(
            "SELECT l.document_id, l.name, l.description,
                    COALESCE(ls.status IN ('unconfirmed', 'confirmed'), false)
             FROM mailing_lists l
             LEFT JOIN list_subscriptions ls ON ls.list_id = l.id AND ls.subscriber_id = $1
             WHERE l.visibility = 'public' OR ls.status IN ('unconfirmed', 'confirmed')
             ORDER BY l.id",
            &[(&id, Type::INT8)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Choice {
            document_id: row.get(0),
            name: row.get(1),
            description: row.get(2),
            subscribed: row.get(3),
        })
        .collect())
}

pub async fn preferences(
    client: &impl GenericClient,
    key: &LinkKey,
    token: &str,
) -> Result<Preferences> {
    let link = key.verify(token, Purpose::Preferences, Utc::now().timestamp())?;
    let (id, email) = subscriber(client, &link).await?;
    Ok(Preferences {
        email,
        lists: choices(client, id).await?,
    })
}

/// Sets which of the lists the page offers the subscriber is on. The link came to
/// their mailbox, so lists they choose are confirmed at once.
pub async fn set_preferences(
    tx: &impl platform::db::Transactional,
    key: &LinkKey,
    token: &str,
    input: &PreferencesInput,
) -> Result<Preferences> {
    let link = key.verify(token, Purpose::Preferences, Utc::now().timestamp())?;
    let (id, email) = subscriber(tx, &link).await?;
    let offered = choices(tx, id).await?;
    if let Some(unknown) = input
        .lists
        .iter()
        .find(|wanted| !offered.iter().any(|c| &&c.document_id == wanted))
    {
        return Err(Error::invalid(
            "lists",
            format!("`{unknown}` is not a list offered here"),
        ));
    }
    let offered_ids: Vec<String> = offered.into_iter().map(|c| c.document_id).collect();
    tx.query_typed(
        "UPDATE list_subscriptions ls SET status = 'unsubscribed' FROM mailing_lists l
         WHERE l.id = ls.list_id AND ls.subscriber_id = $1 AND ls.status <> 'unsubscribed'
           AND l.document_id = ANY($2) AND NOT l.document_id = ANY($3)",
        &[
            (&id, Type::INT8),
            (&offered_ids, Type::TEXT_ARRAY),
            (&input.lists, Type::TEXT_ARRAY),
        ],
    )
    .await?;
    tx.query_typed(
        "INSERT INTO list_subscriptions (list_id, subscriber_id, status)
         SELECT l.id, $1, 'confirmed' FROM mailing_lists l WHERE l.document_id = ANY($2)
         ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = 'confirmed'
         WHERE list_subscriptions.status <> 'confirmed'",
        &[(&id, Type::INT8), (&input.lists, Type::TEXT_ARRAY)],
    )
    .await?;
    Ok(Preferences {
        email,
        lists: choices(tx, id).await?,
    })
}
