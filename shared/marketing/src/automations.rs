//! Automations: a sequence of templates mailed to each person a trigger enrols,
//! with a delay before each step: a welcome series after a subscription is
//! confirmed or an account is created, a post-purchase mail after an order is paid.
//! The scheduler runs them every minute: [`enrol`] then [`run_due`].
//!
//! Enrolment follows a watermark per automation (`enrolled_until`): each run takes
//! whoever arrived after it, up to [`LAG`] ago, so a transaction still open when a
//! run starts is not skipped for good; each person goes through a sequence once
//! (unique per automation and subscriber). The `subscribed` trigger reads this
//! crate's own subscriptions; `member-signup` and `order-paid` arrivals come from
//! the crates that own members and orders, by way of the scheduler function, and
//! a person without a subscriber record gets one (linked to their account).
//!
//! A due step is sent by writing its rendered mail (with the RFC 8058 headers) to
//! the mail outbox and moving the enrolment on, in one transaction: each step goes
//! once. Before each step the person is checked again: blocklisted, suppressed or
//! (for a list's sequence) no longer subscribed, they leave the sequence.

use chrono::{DateTime, Utc};
use identity::email::Email;
use platform::db::GenericClient;
use platform::{
    audit,
    error::{Error, Result},
    http::bounded,
    outbox::RowId,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::{Row, types::Type};
use url::Url;

use crate::{
    campaigns::{Audience, CampaignConfig},
    links::LinkKey,
    templates::{self, Footer, TemplateInput},
};

/// How far behind now enrolment stays: longer than any request's transaction, so
/// a subscription or order committed late still falls in a later window.
pub const LAG: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// The most steps a sequence has.
const MAX_STEPS: usize = 20;

/// Due steps sent per transaction, and transactions per run.
const BATCH: i64 = 200;
const BATCHES_PER_RUN: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// A subscription to the automation's list is confirmed (or, on a single
    /// opt-in list, made).
    Subscribed,
    /// A member account is created.
    MemberSignup,
    /// An order is paid.
    OrderPaid,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Subscribed => "subscribed",
            Trigger::MemberSignup => "member-signup",
            Trigger::OrderPaid => "order-paid",
        }
    }

    fn parse(raw: &str) -> Self {
        match raw {
            "member-signup" => Trigger::MemberSignup,
            "order-paid" => Trigger::OrderPaid,
            _ => Trigger::Subscribed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AutomationStatus {
    /// Not enrolling or sending yet.
    Draft,
    Active,
    /// Neither enrolling nor sending; who is enrolled waits.
    Paused,
}

impl AutomationStatus {
    fn parse(raw: &str) -> Self {
        match raw {
            "active" => Self::Active,
            "paused" => Self::Paused,
            _ => Self::Draft,
        }
    }
}

/// A step as staff write it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepInput {
    /// A template's documentId.
    pub template: String,
    /// Minutes after enrolment (the first step) or after the previous step.
    pub delay_minutes: i32,
}

/// An automation as staff write it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutomationInput {
    pub name: String,
    pub trigger: Trigger,
    /// The list whose new subscribers are enrolled (documentId): for the
    /// `subscribed` trigger only.
    pub list: Option<String>,
    pub steps: Vec<StepInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// The template's documentId and name.
    pub template: String,
    pub template_name: String,
    pub delay_minutes: i32,
}

/// Where the people enrolled are.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Enrolled {
    pub active: i64,
    pub completed: i64,
    /// Unsubscribed, suppressed or blocklisted before the end.
    pub left: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Automation {
    pub document_id: String,
    pub name: String,
    pub trigger: Trigger,
    pub list: Option<Audience>,
    pub status: AutomationStatus,
    pub steps: Vec<Step>,
    pub enrolled: Enrolled,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "a.document_id, a.name, a.trigger, a.status,
    CASE WHEN l.id IS NULL THEN NULL ELSE jsonb_build_object('documentId', l.document_id, 'name', l.name) END,
    COALESCE((SELECT jsonb_agg(jsonb_build_object('template', t.document_id, 'templateName', t.name,
                                                  'delayMinutes', s.delay_minutes) ORDER BY s.position)
              FROM automation_steps s JOIN mail_templates t ON t.id = s.template_id
              WHERE s.automation_id = a.id), '[]'::jsonb),
    (SELECT count(*) FROM automation_enrolments e WHERE e.automation_id = a.id AND e.status = 'active'),
    (SELECT count(*) FROM automation_enrolments e WHERE e.automation_id = a.id AND e.status = 'completed'),
    (SELECT count(*) FROM automation_enrolments e WHERE e.automation_id = a.id AND e.status = 'left'),
    (SELECT count(*) FROM automation_enrolments e WHERE e.automation_id = a.id AND e.status = 'failed'),
    a.created_at, a.updated_at";

const FROM: &str = "automations a LEFT JOIN mailing_lists l ON l.id = a.list_id";

fn from_row(row: &Row) -> Result<Automation> {
    let list: Option<Value> = row.try_get(4)?;
    let steps: Value = row.try_get(5)?;
    Ok(Automation {
        document_id: row.try_get(0)?,
        name: row.try_get(1)?,
        trigger: Trigger::parse(row.try_get(2)?),
        status: AutomationStatus::parse(row.try_get(3)?),
        list: list
            .map(serde_json::from_value)
            .transpose()
            .map_err(Error::internal)?,
        steps: serde_json::from_value(steps).map_err(Error::internal)?,
        enrolled: Enrolled {
            active: row.try_get(6)?,
            completed: row.try_get(7)?,
            left: row.try_get(8)?,
            failed: row.try_get(9)?,
        },
        created_at: row.try_get(10)?,
        updated_at: row.try_get(11)?,
    })
}

/// Every automation, newest first.
pub async fn list(client: &impl GenericClient) -> Result<Vec<Automation>> {
    client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM {FROM} ORDER BY a.id DESC"),
            &[],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn by_document_id(client: &impl GenericClient, document_id: &str) -> Result<Automation> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE a.document_id = $1");
    crate::one_by_key(client, &sql, document_id, "automation", from_row).await
}

/// An input checked against the database: name, list id, and the steps'
/// template ids with their delays.
struct Resolved {
    name: String,
    list_id: Option<i64>,
    templates: Vec<i64>,
    delays: Vec<i32>,
}

async fn resolve(client: &impl GenericClient, input: &AutomationInput) -> Result<Resolved> {
    let name = bounded(&input.name, "name", 200)?;
    let list_id = match (input.trigger, &input.list) {
        (Trigger::Subscribed, Some(list)) => Some(
            crate::lists::ids_of(client, std::slice::from_ref(list), false, "list")
                .await?
                .first()
                .copied()
                .ok_or_else(|| Error::invalid("list", "no such list"))?,
        ),
        (Trigger::Subscribed, None) => {
            return Err(Error::invalid(
                "list",
                "the `subscribed` trigger needs the list",
            ));
        }
        (_, Some(_)) => {
            return Err(Error::invalid(
                "list",
                "only the `subscribed` trigger takes a list",
            ));
        }
        (_, None) => None,
    };
    if input.steps.is_empty() || input.steps.len() > MAX_STEPS {
        return Err(Error::invalid("steps", format!("1 to {MAX_STEPS} steps")));
    }
    let mut templates = Vec::with_capacity(input.steps.len());
    let mut delays = Vec::with_capacity(input.steps.len());
    for step in &input.steps {
        if !(0..=525_600).contains(&step.delay_minutes) {
            return Err(Error::invalid(
                "steps",
                "delayMinutes is 0 to 525600 (a year)",
            ));
        }
        let id: i64 = client
            .query_typed(
                "SELECT id FROM mail_templates WHERE document_id = $1",
                &[(&step.template, Type::TEXT)],
            )
            .await?
            .first()
            .map(|r| r.get(0))
            .ok_or_else(|| Error::invalid("steps", "no such template"))?;
        templates.push(id);
        delays.push(step.delay_minutes);
    }
    Ok(Resolved {
        name,
        list_id,
        templates,
        delays,
    })
}

async fn set_steps(client: &impl GenericClient, id: i64, resolved: &Resolved) -> Result<()> {
    client
        .query_typed(
            "DELETE FROM automation_steps WHERE automation_id = $1",
            &[(&id, Type::INT8)],
        )
        .await?;
    client
        .query_typed(
            "INSERT INTO automation_steps (automation_id, position, template_id, delay_minutes)
             SELECT $1, s.position - 1, s.template_id, s.delay_minutes
             FROM unnest($2::bigint[], $3::int[]) WITH ORDINALITY AS s(template_id, delay_minutes, position)",
            &[
                (&id, Type::INT8),
                (&resolved.templates, Type::INT8_ARRAY),
                (&resolved.delays, Type::INT4_ARRAY),
            ],
        )
        .await?;
    Ok(())
}

pub async fn create(
    tx: &impl platform::db::Transactional,
    actor: &str,
    input: AutomationInput,
) -> Result<Automation> {
    let resolved = resolve(tx, &input).await?;
    let row = tx
        .query_typed(
            "INSERT INTO automations (name, trigger, list_id) VALUES ($1, $2, $3)
             RETURNING id, document_id",
            &[
                (&resolved.name, Type::TEXT),
                (&input.trigger.as_str(), Type::TEXT),
                (&resolved.list_id, Type::INT8),
            ],
        )
        .await?;
    let row = row
        .first()
        .ok_or_else(|| Error::internal("an insert returned no row"))?;
    let (id, document_id): (i64, String) = (row.get(0), row.get(1));
    set_steps(tx, id, &resolved).await?;
    audit::record(
        tx,
        actor,
        "automation.create",
        &document_id,
        json!({ "name": resolved.name, "trigger": input.trigger.as_str() }),
    )
    .await?;
    by_document_id(tx, &document_id).await
}

/// The automation's id, its row locked for the transaction.
async fn locked(tx: &impl platform::db::Transactional, document_id: &str) -> Result<(i64, String)> {
    tx.query_typed(
        "SELECT id, status FROM automations WHERE document_id = $1 FOR UPDATE",
        &[(&document_id, Type::TEXT)],
    )
    .await?
    .first()
    .map(|r| (r.get(0), r.get(1)))
    .ok_or_else(|| Error::NotFound("no such automation".into()))
}

/// Changes an automation. Its steps may change at any time (people already
/// enrolled go on from the position they are at); its trigger and list only
/// while it is a draft.
pub async fn update(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
    input: AutomationInput,
) -> Result<Automation> {
    let resolved = resolve(tx, &input).await?;
    let (id, status) = locked(tx, document_id).await?;
    let changed = tx
        .query_typed(
            "UPDATE automations SET name = $2, trigger = $3, list_id = $4
             WHERE id = $1 AND (status = 'draft' OR (trigger = $3 AND list_id IS NOT DISTINCT FROM $4))
             RETURNING id",
            &[
                (&id, Type::INT8),
                (&resolved.name, Type::TEXT),
                (&input.trigger.as_str(), Type::TEXT),
                (&resolved.list_id, Type::INT8),
            ],
        )
        .await?;
    if changed.is_empty() {
        return Err(Error::Conflict(format!(
            "the trigger and list of an automation that is {status} cannot change; pause it and create another"
        )));
    }
    set_steps(tx, id, &resolved).await?;
    audit::record(
        tx,
        actor,
        "automation.update",
        document_id,
        json!({ "name": resolved.name }),
    )
    .await?;
    by_document_id(tx, document_id).await
}

/// Deletes an automation that is not active, with its enrolments.
pub async fn delete(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
) -> Result<()> {
    let (id, _) = locked(tx, document_id).await?;
    let deleted = tx
        .query_typed(
            "DELETE FROM automations WHERE id = $1 AND status <> 'active' RETURNING name",
            &[(&id, Type::INT8)],
        )
        .await?;
    let Some(row) = deleted.first() else {
        return Err(Error::Conflict(
            "pause the automation before deleting it".into(),
        ));
    };
    audit::record(
        tx,
        actor,
        "automation.delete",
        document_id,
        json!({ "name": row.get::<_, String>(0) }),
    )
    .await
}

/// Activates (from draft or paused) or pauses (from active) an automation; 409
/// when its state does not allow it. The first activation starts its watermark:
/// only people who arrive from then on are enrolled.
pub async fn set_active(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
    active: bool,
    config: &CampaignConfig,
) -> Result<Automation> {
    let (id, status) = locked(tx, document_id).await?;
    if active && config.postal_address.as_deref().is_none_or(str::is_empty) {
        return Err(Error::Conflict(
            "set MARKETING_POSTAL_ADDRESS first: every marketing mail carries the sender's postal address".into(),
        ));
    }
    let changed = if active {
        tx.query_typed(
            "UPDATE automations SET status = 'active', enrolled_until = COALESCE(enrolled_until, now())
             WHERE id = $1 AND status IN ('draft', 'paused') RETURNING id",
            &[(&id, Type::INT8)],
        )
        .await?
    } else {
        tx.query_typed(
            "UPDATE automations SET status = 'paused' WHERE id = $1 AND status = 'active' RETURNING id",
            &[(&id, Type::INT8)],
        )
        .await?
    };
    if changed.is_empty() {
        let what = if active { "activated" } else { "paused" };
        return Err(Error::Conflict(format!(
            "an automation that is {status} cannot be {what}"
        )));
    }
    let action = if active {
        "automation.activate"
    } else {
        "automation.pause"
    };
    audit::record(tx, actor, action, document_id, json!({})).await?;
    by_document_id(tx, document_id).await
}

/// Someone a trigger owned by another crate saw: an account created, an order
/// paid.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub email: Email,
    pub name: String,
    pub at: DateTime<Utc>,
}

/// The window of arrivals the active automations of `trigger` wait for: from the
/// oldest watermark to [`LAG`] ago (database time). `None` when none is active.
pub async fn window(
    client: &impl GenericClient,
    trigger: Trigger,
) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>> {
    let row = client
        .query_typed(
            "SELECT min(enrolled_until), now() - make_interval(secs => $2) FROM automations
             WHERE status = 'active' AND trigger = $1",
            &[
                (&trigger.as_str(), Type::TEXT),
                (&(LAG.num_seconds() as f64), Type::FLOAT8),
            ],
        )
        .await?;
    let Some(row) = row.first() else {
        return Ok(None);
    };
    let from: Option<DateTime<Utc>> = row.try_get(0)?;
    Ok(from.map(|from| (from, row.get(1))))
}

/// Enrols in each active automation of `trigger` whoever arrived after its
/// watermark and up to `until`, and moves the watermark to `until`. For
/// `subscribed` the arrivals are read here (`arrivals` is ignored). Answers how
/// many were enrolled.
pub async fn enrol(
    client: &mut platform::db::Client,
    trigger: Trigger,
    arrivals: &[Arrival],
    until: DateTime<Utc>,
) -> Result<u64> {
    let tx = client.transaction().await?;
    let automations: Vec<(i64, DateTime<Utc>)> = tx
        .query_typed(
            "SELECT id, enrolled_until FROM automations
             WHERE status = 'active' AND trigger = $1 AND enrolled_until < $2
             FOR UPDATE SKIP LOCKED",
            &[(&trigger.as_str(), Type::TEXT), (&until, Type::TIMESTAMPTZ)],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut enrolled = 0;
    for (id, since) in automations {
        let subscribers: Vec<i64> = match trigger {
            Trigger::Subscribed => tx
                .query_typed(
                    "SELECT ls.subscriber_id FROM list_subscriptions ls
                     JOIN automations a ON a.list_id = ls.list_id
                     WHERE a.id = $1 AND ls.status = 'confirmed'
                       AND ls.updated_at > $2 AND ls.updated_at <= $3",
                    &[
                        (&id, Type::INT8),
                        (&since, Type::TIMESTAMPTZ),
                        (&until, Type::TIMESTAMPTZ),
                    ],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect(),
            Trigger::MemberSignup | Trigger::OrderPaid => {
                let mut people: Vec<(&str, &str)> = arrivals
                    .iter()
                    .filter(|a| a.at > since && a.at <= until)
                    .map(|a| (a.email.as_str(), a.name.as_str()))
                    .collect();
                // One row per address: an upsert may not touch a row twice.
                people.sort_unstable_by_key(|(email, _)| *email);
                people.dedup_by_key(|(email, _)| *email);
                let (emails, names): (Vec<&str>, Vec<&str>) = people.into_iter().unzip();
                subscribers_for(&tx, &emails, &names).await?
            }
        };
        enrolled += tx
            .execute_typed(
                "INSERT INTO automation_enrolments (automation_id, subscriber_id, next_run_at)
                 SELECT $1, s, now() + make_interval(mins => st.delay_minutes)
                 FROM unnest($2::bigint[]) s, automation_steps st
                 WHERE st.automation_id = $1 AND st.position = 0
                 ON CONFLICT (automation_id, subscriber_id) DO NOTHING",
                &[(&id, Type::INT8), (&subscribers, Type::INT8_ARRAY)],
            )
            .await?;
        tx.query_typed(
            "UPDATE automations SET enrolled_until = $2 WHERE id = $1",
            &[(&id, Type::INT8), (&until, Type::TIMESTAMPTZ)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(enrolled)
}

/// The subscriber ids of these addresses, creating the missing ones (named, linked
/// to the member with the address, on no list).
async fn subscribers_for(
    tx: &impl platform::db::Transactional,
    emails: &[&str],
    names: &[&str],
) -> Result<Vec<i64>> {
    Ok(tx
        .query_typed(
            "INSERT INTO subscribers (email, name, member_id)
             SELECT a.email, a.name,
                    (SELECT m.id FROM members m WHERE m.email = a.email AND m.deleted_at IS NULL)
             FROM unnest($1::text[], $2::text[]) AS a(email, name)
             ON CONFLICT (email) DO UPDATE SET name = subscribers.name
             RETURNING id",
            &[(&emails, Type::TEXT_ARRAY), (&names, Type::TEXT_ARRAY)],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// What sending a step needs besides the rows.
pub struct StepSender<'a> {
    pub links: &'a LinkKey,
    pub api_url: &'a Url,
    pub site_url: &'a Url,
    pub config: &'a CampaignConfig,
}

impl StepSender<'_> {
    /// The step's mail for one person, as a mail job.
    fn compose(&self, due: &Due) -> Result<mail::MailJob> {
        let footer = Footer::for_recipient(
            self.links,
            (self.api_url, self.site_url),
            &due.subscriber,
            due.list.as_deref(),
            self.config.postal_address.as_deref().unwrap_or_default(),
        )?;
        let context = json!({
            "subscriber": { "name": due.name, "email": due.email, "attributes": due.attributes },
            "automation": { "name": due.automation },
        });
        let rendered = templates::render(&due.template, &context, &footer)?;
        let subject = format!(
            "{}{}",
            self.config.subject_prefix.as_deref().unwrap_or_default(),
            rendered.subject
        );
        Ok(mail::MailJob {
            template: "rendered",
            to: Email::parse(&due.email).map_err(Error::internal)?,
            variables: json!({
                "subject": subject, "html": rendered.html, "text": rendered.text,
                "list_unsubscribe": footer.unsubscribe_url,
            }),
        })
    }
}

/// A step that is due, with what deciding and rendering it needs.
struct Due {
    enrolment: i64,
    automation: String,
    list: Option<String>,
    subscriber: String,
    email: String,
    name: String,
    attributes: Value,
    /// Blocklisted, suppressed or off the list: they leave instead.
    leaves: bool,
    /// Whether the sequence still has a step here (steps can be removed), and its
    /// template.
    has_step: bool,
    template: TemplateInput,
    /// The delay before the step after this one, if there is one.
    next_delay: Option<i32>,
}

const DUE: &str = "SELECT e.id, a.name, l.document_id, s.document_id, s.email, s.name, s.attributes,
        s.status <> 'enabled'
          OR EXISTS (SELECT 1 FROM suppressions x WHERE x.email = s.email)
          OR (a.list_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM list_subscriptions ls
                WHERE ls.list_id = a.list_id AND ls.subscriber_id = s.id AND ls.status = 'confirmed')),
        t.id IS NOT NULL, COALESCE(t.name, ''), COALESCE(t.subject, ''), COALESCE(t.html, ''), COALESCE(t.text, ''),
        (SELECT n.delay_minutes FROM automation_steps n
          WHERE n.automation_id = a.id AND n.position = e.next_step + 1)
 FROM automation_enrolments e
 JOIN automations a ON a.id = e.automation_id AND a.status = 'active'
 JOIN subscribers s ON s.id = e.subscriber_id
 LEFT JOIN mailing_lists l ON l.id = a.list_id
 LEFT JOIN automation_steps st ON st.automation_id = a.id AND st.position = e.next_step
 LEFT JOIN mail_templates t ON t.id = st.template_id
 WHERE e.status = 'active' AND e.next_run_at <= now()
 ORDER BY e.next_run_at
 LIMIT $1
 FOR UPDATE OF e SKIP LOCKED";

fn due(row: &Row) -> Result<Due> {
    Ok(Due {
        enrolment: row.try_get(0)?,
        automation: row.try_get(1)?,
        list: row.try_get(2)?,
        subscriber: row.try_get(3)?,
        email: row.try_get(4)?,
        name: row.try_get(5)?,
        attributes: row.try_get(6)?,
        leaves: row.try_get(7)?,
        has_step: row.try_get(8)?,
        template: TemplateInput {
            name: row.try_get(9)?,
            subject: row.try_get(10)?,
            html: row.try_get(11)?,
            text: row.try_get(12)?,
        },
        next_delay: row.try_get(13)?,
    })
}

/// Sends the steps that are due: each one's mail written to the mail outbox and
/// its enrolment moved on in the same transaction. Answers the mail jobs to
/// dispatch after.
pub async fn run_due(
    client: &mut platform::db::Client,
    sender: &StepSender<'_>,
) -> Result<Vec<RowId>> {
    let mut jobs = Vec::new();
    for _ in 0..BATCHES_PER_RUN {
        let tx = client.transaction().await?;
        let rows = tx.query_typed(DUE, &[(&BATCH, Type::INT8)]).await?;
        for row in &rows {
            let due = due(row)?;
            let (status, next_delay) = if due.leaves {
                ("left", None)
            } else if !due.has_step {
                ("completed", None)
            } else {
                match sender.compose(&due) {
                    Ok(job) => {
                        jobs.push(mail::enqueue(&tx, &job).await?);
                        match due.next_delay {
                            Some(delay) => ("active", Some(delay)),
                            None => ("completed", None),
                        }
                    }
                    Err(err) => {
                        tracing::warn!(enrolment = due.enrolment, error = %err, "automation step not rendered");
                        ("failed", None)
                    }
                }
            };
            tx.query_typed(
                "UPDATE automation_enrolments SET status = $2,
                     next_step = next_step + CASE WHEN $2 = 'left' THEN 0 ELSE 1 END,
                     next_run_at = now() + make_interval(mins => COALESCE($3, 0))
                 WHERE id = $1",
                &[
                    (&due.enrolment, Type::INT8),
                    (&status, Type::TEXT),
                    (&next_delay, Type::INT4),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        if (rows.len() as i64) < BATCH {
            break;
        }
    }
    Ok(jobs)
}
