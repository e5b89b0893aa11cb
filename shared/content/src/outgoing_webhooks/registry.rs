//! The `webhooks` table: the receivers admins register. List, register, change,
//! delete, rotate the signing secret, and a receiver's recent deliveries, each write
//! audited in its transaction. The secret is derived, never stored
//! ([`super::signature`]), and returned once: on creation and on rotation. The admin
//! function's handlers call these; who may call them (admins only: `webhooks.write`,
//! which no API token can hold) is its route table's business.

use chrono::{DateTime, Utc};
use identity::access::Principal;
use platform::db::GenericClient;
use platform::{
    Error, Result, audit,
    db::{Db, Transaction},
    http::bounded,
    secret::Secret,
};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::{Row, types::Type};

use super::{Event, Signing, check_url, signature::new_salt};

pub fn schema(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<Webhook>()
}

pub fn list_schema(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<Vec<Webhook>>()
}

pub fn body_schema(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<WebhookBody>()
}

/// A webhook and its secret: the answer of a creation or a rotation.
pub fn with_secret_schema(generator: &mut SchemaGenerator) -> Schema {
    let webhook = generator.subschema_for::<Webhook>();
    json_schema!({
        "allOf": [webhook, {
            "type": "object",
            "required": ["secret"],
            "properties": { "secret": { "type": "string", "pattern": "^whsec_" } },
        }],
    })
}

pub fn deliveries_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id", "event", "model", "status", "attempts", "createdAt"],
            "properties": {
                "id": { "type": "integer" },
                "event": { "type": "string" },
                "model": { "type": "string" },
                "entry": { "type": ["string", "null"] },
                "status": { "type": "string", "enum": ["pending", "sending", "delivered", "failed"] },
                "attempts": { "type": "integer" },
                "lastStatusCode": { "type": ["integer", "null"] },
                "lastError": { "type": ["string", "null"] },
                "nextAttemptAt": { "type": ["string", "null"] },
                "deliveredAt": { "type": ["string", "null"] },
                "createdAt": { "type": "string" },
            },
        },
    })
}

/// Recent deliveries the admin sees per webhook.
const RECENT_DELIVERIES: i64 = 50;

const COLUMNS: &str = "document_id, name, url, events, enabled, created_at, updated_at";

/// A webhook as admins see it: never its salt or secret.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub document_id: String,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    fn from_row(row: &Row) -> Self {
        Self {
            document_id: row.get(0),
            name: row.get(1),
            url: row.get(2),
            events: row.get(3),
            enabled: row.get(4),
            created_at: row.get(5),
            updated_at: row.get(6),
        }
    }

    /// The answer that carries the secret, the only time it is shown.
    fn with_secret(self, secret: &Secret) -> Result<Value> {
        let mut view = serde_json::to_value(self).map_err(Error::internal)?;
        view["secret"] = Value::from(secret.expose());
        Ok(view)
    }
}

/// On creation `name`, `url` and `events` are required; on update an absent field
/// is left as it is.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookBody {
    name: Option<String>,
    url: Option<String>,
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

/// A body after validation.
struct Checked {
    name: Option<String>,
    url: Option<String>,
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

impl Checked {
    fn from(body: WebhookBody, production: bool) -> Result<Self> {
        let name = body
            .name
            .as_deref()
            .map(|n| bounded(n, "name", 100))
            .transpose()?;
        let url = body
            .url
            .as_deref()
            .map(|u| check_url(u, production).map(String::from))
            .transpose()?;
        let events = body.events.map(checked_events).transpose()?;
        Ok(Self {
            name,
            url,
            events,
            enabled: body.enabled,
        })
    }

    /// What the audit trail keeps: the host, not the URL, whose query may hold the
    /// receiver's own token.
    fn audit_details(&self) -> Value {
        let host = self
            .url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned));
        json!({ "name": self.name, "host": host, "events": self.events, "enabled": self.enabled })
    }
}

fn checked_events(names: Vec<String>) -> Result<Vec<String>> {
    let mut events: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let event = Event::parse(&name).ok_or_else(|| {
            Error::invalid(
                "events",
                format!(
                    "unknown event `{name}`; events are {}",
                    Event::ALL.map(Event::as_str).join(", ")
                ),
            )
        })?;
        if !events.iter().any(|e| e == event.as_str()) {
            events.push(event.as_str().to_owned());
        }
    }
    if events.is_empty() {
        return Err(Error::invalid("events", "list at least one event"));
    }
    Ok(events)
}

/// The webhook a write returned, or 404.
fn found(rows: &[Row]) -> Result<Webhook> {
    rows.first()
        .map(Webhook::from_row)
        .ok_or_else(|| Error::NotFound("no such webhook".into()))
}

/// Ends a write: its audit row in the same transaction, then COMMIT.
async fn finish(
    tx: Transaction<'_>,
    principal: &Principal,
    action: &str,
    document_id: &str,
    details: Value,
) -> Result<()> {
    audit::record(
        &*tx,
        &principal.actor(),
        action,
        &format!("webhook:{document_id}"),
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn webhook_id(client: &impl GenericClient, document_id: &str) -> Result<i64> {
    client
        .query_typed(
            "SELECT id FROM webhooks WHERE document_id = $1",
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::NotFound("no such webhook".into()))
}

pub async fn list(db: &Db) -> Result<Vec<Webhook>> {
    let client = db.client().await?;
    let rows = client
        .query_typed(&format!("SELECT {COLUMNS} FROM webhooks ORDER BY id"), &[])
        .await?;
    Ok(rows.iter().map(Webhook::from_row).collect())
}

/// Registers a webhook; the answer is the webhook with its secret.
pub async fn create(
    db: &Db,
    signing: &Signing,
    principal: &Principal,
    body: WebhookBody,
) -> Result<Value> {
    let checked = Checked::from(body, signing.production())?;
    let (Some(name), Some(url), Some(events)) = (&checked.name, &checked.url, &checked.events)
    else {
        return Err(Error::invalid("body", "name, url and events are required"));
    };
    let salt = new_salt();
    let secret = signing.secret(&salt)?;
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query_typed(
            &format!(
                "INSERT INTO webhooks (name, url, events, enabled, secret_salt, created_by)
                 VALUES ($1, $2, $3, COALESCE($4, true), $5, $6) RETURNING {COLUMNS}"
            ),
            &[
                (name, Type::TEXT),
                (url, Type::TEXT),
                (events, Type::TEXT_ARRAY),
                (&checked.enabled, Type::BOOL),
                (&salt, Type::TEXT),
                (&principal.staff_id(), Type::INT8),
            ],
        )
        .await?;
    let created = found(&rows)?;
    let document_id = created.document_id.clone();
    finish(
        tx,
        principal,
        "webhook.create",
        &document_id,
        checked.audit_details(),
    )
    .await?;
    created.with_secret(&secret)
}

pub async fn update(
    db: &Db,
    signing: &Signing,
    principal: &Principal,
    document_id: &str,
    body: WebhookBody,
) -> Result<Webhook> {
    let checked = Checked::from(body, signing.production())?;
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query_typed(
            &format!(
                "UPDATE webhooks SET name = COALESCE($2, name), url = COALESCE($3, url),
                     events = COALESCE($4, events), enabled = COALESCE($5, enabled)
                 WHERE document_id = $1 RETURNING {COLUMNS}"
            ),
            &[
                (&document_id, Type::TEXT),
                (&checked.name, Type::TEXT),
                (&checked.url, Type::TEXT),
                (&checked.events, Type::TEXT_ARRAY),
                (&checked.enabled, Type::BOOL),
            ],
        )
        .await?;
    let updated = found(&rows)?;
    finish(
        tx,
        principal,
        "webhook.update",
        document_id,
        checked.audit_details(),
    )
    .await?;
    Ok(updated)
}

/// Deletes the webhook and, with it, its delivery history and pending deliveries.
pub async fn delete(db: &Db, principal: &Principal, document_id: &str) -> Result<()> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query_typed(
            "DELETE FROM webhooks WHERE document_id = $1 RETURNING name",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let name: String = rows
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::NotFound("no such webhook".into()))?;
    finish(
        tx,
        principal,
        "webhook.delete",
        document_id,
        json!({ "name": name }),
    )
    .await
}

/// A new salt, hence a new secret, at once: deliveries still pending are signed
/// with the new one. The answer is the webhook with its new secret.
pub async fn rotate_secret(
    db: &Db,
    signing: &Signing,
    principal: &Principal,
    document_id: &str,
) -> Result<Value> {
    let salt = new_salt();
    let secret = signing.secret(&salt)?;
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query_typed(
            &format!(
                "UPDATE webhooks SET secret_salt = $2 WHERE document_id = $1 RETURNING {COLUMNS}"
            ),
            &[(&document_id, Type::TEXT), (&salt, Type::TEXT)],
        )
        .await?;
    let rotated = found(&rows)?;
    finish(
        tx,
        principal,
        "webhook.rotate-secret",
        document_id,
        json!({}),
    )
    .await?;
    rotated.with_secret(&secret)
}

/// The latest deliveries of a webhook, newest first.
pub async fn deliveries(db: &Db, document_id: &str) -> Result<Vec<Value>> {
    let client = db.client().await?;
    let id = webhook_id(&**client, document_id).await?;
    let rows = client
        .query_typed(
            "SELECT json_build_object('id', id, 'event', event, 'model', model,
                 'entry', entry->>'documentId', 'status', status, 'attempts', attempts,
                 'lastStatusCode', last_status_code, 'lastError', last_error,
                 'nextAttemptAt', CASE WHEN status = 'pending' THEN next_attempt_at END,
                 'deliveredAt', delivered_at, 'createdAt', created_at)
             FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
            &[(&id, Type::INT8), (&RECENT_DELIVERIES, Type::INT8)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get::<_, Value>(0)).collect())
}
