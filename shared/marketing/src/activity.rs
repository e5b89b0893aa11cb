//! What happened to one subscriber, newest first: campaign mail sent to them or
//! given up, what SES reported about it, their opens and clicks, and the
//! automations they entered. Read from the tables that record each, for staff
//! answering "did they get it?".

use chrono::{DateTime, Utc};
use platform::db::GenericClient;
use platform::error::{Error, Result};
use schemars::JsonSchema;
use serde::Serialize;
use tokio_postgres::types::Type;

/// The most entries answered.
const LIMIT: i64 = 200;

/// One thing that happened.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub at: DateTime<Utc>,
    /// `sent`, `not-sent` (skipped or refused; `detail` says why), `delivered`,
    /// `bounced`, `complained`, `rejected`, `opened`, `clicked` or `enrolled`.
    pub kind: String,
    /// The campaign's or automation's name.
    pub about: Option<String>,
    /// The campaign's documentId, when a campaign is what it is about.
    pub campaign: Option<String>,
    /// A click's URL, why mail was not sent, a bounce's type.
    pub detail: Option<String>,
    /// An open or click by a machine (a privacy proxy, a scanner), not the person.
    pub machine: bool,
}

const ACTIVITY: &str = "
SELECT m.sent_at, 'sent', c.name, c.document_id, NULL::text, false
  FROM campaign_messages m JOIN campaigns c ON c.id = m.campaign_id
 WHERE m.subscriber_id = $1 AND m.status = 'sent'
UNION ALL
SELECT m.updated_at, 'not-sent', c.name, c.document_id, m.last_error, false
  FROM campaign_messages m JOIN campaigns c ON c.id = m.campaign_id
 WHERE m.subscriber_id = $1 AND m.status = 'failed'
UNION ALL
SELECT e.occurred_at,
       CASE e.event_type WHEN 'Delivery' THEN 'delivered' WHEN 'Bounce' THEN 'bounced'
                         WHEN 'Complaint' THEN 'complained' ELSE 'rejected' END,
       c.name, e.campaign, COALESCE(e.details->>'bounceType', e.details->>'feedbackType'), false
  FROM mail_events e LEFT JOIN campaigns c ON c.document_id = e.campaign
 WHERE e.subscriber = $2 AND e.event_type IN ('Delivery', 'Bounce', 'Complaint', 'Reject', 'Rendering Failure')
UNION ALL
SELECT t.created_at, CASE t.kind WHEN 'open' THEN 'opened' ELSE 'clicked' END,
       c.name, c.document_id, t.url, t.machine
  FROM tracking_events t JOIN campaigns c ON c.id = t.campaign_id
 WHERE t.subscriber_id = $1
UNION ALL
SELECT e.created_at, 'enrolled', a.name, NULL, NULL, false
  FROM automation_enrolments e JOIN automations a ON a.id = e.automation_id
 WHERE e.subscriber_id = $1
ORDER BY 1 DESC
LIMIT $3";

/// The subscriber's latest activity, at most 200 entries.
pub async fn of_subscriber(
    client: &impl GenericClient,
    document_id: &str,
) -> Result<Vec<Activity>> {
    let id: i64 = client
        .query_typed(
            "SELECT id FROM subscribers WHERE document_id = $1",
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::NotFound("no such subscriber".into()))?;
    client
        .query_typed(
            ACTIVITY,
            &[
                (&id, Type::INT8),
                (&document_id, Type::TEXT),
                (&LIMIT, Type::INT8),
            ],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(Activity {
                at: row.try_get(0)?,
                kind: row.try_get(1)?,
                about: row.try_get(2)?,
                campaign: row.try_get(3)?,
                detail: row.try_get(4)?,
                machine: row.try_get(5)?,
            })
        })
        .collect()
}
