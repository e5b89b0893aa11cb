//! The admin API of email marketing: mailing lists (`/admin/lists`), subscribers
//! (`/admin/subscribers`, filtered by list, status and text), templates
//! (`/admin/templates`, checked when saved, previewed as a recipient gets them) and
//! the suppression list (`/admin/suppressions`), and campaigns (`/admin/campaigns`:
//! a template for lists, scheduled or sent now, paused, resumed, canceled, with
//! their progress; campaign-send sends them), segments (`/admin/segments`: rules
//! that narrow a campaign's lists, previewed as a count), automations (`/admin/automations`:
//! sequences the scheduler sends), and the transactional mail API
//! (`POST /admin/tx`, `mail.send`). `marketing.read` reads, `marketing.write`
//! writes: admins, staff granted those scopes, and tokens carrying them (read-only
//! tokens never: subscribers are personal data).
//!
//! [`ROUTES`] is the function (deny by default; tests/api/routes.rs walks every route
//! with every kind of caller). Every write records an audit entry in its transaction.

use std::sync::Arc;

use http::StatusCode;
use identity::{
    access::Permission,
    email::Email,
    route::{Call, Doc, Guard, Route, Router, Schema, SchemaGenerator, schema_of},
};
use lambda_http::{Body, Response};
use mail::MailConfig;
use marketing::{
    activity::{self, Activity},
    automations::{self, Automation, AutomationInput},
    campaigns::{self, Action, Campaign, CampaignConfig, CampaignInput, Stats},
    imports::{self, ImportOptions, ImportReport},
    lists::{self, ListInput, MailingList},
    segments::{self, Matches, Rules, Segment, SegmentInput},
    subscribers::{self, Filter, Status, Subscriber, SubscriberInput},
    suppressions::{self, Suppression},
    templates::{self, Rendered, Template, TemplateInput},
    transactional::{self, TxInput, TxQueued},
};
use platform::{
    Error, Platform, Result,
    http::{
        data, no_content, page_param, parse_json, path_param, query_param, raw_body, text_param,
    },
};
use schemars::json_schema;
use serde::Deserialize;
use serde_json::json;

const MAX_BODY: usize = 64 * 1024;
/// A CSV import: some 60,000 rows; well under what one request may carry.
const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;
/// A template's bodies are HTML and text of up to 200,000 characters each.
const MAX_TEMPLATE_BODY: usize = 2 * 1024 * 1024;
const MAX_PAGE_SIZE: i64 = 100;

const READ: Guard = Guard::needs(&[Permission::ReadMarketing]);
const MANAGE: Guard = Guard::needs(&[Permission::ManageMarketing]);
const SEND_MAIL: Guard = Guard::needs(&[Permission::SendMail]);

/// A write's body, in the admin API's `{"data": {...}}` envelope.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Envelope<T> {
    data: T,
}

/// A template to render as a recipient would get it, with variables (the sample
/// subscriber when absent).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PreviewInput {
    template: TemplateInput,
    variables: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SuppressionInput {
    email: Email,
}

/// `POST /admin/campaigns/{documentId}/test`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TestInput {
    emails: Vec<Email>,
}

/// `POST /admin/campaigns/{documentId}/schedule`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScheduleInput {
    send_at: chrono::DateTime<chrono::Utc>,
}

/// The function's state.
pub struct Campaigns {
    platform: Arc<Platform>,
    config: CampaignConfig,
    queue: platform::outbox::Queue,
    mail: platform::outbox::Queue,
}

type Answer = Result<Response<Body>>;

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Campaigns>] = &[
    identity::route!(GET "/admin/lists", READ, Campaigns::lists,
        Doc::new("Every mailing list with its subscription counts, oldest first", schema_of::<Vec<MailingList>>)),
    identity::route!(POST "/admin/lists", MANAGE, Campaigns::create_list,
        Doc::new("Add a list: public (offered on the site) or private, single or double opt-in", schema_of::<MailingList>)
            .body(schema_of::<Envelope<ListInput>>).status(201)),
    identity::route!(GET "/admin/lists/{documentId}", READ, Campaigns::list,
        Doc::new("One list", schema_of::<MailingList>)),
    identity::route!(PUT "/admin/lists/{documentId}", MANAGE, Campaigns::update_list,
        Doc::new("Change a list", schema_of::<MailingList>)
            .body(schema_of::<Envelope<ListInput>>)),
    identity::route!(DELETE "/admin/lists/{documentId}", MANAGE, Campaigns::delete_list,
        Doc::empty("Delete a list and its subscriptions (the subscribers stay)")),
    identity::route!(GET "/admin/subscribers", READ, Campaigns::subscribers,
        Doc::new("Subscribers, newest first, by list, status and text in the email or name", subscribers_page)
            .query(subscribers_query)),
    identity::route!(POST "/admin/subscribers", MANAGE, Campaigns::create_subscriber,
        Doc::new("Add a subscriber to lists (unconfirmed on double opt-in lists unless preconfirmed)", schema_of::<Subscriber>)
            .body(schema_of::<Envelope<SubscriberInput>>).status(201)),
    identity::route!(POST "/admin/subscribers/import", MANAGE, Campaigns::import_subscribers,
        Doc::new("Import subscribers from CSV (a header row with `email` and optionally `name`, `attributes` as a JSON object, and other columns as text attributes) onto the lists named; bad rows are reported by line and the rest imported", schema_of::<ImportReport>)
            .query(import_query)
            .body_of("text/csv", csv_text)),
    identity::route!(GET "/admin/exports/subscribers", READ, Campaigns::export_subscribers,
        Doc::new("The subscribers the filters select as CSV (at most 50,000)", csv_text)
            .query(subscribers_query)
            .text(200, "text/csv", csv_text)),
    identity::route!(GET "/admin/subscribers/{documentId}", READ, Campaigns::subscriber,
        Doc::new("One subscriber with their lists", schema_of::<Subscriber>)),
    identity::route!(GET "/admin/subscribers/{documentId}/activity", READ, Campaigns::subscriber_activity,
        Doc::new("What happened to a subscriber, newest first (at most 200): campaign mail sent or not and why, SES's delivery, bounce and complaint reports, opens and clicks (machines flagged), automations entered", schema_of::<Vec<Activity>>)),
    identity::route!(PUT "/admin/subscribers/{documentId}", MANAGE, Campaigns::update_subscriber,
        Doc::new("Change a subscriber; `lists` is the whole set they are on afterwards", schema_of::<Subscriber>)
            .body(schema_of::<Envelope<SubscriberInput>>)),
    identity::route!(DELETE "/admin/subscribers/{documentId}", MANAGE, Campaigns::delete_subscriber,
        Doc::empty("Delete a subscriber and their subscriptions (a suppression of the address stays)")),
    identity::route!(GET "/admin/campaigns", READ, Campaigns::campaigns,
        Doc::new("Every campaign with its progress, newest first", schema_of::<Vec<Campaign>>)),
    identity::route!(POST "/admin/campaigns", MANAGE, Campaigns::create_campaign,
        Doc::new("Add a campaign: a template for lists, a draft until it is scheduled or sent", schema_of::<Campaign>)
            .body(schema_of::<Envelope<CampaignInput>>).status(201)),
    identity::route!(GET "/admin/campaigns/{documentId}", READ, Campaigns::campaign,
        Doc::new("One campaign with its progress (pending, sent, failed), live while it sends", schema_of::<Campaign>)),
    identity::route!(GET "/admin/campaigns/{documentId}/stats", READ, Campaigns::campaign_stats,
        Doc::new("What happened to a campaign's mail: sent, delivered, bounced, complained, opened (people, machine opens apart), clicked (and per link), unsubscribed", schema_of::<Stats>)),
    identity::route!(PUT "/admin/campaigns/{documentId}", MANAGE, Campaigns::update_campaign,
        Doc::new("Change a campaign that has not started", schema_of::<Campaign>)
            .body(schema_of::<Envelope<CampaignInput>>)),
    identity::route!(DELETE "/admin/campaigns/{documentId}", MANAGE, Campaigns::delete_campaign,
        Doc::empty("Delete a campaign that is not sending")),
    identity::route!(POST "/admin/campaigns/{documentId}/schedule", MANAGE, Campaigns::schedule,
        Doc::new("Send a draft at a time (checked every minute)", schema_of::<Campaign>)
            .body(schema_of::<Envelope<ScheduleInput>>)),
    identity::route!(POST "/admin/campaigns/{documentId}/send", MANAGE, Campaigns::send,
        Doc::new("Start sending now: one message per confirmed, enabled, unsuppressed subscriber of its lists", schema_of::<Campaign>)),
    identity::route!(GET "/admin/segments", READ, Campaigns::segments,
        Doc::new("Every segment, newest first", schema_of::<Vec<Segment>>)),
    identity::route!(POST "/admin/segments", MANAGE, Campaigns::create_segment,
        Doc::new("Add a segment: rules (attributes, account, paid plan, purchases, opens, clicks, joined) that all or any must hold; never SQL", schema_of::<Segment>)
            .body(schema_of::<Envelope<SegmentInput>>).status(201)),
    identity::route!(POST "/admin/segments/preview", READ, Campaigns::preview_segment,
        Doc::new("How many enabled, unsuppressed subscribers match rules now, and up to 10 of them", schema_of::<Matches>)
            .body(schema_of::<Envelope<Rules>>)),
    identity::route!(GET "/admin/segments/{documentId}", READ, Campaigns::segment,
        Doc::new("One segment", schema_of::<Segment>)),
    identity::route!(PUT "/admin/segments/{documentId}", MANAGE, Campaigns::update_segment,
        Doc::new("Change a segment (campaigns not started yet use the new rules)", schema_of::<Segment>)
            .body(schema_of::<Envelope<SegmentInput>>)),
    identity::route!(DELETE "/admin/segments/{documentId}", MANAGE, Campaigns::delete_segment,
        Doc::empty("Delete a segment no unfinished campaign targets")),
    identity::route!(GET "/admin/automations", READ, Campaigns::automations,
        Doc::new("Every automation with its steps and how many people are in it, have finished it or left", schema_of::<Vec<Automation>>)),
    identity::route!(POST "/admin/automations", MANAGE, Campaigns::create_automation,
        Doc::new("Add an automation: a trigger (a list's new subscribers, new members, paid orders) and the templates to send after delays; a draft until activated", schema_of::<Automation>)
            .body(schema_of::<Envelope<AutomationInput>>).status(201)),
    identity::route!(GET "/admin/automations/{documentId}", READ, Campaigns::automation,
        Doc::new("One automation", schema_of::<Automation>)),
    identity::route!(PUT "/admin/automations/{documentId}", MANAGE, Campaigns::update_automation,
        Doc::new("Change an automation: its steps at any time, its trigger and list while a draft", schema_of::<Automation>)
            .body(schema_of::<Envelope<AutomationInput>>)),
    identity::route!(DELETE "/admin/automations/{documentId}", MANAGE, Campaigns::delete_automation,
        Doc::empty("Delete an automation that is not active, with its enrolments")),
    identity::route!(POST "/admin/automations/{documentId}/activate", MANAGE, Campaigns::activate_automation,
        Doc::new("Start enrolling the people who arrive from now on and sending their steps", schema_of::<Automation>)),
    identity::route!(POST "/admin/automations/{documentId}/pause", MANAGE, Campaigns::pause_automation,
        Doc::new("Stop enrolling and sending; who is enrolled waits", schema_of::<Automation>)),
    identity::route!(POST "/admin/tx", SEND_MAIL, Campaigns::transactional,
        Doc::new("Send a stored template to one subscriber or address with data (listmonk's tx API), through the mail outbox", schema_of::<TxQueued>)
            .body(schema_of::<Envelope<TxInput>>).status(202)),
    identity::route!(POST "/admin/campaigns/{documentId}/test", MANAGE, Campaigns::test_send,
        Doc::new("Send the campaign to up to 5 addresses now, marked [测试], through the mail outbox: the jobs queued", test_schema)
            .body(schema_of::<Envelope<TestInput>>).status(202)),
    identity::route!(POST "/admin/campaigns/{documentId}/pause", MANAGE, Campaigns::pause,
        Doc::new("Stop sending; what is queued waits", schema_of::<Campaign>)),
    identity::route!(POST "/admin/campaigns/{documentId}/resume", MANAGE, Campaigns::resume,
        Doc::new("Go on sending what waits", schema_of::<Campaign>)),
    identity::route!(POST "/admin/campaigns/{documentId}/cancel", MANAGE, Campaigns::cancel,
        Doc::new("Stop for good; what is queued is not sent", schema_of::<Campaign>)),
    identity::route!(GET "/admin/templates", READ, Campaigns::templates,
        Doc::new("Every marketing template, newest first", schema_of::<Vec<Template>>)),
    identity::route!(POST "/admin/templates", MANAGE, Campaigns::create_template,
        Doc::new("Add a template (subject, HTML and text with minijinja variables); one that does not compile is a 400 naming the part, line and column", schema_of::<Template>)
            .body(schema_of::<Envelope<TemplateInput>>).status(201)),
    identity::route!(POST "/admin/templates/preview", READ, Campaigns::preview_template,
        Doc::new("Render a template, saved or not, as a recipient would get it: in the layout with the unsubscribe link and postal address", schema_of::<Rendered>)
            .body(schema_of::<Envelope<PreviewInput>>)),
    identity::route!(GET "/admin/templates/{documentId}", READ, Campaigns::template,
        Doc::new("One template", schema_of::<Template>)),
    identity::route!(PUT "/admin/templates/{documentId}", MANAGE, Campaigns::update_template,
        Doc::new("Change a template (checked as when added)", schema_of::<Template>)
            .body(schema_of::<Envelope<TemplateInput>>)),
    identity::route!(DELETE "/admin/templates/{documentId}", MANAGE, Campaigns::delete_template,
        Doc::empty("Delete a template")),
    identity::route!(GET "/admin/suppressions", READ, Campaigns::suppressions,
        Doc::new("Addresses never mailed again (bounces, complaints, unsubscribing from everything, staff), newest first", suppressions_page)
            .query(page_query)),
    identity::route!(POST "/admin/suppressions", MANAGE, Campaigns::suppress,
        Doc::empty("Suppress an address by hand")
            .body(schema_of::<Envelope<SuppressionInput>>)),
    identity::route!(DELETE "/admin/suppressions/{email}", MANAGE, Campaigns::unsuppress,
        Doc::empty("Lift a suppression")),
];

impl Campaigns {
    async fn subscriber_activity(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let client = self.platform.db.client().await?;
        Ok(data(
            StatusCode::OK,
            activity::of_subscriber(&**client, document_id).await?,
        ))
    }

    async fn segments(self: Arc<Self>, _: Call) -> Answer {
        let client = self.platform.db.client().await?;
        Ok(data(StatusCode::OK, segments::list(&**client).await?))
    }

    async fn segment(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let client = self.platform.db.client().await?;
        Ok(data(
            StatusCode::OK,
            segments::by_document_id(&**client, document_id).await?,
        ))
    }

    async fn preview_segment(self: Arc<Self>, call: Call) -> Answer {
        let Envelope { data: rules } = parse_json::<Envelope<Rules>>(&call.req, MAX_BODY)?;
        let client = self.platform.db.client().await?;
        Ok(data(
            StatusCode::OK,
            segments::preview(&**client, &rules).await?,
        ))
    }

    async fn create_segment(self: Arc<Self>, call: Call) -> Answer {
        let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
        let segment = call
            .audited(&self.platform.db, async |tx, actor| {
                segments::create(tx, actor, input).await
            })
            .await?;
        Ok(data(StatusCode::CREATED, segment))
    }

    async fn update_segment(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
        let segment = call
            .audited(&self.platform.db, async |tx, actor| {
                segments::update(tx, actor, document_id, input).await
            })
            .await?;
        Ok(data(StatusCode::OK, segment))
    }

    async fn delete_segment(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        call.audited(&self.platform.db, async |tx, actor| {
            segments::delete(tx, actor, document_id).await
        })
        .await?;
        Ok(no_content())
    }

    async fn automations(self: Arc<Self>, _: Call) -> Answer {
        let client = self.platform.db.client().await?;
        Ok(data(StatusCode::OK, automations::list(&**client).await?))
    }

    async fn automation(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let client = self.platform.db.client().await?;
        Ok(data(
            StatusCode::OK,
            automations::by_document_id(&**client, document_id).await?,
        ))
    }

    async fn create_automation(self: Arc<Self>, call: Call) -> Answer {
        let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
        let automation = call
            .audited(&self.platform.db, async |tx, actor| {
                automations::create(tx, actor, input).await
            })
            .await?;
        Ok(data(StatusCode::CREATED, automation))
    }

    async fn update_automation(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
        let automation = call
            .audited(&self.platform.db, async |tx, actor| {
                automations::update(tx, actor, document_id, input).await
            })
            .await?;
        Ok(data(StatusCode::OK, automation))
    }

    async fn delete_automation(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        call.audited(&self.platform.db, async |tx, actor| {
            automations::delete(tx, actor, document_id).await
        })
        .await?;
        Ok(no_content())
    }

    async fn set_automation_active(&self, call: &Call, active: bool) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let automation = call
            .audited(&self.platform.db, async |tx, actor| {
                automations::set_active(tx, actor, document_id, active, &self.config).await
            })
            .await?;
        Ok(data(StatusCode::OK, automation))
    }

    async fn activate_automation(self: Arc<Self>, call: Call) -> Answer {
        self.set_automation_active(&call, true).await
    }

    async fn pause_automation(self: Arc<Self>, call: Call) -> Answer {
        self.set_automation_active(&call, false).await
    }

    async fn campaigns(self: Arc<Self>, _: Call) -> Answer {
        let client = self.platform.db.client().await?;
        Ok(data(StatusCode::OK, campaigns::list(&**client).await?))
    }

    async fn campaign(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let client = self.platform.db.client().await?;
        Ok(data(
            StatusCode::OK,
            campaigns::by_document_id(&**client, document_id).await?,
        ))
    }

    async fn campaign_stats(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let client = self.platform.db.client().await?;
        Ok(data(
            StatusCode::OK,
            campaigns::stats(&**client, document_id).await?,
        ))
    }

    async fn create_campaign(self: Arc<Self>, call: Call) -> Answer {
        let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
        let campaign = call
            .audited(&self.platform.db, async |tx, actor| {
                campaigns::create(tx, actor, input).await
            })
            .await?;
        Ok(data(StatusCode::CREATED, campaign))
    }

    async fn update_campaign(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
        let campaign = call
            .audited(&self.platform.db, async |tx, actor| {
                campaigns::update(tx, actor, document_id, input).await
            })
            .await?;
        Ok(data(StatusCode::OK, campaign))
    }

    async fn delete_campaign(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        call.audited(&self.platform.db, async |tx, actor| {
            campaigns::delete(tx, actor, document_id).await
        })
        .await?;
        Ok(no_content())
    }

    /// A lifecycle change, then its messages queued after COMMIT.
    async fn act(
        &self,
        call: &Call,
        action: Action,
        send_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let changed = call
            .audited(&self.platform.db, async |tx, actor| {
                campaigns::act(tx, actor, document_id, action, send_at, &self.config).await
            })
            .await?;
        if let Some(campaign) = changed.fan_out {
            campaigns::fan_out(&self.queue, &self.platform.db, campaign).await;
        }
        Ok(data(StatusCode::OK, changed.campaign))
    }

    async fn schedule(self: Arc<Self>, call: Call) -> Answer {
        let Envelope {
            data: ScheduleInput { send_at },
        } = parse_json(&call.req, MAX_BODY)?;
        self.act(&call, Action::Schedule, Some(send_at)).await
    }

    async fn test_send(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let Envelope {
            data: TestInput { emails },
        } = parse_json(&call.req, MAX_BODY)?;
        let jobs = call
            .audited(&self.platform.db, async |tx, actor| {
                campaigns::test_send(tx, actor, document_id, &emails, &self.config).await
            })
            .await?;
        self.mail.dispatch(&jobs).await;
        Ok(data(StatusCode::ACCEPTED, json!({ "queued": jobs.len() })))
    }

    async fn transactional(self: Arc<Self>, call: Call) -> Answer {
        let Envelope { data: input } = parse_json::<Envelope<TxInput>>(&call.req, MAX_BODY)?;
        let postal_address = self.config.postal_address.as_deref().unwrap_or_default();
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let queued = transactional::send(&tx, &input, postal_address).await?;
        tx.commit().await?;
        // Not held while SQS answers: other requests may need it.
        drop(client);
        self.mail.dispatch(&[queued.job]).await;
        Ok(data(StatusCode::ACCEPTED, queued))
    }

    async fn send(self: Arc<Self>, call: Call) -> Answer {
        self.act(&call, Action::Send, None).await
    }

    async fn pause(self: Arc<Self>, call: Call) -> Answer {
        self.act(&call, Action::Pause, None).await
    }

    async fn resume(self: Arc<Self>, call: Call) -> Answer {
        self.act(&call, Action::Resume, None).await
    }

    async fn cancel(self: Arc<Self>, call: Call) -> Answer {
        self.act(&call, Action::Cancel, None).await
    }

    async fn lists(self: Arc<Self>, _: Call) -> Answer {
        let client = self.platform.db.client().await?;
        Ok(data(StatusCode::OK, lists::list(&**client).await?))
    }

    async fn list(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let client = self.platform.db.client().await?;
        Ok(data(
            StatusCode::OK,
            lists::by_document_id(&**client, document_id).await?,
        ))
    }

    async fn create_list(self: Arc<Self>, call: Call) -> Answer {
        let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
        let list = call
            .audited(&self.platform.db, async |tx, actor| {
                lists::create(tx, actor, input).await
            })
            .await?;
        Ok(data(StatusCode::CREATED, list))
    }

    async fn update_list(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
        let list = call
            .audited(&self.platform.db, async |tx, actor| {
                lists::update(tx, actor, document_id, input).await
            })
            .await?;
        Ok(data(StatusCode::OK, list))
    }

    async fn delete_list(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        call.audited(&self.platform.db, async |tx, actor| {
            lists::delete(tx, actor, document_id).await
        })
        .await?;
        Ok(no_content())
    }

    async fn subscribers(self: Arc<Self>, call: Call) -> Answer {
        let filter = filter_of(&call)?;
        let page = page_param(&call.req, "page", 1, i64::from(i32::MAX))?;
        let page_size = page_param(&call.req, "pageSize", 25, MAX_PAGE_SIZE)?;
        let client = self.platform.db.client().await?;
        let (subscribers, total) = subscribers::page(&**client, &filter, page, page_size).await?;
        Ok(data(
            StatusCode::OK,
            json!({ "subscribers": subscribers, "total": total }),
        ))
    }

    async fn import_subscribers(self: Arc<Self>, call: Call) -> Answer {
        let req = &call.req;
        let csv_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
        if !csv_type {
            return Err(Error::UnsupportedMediaType(
                "send the file as text/csv".into(),
            ));
        }
        let body = raw_body(req);
        if body.len() > MAX_IMPORT_BYTES {
            return Err(Error::PayloadTooLarge {
                limit: MAX_IMPORT_BYTES,
            });
        }
        let list_ids: Vec<String> = text_param(req, "lists", 2000)?
            .map(|raw| {
                raw.split(',')
                    .map(|id| id.trim().to_owned())
                    .filter(|id| !id.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let flag = |name: &str| -> Result<bool> {
            match query_param(req, name) {
                None | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(_) => Err(Error::invalid(name, "must be true or false")),
            }
        };
        let (overwrite, preconfirm) = (flag("overwrite")?, flag("preconfirm")?);
        let rows_before = match query_param(req, "rowsBefore") {
            None => 0,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= 100_000_000)
                .ok_or_else(|| Error::invalid("rowsBefore", "rowsBefore must be 0 to 100000000"))?,
        };
        let report = call
            .audited(&self.platform.db, async |tx, actor| {
                let options = ImportOptions {
                    lists: lists::ids_of(tx, &list_ids, false, "lists").await?,
                    overwrite,
                    preconfirm,
                    rows_before,
                };
                imports::import(tx, actor, body, &options).await
            })
            .await?;
        Ok(data(StatusCode::OK, report))
    }

    async fn export_subscribers(self: Arc<Self>, call: Call) -> Answer {
        let filter = filter_of(&call)?;
        let client = self.platform.db.client().await?;
        let csv = imports::export(&**client, &filter).await?;
        let mut response = Response::new(Body::Text(csv));
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        headers.insert(
            http::header::CONTENT_DISPOSITION,
            http::HeaderValue::from_static("attachment; filename=\"subscribers.csv\""),
        );
        Ok(response)
    }

    async fn subscriber(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let client = self.platform.db.client().await?;
        Ok(data(
            StatusCode::OK,
            subscribers::by_document_id(&**client, document_id).await?,
        ))
    }

    async fn create_subscriber(self: Arc<Self>, call: Call) -> Answer {
        let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
        let subscriber = call
            .audited(&self.platform.db, async |tx, actor| {
                subscribers::create(tx, actor, input).await
            })
            .await?;
        Ok(data(StatusCode::CREATED, subscriber))
    }

    async fn update_subscriber(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
        let subscriber = call
            .audited(&self.platform.db, async |tx, actor| {
                subscribers::update(tx, actor, document_id, input).await
            })
            .await?;
        Ok(data(StatusCode::OK, subscriber))
    }

    async fn delete_subscriber(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        call.audited(&self.platform.db, async |tx, actor| {
            subscribers::delete(tx, actor, document_id).await
        })
        .await?;
        Ok(no_content())
    }

    async fn templates(self: Arc<Self>, _: Call) -> Answer {
        let client = self.platform.db.client().await?;
        Ok(data(StatusCode::OK, templates::list(&**client).await?))
    }

    async fn template(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let client = self.platform.db.client().await?;
        Ok(data(
            StatusCode::OK,
            templates::by_document_id(&**client, document_id).await?,
        ))
    }

    async fn create_template(self: Arc<Self>, call: Call) -> Answer {
        let Envelope { data: input } = parse_json(&call.req, MAX_TEMPLATE_BODY)?;
        let template = call
            .audited(&self.platform.db, async |tx, actor| {
                templates::create(tx, actor, input).await
            })
            .await?;
        Ok(data(StatusCode::CREATED, template))
    }

    async fn update_template(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        let Envelope { data: input } = parse_json(&call.req, MAX_TEMPLATE_BODY)?;
        let template = call
            .audited(&self.platform.db, async |tx, actor| {
                templates::update(tx, actor, document_id, input).await
            })
            .await?;
        Ok(data(StatusCode::OK, template))
    }

    async fn delete_template(self: Arc<Self>, call: Call) -> Answer {
        let document_id = path_param(&call.req, "documentId")?;
        call.audited(&self.platform.db, async |tx, actor| {
            templates::delete(tx, actor, document_id).await
        })
        .await?;
        Ok(no_content())
    }

    async fn preview_template(self: Arc<Self>, call: Call) -> Answer {
        let Envelope {
            data: PreviewInput {
                template,
                variables,
            },
        } = parse_json(&call.req, MAX_TEMPLATE_BODY)?;
        let variables = variables.map_or_else(templates::sample, serde_json::Value::Object);
        Ok(data(
            StatusCode::OK,
            templates::preview(&template, &variables)?,
        ))
    }

    async fn suppressions(self: Arc<Self>, call: Call) -> Answer {
        let page = page_param(&call.req, "page", 1, i64::from(i32::MAX))?;
        let page_size = page_param(&call.req, "pageSize", 25, MAX_PAGE_SIZE)?;
        let client = self.platform.db.client().await?;
        let (suppressions, total) = suppressions::page(&**client, page, page_size).await?;
        Ok(data(
            StatusCode::OK,
            json!({ "suppressions": suppressions, "total": total }),
        ))
    }

    async fn suppress(self: Arc<Self>, call: Call) -> Answer {
        let Envelope {
            data: SuppressionInput { email },
        } = parse_json(&call.req, MAX_BODY)?;
        call.audited(&self.platform.db, async |tx, actor| {
            suppressions::add(tx, actor, &email).await
        })
        .await?;
        Ok(no_content())
    }

    async fn unsuppress(self: Arc<Self>, call: Call) -> Answer {
        let email = path_param(&call.req, "email")?.to_lowercase();
        call.audited(&self.platform.db, async |tx, actor| {
            suppressions::remove(tx, actor, &email).await
        })
        .await?;
        Ok(no_content())
    }
}

/// Which subscribers a list or export selects: `list`, `status`, `q`.
fn filter_of(call: &Call) -> Result<Filter> {
    let req = &call.req;
    let status = match query_param(req, "status") {
        None => None,
        Some("enabled") => Some(Status::Enabled),
        Some("blocklisted") => Some(Status::Blocklisted),
        Some(_) => {
            return Err(Error::invalid("status", "must be enabled or blocklisted"));
        }
    };
    Ok(Filter {
        list: text_param(req, "list", 64)?,
        query: text_param(req, "q", 200)?,
        status,
    })
}

fn test_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["queued"],
        "properties": { "queued": { "type": "integer" } },
    })
}

fn csv_text(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string" })
}

fn import_query(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "lists": { "type": "string", "description": "comma-separated documentIds of the lists to put everyone on" },
            "overwrite": { "type": "boolean", "description": "replace names and merge attributes of existing subscribers" },
            "preconfirm": { "type": "boolean", "description": "confirmed at once on double opt-in lists" },
            "rowsBefore": { "type": "integer", "minimum": 0, "maximum": 100000000, "description": "data rows of the same file sent in earlier parts (a large file goes in parts, each with the header row): reported lines stay the whole file's" },
        },
    })
}

fn subscribers_page(generator: &mut SchemaGenerator) -> Schema {
    let subscribers = generator.subschema_for::<Vec<Subscriber>>();
    json_schema!({
        "type": "object",
        "required": ["subscribers", "total"],
        "properties": { "subscribers": subscribers, "total": { "type": "integer" } },
    })
}

fn suppressions_page(generator: &mut SchemaGenerator) -> Schema {
    let suppressions = generator.subschema_for::<Vec<Suppression>>();
    json_schema!({
        "type": "object",
        "required": ["suppressions", "total"],
        "properties": { "suppressions": suppressions, "total": { "type": "integer" } },
    })
}

fn page_query(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "page": { "type": "integer", "minimum": 1 },
            "pageSize": { "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE },
        },
    })
}

fn subscribers_query(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "list": { "type": "string", "description": "a list's documentId" },
            "status": { "enum": ["enabled", "blocklisted"] },
            "q": { "type": "string", "description": "text in the email or name" },
            "page": { "type": "integer", "minimum": 1 },
            "pageSize": { "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE },
        },
    })
}

/// The settings this function reads besides the core.
pub type Settings = (CampaignConfig, MailConfig);

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    platform: Arc<Platform>,
    (config, mail): Settings,
) -> Result<impl platform::runtime::Handler> {
    let campaigns = Campaigns {
        queue: campaigns::queue(&platform, &config),
        mail: mail::queue(&platform, &mail),
        config,
        platform: platform.clone(),
    };
    Router::new(&platform, campaigns, ROUTES)
}
