//! Admin writes for what articles hang from: authors, categories and tags, created,
//! updated and deleted in Strapi's `{"data": {...}}` shape.
//!
//! These types have no draft/publish (Strapi's `draftAndPublish: false`, Ghost's
//! tags): an entry is live from the moment it is created, and a delete is a hard
//! delete. Articles outlive it: their author or category becomes null and tag links
//! go, through the foreign keys of `0005_content.sql`. A slug is made from the name
//! when none is given and kept when the name changes, so published URLs stay put.
//! Only `content.write` may write here (editors, admins, full-access tokens): a
//! category is shared by every author's articles.

use identity::{access::Principal, email::Email, staff};
use platform::db::GenericClient;
use platform::{
    error::{Error, Result, map_conflict},
    http::{at_most, bounded},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_postgres::types::Type;

use super::{Event, Model, Patch, Write, Writer, media_patch, present};
use crate::{outgoing_webhooks, schema, slug};

const MAX_NAME: usize = 100;
const MAX_TEXT: usize = 2000;

/// Which fields a taxonomy type has.
#[derive(Debug)]
enum Shape {
    /// name, slug, bio, avatar, email (private), staff.
    Author,
    /// name, slug, description: categories and tags.
    Term,
}

#[derive(Debug)]
pub struct Taxonomy {
    model: Model,
    shape: Shape,
    /// Unique constraints a write can hit, with the 409 message for each.
    conflicts: &'static [(&'static str, &'static str)],
}

impl Taxonomy {
    /// Whether its input is an [`AuthorInput`] (else a [`TermInput`]).
    pub fn is_author(&self) -> bool {
        matches!(self.shape, Shape::Author)
    }

    /// An input of another type's shape is a bug in the caller, never the client's.
    fn accepts(&self, input: &Input) -> Result<()> {
        match (&self.shape, input) {
            (Shape::Author, Input::Author(_)) | (Shape::Term, Input::Term(_)) => Ok(()),
            _ => Err(Error::internal(format!(
                "a {} write got another type's input",
                self.model.singular
            ))),
        }
    }

    /// The table, named like the API (`authors`): an identifier compiled in, never input.
    fn table(&self) -> &'static str {
        self.model.content_type.name
    }
}

static AUTHORS: Taxonomy = Taxonomy {
    model: Model {
        content_type: &schema::AUTHORS,
        singular: "author",
        webhook_fields: outgoing_webhooks::TERM_FIELDS,
    },
    shape: Shape::Author,
    conflicts: &[
        (
            "authors_slug_key",
            "another author already has this slug; choose another",
        ),
        (
            "authors_staff_id_key",
            "another author already writes as this staff account",
        ),
    ],
};

static CATEGORIES: Taxonomy = Taxonomy {
    model: Model {
        content_type: &schema::CATEGORIES,
        singular: "category",
        webhook_fields: outgoing_webhooks::TERM_FIELDS,
    },
    shape: Shape::Term,
    conflicts: &[(
        "categories_slug_key",
        "another category already has this slug; choose another",
    )],
};

static TAGS: Taxonomy = Taxonomy {
    model: Model {
        content_type: &schema::TAGS,
        singular: "tag",
        webhook_fields: outgoing_webhooks::TERM_FIELDS,
    },
    shape: Shape::Term,
    conflicts: &[(
        "tags_slug_key",
        "another tag already has this slug; choose another",
    )],
};

static TAXONOMIES: [&Taxonomy; 3] = [&AUTHORS, &CATEGORIES, &TAGS];

/// The taxonomy type an admin route names (`authors`, `categories`, `tags`).
pub fn by_name(name: &str) -> Option<&'static Taxonomy> {
    TAXONOMIES.iter().copied().find(|t| t.table() == name)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorInput {
    #[serde(default, deserialize_with = "present")]
    name: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    slug: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    bio: Patch<String>,
    /// An upload's id or documentId; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<crate::media::MediaRef>")]
    avatar: Patch<crate::media::MediaRef>,
    #[serde(default, deserialize_with = "present")]
    email: Patch<String>,
    /// The documentId of the staff account that writes as this author.
    #[serde(default, deserialize_with = "present")]
    staff: Patch<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TermInput {
    #[serde(default, deserialize_with = "present")]
    name: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    slug: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    description: Patch<String>,
}

/// A write's input, of the shape its type has ([`Taxonomy::is_author`]).
#[derive(Debug)]
pub enum Input {
    Author(AuthorInput),
    Term(TermInput),
}

/// The name, trimmed; required on create, never null.
fn check_name(name: Patch<String>, required: bool) -> Result<Option<String>> {
    match name {
        None if required => Err(Error::invalid("name", "name is required")),
        None => Ok(None),
        Some(None) => Err(Error::invalid("name", "name cannot be null")),
        Some(Some(name)) => bounded(&name, "name", MAX_NAME).map(Some),
    }
}

fn check_slug(value: Patch<String>) -> Result<Option<String>> {
    match value {
        None => Ok(None),
        Some(None) => Err(Error::invalid("slug", "slug cannot be null")),
        Some(Some(value)) => {
            slug::validate(&value, "slug")?;
            Ok(Some(value))
        }
    }
}

fn check_text(field: &str, value: Patch<String>, max: usize) -> Result<Patch<String>> {
    at_most(value.as_ref().and_then(Option::as_deref), field, max)?;
    Ok(value)
}

fn check_email(value: Patch<String>) -> Result<Patch<String>> {
    value
        .map(|email| {
            email
                .map(|raw| {
                    Email::parse(&raw)
                        .map(|email| email.as_str().to_owned())
                        .map_err(|e| Error::invalid("email", e.to_string()))
                })
                .transpose()
        })
        .transpose()
}

/// The staff account a documentId names, as its id.
async fn staff_id(client: &impl GenericClient, value: Patch<String>) -> Result<Patch<i64>> {
    let Some(Some(document_id)) = value else {
        return Ok(value.map(|_| None));
    };
    let id = staff::id_of(client, &document_id)
        .await?
        .ok_or_else(|| Error::invalid("staff", "no staff account has this documentId"))?;
    Ok(Some(Some(id)))
}

/// A checked author write; `None` leaves a field as it is on update.
struct AuthorFields {
    name: Option<String>,
    slug: Option<String>,
    bio: Patch<String>,
    avatar_id: Patch<i64>,
    email: Patch<String>,
    staff_id: Patch<i64>,
}

impl AuthorFields {
    async fn check(client: &impl GenericClient, input: AuthorInput, create: bool) -> Result<Self> {
        Ok(AuthorFields {
            name: check_name(input.name, create)?,
            slug: check_slug(input.slug)?,
            bio: check_text("bio", input.bio, MAX_TEXT)?,
            avatar_id: media_patch(client, "avatar", &input.avatar).await?,
            email: check_email(input.email)?,
            staff_id: staff_id(client, input.staff).await?,
        })
    }
}

/// A checked category or tag write; `None` leaves a field as it is on update.
struct TermFields {
    name: Option<String>,
    slug: Option<String>,
    description: Patch<String>,
}

impl TermFields {
    fn check(input: TermInput, create: bool) -> Result<Self> {
        Ok(TermFields {
            name: check_name(input.name, create)?,
            slug: check_slug(input.slug)?,
            description: check_text("description", input.description, MAX_TEXT)?,
        })
    }
}

/// The entry as the admin API answers it: the public fields, plus an author's private
/// email and linked staff account.
async fn view(client: &impl GenericClient, taxonomy: &Taxonomy, id: i64) -> Result<Value> {
    let sql = match taxonomy.shape {
        Shape::Author => "SELECT json_build_object(
                'id', au.id, 'documentId', au.document_id, 'name', au.name, 'slug', au.slug,
                'bio', au.bio,
                'avatar', (SELECT document_id FROM uploads WHERE id = au.avatar_id),
                'createdAt', au.created_at, 'updatedAt', au.updated_at, 'email', au.email,
                'staff', (SELECT document_id FROM staff_users WHERE id = au.staff_id))
             FROM authors au WHERE au.id = $1"
            .to_owned(),
        Shape::Term => format!(
            "SELECT json_build_object(
                'id', id, 'documentId', document_id, 'name', name, 'slug', slug,
                'description', description, 'createdAt', created_at, 'updatedAt', updated_at)
             FROM {} WHERE id = $1",
            taxonomy.table()
        ),
    };
    client
        .query_typed(&sql, &[(&id, Type::INT8)])
        .await?
        .first()
        .map(|row| row.get(0))
        .ok_or_else(|| Error::NotFound(format!("no such {}", taxonomy.model.singular)))
}

/// Inserts a checked input and returns (id, documentId, slug).
async fn insert(
    client: &impl GenericClient,
    taxonomy: &Taxonomy,
    input: Input,
) -> Result<(i64, String, String)> {
    let rows = match input {
        Input::Author(input) => {
            let fields = AuthorFields::check(client, input, true).await?;
            let name = fields.name.unwrap_or_default();
            // Names of people repeat, so a made slug always gets a random suffix.
            let slug = fields.slug.unwrap_or_else(|| slug::unique_from_name(&name));
            client
                .query_typed(
                    "INSERT INTO authors (name, slug, bio, avatar_id, email, staff_id)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, document_id, slug",
                    &[
                        (&name, Type::TEXT),
                        (&slug, Type::TEXT),
                        (&fields.bio.flatten(), Type::TEXT),
                        (&fields.avatar_id.flatten(), Type::INT8),
                        (&fields.email.flatten(), Type::TEXT),
                        (&fields.staff_id.flatten(), Type::INT8),
                    ],
                )
                .await
        }
        Input::Term(input) => {
            let fields = TermFields::check(input, true)?;
            let name = fields.name.unwrap_or_default();
            let slug = fields.slug.unwrap_or_else(|| slug::from_title(&name));
            client
                .query_typed(
                    &format!(
                        "INSERT INTO {} (name, slug, description) VALUES ($1, $2, $3)
                         RETURNING id, document_id, slug",
                        taxonomy.table()
                    ),
                    &[
                        (&name, Type::TEXT),
                        (&slug, Type::TEXT),
                        (&fields.description.flatten(), Type::TEXT),
                    ],
                )
                .await
        }
    }
    .map_err(|e| map_conflict(e, taxonomy.conflicts))?;
    let row = rows
        .first()
        .ok_or_else(|| Error::internal("taxonomy insert returned no row"))?;
    Ok((row.get(0), row.get(1), row.get(2)))
}

/// Applies a checked input to the entry with `document_id`; returns its id.
async fn update(
    client: &impl GenericClient,
    taxonomy: &Taxonomy,
    document_id: &str,
    input: Input,
) -> Result<i64> {
    let rows = match input {
        Input::Author(input) => {
            let fields = AuthorFields::check(client, input, false).await?;
            client
                .query_typed(
                    "UPDATE authors SET name = COALESCE($2, name), slug = COALESCE($3, slug),
                         bio = CASE WHEN $4 THEN $5 ELSE bio END,
                         avatar_id = CASE WHEN $6 THEN $7 ELSE avatar_id END,
                         email = CASE WHEN $8 THEN $9 ELSE email END,
                         staff_id = CASE WHEN $10 THEN $11 ELSE staff_id END
                     WHERE document_id = $1 RETURNING id",
                    &[
                        (&document_id, Type::TEXT),
                        (&fields.name, Type::TEXT),
                        (&fields.slug, Type::TEXT),
                        (&fields.bio.is_some(), Type::BOOL),
                        (&fields.bio.flatten(), Type::TEXT),
                        (&fields.avatar_id.is_some(), Type::BOOL),
                        (&fields.avatar_id.flatten(), Type::INT8),
                        (&fields.email.is_some(), Type::BOOL),
                        (&fields.email.flatten(), Type::TEXT),
                        (&fields.staff_id.is_some(), Type::BOOL),
                        (&fields.staff_id.flatten(), Type::INT8),
                    ],
                )
                .await
        }
        Input::Term(input) => {
            let fields = TermFields::check(input, false)?;
            client
                .query_typed(
                    &format!(
                        "UPDATE {} SET name = COALESCE($2, name), slug = COALESCE($3, slug),
                             description = CASE WHEN $4 THEN $5 ELSE description END
                         WHERE document_id = $1 RETURNING id",
                        taxonomy.table()
                    ),
                    &[
                        (&document_id, Type::TEXT),
                        (&fields.name, Type::TEXT),
                        (&fields.slug, Type::TEXT),
                        (&fields.description.is_some(), Type::BOOL),
                        (&fields.description.flatten(), Type::TEXT),
                    ],
                )
                .await
        }
    }
    .map_err(|e| map_conflict(e, taxonomy.conflicts))?;
    rows.first()
        .map(|row| row.get(0))
        .ok_or_else(|| Error::NotFound(format!("no such {}", taxonomy.model.singular)))
}

/// Creates an entry; returns it as the admin API answers it.
pub async fn create(
    writer: &Writer,
    principal: &Principal,
    taxonomy: &Taxonomy,
    input: Input,
) -> Result<Value> {
    taxonomy.accepts(&input)?;
    let mut client = writer.db.client().await?;
    let tx = client.transaction().await?;
    let (id, document_id, slug) = insert(&*tx, taxonomy, input).await?;
    let entry = view(&*tx, taxonomy, id).await?;
    let write = Write {
        model: &taxonomy.model,
        event: Event::Create,
        document_id: &document_id,
        entry,
        details: json!({ "slug": slug }),
    };
    writer.finish(tx, principal, write).await
}

pub async fn edit(
    writer: &Writer,
    principal: &Principal,
    taxonomy: &Taxonomy,
    document_id: &str,
    input: Input,
) -> Result<Value> {
    taxonomy.accepts(&input)?;
    let mut client = writer.db.client().await?;
    let tx = client.transaction().await?;
    let id = update(&*tx, taxonomy, document_id, input).await?;
    let entry = view(&*tx, taxonomy, id).await?;
    let write = Write {
        model: &taxonomy.model,
        event: Event::Update,
        document_id,
        entry,
        details: json!({}),
    };
    writer.finish(tx, principal, write).await
}

/// A hard delete; the entry as it stood is what the audit log and the tail see.
pub async fn delete(
    writer: &Writer,
    principal: &Principal,
    taxonomy: &Taxonomy,
    document_id: &str,
) -> Result<()> {
    let mut client = writer.db.client().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query_typed(
            &format!(
                "SELECT id FROM {} WHERE document_id = $1 FOR UPDATE",
                taxonomy.table()
            ),
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    let id: i64 = rows
        .first()
        .map(|row| row.get(0))
        .ok_or_else(|| Error::NotFound(format!("no such {}", taxonomy.model.singular)))?;
    let entry = view(&*tx, taxonomy, id).await?;
    tx.query_typed(
        &format!("DELETE FROM {} WHERE id = $1", taxonomy.table()),
        &[(&id, Type::INT8)],
    )
    .await?;
    let details = json!({ "name": entry["name"], "slug": entry["slug"] });
    let write = Write {
        model: &taxonomy.model,
        event: Event::Delete,
        document_id,
        entry,
        details,
    };
    writer.finish(tx, principal, write).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::Envelope;

    #[test]
    fn types_are_found_by_their_route_name() {
        assert_eq!(by_name("authors").map(|t| t.model.singular), Some("author"));
        assert_eq!(
            by_name("categories").map(|t| t.model.singular),
            Some("category")
        );
        assert_eq!(by_name("tags").map(|t| t.model.singular), Some("tag"));
        assert!(by_name("articles").is_none());
    }

    #[test]
    fn null_is_kept_apart_from_absent() {
        let input: Envelope<TermInput> =
            serde_json::from_value(json!({ "data": { "description": null } })).unwrap();
        assert_eq!(input.data.description, Some(None));
        assert_eq!(input.data.name, None);
        let input: Envelope<TermInput> =
            serde_json::from_value(json!({ "data": { "name": "x" } })).unwrap();
        assert_eq!(input.data.name, Some(Some("x".to_owned())));
        assert!(
            serde_json::from_value::<Envelope<TermInput>>(json!({ "data": { "bio": "x" } }))
                .is_err()
        );
        assert!(
            serde_json::from_value::<Envelope<AuthorInput>>(json!({ "data": { "name": 1 } }))
                .is_err()
        );
    }

    #[test]
    fn names_are_trimmed_required_and_bounded() {
        assert_eq!(
            check_name(Some(Some("  AI工具 ".into())), true).unwrap(),
            Some("AI工具".to_owned())
        );
        assert_eq!(check_name(None, false).unwrap(), None);
        assert!(check_name(None, true).is_err());
        assert!(check_name(Some(None), false).is_err());
        assert!(check_name(Some(Some("   ".into())), true).is_err());
        assert!(check_name(Some(Some("变".repeat(MAX_NAME))), true).is_ok());
        assert!(check_name(Some(Some("变".repeat(MAX_NAME + 1))), true).is_err());
    }

    #[test]
    fn emails_are_checked_and_normalised() {
        assert_eq!(
            check_email(Some(Some("Zhang@Example.com".into()))).unwrap(),
            Some(Some("zhang@example.com".to_owned()))
        );
        assert_eq!(check_email(Some(None)).unwrap(), Some(None));
        assert!(check_email(Some(Some("not-an-email".into()))).is_err());
    }
}
