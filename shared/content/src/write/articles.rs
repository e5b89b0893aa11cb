//! Article writes: create, update, publish, unpublish, schedule, soft delete, and a
//! revision history with restore.
//!
//! Who may do what follows Strapi's roles through `identity::access`: authors create
//! articles and edit only their own drafts; editors, admins and tokens with
//! `content.write` edit anything. The route table of content-admin checks what a
//! route needs before these run; what depends on the article (an author's own draft)
//! is checked here, under the row lock. Scheduling only sets `scheduled_at`:
//! [`super::schedule::publish_due`] publishes, so the time is kept even if nobody is
//! signed in.

use chrono::{DateTime, Utc};
use identity::{
    access::{Permission, Principal},
    entitlements::Product,
    staff,
};
use platform::db::GenericClient;
use platform::{
    error::{Error, Result, map_conflict},
    http::at_most,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_postgres::types::Type;

use super::{ARTICLE, Event, Patch, Write, Writer, media_patch, present};
use crate::{gate, query::Locale, render, schema, slug};

const MAX_TITLE: usize = 200;
const SLUG_CONSTRAINT: &str = "articles_locale_slug_key";

/// `{"data": {"publishAt": "…"}}`, an RFC 3339 time in the future.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleInput {
    pub publish_at: String,
}

/// The writable fields; on update an absent field is left as it is.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArticleInput {
    title: Option<String>,
    slug: Option<String>,
    excerpt: Option<String>,
    body: Option<String>,
    /// The cover image: an upload's id or documentId; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<crate::media::MediaRef>")]
    cover: Patch<crate::media::MediaRef>,
    locale: Option<String>,
    visibility: Option<String>,
    featured: Option<bool>,
    seo_title: Option<String>,
    seo_description: Option<String>,
    internal_notes: Option<String>,
    /// A category documentId.
    category: Option<String>,
    /// Tag documentIds; replaces the article's tags.
    tags: Option<Vec<String>>,
    /// The plans and courses that unlock a paid article; replaces the list.
    products: Option<Vec<Product>>,
}

/// An input after validation, with the body rendered and relations resolved.
struct Checked {
    input: ArticleInput,
    rendered: Option<render::Rendered>,
    category_id: Option<i64>,
    tag_ids: Option<Vec<i64>>,
    cover_id: Patch<i64>,
}

/// The article as the admin API answers it (the editor's working copy, and the answer
/// to every write), built in one statement. `author`, `category` and `tags` are the
/// documentIds a write takes; `labels` names them for display. `status` is the
/// state the staff's list reports (`crate::query::State`).
const VIEW: &str = "SELECT json_build_object(
    'id', a.id, 'documentId', a.document_id, 'title', a.title, 'slug', a.slug,
    'excerpt', a.excerpt, 'body', a.body, 'bodyHtml', a.body_html, 'cover', cu.document_id,
    'readingMinutes', a.reading_minutes, 'locale', a.locale, 'visibility', a.visibility,
    'featured', a.featured, 'seoTitle', a.seo_title, 'seoDescription', a.seo_description,
    'internalNotes', a.internal_notes, 'publishedAt', a.published_at,
    'scheduledAt', a.scheduled_at,
    'status', CASE WHEN a.published_at IS NOT NULL THEN 'published'
                   WHEN a.scheduled_at IS NOT NULL THEN 'scheduled' ELSE 'draft' END,
    'createdAt', a.created_at, 'updatedAt', a.updated_at,
    'author', au.document_id,
    'category', c.document_id,
    'tags', COALESCE((SELECT json_agg(t.document_id ORDER BY t.id) FROM article_tags x
                      JOIN tags t ON t.id = x.tag_id WHERE x.article_id = a.id), '[]'),
    'products', COALESCE((SELECT json_agg(json_build_object('kind', p.product_kind, 'code', p.product_code)
                          ORDER BY p.product_kind, p.product_code)
                          FROM article_products p WHERE p.article_id = a.id), '[]'),
    'labels', json_build_object(
        'author', CASE WHEN au.id IS NULL THEN NULL
                       ELSE json_build_object('documentId', au.document_id, 'name', au.name) END,
        'category', CASE WHEN c.id IS NULL THEN NULL
                         ELSE json_build_object('documentId', c.document_id, 'name', c.name) END,
        'cover', CASE WHEN cu.id IS NULL THEN NULL
                      ELSE json_build_object('documentId', cu.document_id,
                                             'name', cu.original_filename, 'url', cu.url,
                                             'formats', cu.formats) END,
        'tags', COALESCE((SELECT json_agg(json_build_object('documentId', t.document_id, 'name', t.name)
                                          ORDER BY t.id)
                          FROM article_tags x JOIN tags t ON t.id = x.tag_id
                          WHERE x.article_id = a.id), '[]')))
  FROM articles a
  LEFT JOIN authors au ON au.id = a.author_id
  LEFT JOIN categories c ON c.id = a.category_id
  LEFT JOIN uploads cu ON cu.id = a.cover_id
  WHERE a.id = $1";

/// A duplicate slug is the client's conflict, not our failure.
fn map_slug_conflict(err: tokio_postgres::Error) -> Error {
    map_conflict(
        err,
        &[(
            SLUG_CONSTRAINT,
            "another live article in this locale already has this slug",
        )],
    )
}

async fn check(client: &impl GenericClient, mut input: ArticleInput) -> Result<Checked> {
    if let Some(title) = &input.title
        && (title.trim().is_empty() || title.chars().count() > MAX_TITLE)
    {
        return Err(Error::invalid(
            "title",
            format!("title must be 1 to {MAX_TITLE} characters"),
        ));
    }
    if let Some(slug) = &input.slug {
        slug::validate(slug, "slug")?;
    }
    if let Some(visibility) = &input.visibility
        && !schema::VISIBILITIES.contains(&visibility.as_str())
    {
        return Err(Error::invalid(
            "visibility",
            "visibility must be public, members or paid",
        ));
    }
    // Stored as the public API writes it (`zh-cn` → `zh-CN`), so a reader's locale
    // filter finds it.
    if let Some(locale) = &input.locale {
        let locale = Locale::parse(locale)
            .ok_or_else(|| Error::invalid("locale", "locale must be a tag like zh-CN"))?;
        input.locale = Some(locale.as_str().to_owned());
    }
    for (field, value, max) in [
        ("excerpt", &input.excerpt, 1000),
        ("seoTitle", &input.seo_title, 200),
        ("seoDescription", &input.seo_description, 500),
        ("internalNotes", &input.internal_notes, 10_000),
    ] {
        at_most(value.as_deref(), field, max)?;
    }
    if let Some(products) = &input.products {
        for product in products {
            if product.code.is_empty() || product.code.len() > 100 {
                return Err(Error::invalid(
                    "products",
                    "product codes are 1 to 100 characters",
                ));
            }
        }
    }
    let category_id = match &input.category {
        None => None,
        Some(document_id) => Some(
            client
                .query_typed(
                    "SELECT id FROM categories WHERE document_id = $1",
                    &[(document_id, Type::TEXT)],
                )
                .await?
                .first()
                .map(|row| row.get(0))
                .ok_or_else(|| Error::invalid("category", "no category has this documentId"))?,
        ),
    };
    let tag_ids = match &input.tags {
        None => None,
        Some(document_ids) => {
            let rows = client
                .query_typed(
                    "SELECT id, document_id FROM tags WHERE document_id = ANY($1)",
                    &[(document_ids, Type::TEXT_ARRAY)],
                )
                .await?;
            if let Some(missing) = document_ids
                .iter()
                .find(|d| !rows.iter().any(|r| r.get::<_, &str>(1) == d.as_str()))
            {
                return Err(Error::invalid(
                    "tags",
                    format!("no tag has the documentId `{missing}`"),
                ));
            }
            Some(rows.iter().map(|r| r.get(0)).collect())
        }
    };
    let rendered = input.body.as_deref().map(render::render);
    let cover_id = media_patch(client, "cover", &input.cover).await?;
    Ok(Checked {
        input,
        rendered,
        category_id,
        tag_ids,
        cover_id,
    })
}

/// The author row the staff member writes as, made from the staff account on first use.
async fn author_for(client: &impl GenericClient, staff_id: i64) -> Result<i64> {
    let existing = client
        .query_typed(
            "SELECT id FROM authors WHERE staff_id = $1",
            &[(&staff_id, Type::INT8)],
        )
        .await?;
    if let Some(row) = existing.first() {
        return Ok(row.get(0));
    }
    let (name, email) = staff::byline(client, staff_id)
        .await?
        .ok_or_else(|| Error::Unauthorized("sign in first".into()))?;
    let row = client
        .query_typed(
            "INSERT INTO authors (name, slug, email, staff_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (staff_id) DO UPDATE SET staff_id = EXCLUDED.staff_id
             RETURNING id",
            &[
                (&name, Type::TEXT),
                (&slug::unique_from_name(&name), Type::TEXT),
                (&email, Type::TEXT),
                (&staff_id, Type::INT8),
            ],
        )
        .await?;
    row.first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::internal("author insert returned no row"))
}

/// Replaces the tags and products the input names, and records the save as a revision.
async fn save_relations(
    client: &impl GenericClient,
    article_id: i64,
    checked: &Checked,
    editor: Option<i64>,
) -> Result<()> {
    if let Some(tag_ids) = &checked.tag_ids {
        client
            .query_typed(
                "DELETE FROM article_tags WHERE article_id = $1",
                &[(&article_id, Type::INT8)],
            )
            .await?;
        client
            .query_typed(
                "INSERT INTO article_tags (article_id, tag_id)
                 SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
                &[(&article_id, Type::INT8), (tag_ids, Type::INT8_ARRAY)],
            )
            .await?;
    }
    if let Some(products) = &checked.input.products {
        client
            .query_typed(
                "DELETE FROM article_products WHERE article_id = $1",
                &[(&article_id, Type::INT8)],
            )
            .await?;
        let kinds: Vec<&str> = products.iter().map(|p| p.kind.as_str()).collect();
        let codes: Vec<&str> = products.iter().map(|p| p.code.as_str()).collect();
        client
            .query_typed(
                "INSERT INTO article_products (article_id, product_kind, product_code)
                 SELECT $1, k, c FROM unnest($2::text[], $3::text[]) AS u(k, c)
                 ON CONFLICT DO NOTHING",
                &[
                    (&article_id, Type::INT8),
                    (&kinds, Type::TEXT_ARRAY),
                    (&codes, Type::TEXT_ARRAY),
                ],
            )
            .await?;
    }
    record_revision(client, article_id, editor).await
}

/// Appends the article's current title and body as its next revision.
async fn record_revision(
    client: &impl GenericClient,
    article_id: i64,
    editor: Option<i64>,
) -> Result<()> {
    client
        .query_typed(
            "INSERT INTO article_revisions (article_id, revision, title, body, editor_id)
             SELECT a.id, COALESCE((SELECT max(revision) FROM article_revisions
                                    WHERE article_id = a.id), 0) + 1,
                    a.title, a.body, $2
             FROM articles a WHERE a.id = $1",
            &[(&article_id, Type::INT8), (&editor, Type::INT8)],
        )
        .await?;
    Ok(())
}

/// Locks a live article for an edit and checks the principal may make it: anyone
/// with `content.write`, or an author on their own unpublished draft.
async fn lock_for_edit(
    client: &impl GenericClient,
    document_id: &str,
    principal: &Principal,
) -> Result<i64> {
    let rows = client
        .query_typed(
            "SELECT a.id, a.published_at IS NOT NULL OR a.scheduled_at IS NOT NULL, au.staff_id
             FROM articles a LEFT JOIN authors au ON au.id = a.author_id
             WHERE a.document_id = $1 AND a.deleted_at IS NULL
             FOR UPDATE OF a",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::NotFound("no such article".into()))?;
    // Scheduled is not a draft: an editor decided to publish what it says now, and the
    // scheduler will, so an author's edit would bypass the publish permission.
    let (id, published_or_scheduled, owner): (i64, bool, Option<i64>) =
        (row.get(0), row.get(1), row.get(2));
    if !principal.can(Permission::WriteAnyContent) {
        principal.require(Permission::WriteOwnContent)?;
        if published_or_scheduled || owner.is_none() || owner != principal.staff_id() {
            return Err(Error::Forbidden(
                "authors may edit only their own drafts".into(),
            ));
        }
    }
    Ok(id)
}

async fn view(client: &impl GenericClient, article_id: i64) -> Result<Value> {
    client
        .query_typed(VIEW, &[(&article_id, Type::INT8)])
        .await?
        .first()
        .map(|row| row.get(0))
        .ok_or_else(|| Error::NotFound("no such article".into()))
}

/// Ends an article write with the article as it now stands (see [`Writer::finish`]),
/// as `principal` may read it (events carry it whole to the registered webhooks).
async fn finish(
    writer: &Writer,
    tx: platform::db::Transaction<'_>,
    principal: &Principal,
    event: Event,
    id: i64,
    document_id: &str,
    details: Value,
) -> Result<Value> {
    let entry = view(&*tx, id).await?;
    let write = Write {
        model: &ARTICLE,
        event,
        document_id,
        entry,
        details,
    };
    let mut entry = writer.finish(tx, principal, write).await?;
    if let Value::Object(article) = &mut entry {
        gate::admin_article(principal, article);
    }
    Ok(entry)
}

/// A new draft, written as the signed-in staff member's author (made on first use).
pub async fn create(writer: &Writer, principal: &Principal, input: ArticleInput) -> Result<Value> {
    let title = input
        .title
        .clone()
        .ok_or_else(|| Error::invalid("title", "title is required"))?;
    let mut client = writer.db.client().await?;
    let tx = client.transaction().await?;
    let checked = check(&*tx, input).await?;
    let author_id = match principal.staff_id() {
        Some(staff_id) => Some(author_for(&*tx, staff_id).await?),
        None => None,
    };
    let input = &checked.input;
    let slug = input
        .slug
        .clone()
        .unwrap_or_else(|| slug::from_title(&title));
    let (body_html, reading_minutes) = checked
        .rendered
        .as_ref()
        .map_or((String::new(), 0), |r| (r.html.clone(), r.reading_minutes));
    let row = tx
        .query_typed(
            "INSERT INTO articles (title, slug, excerpt, body, body_html, reading_minutes,
                 cover_id, locale, visibility, featured, seo_title, seo_description,
                 internal_notes, author_id, category_id)
             VALUES ($1, $2, $3, COALESCE($4, ''), $5, $6, $7, COALESCE($8, 'zh-CN'),
                 COALESCE($9, 'public'), COALESCE($10, false), $11, $12, $13, $14, $15)
             RETURNING id, document_id",
            &[
                (&title.trim(), Type::TEXT),
                (&slug, Type::TEXT),
                (&input.excerpt, Type::TEXT),
                (&input.body, Type::TEXT),
                (&body_html, Type::TEXT),
                (&reading_minutes, Type::INT4),
                (&checked.cover_id.flatten(), Type::INT8),
                (&input.locale, Type::TEXT),
                (&input.visibility, Type::TEXT),
                (&input.featured, Type::BOOL),
                (&input.seo_title, Type::TEXT),
                (&input.seo_description, Type::TEXT),
                (&input.internal_notes, Type::TEXT),
                (&author_id, Type::INT8),
                (&checked.category_id, Type::INT8),
            ],
        )
        .await
        .map_err(map_slug_conflict)?;
    let row = row
        .first()
        .ok_or_else(|| Error::internal("article insert returned no row"))?;
    let (id, document_id): (i64, String) = (row.get(0), row.get(1));
    save_relations(&*tx, id, &checked, principal.staff_id()).await?;
    finish(
        writer,
        tx,
        principal,
        Event::Create,
        id,
        &document_id,
        json!({ "slug": slug }),
    )
    .await
}

pub async fn update(
    writer: &Writer,
    principal: &Principal,
    document_id: &str,
    input: ArticleInput,
) -> Result<Value> {
    let mut client = writer.db.client().await?;
    let tx = client.transaction().await?;
    let id = lock_for_edit(&*tx, document_id, principal).await?;
    let checked = check(&*tx, input).await?;
    let input = &checked.input;
    let (body_html, reading_minutes) = match &checked.rendered {
        Some(r) => (Some(r.html.as_str()), Some(r.reading_minutes)),
        None => (None, None),
    };
    tx.query_typed(
        "UPDATE articles SET
             title = COALESCE($2, title), slug = COALESCE($3, slug),
             excerpt = COALESCE($4, excerpt), body = COALESCE($5, body),
             body_html = COALESCE($6, body_html),
             reading_minutes = COALESCE($7, reading_minutes),
             cover_id = CASE WHEN $17 THEN $8 ELSE cover_id END,
             locale = COALESCE($9, locale),
             visibility = COALESCE($10, visibility), featured = COALESCE($11, featured),
             seo_title = COALESCE($12, seo_title),
             seo_description = COALESCE($13, seo_description),
             internal_notes = COALESCE($14, internal_notes),
             category_id = CASE WHEN $15 THEN $16 ELSE category_id END
         WHERE id = $1",
        &[
            (&id, Type::INT8),
            (&input.title.as_deref().map(str::trim), Type::TEXT),
            (&input.slug, Type::TEXT),
            (&input.excerpt, Type::TEXT),
            (&input.body, Type::TEXT),
            (&body_html, Type::TEXT),
            (&reading_minutes, Type::INT4),
            (&checked.cover_id.flatten(), Type::INT8),
            (&input.locale, Type::TEXT),
            (&input.visibility, Type::TEXT),
            (&input.featured, Type::BOOL),
            (&input.seo_title, Type::TEXT),
            (&input.seo_description, Type::TEXT),
            (&input.internal_notes, Type::TEXT),
            (&checked.category_id.is_some(), Type::BOOL),
            (&checked.category_id, Type::INT8),
            (&checked.cover_id.is_some(), Type::BOOL),
        ],
    )
    .await
    .map_err(map_slug_conflict)?;
    save_relations(&*tx, id, &checked, principal.staff_id()).await?;
    finish(
        writer,
        tx,
        principal,
        Event::Update,
        id,
        document_id,
        json!({}),
    )
    .await
}

/// A change of state that is one UPDATE of a live article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Publish,
    Unpublish,
    Unschedule,
    /// Soft delete: the row stays, out of every read.
    Delete,
}

impl Transition {
    fn event(self) -> Event {
        match self {
            Transition::Publish => Event::Publish,
            Transition::Unpublish => Event::Unpublish,
            Transition::Unschedule => Event::Unschedule,
            Transition::Delete => Event::Delete,
        }
    }

    /// The statement: compiled in, never input.
    fn sql(self) -> &'static str {
        match self {
            Transition::Publish => {
                "UPDATE articles SET published_at = COALESCE(published_at, now()), scheduled_at = NULL
                 WHERE document_id = $1 AND deleted_at IS NULL RETURNING id"
            }
            Transition::Unpublish => {
                "UPDATE articles SET published_at = NULL
                 WHERE document_id = $1 AND deleted_at IS NULL RETURNING id"
            }
            Transition::Unschedule => {
                "UPDATE articles SET scheduled_at = NULL
                 WHERE document_id = $1 AND deleted_at IS NULL RETURNING id"
            }
            Transition::Delete => {
                "UPDATE articles SET deleted_at = now()
                 WHERE document_id = $1 AND deleted_at IS NULL RETURNING id"
            }
        }
    }
}

/// Publish, unpublish, unschedule or soft delete; returns the article as it now stands.
pub async fn transition(
    writer: &Writer,
    principal: &Principal,
    document_id: &str,
    transition: Transition,
) -> Result<Value> {
    let mut client = writer.db.client().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query_typed(transition.sql(), &[(&document_id, Type::TEXT)])
        .await?;
    let id: i64 = rows
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::NotFound("no such article".into()))?;
    finish(
        writer,
        tx,
        principal,
        transition.event(),
        id,
        document_id,
        json!({}),
    )
    .await
}

/// Sets the time the scheduler publishes a draft at; published articles refuse.
pub async fn schedule(
    writer: &Writer,
    principal: &Principal,
    document_id: &str,
    input: ScheduleInput,
) -> Result<Value> {
    let publish_at = DateTime::parse_from_rfc3339(&input.publish_at)
        .map_err(|_| Error::invalid("publishAt", "publishAt must be an RFC 3339 time"))?
        .with_timezone(&Utc);
    if publish_at <= Utc::now() {
        return Err(Error::invalid(
            "publishAt",
            "publishAt must be in the future",
        ));
    }
    let mut client = writer.db.client().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query_typed(
            "SELECT id, published_at IS NOT NULL FROM articles
             WHERE document_id = $1 AND deleted_at IS NULL FOR UPDATE",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::NotFound("no such article".into()))?;
    let (id, published): (i64, bool) = (row.get(0), row.get(1));
    if published {
        return Err(Error::Conflict(
            "the article is already published; unpublish it first".into(),
        ));
    }
    tx.query_typed(
        "UPDATE articles SET scheduled_at = $2 WHERE id = $1",
        &[(&id, Type::INT8), (&publish_at, Type::TIMESTAMPTZ)],
    )
    .await?;
    // A draft is in no public response yet; invalidating keeps every write alike.
    finish(
        writer,
        tx,
        principal,
        Event::Schedule,
        id,
        document_id,
        json!({ "publishAt": publish_at }),
    )
    .await
}

/// Copies a revision's title and body back and records that as a new revision.
pub async fn restore(
    writer: &Writer,
    principal: &Principal,
    document_id: &str,
    revision: i32,
) -> Result<Value> {
    let mut client = writer.db.client().await?;
    let tx = client.transaction().await?;
    let id = lock_for_edit(&*tx, document_id, principal).await?;
    let rows = tx
        .query_typed(
            "SELECT title, body FROM article_revisions WHERE article_id = $1 AND revision = $2",
            &[(&id, Type::INT8), (&revision, Type::INT4)],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::NotFound("no such revision".into()))?;
    let (title, body): (String, String) = (row.get(0), row.get(1));
    let rendered = render::render(&body);
    tx.query_typed(
        "UPDATE articles SET title = $2, body = $3, body_html = $4, reading_minutes = $5
         WHERE id = $1",
        &[
            (&id, Type::INT8),
            (&title, Type::TEXT),
            (&body, Type::TEXT),
            (&rendered.html, Type::TEXT),
            (&rendered.reading_minutes, Type::INT4),
        ],
    )
    .await?;
    record_revision(&*tx, id, principal.staff_id()).await?;
    finish(
        writer,
        tx,
        principal,
        Event::Restore,
        id,
        document_id,
        json!({ "revision": revision }),
    )
    .await
}

/// A live article's working copy for its editor ([`VIEW`]), as `principal` may read it.
pub async fn working_copy(
    writer: &Writer,
    principal: &Principal,
    document_id: &str,
) -> Result<Value> {
    let client = writer.db.client().await?;
    let rows = client
        .query_typed(
            "SELECT id FROM articles WHERE document_id = $1 AND deleted_at IS NULL",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let id: i64 = rows
        .first()
        .map(|row| row.get(0))
        .ok_or_else(|| Error::NotFound("no such article".into()))?;
    let mut article = view(&**client, id).await?;
    if let Value::Object(entry) = &mut article {
        gate::admin_article(principal, entry);
    }
    Ok(article)
}

/// Every revision of a live article, newest first, as `principal` may read them.
pub async fn revisions(
    writer: &Writer,
    principal: &Principal,
    document_id: &str,
) -> Result<Vec<Value>> {
    let client = writer.db.client().await?;
    let rows = client
        .query_typed(
            "SELECT json_build_object('revision', r.revision, 'title', r.title, 'body', r.body,
                 'editor', s.document_id, 'createdAt', r.created_at),
                 a.published_at IS NOT NULL, a.visibility = 'public', a.excerpt
             FROM articles a JOIN article_revisions r ON r.article_id = a.id
             LEFT JOIN staff_users s ON s.id = r.editor_id
             WHERE a.document_id = $1 AND a.deleted_at IS NULL
             ORDER BY r.revision DESC",
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let Some(first) = rows.first() else {
        return Err(Error::NotFound("no such article".into()));
    };
    let state = gate::ArticleState {
        published: first.get(1),
        public: first.get(2),
        excerpt: first.get(3),
    };
    Ok(rows
        .iter()
        .map(|row| {
            let mut revision: Value = row.get(0);
            if let Value::Object(entry) = &mut revision {
                state.gate(principal, entry);
            }
            revision
        })
        .collect())
}
