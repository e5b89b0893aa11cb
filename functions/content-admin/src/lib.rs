//! Admin writes for content over HTTP: articles and the authors, categories and tags
//! they hang from, in Strapi's `{"data": {...}}` shape, and media uploads
//! ([`uploads`]).
//!
//! The handlers here only parse requests and write responses; what a write does
//! (validation, SQL, revisions, its audit row, webhook event and cache invalidation)
//! is `content::write`, which the scheduler calls too. Who may do what follows
//! Strapi's roles through `identity::access`: authors create articles and edit only
//! their own drafts (checked under the row lock in `content::write::articles`);
//! editors, admins and tokens with `content.write` edit anything; publishing,
//! unpublishing and scheduling need `content.publish`, deleting `content.write`;
//! restoring a revision is an edit. [`ROUTES`] holds each route's guard.

use std::sync::Arc;

use content::{
    Query,
    documents::{self, Page, pagination_meta},
    gate::Reader,
    outgoing_webhooks::WebhookConfig,
    render,
    schema::ARTICLES,
    syndication::{Links, SiteConfig, share},
    write::{
        Envelope, Writer,
        articles::{self, ArticleInput, ScheduleInput, Transition},
        taxonomy::{self, AuthorInput, Input, TermInput},
    },
};
use http::StatusCode;
use identity::{
    access::Permission,
    route::{Call, Doc, Guard, Route, Router, Schema, SchemaGenerator, schema_of},
};
use lambda_http::{Body, Request, Response};
use platform::{
    Error, Platform, Result,
    http::{data, json, no_content, parse_json, path_param},
};
use schemars::json_schema;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub mod uploads;

/// Long-form Markdown fits comfortably; API Gateway's own limit is 10 MB.
const MAX_ARTICLE_BODY: usize = 1024 * 1024;
const MAX_TERM_BODY: usize = 64 * 1024;

/// The function's state: what its handlers share.
pub struct ContentAdmin {
    writer: Writer,
    uploads: uploads::Uploads,
    platform: Arc<Platform>,
    site: SiteConfig,
}

type Answer = Result<Response<Body>>;

/// Authors write their own drafts; editors, admins and `content.write` tokens anything.
const WRITE: Guard = Guard::Any(&[Permission::WriteOwnContent, Permission::WriteAnyContent]);
const WRITE_ANY: Guard = Guard::needs(&[Permission::WriteAnyContent]);
const PUBLISH: Guard = Guard::needs(&[Permission::PublishContent]);
const READ: Guard = Guard::needs(&[Permission::ReadContent]);

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<ContentAdmin>] = &[
    identity::route!(GET "/admin/articles", READ, list_articles,
        Doc::new("Every live article in every state (the console's list), with the public \
                  API's Strapi query; `status` narrows it to one state", entries)
            .query(Query::staff_list_schema)),
    identity::route!(GET "/admin/articles/{documentId}", READ, working_copy,
        Doc::new("An article's working copy for its editor", entry)),
    identity::route!(POST "/admin/articles/preview", WRITE, preview,
        Doc::new("Markdown rendered as publishing renders it", schema_of::<Preview>)
            .body(schema_of::<PreviewInput>)),
    identity::route!(POST "/admin/articles", WRITE, create_article,
        Doc::new("Create a draft", entry).body(schema_of::<Envelope<ArticleInput>>).status(201)),
    identity::route!(PUT "/admin/articles/{documentId}", WRITE, update_article,
        Doc::new("Change an article (authors: only their own drafts)", entry)
            .body(schema_of::<Envelope<ArticleInput>>)),
    identity::route!(POST "/admin/articles/{documentId}/publish", PUBLISH, publish,
        Doc::new("Publish an article now", entry)),
    identity::route!(POST "/admin/articles/{documentId}/unpublish", PUBLISH, unpublish,
        Doc::new("Take an article back to draft", entry)),
    identity::route!(DELETE "/admin/articles/{documentId}", WRITE_ANY, delete_article,
        Doc::empty("Soft-delete an article")),
    identity::route!(GET "/admin/articles/{documentId}/revisions", READ, revisions,
        Doc::new("An article's revisions, newest first", entries)),
    identity::route!(POST "/admin/articles/{documentId}/revisions/{revision}/restore", WRITE, restore,
        Doc::new("Restore a revision's title and body (as a new revision)", entry)),
    identity::route!(POST "/admin/articles/{documentId}/schedule", PUBLISH, schedule,
        Doc::new("Schedule a draft's publication", entry)
            .body(schema_of::<Envelope<ScheduleInput>>)),
    identity::route!(DELETE "/admin/articles/{documentId}/schedule", PUBLISH, unschedule,
        Doc::new("Cancel a scheduled publication", entry)),
    identity::route!(POST "/admin/authors", WRITE_ANY, create_term,
        Doc::new("Create an author", entry).body(schema_of::<Envelope<AuthorInput>>).status(201)),
    identity::route!(PUT "/admin/authors/{documentId}", WRITE_ANY, update_term,
        Doc::new("Change an author", entry).body(schema_of::<Envelope<AuthorInput>>)),
    identity::route!(DELETE "/admin/authors/{documentId}", WRITE_ANY, delete_term,
        Doc::empty("Delete an author (their articles stay, without author)")),
    identity::route!(POST "/admin/categories", WRITE_ANY, create_term,
        Doc::new("Create a category", entry).body(schema_of::<Envelope<TermInput>>).status(201)),
    identity::route!(PUT "/admin/categories/{documentId}", WRITE_ANY, update_term,
        Doc::new("Change a category", entry).body(schema_of::<Envelope<TermInput>>)),
    identity::route!(DELETE "/admin/categories/{documentId}", WRITE_ANY, delete_term,
        Doc::empty("Delete a category (its articles stay, without category)")),
    identity::route!(POST "/admin/tags", WRITE_ANY, create_term,
        Doc::new("Create a tag", entry).body(schema_of::<Envelope<TermInput>>).status(201)),
    identity::route!(PUT "/admin/tags/{documentId}", WRITE_ANY, update_term,
        Doc::new("Change a tag", entry).body(schema_of::<Envelope<TermInput>>)),
    identity::route!(DELETE "/admin/tags/{documentId}", WRITE_ANY, delete_term,
        Doc::empty("Delete a tag")),
    identity::route!(POST "/admin/uploads", WRITE, uploads::create,
        Doc::new("Announce an upload: a presigned S3 PUT URL for the file", entry)
            .body(schema_of::<Envelope<uploads::UploadInput>>).status(201)),
    identity::route!(POST "/admin/uploads/{documentId}/complete", WRITE, uploads::complete,
        Doc::new("Mark an upload ready once S3 holds it as announced", entry)),
    identity::route!(GET "/admin/uploads", READ, uploads::list,
        Doc::new("The media library, newest first", entries).query(uploads::query_schema)),
];

/// An entry as the admin API answers it (its fields are the content type's).
fn entry(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "required": ["documentId"], "properties": { "documentId": { "type": "string" } } })
}

fn entries(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "array", "items": { "type": "object" } })
}

/// A Strapi list (`{data, meta: {pagination}}`) of every live article, each with its
/// `status` and `scheduledAt`, read by [`Reader::staff_list`].
async fn list_articles(app: Arc<ContentAdmin>, call: Call) -> Answer {
    let query = Query::parse_staff(&ARTICLES, call.req.uri().query().unwrap_or(""))?;
    let reader = Reader::staff_list(call.principal()?);
    let client = app.writer.db().client().await?;
    let db = documents::Db {
        client: &client,
        statements: app.writer.db().statements(),
        site: share::Site {
            links: Links {
                site: &app.platform.config.site_url,
                api: &app.platform.config.api_url,
            },
            name: &app.site.name,
        },
    };
    let Page { entries, total } = documents::find_many(db, &query, &reader).await?;
    let mut response = json(
        StatusCode::OK,
        &json!({
            "data": entries,
            "meta": { "pagination": pagination_meta(query.pagination, total) },
        }),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

async fn working_copy(app: Arc<ContentAdmin>, call: Call) -> Answer {
    let document_id = path_param(&call.req, "documentId")?;
    let article = articles::working_copy(&app.writer, call.principal()?, document_id).await?;
    Ok(data(StatusCode::OK, article))
}

/// `{"body": "<markdown>"}`, as large as an article's body may be.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PreviewInput {
    body: String,
}

/// What publishing would store for that body.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Preview {
    html: String,
    reading_minutes: i32,
}

/// The preview is the published page because it is the very renderer a save runs.
async fn preview(_: Arc<ContentAdmin>, call: Call) -> Answer {
    let PreviewInput { body } = parse_json(&call.req, MAX_ARTICLE_BODY)?;
    let render::Rendered {
        html,
        reading_minutes,
    } = render::render(&body);
    Ok(data(
        StatusCode::OK,
        Preview {
            html,
            reading_minutes,
        },
    ))
}

async fn create_article(app: Arc<ContentAdmin>, call: Call) -> Answer {
    let Envelope::<ArticleInput> { data: input } = parse_json(&call.req, MAX_ARTICLE_BODY)?;
    let article = articles::create(&app.writer, call.principal()?, input).await?;
    Ok(data(StatusCode::CREATED, article))
}

async fn update_article(app: Arc<ContentAdmin>, call: Call) -> Answer {
    let document_id = path_param(&call.req, "documentId")?;
    let Envelope::<ArticleInput> { data: input } = parse_json(&call.req, MAX_ARTICLE_BODY)?;
    let article = articles::update(&app.writer, call.principal()?, document_id, input).await?;
    Ok(data(StatusCode::OK, article))
}

async fn transition(
    app: &ContentAdmin,
    call: &Call,
    transition: Transition,
) -> Result<serde_json::Value> {
    let document_id = path_param(&call.req, "documentId")?;
    articles::transition(&app.writer, call.principal()?, document_id, transition).await
}

async fn publish(app: Arc<ContentAdmin>, call: Call) -> Answer {
    Ok(data(
        StatusCode::OK,
        transition(&app, &call, Transition::Publish).await?,
    ))
}

async fn unpublish(app: Arc<ContentAdmin>, call: Call) -> Answer {
    Ok(data(
        StatusCode::OK,
        transition(&app, &call, Transition::Unpublish).await?,
    ))
}

async fn unschedule(app: Arc<ContentAdmin>, call: Call) -> Answer {
    Ok(data(
        StatusCode::OK,
        transition(&app, &call, Transition::Unschedule).await?,
    ))
}

async fn delete_article(app: Arc<ContentAdmin>, call: Call) -> Answer {
    transition(&app, &call, Transition::Delete).await?;
    Ok(no_content())
}

async fn schedule(app: Arc<ContentAdmin>, call: Call) -> Answer {
    let document_id = path_param(&call.req, "documentId")?;
    let Envelope::<ScheduleInput> { data: input } = parse_json(&call.req, MAX_ARTICLE_BODY)?;
    let article = articles::schedule(&app.writer, call.principal()?, document_id, input).await?;
    Ok(data(StatusCode::OK, article))
}

async fn revisions(app: Arc<ContentAdmin>, call: Call) -> Answer {
    let document_id = path_param(&call.req, "documentId")?;
    Ok(data(
        StatusCode::OK,
        articles::revisions(&app.writer, call.principal()?, document_id).await?,
    ))
}

async fn restore(app: Arc<ContentAdmin>, call: Call) -> Answer {
    let document_id = path_param(&call.req, "documentId")?;
    let revision: i32 = path_param(&call.req, "revision")?
        .parse()
        .map_err(|_| Error::invalid("revision", "revision must be a positive integer"))?;
    let article = articles::restore(&app.writer, call.principal()?, document_id, revision).await?;
    Ok(data(StatusCode::OK, article))
}

/// The taxonomy type a route names: `/admin/{authors,categories,tags}[/…]`.
fn taxonomy_of(req: &Request) -> Result<&'static taxonomy::Taxonomy> {
    let key = platform::http::route_key(req);
    key.split('/')
        .nth(2)
        .and_then(taxonomy::by_name)
        .ok_or_else(|| Error::internal(format!("`{key}` names no taxonomy type")))
}

fn taxonomy_input(req: &Request, taxonomy: &taxonomy::Taxonomy) -> Result<Input> {
    Ok(if taxonomy.is_author() {
        Input::Author(parse_json::<Envelope<_>>(req, MAX_TERM_BODY)?.data)
    } else {
        Input::Term(parse_json::<Envelope<_>>(req, MAX_TERM_BODY)?.data)
    })
}

async fn create_term(app: Arc<ContentAdmin>, call: Call) -> Answer {
    let taxonomy = taxonomy_of(&call.req)?;
    let input = taxonomy_input(&call.req, taxonomy)?;
    let entry = taxonomy::create(&app.writer, call.principal()?, taxonomy, input).await?;
    Ok(data(StatusCode::CREATED, entry))
}

async fn update_term(app: Arc<ContentAdmin>, call: Call) -> Answer {
    let taxonomy = taxonomy_of(&call.req)?;
    let document_id = path_param(&call.req, "documentId")?;
    let input = taxonomy_input(&call.req, taxonomy)?;
    let entry =
        taxonomy::edit(&app.writer, call.principal()?, taxonomy, document_id, input).await?;
    Ok(data(StatusCode::OK, entry))
}

async fn delete_term(app: Arc<ContentAdmin>, call: Call) -> Answer {
    let taxonomy = taxonomy_of(&call.req)?;
    let document_id = path_param(&call.req, "documentId")?;
    taxonomy::delete(&app.writer, call.principal()?, taxonomy, document_id).await?;
    Ok(no_content())
}

/// The settings this function reads besides the core.
pub type Settings = (WebhookConfig, content::media::MediaConfig, SiteConfig);

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    platform: Arc<Platform>,
    (webhooks, media, site): Settings,
) -> Result<impl platform::runtime::Handler> {
    let admin = ContentAdmin {
        writer: Writer::new(&platform, &webhooks),
        uploads: uploads::Uploads::new(platform.clone(), media),
        platform: platform.clone(),
        site,
    };
    Router::new(&platform, admin, ROUTES)
}
