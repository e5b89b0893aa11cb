//! Campaigns: a template sent to the confirmed, enabled, unsuppressed subscribers of
//! lists (narrowed by a segment's rules, if it names one), now or at a time. Starting one writes one `campaign_messages` row per
//! recipient (unique per campaign and subscriber, so nobody is queued twice) in the
//! transaction that marks it running; after COMMIT [`fan_out`] queues their ids in
//! groups of [`per_message`]; the campaign-send function sends them
//! ([`crate::sending`]). Pausing parks the pending rows (no claim succeeds), resuming
//! hands them back to the queue, cancelling fails them. Progress is the rows'
//! states, readable while it runs.
//!
//! Group size: campaign-send takes 10 queue messages per invocation (template.yaml)
//! and at most 2 invocations run at once (the event source's maximum concurrency),
//! sharing `CAMPAIGN_RATE_PER_SECOND`. A group of one second's sending (at most 100)
//! keeps an invocation at 10 × 2 × 1 s = 20 s at worst, well under its 60 s timeout.
//!
//! ```text
//! draft ──schedule──► scheduled ──(send_at; campaign-send's minute)──► running ──► finished
//!   └────────────send now──────────────────────────────────────────────▲   │ ▲
//!                                                                  pause ▼   │ resume
//!                                                                      paused
//! draft, scheduled, running, paused ──cancel──► canceled
//! ```

use platform::db::GenericClient;
use std::time::Duration;

use chrono::{DateTime, Utc};
use platform::{
    audit,
    config::{Section, Vars},
    error::{Error, Result},
    http::bounded,
    outbox::{Queue, RowId, Spec},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::{
    Row,
    types::{ToSql, Type},
};
use url::Url;

use crate::lists;

/// SQS's redelivery is a message's retry (throttling, a timeout): no wait.
const RETRY_AFTER: [Duration; 3] = [Duration::ZERO; 3];

/// `campaign_messages` as the platform outbox drives it. A claim whose sender died
/// is never sent again (`resend_lost_claims: false`): SES may have taken that mail,
/// and a recipient must never get a campaign twice.
pub static OUTBOX: Spec = Spec {
    table: "campaign_messages",
    field: "messageId",
    done: "sent",
    done_at: "sent_at",
    receipt: "ses_message_id",
    receipt_type: Type::TEXT,
    forget_when_done: None,
    // Far longer than campaign-send may run (template.yaml: 60 s).
    lease: Duration::from_secs(10 * 60),
    retry_after: &RETRY_AFTER,
    resend_lost_claims: false,
};

/// `CAMPAIGN_QUEUE_URL`, `CAMPAIGN_RATE_PER_SECOND`, `MARKETING_POSTAL_ADDRESS`,
/// `MARKETING_SUBJECT_PREFIX`.
#[derive(Debug, Clone)]
pub struct CampaignConfig {
    /// The queue campaign-send consumes; without it rows wait for the sweep.
    pub queue_url: Option<Url>,
    /// Mails per second across every sender (SES's sending rate; 14 is SES's
    /// starting quota).
    pub rate_per_second: u32,
    /// The sender's postal address, in every campaign mail's footer; campaigns do
    /// not start without it.
    pub postal_address: Option<String>,
    /// Put before every campaign subject, e.g. `【广告】` where the law asks for it.
    pub subject_prefix: Option<String>,
}

impl Section for CampaignConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        let rate_per_second = vars.parsed("CAMPAIGN_RATE_PER_SECOND", 14u32);
        if rate_per_second == 0 {
            vars.problem("CAMPAIGN_RATE_PER_SECOND", "must be at least 1");
        }
        Self {
            queue_url: vars.http_url("CAMPAIGN_QUEUE_URL", "must be an http(s) SQS queue URL"),
            rate_per_second,
            postal_address: vars
                .optional("MARKETING_POSTAL_ADDRESS")
                .map(|a| a.trim().to_owned()),
            subject_prefix: vars
                .optional("MARKETING_SUBJECT_PREFIX")
                .map(|p| p.trim().to_owned()),
        }
    }
}

/// Recipients named by one queue message: a second's sending, 1 to 100.
pub fn per_message(config: &CampaignConfig) -> usize {
    usize::try_from(config.rate_per_second).map_or(100, |rate| rate.clamp(1, 100))
}

/// The queue campaign messages go to.
pub fn queue(platform: &platform::Platform, config: &CampaignConfig) -> Queue {
    Queue::new(&OUTBOX, platform, config.queue_url.clone()).grouped(per_message(config))
}

/// Queues the campaign's pending messages that no queue message names yet (all of
/// them just after it starts or resumes). A failure is logged: the minute's
/// [`run_due`] fans out again what is still waiting.
pub async fn fan_out(queue: &Queue, db: &platform::db::Db, campaign: i64) {
    let waiting = async {
        let ids: Vec<RowId> = db
            .client()
            .await?
            .query_typed(
                "SELECT id FROM campaign_messages
                 WHERE campaign_id = $1 AND status = 'pending' AND enqueued_at IS NULL
                   AND next_attempt_at <= now()
                 ORDER BY id",
                &[(&campaign, Type::INT8)],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        queue.send(&ids).await
    };
    match waiting.await {
        Ok(queued) if queued > 0 => tracing::info!(campaign, queued, "campaign fanned out"),
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(campaign, error = %err, "campaign fan-out failed; the next minute retries");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    Draft,
    Scheduled,
    Running,
    Paused,
    Finished,
    Canceled,
}

impl CampaignStatus {
    fn parse(raw: &str) -> Self {
        match raw {
            "scheduled" => Self::Scheduled,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "finished" => Self::Finished,
            "canceled" => Self::Canceled,
            _ => Self::Draft,
        }
    }
}

/// Where a campaign's messages are.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Progress {
    /// Recipients when it started.
    pub targeted: i64,
    /// Not sent yet (queued, or paused).
    pub pending: i64,
    pub sent: i64,
    /// Not sent, for good: the address was suppressed or unsubscribed meanwhile,
    /// the campaign was canceled, or SES refused it.
    pub failed: i64,
}

/// A list a campaign goes to.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Audience {
    pub document_id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    pub document_id: String,
    pub name: String,
    /// The template's documentId.
    pub template: String,
    pub lists: Vec<Audience>,
    /// The segment that narrows the lists to the subscribers who match, if any.
    pub segment: Option<Audience>,
    /// Opens and clicks tracked through signed links.
    pub tracking: bool,
    pub status: CampaignStatus,
    pub send_at: Option<DateTime<Utc>>,
    pub progress: Progress,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A campaign as staff write it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CampaignInput {
    pub name: String,
    /// A template's documentId.
    pub template: String,
    /// Lists by documentId.
    pub lists: Vec<String>,
    /// A segment's documentId: only the lists' subscribers who match it.
    #[serde(default)]
    pub segment: Option<String>,
    /// Track opens and clicks (the default).
    #[serde(default = "tracks")]
    pub tracking: bool,
}

fn tracks() -> bool {
    true
}

const COLUMNS: &str = "c.document_id, c.name, t.document_id, c.status, c.send_at,
    COALESCE((SELECT jsonb_agg(jsonb_build_object('documentId', l.document_id, 'name', l.name) ORDER BY l.id)
              FROM campaign_lists cl JOIN mailing_lists l ON l.id = cl.list_id
              WHERE cl.campaign_id = c.id), '[]'::jsonb),
    COALESCE(c.targeted, 0),
    (SELECT count(*) FROM campaign_messages m WHERE m.campaign_id = c.id AND m.status IN ('pending', 'sending')),
    (SELECT count(*) FROM campaign_messages m WHERE m.campaign_id = c.id AND m.status = 'sent'),
    (SELECT count(*) FROM campaign_messages m WHERE m.campaign_id = c.id AND m.status = 'failed'),
    c.started_at, c.finished_at, c.created_at, c.updated_at, c.tracking,
    (SELECT jsonb_build_object('documentId', g.document_id, 'name', g.name)
       FROM segments g WHERE g.id = c.segment_id)";

const FROM: &str = "campaigns c JOIN mail_templates t ON t.id = c.template_id";

fn from_row(row: &Row) -> Result<Campaign> {
    let lists: Value = row.try_get(5)?;
    Ok(Campaign {
        document_id: row.try_get(0)?,
        name: row.try_get(1)?,
        template: row.try_get(2)?,
        status: CampaignStatus::parse(row.try_get(3)?),
        send_at: row.try_get(4)?,
        lists: serde_json::from_value(lists).map_err(Error::internal)?,
        progress: Progress {
            targeted: i64::from(row.try_get::<_, i32>(6)?),
            pending: row.try_get(7)?,
            sent: row.try_get(8)?,
            failed: row.try_get(9)?,
        },
        started_at: row.try_get(10)?,
        finished_at: row.try_get(11)?,
        created_at: row.try_get(12)?,
        updated_at: row.try_get(13)?,
        tracking: row.try_get(14)?,
        segment: row
            .try_get::<_, Option<Value>>(15)?
            .map(serde_json::from_value)
            .transpose()
            .map_err(Error::internal)?,
    })
}

/// Every campaign, newest first.
pub async fn list(client: &impl GenericClient) -> Result<Vec<Campaign>> {
    let rows = client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM {FROM} ORDER BY c.id DESC"),
            &[],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn by_document_id(client: &impl GenericClient, document_id: &str) -> Result<Campaign> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE c.document_id = $1");
    crate::one_by_key(client, &sql, document_id, "campaign", from_row).await
}

/// What a campaign input names, by id.
struct Resolved {
    name: String,
    template_id: i64,
    list_ids: Vec<i64>,
    segment_id: Option<i64>,
}

/// The template's, lists' and segment's ids a campaign input names.
async fn resolve(client: &impl GenericClient, input: &CampaignInput) -> Result<Resolved> {
    let name = bounded(&input.name, "name", 200)?;
    if input.lists.is_empty() {
        return Err(Error::invalid(
            "lists",
            "a campaign goes to at least one list",
        ));
    }
    let list_ids = lists::ids_of(client, &input.lists, false, "lists").await?;
    let template_id: i64 = client
        .query_typed(
            "SELECT id FROM mail_templates WHERE document_id = $1",
            &[(&input.template, Type::TEXT)],
        )
        .await?
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::invalid("template", "no such template"))?;
    let segment_id = match &input.segment {
        Some(segment) => Some(
            client
                .query_typed(
                    "SELECT id FROM segments WHERE document_id = $1",
                    &[(segment, Type::TEXT)],
                )
                .await?
                .first()
                .map(|r| r.get(0))
                .ok_or_else(|| Error::invalid("segment", "no such segment"))?,
        ),
        None => None,
    };
    Ok(Resolved {
        name,
        template_id,
        list_ids,
        segment_id,
    })
}

async fn set_lists(client: &impl GenericClient, id: i64, list_ids: &[i64]) -> Result<()> {
    client
        .query_typed(
            "DELETE FROM campaign_lists WHERE campaign_id = $1",
            &[(&id, Type::INT8)],
        )
        .await?;
    client
        .query_typed(
            "INSERT INTO campaign_lists (campaign_id, list_id) SELECT $1, unnest($2::bigint[])",
            &[(&id, Type::INT8), (&list_ids, Type::INT8_ARRAY)],
        )
        .await?;
    Ok(())
}

pub async fn create(
    tx: &impl platform::db::Transactional,
    actor: &str,
    input: CampaignInput,
) -> Result<Campaign> {
    let Resolved {
        name,
        template_id,
        list_ids,
        segment_id,
    } = resolve(tx, &input).await?;
    let row = tx
        .query_typed(
            "INSERT INTO campaigns (name, template_id, tracking, segment_id) VALUES ($1, $2, $3, $4)
             RETURNING id, document_id",
            &[
                (&name, Type::TEXT),
                (&template_id, Type::INT8),
                (&input.tracking, Type::BOOL),
                (&segment_id, Type::INT8),
            ],
        )
        .await?;
    let row = row
        .first()
        .ok_or_else(|| Error::internal("an insert returned no row"))?;
    let (id, document_id): (i64, String) = (row.get(0), row.get(1));
    set_lists(tx, id, &list_ids).await?;
    audit::record(
        tx,
        actor,
        "campaign.create",
        &document_id,
        json!({ "name": name }),
    )
    .await?;
    by_document_id(tx, &document_id).await
}

/// Changes a campaign that has not started.
pub async fn update(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
    input: CampaignInput,
) -> Result<Campaign> {
    let Resolved {
        name,
        template_id,
        list_ids,
        segment_id,
    } = resolve(tx, &input).await?;
    let id = locked(tx, document_id).await?;
    let updated = tx
        .query_typed(
            "UPDATE campaigns SET name = $2, template_id = $3, tracking = $4, segment_id = $5
             WHERE id = $1 AND status IN ('draft', 'scheduled') RETURNING id",
            &[
                (&id, Type::INT8),
                (&name, Type::TEXT),
                (&template_id, Type::INT8),
                (&input.tracking, Type::BOOL),
                (&segment_id, Type::INT8),
            ],
        )
        .await?;
    if updated.is_empty() {
        return Err(Error::Conflict(
            "a campaign that has started cannot be changed".into(),
        ));
    }
    set_lists(tx, id, &list_ids).await?;
    audit::record(
        tx,
        actor,
        "campaign.update",
        document_id,
        json!({ "name": name }),
    )
    .await?;
    by_document_id(tx, document_id).await
}

/// Deletes a campaign that is not sending (its messages go with it).
pub async fn delete(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
) -> Result<()> {
    let id = locked(tx, document_id).await?;
    let deleted = tx
        .query_typed(
            "DELETE FROM campaigns WHERE id = $1 AND status NOT IN ('running', 'paused') RETURNING name",
            &[(&id, Type::INT8)],
        )
        .await?;
    let Some(row) = deleted.first() else {
        return Err(Error::Conflict(
            "cancel the campaign before deleting it".into(),
        ));
    };
    let name: String = row.get(0);
    audit::record(
        tx,
        actor,
        "campaign.delete",
        document_id,
        json!({ "name": name }),
    )
    .await
}

/// The campaign's id, its row locked for the transaction: lifecycle changes of one
/// campaign happen one after the other.
async fn locked(tx: &impl platform::db::Transactional, document_id: &str) -> Result<i64> {
    tx.query_typed(
        "SELECT id FROM campaigns WHERE document_id = $1 FOR UPDATE",
        &[(&document_id, Type::TEXT)],
    )
    .await?
    .first()
    .map(|r| r.get(0))
    .ok_or_else(|| Error::NotFound("no such campaign".into()))
}

/// A lifecycle change staff ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send at a time (`send_at`).
    Schedule,
    /// Start now.
    Send,
    Pause,
    Resume,
    Cancel,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Schedule => "schedule",
            Action::Send => "send",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Cancel => "cancel",
        }
    }
}

/// What a lifecycle change leaves to do after COMMIT: the campaign (its id) to
/// [`fan_out`], when it started or resumed.
pub struct Changed {
    pub campaign: Campaign,
    pub fan_out: Option<i64>,
}

/// Applies `action` to a campaign in `tx`; a change its state does not allow is a
/// 409. Starting needs the postal address every campaign mail must carry.
pub async fn act(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
    action: Action,
    send_at: Option<DateTime<Utc>>,
    config: &CampaignConfig,
) -> Result<Changed> {
    let id = locked(tx, document_id).await?;
    let starts = matches!(action, Action::Schedule | Action::Send);
    if starts && config.postal_address.as_deref().is_none_or(str::is_empty) {
        return Err(Error::Conflict(
            "set MARKETING_POSTAL_ADDRESS first: every campaign mail carries the sender's postal address".into(),
        ));
    }
    let refused = |what: &str| Error::Conflict(format!("this campaign cannot be {what} now"));
    let fan_out = match action {
        Action::Schedule => {
            let at = send_at.ok_or_else(|| Error::invalid("sendAt", "when to send"))?;
            if at <= Utc::now() {
                return Err(Error::invalid("sendAt", "must be in the future"));
            }
            let changed = tx
                .query_typed(
                    "UPDATE campaigns SET status = 'scheduled', send_at = $2
                     WHERE id = $1 AND status IN ('draft', 'scheduled') RETURNING id",
                    &[(&id, Type::INT8), (&at, Type::TIMESTAMPTZ)],
                )
                .await?;
            if changed.is_empty() {
                return Err(refused("scheduled"));
            }
            None
        }
        Action::Send => {
            if !start(tx, id).await? {
                return Err(refused("sent"));
            }
            Some(id)
        }
        Action::Pause => {
            let changed = tx
                .query_typed(
                    "UPDATE campaigns SET status = 'paused' WHERE id = $1 AND status = 'running' RETURNING id",
                    &[(&id, Type::INT8)],
                )
                .await?;
            if changed.is_empty() {
                return Err(refused("paused"));
            }
            tx.query_typed(
                "UPDATE campaign_messages SET next_attempt_at = 'infinity'
                 WHERE campaign_id = $1 AND status = 'pending'",
                &[(&id, Type::INT8)],
            )
            .await?;
            None
        }
        Action::Resume => {
            let changed = tx
                .query_typed(
                    "UPDATE campaigns SET status = 'running' WHERE id = $1 AND status = 'paused' RETURNING id",
                    &[(&id, Type::INT8)],
                )
                .await?;
            if changed.is_empty() {
                return Err(refused("resumed"));
            }
            tx.query_typed(
                "UPDATE campaign_messages SET next_attempt_at = now(), enqueued_at = NULL
                 WHERE campaign_id = $1 AND status = 'pending'",
                &[(&id, Type::INT8)],
            )
            .await?;
            Some(id)
        }
        Action::Cancel => {
            let changed = tx
                .query_typed(
                    "UPDATE campaigns SET status = 'canceled', finished_at = now()
                     WHERE id = $1 AND status IN ('draft', 'scheduled', 'running', 'paused') RETURNING id",
                    &[(&id, Type::INT8)],
                )
                .await?;
            if changed.is_empty() {
                return Err(refused("canceled"));
            }
            tx.query_typed(
                "UPDATE campaign_messages SET status = 'failed', last_error = 'canceled'
                 WHERE campaign_id = $1 AND status = 'pending'",
                &[(&id, Type::INT8)],
            )
            .await?;
            None
        }
    };
    audit::record(
        tx,
        actor,
        &format!("campaign.{}", action.as_str()),
        document_id,
        json!({ "sendAt": send_at }),
    )
    .await?;
    Ok(Changed {
        campaign: by_document_id(tx, document_id).await?,
        fan_out,
    })
}

/// Starts campaign `id` if it is a draft or scheduled: one message row per
/// confirmed, enabled, unsuppressed subscriber of its lists (reached through the
/// first of its lists they are on). False when it was not startable.
async fn start(tx: &impl platform::db::Transactional, id: i64) -> Result<bool> {
    let started = tx
        .query_typed(
            "UPDATE campaigns SET status = 'running', started_at = now()
             WHERE id = $1 AND status IN ('draft', 'scheduled') RETURNING segment_id",
            &[(&id, Type::INT8)],
        )
        .await?;
    let Some(row) = started.first() else {
        return Ok(false);
    };
    // The segment's predicate (its values bound after the campaign's id), or none.
    let predicate = match row.try_get::<_, Option<i64>>(0)? {
        Some(segment) => Some(crate::segments::rules_of(tx, segment).await?.compile(2)?),
        None => None,
    };
    let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![(&id, Type::INT8)];
    params.extend(predicate.iter().flat_map(|p| p.params()));
    let targeted = tx
        .execute_typed(
            &format!(
                "INSERT INTO campaign_messages (campaign_id, subscriber_id, list_id)
                 SELECT DISTINCT ON (ls.subscriber_id) $1, ls.subscriber_id, ls.list_id
                 FROM list_subscriptions ls
                 JOIN campaign_lists cl ON cl.list_id = ls.list_id AND cl.campaign_id = $1
                 JOIN subscribers s ON s.id = ls.subscriber_id
                 WHERE ls.status = 'confirmed' AND s.status = 'enabled'
                   AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = s.email)
                   AND {}
                 ORDER BY ls.subscriber_id, ls.list_id
                 ON CONFLICT (campaign_id, subscriber_id) DO NOTHING",
                predicate.as_ref().map_or("true", |p| p.sql.as_str())
            ),
            &params,
        )
        .await?;
    let targeted = i32::try_from(targeted).map_err(Error::internal)?;
    tx.query_typed(
        "UPDATE campaigns SET targeted = $2,
             status = CASE WHEN $2 = 0 THEN 'finished' ELSE status END,
             finished_at = CASE WHEN $2 = 0 THEN now() ELSE finished_at END
         WHERE id = $1",
        &[(&id, Type::INT8), (&targeted, Type::INT4)],
    )
    .await?;
    Ok(true)
}

/// What a minute of the campaign-send schedule does: starts scheduled campaigns
/// whose time has come, and finishes running ones with nothing left to send.
/// Answers the running campaigns to [`fan_out`]: those it started, and any whose
/// fan-out was cut short.
pub async fn run_due(client: &mut platform::db::Client) -> Result<Vec<i64>> {
    let due: Vec<i64> = client
        .query_typed(
            "SELECT id FROM campaigns WHERE status = 'scheduled' AND send_at <= now()
             ORDER BY send_at LIMIT 10",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in due {
        let tx = client.transaction().await?;
        // Two schedules at once: the second finds it running and starts nothing.
        if start(&tx, id).await? {
            tx.commit().await?;
            tracing::info!(campaign = id, "campaign started");
        }
    }
    client
        .query_typed(
            "UPDATE campaigns c SET status = 'finished', finished_at = now()
             WHERE status = 'running' AND NOT EXISTS (
                 SELECT 1 FROM campaign_messages m
                 WHERE m.campaign_id = c.id AND m.status IN ('pending', 'sending'))",
            &[],
        )
        .await?;
    Ok(client
        .query_typed(
            "SELECT id FROM campaigns c WHERE status = 'running' AND EXISTS (
                 SELECT 1 FROM campaign_messages m
                 WHERE m.campaign_id = c.id AND m.status = 'pending' AND m.enqueued_at IS NULL
                   AND m.next_attempt_at <= now())",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Clicks on one link of a campaign.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LinkClicks {
    pub url: String,
    pub clicks: i64,
    /// Different subscribers who clicked it.
    pub unique: i64,
}

/// What happened to a campaign's mail: sending, what SES reported, and what
/// readers did. Opens and clicks count people (each once), machine opens apart.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub targeted: i64,
    pub sent: i64,
    pub failed: i64,
    pub delivered: i64,
    pub bounced: i64,
    pub complained: i64,
    /// Subscribers who opened it (machine fetches left out).
    pub opened: i64,
    /// Subscribers whose only opens were machines' (privacy proxies, scanners).
    pub machine_opened: i64,
    pub clicked: i64,
    /// Recipients who left the list the campaign reached them through since it
    /// started.
    pub unsubscribed: i64,
    /// The most clicked links, at most 100.
    pub links: Vec<LinkClicks>,
}

/// The campaign's stats.
pub async fn stats(client: &impl GenericClient, document_id: &str) -> Result<Stats> {
    let row = client
        .query_typed(
            "SELECT
                 (SELECT count(*) FROM campaign_messages m WHERE m.campaign_id = c.id),
                 (SELECT count(*) FROM campaign_messages m WHERE m.campaign_id = c.id AND m.status = 'sent'),
                 (SELECT count(*) FROM campaign_messages m WHERE m.campaign_id = c.id AND m.status = 'failed'),
                 (SELECT count(DISTINCT e.subscriber) FROM mail_events e
                   WHERE e.campaign = c.document_id AND e.event_type = 'Delivery'),
                 (SELECT count(DISTINCT e.subscriber) FROM mail_events e
                   WHERE e.campaign = c.document_id AND e.event_type = 'Bounce'),
                 (SELECT count(DISTINCT e.subscriber) FROM mail_events e
                   WHERE e.campaign = c.document_id AND e.event_type = 'Complaint'),
                 (SELECT count(DISTINCT t.subscriber_id) FROM tracking_events t
                   WHERE t.campaign_id = c.id AND t.kind = 'open' AND NOT t.machine),
                 (SELECT count(DISTINCT t.subscriber_id) FROM tracking_events t
                   WHERE t.campaign_id = c.id AND t.kind = 'open' AND t.machine
                     AND NOT EXISTS (SELECT 1 FROM tracking_events h
                                     WHERE h.campaign_id = c.id AND h.subscriber_id = t.subscriber_id
                                       AND h.kind = 'open' AND NOT h.machine)),
                 (SELECT count(DISTINCT t.subscriber_id) FROM tracking_events t
                   WHERE t.campaign_id = c.id AND t.kind = 'click'),
                 (SELECT count(*) FROM campaign_messages m
                   JOIN list_subscriptions ls ON ls.list_id = m.list_id AND ls.subscriber_id = m.subscriber_id
                   WHERE m.campaign_id = c.id AND ls.status = 'unsubscribed' AND ls.updated_at >= c.started_at),
                 c.id
             FROM campaigns c WHERE c.document_id = $1",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let row = row
        .first()
        .ok_or_else(|| Error::NotFound("no such campaign".into()))?;
    let id: i64 = row.try_get(10)?;
    let links = client
        .query_typed(
            "SELECT url, count(*), count(DISTINCT subscriber_id) FROM tracking_events
             WHERE campaign_id = $1 AND kind = 'click'
             GROUP BY url ORDER BY count(*) DESC, url LIMIT 100",
            &[(&id, Type::INT8)],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(LinkClicks {
                url: r.try_get(0)?,
                clicks: r.try_get(1)?,
                unique: r.try_get(2)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Stats {
        targeted: row.try_get(0)?,
        sent: row.try_get(1)?,
        failed: row.try_get(2)?,
        delivered: row.try_get(3)?,
        bounced: row.try_get(4)?,
        complained: row.try_get(5)?,
        opened: row.try_get(6)?,
        machine_opened: row.try_get(7)?,
        clicked: row.try_get(8)?,
        unsubscribed: row.try_get(9)?,
        links,
    })
}

/// A campaign that went out, as an overview shows it: who it reached and who
/// responded (people, not machines: [`Stats`] has the detail).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    pub document_id: String,
    pub name: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub sent: i64,
    pub opened: i64,
    pub clicked: i64,
    /// `opened / sent`, 0 before anything was sent.
    pub open_rate: f64,
    /// `clicked / sent`, 0 before anything was sent.
    pub click_rate: f64,
}

/// The `limit` campaigns that started sending last, newest first.
pub async fn recently_sent(client: &impl GenericClient, limit: i64) -> Result<Vec<Sent>> {
    let rows = client
        .query_typed(
            "SELECT c.document_id, c.name, c.status, c.started_at, c.finished_at,
                 (SELECT count(*) FROM campaign_messages m
                   WHERE m.campaign_id = c.id AND m.status = 'sent'),
                 (SELECT count(DISTINCT t.subscriber_id) FROM tracking_events t
                   WHERE t.campaign_id = c.id AND t.kind = 'open' AND NOT t.machine),
                 (SELECT count(DISTINCT t.subscriber_id) FROM tracking_events t
                   WHERE t.campaign_id = c.id AND t.kind = 'click')
             FROM campaigns c WHERE c.started_at IS NOT NULL
             ORDER BY c.started_at DESC, c.id DESC LIMIT $1",
            &[(&limit, Type::INT8)],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let (sent, opened, clicked): (i64, i64, i64) =
                (row.try_get(5)?, row.try_get(6)?, row.try_get(7)?);
            let rate = |n: i64| {
                if sent == 0 {
                    0.0
                } else {
                    n as f64 / sent as f64
                }
            };
            Ok(Sent {
                document_id: row.try_get(0)?,
                name: row.try_get(1)?,
                status: row.try_get(2)?,
                started_at: row.try_get(3)?,
                finished_at: row.try_get(4)?,
                sent,
                opened,
                clicked,
                open_rate: rate(opened),
                click_rate: rate(clicked),
            })
        })
        .collect()
}

/// Campaign mails created from `from` (inclusive) to `to` (exclusive) that failed
/// for good; rows a cancellation ended are not failures.
pub async fn failed_messages(
    client: &impl GenericClient,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64> {
    Ok(client
        .query_typed(
            "SELECT count(*) FROM campaign_messages
             WHERE status = 'failed' AND last_error IS DISTINCT FROM 'canceled'
               AND created_at >= $1 AND created_at < $2",
            &[(&from, Type::TIMESTAMPTZ), (&to, Type::TIMESTAMPTZ)],
        )
        .await?
        .first()
        .map_or(Ok(0), |row| row.try_get(0))?)
}

/// The most addresses one test send goes to.
pub const MAX_TEST_ADDRESSES: usize = 5;

/// Writes a test send of the campaign to `to` in `tx`, through the mail outbox:
/// its template rendered for each address (as the subscriber with that address, or
/// with only the address), subject marked `[测试]`, links in the footer examples.
/// Answers the mail job ids.
pub async fn test_send(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
    to: &[identity::email::Email],
    config: &CampaignConfig,
) -> Result<Vec<RowId>> {
    if to.is_empty() || to.len() > MAX_TEST_ADDRESSES {
        return Err(Error::invalid(
            "emails",
            format!("1 to {MAX_TEST_ADDRESSES} addresses"),
        ));
    }
    let row = tx
        .query_typed(
            "SELECT c.name, t.name, t.subject, t.html, t.text
             FROM campaigns c JOIN mail_templates t ON t.id = c.template_id
             WHERE c.document_id = $1",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let row = row
        .first()
        .ok_or_else(|| Error::NotFound("no such campaign".into()))?;
    let campaign_name: String = row.try_get(0)?;
    let template = crate::templates::TemplateInput {
        name: row.try_get(1)?,
        subject: row.try_get(2)?,
        html: row.try_get(3)?,
        text: row.try_get(4)?,
    };
    let footer =
        crate::templates::example_footer(config.postal_address.as_deref().unwrap_or_default());
    let mut jobs = Vec::with_capacity(to.len());
    for email in to {
        let known = tx
            .query_typed(
                "SELECT name, attributes FROM subscribers WHERE email = $1",
                &[(&email.as_str(), Type::TEXT)],
            )
            .await?;
        let (name, attributes): (String, Value) = match known.first() {
            Some(row) => (row.try_get(0)?, row.try_get(1)?),
            None => (String::new(), json!({})),
        };
        let context = json!({
            "subscriber": { "name": name, "email": email.as_str(), "attributes": attributes },
            "campaign": { "name": campaign_name },
        });
        let rendered = crate::templates::render(&template, &context, &footer)?;
        let subject = format!(
            "[测试] {}{}",
            config.subject_prefix.as_deref().unwrap_or_default(),
            rendered.subject
        );
        let job = mail::MailJob {
            template: "rendered",
            to: email.clone(),
            variables: json!({ "subject": subject, "html": rendered.html, "text": rendered.text }),
        };
        jobs.push(mail::enqueue(tx, &job).await?);
    }
    audit::record(
        tx,
        actor,
        "campaign.test",
        document_id,
        json!({ "addresses": to.len() }),
    )
    .await?;
    Ok(jobs)
}
