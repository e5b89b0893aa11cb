//! The transactional mail API (listmonk's `/api/tx`): another service (holding a
//! token with the `mail.send` scope) sends a stored template to one subscriber or
//! address with data of its own. The template is rendered in the request, so a
//! variable it cannot render is the caller's 400, and the mail is written to the
//! mail outbox in the request's transaction: sent once, retried, never lost.
//!
//! Not marketing: no list, no unsubscribe footer, no subject prefix (the postal
//! address stays). But an address that bounced for good or complained is never
//! mailed (SES counts both against the account), and neither is a blocklisted
//! subscriber.

use identity::email::Email;
use platform::{
    error::{Error, Result},
    outbox::RowId,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::types::Type;

use crate::templates::{self, Footer, TemplateInput};

/// The most `data` a request may carry, serialised.
const MAX_DATA_BYTES: usize = 32 * 1024;

/// `POST /admin/tx`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TxInput {
    /// The template's documentId.
    pub template: String,
    /// The recipient: a subscriber's documentId ...
    pub subscriber: Option<String>,
    /// ... or an address (exactly one of the two).
    pub email: Option<Email>,
    /// What the template reads as `{{ data.* }}`.
    #[serde(default)]
    pub data: serde_json::Map<String, Value>,
}

/// What was queued.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TxQueued {
    /// The address it goes to.
    pub to: String,
    /// The mail outbox job.
    pub job: RowId,
}

/// The recipient's address, name and attributes.
async fn recipient(
    tx: &impl platform::db::Transactional,
    input: &TxInput,
) -> Result<(Email, String, Value)> {
    let row = match (&input.subscriber, &input.email) {
        (Some(document_id), None) => tx
            .query_typed(
                "SELECT email, name, attributes, status FROM subscribers WHERE document_id = $1",
                &[(document_id, Type::TEXT)],
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::invalid("subscriber", "no such subscriber"))?,
        (None, Some(email)) => {
            let known = tx
                .query_typed(
                    "SELECT email, name, attributes, status FROM subscribers WHERE email = $1",
                    &[(&email.as_str(), Type::TEXT)],
                )
                .await?;
            match known.into_iter().next() {
                Some(row) => row,
                None => return Ok((email.clone(), String::new(), json!({}))),
            }
        }
        _ => {
            return Err(Error::invalid(
                "email",
                "name the recipient by `subscriber` or by `email`, one of the two",
            ));
        }
    };
    if row.try_get::<_, &str>(3)? != "enabled" {
        return Err(Error::Conflict("the subscriber is blocklisted".into()));
    }
    let email = Email::parse(row.try_get(0)?).map_err(Error::internal)?;
    Ok((email, row.try_get(1)?, row.try_get(2)?))
}

/// Renders the template for the recipient and writes the mail job in `tx`.
pub async fn send(
    tx: &impl platform::db::Transactional,
    input: &TxInput,
    postal_address: &str,
) -> Result<TxQueued> {
    let size = serde_json::to_vec(&input.data)
        .map_err(Error::internal)?
        .len();
    if size > MAX_DATA_BYTES {
        return Err(Error::invalid(
            "data",
            format!("at most {MAX_DATA_BYTES} bytes of JSON"),
        ));
    }
    let (email, name, attributes) = recipient(tx, input).await?;
    let suppressed = tx
        .query_typed(
            "SELECT reason FROM suppressions WHERE email = $1 AND reason IN ('bounce', 'complaint')",
            &[(&email.as_str(), Type::TEXT)],
        )
        .await?;
    if let Some(row) = suppressed.first() {
        return Err(Error::Conflict(format!(
            "this address is suppressed ({}): it is not mailed",
            row.try_get::<_, &str>(0)?
        )));
    }
    let template = tx
        .query_typed(
            "SELECT name, subject, html, text FROM mail_templates WHERE document_id = $1",
            &[(&input.template, Type::TEXT)],
        )
        .await?;
    let template = template
        .first()
        .ok_or_else(|| Error::invalid("template", "no such template"))?;
    let template = TemplateInput {
        name: template.try_get(0)?,
        subject: template.try_get(1)?,
        html: template.try_get(2)?,
        text: template.try_get(3)?,
    };
    let context = json!({
        "subscriber": { "name": name, "email": email.as_str(), "attributes": attributes },
        "data": input.data,
    });
    let rendered = templates::render(&template, &context, &Footer::transactional(postal_address))?;
    let job = mail::MailJob {
        template: "rendered",
        to: email.clone(),
        variables: json!({ "subject": rendered.subject, "html": rendered.html, "text": rendered.text }),
    };
    Ok(TxQueued {
        to: email.as_str().to_owned(),
        job: mail::enqueue(tx, &job).await?,
    })
}
