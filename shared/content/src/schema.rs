//! The content model as the public API sees it: four content types, their fields and
//! their relations, declared once as statics.
//!
//! The query parser resolves every name a client sends against these tables and keeps
//! the `&'static` entry it found, so the SQL layer only ever writes identifiers that
//! were compiled into the binary, never text from a request. Private fields are listed
//! here too (the database has them), but every lookup the parser uses skips them, so a
//! private field is refused exactly like a field that does not exist: Strapi's
//! advisories about filtering and sorting on private fields are the reason.

use std::fmt;

/// One document as the API returns it.
pub type Entry = serde_json::Map<String, serde_json::Value>;

/// The article fields a reader without access never receives whole.
pub const GATED_FIELDS: [&str; 2] = ["body", "bodyHtml"];

/// The hidden columns the SQL layer adds to every article row that selects a body
/// (`sql::Builder::select`): what gating needs travels with the row, so deciding
/// costs no statement of its own. No API name starts with `__`, and
/// `gate::apply` removes them before an entry leaves.
pub const VISIBILITY_COLUMN: &str = "__visibility";
pub const EXCERPT_COLUMN: &str = "__excerpt";
/// The products that unlock a paid article, as `kind/code` strings.
pub const PRODUCTS_COLUMN: &str = "__products";

/// What a field holds, which decides how filter values are coerced and which operators
/// apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Short text: titles, names.
    String,
    /// Long text: bodies, descriptions. Never sortable.
    Text,
    /// A slug or other URL-safe identifier.
    Uid,
    Integer,
    Float,
    Boolean,
    DateTime,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// A JSON document (a file's `formats`): returned as is, never filtered or sorted.
    Json,
}

impl FieldKind {
    /// The kind's name in error messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::String => "string",
            FieldKind::Text => "text",
            FieldKind::Uid => "uid",
            FieldKind::Integer => "integer",
            FieldKind::Float => "float",
            FieldKind::Boolean => "boolean",
            FieldKind::DateTime => "datetime",
            FieldKind::Enum(_) => "enumeration",
            FieldKind::Json => "json",
        }
    }

    /// Whether text operators (`$containsi`, `$startsWith`, `$eqi`, ...) make sense.
    pub fn is_textual(self) -> bool {
        matches!(self, FieldKind::String | FieldKind::Text | FieldKind::Uid)
    }

    /// Whether `$lt`, `$gt` and `$between` make sense.
    pub fn is_ordered(self) -> bool {
        !matches!(
            self,
            FieldKind::Boolean | FieldKind::Enum(_) | FieldKind::Json
        )
    }
}

/// A scalar attribute of a content type.
#[derive(Debug, PartialEq, Eq)]
pub struct Field {
    /// The API name (camelCase, as in Strapi's JSON).
    pub name: &'static str,
    pub kind: FieldKind,
    pub filterable: bool,
    pub sortable: bool,
    /// Stored but never exposed: not selectable, filterable, sortable or populatable.
    pub private: bool,
}

impl Field {
    const fn public(name: &'static str, kind: FieldKind) -> Field {
        Field {
            name,
            kind,
            filterable: true,
            sortable: true,
            private: false,
        }
    }

    const fn private(name: &'static str, kind: FieldKind) -> Field {
        Field {
            name,
            kind,
            filterable: false,
            sortable: false,
            private: true,
        }
    }

    const fn unsortable(self) -> Field {
        Field {
            sortable: false,
            ..self
        }
    }

    const fn unfilterable(self) -> Field {
        Field {
            filterable: false,
            ..self
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    ManyToOne,
    OneToMany,
    ManyToMany,
}

impl Cardinality {
    pub fn is_to_many(self) -> bool {
        !matches!(self, Cardinality::ManyToOne)
    }
}

/// A link from one content type to another.
pub struct Relation {
    pub name: &'static str,
    pub target: &'static ContentType,
    pub cardinality: Cardinality,
}

// The content types point at each other, so derived impls would recurse forever;
// a relation is identified by its name and its target's name.
impl fmt::Debug for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relation")
            .field("name", &self.name)
            .field("target", &self.target.name)
            .field("cardinality", &self.cardinality)
            .finish()
    }
}

impl PartialEq for Relation {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.target.name == other.target.name
    }
}

/// A collection exposed at `/api/{name}`.
pub struct ContentType {
    /// The plural API id, e.g. `articles`.
    pub name: &'static str,
    /// Every stored field, private ones included; the parser reads them through
    /// [`ContentType::public_field`] and [`ContentType::public_fields`].
    pub fields: &'static [Field],
    pub relations: &'static [Relation],
}

impl fmt::Debug for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentType")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ContentType {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl ContentType {
    /// A field a client may name; private fields are as absent as unknown ones.
    pub fn public_field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| !f.private && f.name == name)
    }

    /// The fields a client may see, in declaration order.
    pub fn public_fields(&self) -> impl Iterator<Item = &'static Field> + use<> {
        self.fields.iter().filter(|f| !f.private)
    }

    pub fn relation(&self, name: &str) -> Option<&'static Relation> {
        self.relations.iter().find(|r| r.name == name)
    }
}

/// The state of each article in the staff's list (`draft`, `scheduled`, `published`)
/// and its scheduled time: computed by the SQL layer for [`crate::query::Status::Staff`]
/// queries only, so no public answer carries them.
pub const STATE_FIELD: &str = "status";
pub const SCHEDULED_AT_FIELD: &str = "scheduledAt";

/// Fields every content type has, and every response carries whatever `fields` says.
pub const ALWAYS_SELECTED: [&str; 2] = ["id", "documentId"];

const ID: Field = Field::public("id", FieldKind::Integer);
const DOCUMENT_ID: Field = Field::public("documentId", FieldKind::Uid);
const NAME: Field = Field::public("name", FieldKind::String);
const SLUG: Field = Field::public("slug", FieldKind::Uid);
const DESCRIPTION: Field = Field::public("description", FieldKind::Text).unsortable();
const CREATED_AT: Field = Field::public("createdAt", FieldKind::DateTime);
const UPDATED_AT: Field = Field::public("updatedAt", FieldKind::DateTime);
const PUBLISHED_AT: Field = Field::public("publishedAt", FieldKind::DateTime);

/// Who may read an article (Ghost's model): anyone, signed-in members, or buyers.
pub const VISIBILITIES: &[&str] = &["public", "members", "paid"];

pub static ARTICLES: ContentType = ContentType {
    name: "articles",
    fields: &[
        ID,
        DOCUMENT_ID,
        Field::public("title", FieldKind::String),
        SLUG,
        Field::public("excerpt", FieldKind::Text).unsortable(),
        // Searched through `_q`, never scanned with LIKE.
        Field::public("body", FieldKind::Text)
            .unsortable()
            .unfilterable(),
        // Rendered from `body` on save; gated exactly like it.
        Field::public("bodyHtml", FieldKind::Text)
            .unsortable()
            .unfilterable(),
        Field::public("readingMinutes", FieldKind::Integer),
        Field::public("locale", FieldKind::String),
        Field::public("visibility", FieldKind::Enum(VISIBILITIES)),
        Field::public("featured", FieldKind::Boolean),
        Field::public("seoTitle", FieldKind::String).unsortable(),
        Field::public("seoDescription", FieldKind::Text).unsortable(),
        // Computed: what social previews need (`crate::syndication::share`).
        Field::public("share", FieldKind::Json)
            .unsortable()
            .unfilterable(),
        PUBLISHED_AT,
        CREATED_AT,
        UPDATED_AT,
        Field::private("internalNotes", FieldKind::Text),
    ],
    relations: &[
        Relation {
            name: "author",
            target: &AUTHORS,
            cardinality: Cardinality::ManyToOne,
        },
        Relation {
            name: "category",
            target: &CATEGORIES,
            cardinality: Cardinality::ManyToOne,
        },
        Relation {
            name: "tags",
            target: &TAGS,
            cardinality: Cardinality::ManyToMany,
        },
        Relation {
            name: "cover",
            target: &FILES,
            cardinality: Cardinality::ManyToOne,
        },
    ],
};

pub static AUTHORS: ContentType = ContentType {
    name: "authors",
    fields: &[
        ID,
        DOCUMENT_ID,
        NAME,
        SLUG,
        Field::public("bio", FieldKind::Text).unsortable(),
        CREATED_AT,
        UPDATED_AT,
        Field::private("email", FieldKind::String),
    ],
    relations: &[
        Relation {
            name: "articles",
            target: &ARTICLES,
            cardinality: Cardinality::OneToMany,
        },
        Relation {
            name: "avatar",
            target: &FILES,
            cardinality: Cardinality::ManyToOne,
        },
    ],
};

pub static CATEGORIES: ContentType = ContentType {
    name: "categories",
    fields: &[
        ID,
        DOCUMENT_ID,
        NAME,
        SLUG,
        DESCRIPTION,
        CREATED_AT,
        UPDATED_AT,
    ],
    relations: &[Relation {
        name: "articles",
        target: &ARTICLES,
        cardinality: Cardinality::OneToMany,
    }],
};

pub static TAGS: ContentType = ContentType {
    name: "tags",
    fields: &[
        ID,
        DOCUMENT_ID,
        NAME,
        SLUG,
        DESCRIPTION,
        CREATED_AT,
        UPDATED_AT,
    ],
    relations: &[Relation {
        name: "articles",
        target: &ARTICLES,
        cardinality: Cardinality::ManyToMany,
    }],
};

/// Strapi v5's media file (`plugin::upload.file`), what a media field (`cover`,
/// `avatar`) populates as. Not served at `/api/files` (Strapi serves its media
/// library at `/api/upload/files`, to staff); read only through the fields that name
/// a file, from the `files` view over `uploads` (ready uploads only). `square` is our
/// addition: the share image (`content::syndication`).
pub static FILES: ContentType = ContentType {
    name: "files",
    fields: &[
        ID,
        DOCUMENT_ID,
        Field::public("name", FieldKind::String),
        Field::public("alternativeText", FieldKind::Text).unsortable(),
        Field::public("caption", FieldKind::Text).unsortable(),
        Field::public("width", FieldKind::Integer),
        Field::public("height", FieldKind::Integer),
        Field::public("formats", FieldKind::Json)
            .unsortable()
            .unfilterable(),
        Field::public("hash", FieldKind::String),
        Field::public("ext", FieldKind::String),
        Field::public("mime", FieldKind::String),
        Field::public("size", FieldKind::Float),
        Field::public("url", FieldKind::String),
        Field::public("previewUrl", FieldKind::String),
        Field::public("provider", FieldKind::String),
        Field::public("provider_metadata", FieldKind::Json)
            .unsortable()
            .unfilterable(),
        CREATED_AT,
        UPDATED_AT,
        PUBLISHED_AT,
        Field::public("square", FieldKind::Json)
            .unsortable()
            .unfilterable(),
    ],
    relations: &[],
};

pub static CONTENT_TYPES: [&ContentType; 4] = [&ARTICLES, &AUTHORS, &CATEGORIES, &TAGS];

/// The content type served at `/api/{name}`.
pub fn content_type(name: &str) -> Option<&'static ContentType> {
    CONTENT_TYPES.iter().copied().find(|ct| ct.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_within_a_content_type() {
        for ct in CONTENT_TYPES {
            let mut names: Vec<&str> = ct.fields.iter().map(|f| f.name).collect();
            names.extend(ct.relations.iter().map(|r| r.name));
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count, "{}", ct.name);
        }
    }

    #[test]
    fn every_type_has_the_always_selected_fields() {
        for ct in CONTENT_TYPES {
            for name in ALWAYS_SELECTED {
                assert!(ct.public_field(name).is_some(), "{}.{name}", ct.name);
            }
        }
    }

    #[test]
    fn private_fields_are_invisible_and_unusable() {
        assert!(ARTICLES.public_field("internalNotes").is_none());
        assert!(AUTHORS.public_field("email").is_none());
        assert!(AUTHORS.public_fields().all(|f| f.name != "email"));
        for ct in CONTENT_TYPES {
            for field in ct.fields.iter().filter(|f| f.private) {
                assert!(!field.filterable && !field.sortable, "{}", field.name);
            }
        }
    }

    /// Files are the exception, as in Strapi: a media field points at a file, and a
    /// file names nothing back.
    #[test]
    fn every_relation_but_a_media_field_has_a_way_back() {
        for ct in CONTENT_TYPES {
            for relation in ct.relations {
                let back = relation.target.relations.iter().any(|r| r.target == ct);
                assert!(
                    back || relation.target == &FILES,
                    "{}.{}",
                    ct.name,
                    relation.name
                );
            }
        }
        assert!(FILES.relations.is_empty());
    }

    #[test]
    fn content_types_are_found_by_api_name() {
        assert_eq!(content_type("tags"), Some(&TAGS));
        assert_eq!(content_type("users"), None);
    }
}
