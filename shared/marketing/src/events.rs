//! What SES says happened to the mail we sent: its configuration set publishes
//! events (delivery, bounce, complaint, reject, rendering failure, open, click,
//! delay) to EventBridge, which invokes the `ses-events` function with them. Each is
//! recorded once (EventBridge delivers at least once: the event id is unique), with
//! the campaign and subscriber our message tags named; a permanent bounce or a
//! complaint suppresses the address in the same transaction, so it is never mailed
//! again. A transient bounce is only counted.
//!
//! EventBridge invokes the function itself (IAM, no public endpoint), so there is
//! no signature to check: what is checked is that the event is SES's and well
//! formed. Anything else is acknowledged and logged, never retried forever.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_postgres::types::Type;

use platform::error::Result;

use crate::suppressions::{self, Reason};

/// An EventBridge event from SES.
#[derive(Debug, Deserialize)]
struct Envelope {
    id: String,
    source: String,
    time: Option<DateTime<Utc>>,
    detail: Detail,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    event_type: String,
    mail: Mail,
    #[serde(default)]
    bounce: Option<Bounce>,
    #[serde(default)]
    complaint: Option<Complaint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    message_id: String,
    #[serde(default)]
    destination: Vec<String>,
    #[serde(default)]
    tags: std::collections::HashMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: Option<String>,
    bounced_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Recipient>,
    #[serde(default)]
    complaint_feedback_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

/// What handling an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded; these addresses were suppressed.
    Recorded { suppressed: Vec<String> },
    /// Seen before: nothing done.
    Duplicate,
    /// Not an SES event we can read: acknowledged, nothing done.
    Ignored(String),
}

impl Outcome {
    pub fn to_json(&self) -> Value {
        match self {
            Outcome::Recorded { suppressed } => {
                json!({ "recorded": true, "suppressed": suppressed })
            }
            Outcome::Duplicate => json!({ "duplicate": true }),
            Outcome::Ignored(why) => json!({ "ignored": why }),
        }
    }
}

/// SES's event types, as the `eventType` of its event records names them.
const EVENT_TYPES: [&str; 10] = [
    "Send",
    "Delivery",
    "Bounce",
    "Complaint",
    "Reject",
    "Rendering Failure",
    "DeliveryDelay",
    "Open",
    "Click",
    "Subscription",
];

/// An address as SES reports it (`"Name" <a@b>` or `a@b`), lower-cased.
fn address(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let inner = match (raw.rfind('<'), raw.rfind('>')) {
        (Some(start), Some(end)) if start < end => &raw[start + 1..end],
        _ => raw,
    };
    identity::email::Email::parse(inner)
        .ok()
        .map(|email| email.as_str().to_owned())
}

fn addresses<'a>(raw: impl Iterator<Item = &'a str>) -> Vec<String> {
    raw.filter_map(address).collect()
}

fn tag(mail: &Mail, name: &str) -> Option<String> {
    mail.tags
        .get(name)
        .and_then(|values| values.first())
        .cloned()
}

/// Records one EventBridge event from SES and acts on it, once.
pub async fn handle(client: &mut platform::db::Client, event: &Value) -> Result<Outcome> {
    let envelope: Envelope = match serde_json::from_value(event.clone()) {
        Ok(envelope) => envelope,
        Err(e) => return Ok(Outcome::Ignored(format!("not an SES event: {e}"))),
    };
    if envelope.source != "aws.ses" {
        return Ok(Outcome::Ignored(format!(
            "from {}, not aws.ses",
            envelope.source
        )));
    }
    let detail = &envelope.detail;
    if !EVENT_TYPES.contains(&detail.event_type.as_str()) {
        return Ok(Outcome::Ignored(format!(
            "unknown event type {}",
            detail.event_type
        )));
    }
    let (suppress, recipients, details): (Option<Reason>, Vec<String>, Value) = match (
        detail.event_type.as_str(),
        &detail.bounce,
        &detail.complaint,
    ) {
        ("Bounce", Some(bounce), _) => (
            (bounce.bounce_type == "Permanent").then_some(Reason::Bounce),
            addresses(
                bounce
                    .bounced_recipients
                    .iter()
                    .map(|r| r.email_address.as_str()),
            ),
            json!({ "bounceType": bounce.bounce_type, "bounceSubType": bounce.bounce_sub_type }),
        ),
        ("Complaint", _, Some(complaint)) => (
            Some(Reason::Complaint),
            addresses(
                complaint
                    .complained_recipients
                    .iter()
                    .map(|r| r.email_address.as_str()),
            ),
            json!({ "feedbackType": complaint.complaint_feedback_type }),
        ),
        ("Bounce" | "Complaint", _, _) => {
            return Ok(Outcome::Ignored(format!(
                "a {} event without its details",
                detail.event_type
            )));
        }
        _ => (
            None,
            addresses(detail.mail.destination.iter().map(String::as_str)),
            json!({}),
        ),
    };
    let tx = client.transaction().await?;
    let inserted = tx
        .query_typed(
            "INSERT INTO mail_events (event_id, event_type, message_id, recipients, campaign, subscriber, occurred_at, details)
             VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()), $8)
             ON CONFLICT (event_id) DO NOTHING RETURNING id",
            &[
                (&envelope.id, Type::TEXT),
                (&detail.event_type, Type::TEXT),
                (&detail.mail.message_id, Type::TEXT),
                (&recipients, Type::TEXT_ARRAY),
                (&tag(&detail.mail, "campaign"), Type::TEXT),
                (&tag(&detail.mail, "subscriber"), Type::TEXT),
                (&envelope.time, Type::TIMESTAMPTZ),
                (&details, Type::JSONB),
            ],
        )
        .await?;
    if inserted.is_empty() {
        return Ok(Outcome::Duplicate);
    }
    let mut suppressed = Vec::new();
    if let Some(reason) = suppress {
        for email in &recipients {
            let why = json!({ "messageId": detail.mail.message_id, "event": envelope.id });
            suppressions::suppress(&tx, email, reason, why).await?;
            suppressed.push(email.clone());
        }
    }
    tx.commit().await?;
    Ok(Outcome::Recorded { suppressed })
}
