//! A parsed [`Query`] as SQL: the list, its count, and one statement per populated
//! relation level.
//!
//! Every identifier written here comes from the fixed [`TABLES`] mapping of schema
//! names to tables and columns, keyed by the `&'static` schema entries the parser
//! resolved, and every value a client sent becomes a `$n` parameter with an explicit
//! type; so the SQL text is a function of the query's shape alone and no request can
//! change it. Private fields have no column here at all, so even a bug upstream could
//! not select one. Statements carry their parameter types because they run through
//! `query_typed` (unnamed statements), which is what RDS Proxy and pgbouncer in
//! transaction mode allow.
//!
//! Relation filters become `EXISTS` subqueries (one per condition, so a to-many
//! relation never multiplies rows), and `populate` is loaded one statement per level
//! for all parents at once (`WHERE parent = ANY($1)`), never one per entry: Strapi's
//! per-entry populate is what makes its lists slow.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use tokio_postgres::types::{ToSql, Type};

use super::query::{Direction, Filter, Operator, Populate, Query, State, Status, Value};
use super::schema::{self, ContentType, Field, FieldKind, Relation};
use super::search;
use platform::error::{Error, Result};

/// SQL text and the values for its `$n` placeholders, in order.
#[derive(Debug)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

/// One bound value with the type PostgreSQL should read it as.
#[derive(Debug)]
pub struct Param {
    pub value: Box<dyn ToSql + Send + Sync>,
    pub ty: Type,
}

impl Statement {
    /// The parameters as `Client::query_typed` takes them.
    pub fn params_ref(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        self.params
            .iter()
            .map(|p| (&*p.value as &(dyn ToSql + Sync), p.ty.clone()))
            .collect()
    }
}

/// The name of the first column of a populate statement: the parent entry's id.
pub const PARENT_COLUMN: &str = "__parent";
/// The name of the second column of a `count` populate statement.
pub const COUNT_COLUMN: &str = "count";

/// The most related entries one populate statement may return, for all parents
/// together. Relations are not paginated (as in Strapi), so without a bound
/// `/api/categories?populate[articles][populate]=*` would answer with every article
/// and its body: tens of MB, beyond what Lambda can even return (6 MB). A bigger
/// populate is a 400 that says to narrow it, or to ask for `count`.
pub const MAX_POPULATED_ROWS: i64 = 500;

/// The rows of one page: the selected fields, each column named by its API name
/// (`readingMinutes`), in the query's order.
///
/// Articles are found first and read after: the page's ids come from a subquery that
/// needs only indexed columns (an index-only walk of `articles_published_idx`, which
/// carries the columns relation filters test), and only those rows are read whole.
/// An article row holds its bodies inline (`0008_article_storage.sql`), so walking
/// rows instead of index entries read a page of 8 KB per article passed over: 271 of
/// them for the first page of a category of one article in twelve.
pub fn list_statement(query: &Query) -> Result<Statement> {
    let table = table(query.content_type)?;
    let mut builder = Builder::new(query.status);
    let select = builder.select(table, "t0", &query.fields, &query.populate)?;
    // Numbers the parser bounded, written into the text rather than bound: with
    // parameters here the generic plan cannot know the page is small, PostgreSQL
    // keeps planning each execution afresh (pgbench, the list statement prepared:
    // 2,178/s with parameters, 3,377/s with the numbers written in).
    let (limit, offset) = (query.pagination.limit(), query.pagination.offset());
    if query.sort.is_empty()
        && let Some(search) = searched_alone(table, query)
    {
        // The page's ids in rank order from the narrow search rows alone, then
        // only those articles read, in that order. Title matches, then the other
        // matches, each newest first: the later branches run only when the
        // earlier leave the page short, so a common word's first pages come from
        // the title tokens alone.
        let tsquery = builder.tsquery(search);
        let title_match = builder.title_match("s.article_id", search);
        let published = builder.published(query);
        let window = u64::from(limit) + offset;
        let newest_first = "ORDER BY s.published_at DESC, s.article_id DESC";
        let titles = format!(
            "SELECT s.article_id FROM article_search s WHERE s.title @@ {tsquery} AND {published}"
        );
        // A word in one title in sixteen or more fills the window from the newest
        // titles of `article_search_recent_idx` (an index-only walk); a rarer one
        // finds too few there and the title index answers instead, which visits
        // every match's row to order them by time.
        let titles = if window <= MAX_PROBED_WINDOW {
            let probe = window * TITLE_PROBE_FACTOR;
            format!(
                "WITH probe AS MATERIALIZED (SELECT s.article_id, s.published_at FROM \
                 (SELECT s.article_id, s.published_at, s.title FROM article_search s \
                 WHERE {published} {newest_first} LIMIT {probe}) s \
                 WHERE s.title @@ {tsquery} LIMIT {window}) \
                 (SELECT s.article_id FROM probe s WHERE (SELECT count(*) FROM probe) = {window} \
                 {newest_first}) \
                 UNION ALL \
                 ({titles} AND (SELECT count(*) FROM probe) < {window} {newest_first} LIMIT {window})"
            )
        } else {
            format!("({titles} {newest_first} LIMIT {window})")
        };
        builder.sql = format!(
            "SELECT {select} FROM unnest(ARRAY({titles} \
             UNION ALL \
             (SELECT s.article_id FROM article_search s \
             WHERE s.document @@ {tsquery} AND NOT {title_match} AND {published} \
             {newest_first} LIMIT {window}) \
             LIMIT {limit} OFFSET {offset})) WITH ORDINALITY AS r(id, n) \
             JOIN articles t0 ON t0.id = r.id ORDER BY r.n"
        );
        return Ok(builder.finish());
    }
    let conditions = builder.top_conditions(table, query)?;
    let order = builder.order(table, "t0", query)?;
    let page = format!("WHERE {conditions} ORDER BY {order} LIMIT {limit} OFFSET {offset}");
    builder.sql = if table.content_type == "articles" {
        format!(
            "SELECT {select} FROM articles t0 WHERE t0.id = ANY(ARRAY(SELECT t0.id FROM articles t0 {page})) ORDER BY {order}"
        )
    } else {
        format!("SELECT {select} FROM {} t0 {page}", table.table)
    };
    Ok(builder.finish())
}

/// The deepest search page (`limit + offset`) whose title matches are first looked
/// for among the newest titles, and how many of them per entry of the page: 25
/// entries look through the 400 newest titles.
const MAX_PROBED_WINDOW: u64 = 100;
const TITLE_PROBE_FACTOR: u64 = 16;

/// The hidden column that carries an entry's foreign key for `populate`, when the
/// relation is stored in the entry's own row (author, category): the populate then
/// reads the targets by primary key instead of joining the parents' rows again.
pub fn foreign_key_column(parent: &ContentType, populate: &Populate) -> Result<Option<String>> {
    if populate.count {
        return Ok(None);
    }
    Ok(match link(table(parent)?, populate.relation)? {
        Link::Owned(_) => Some(format!("{FOREIGN_KEY_PREFIX}{}", populate.relation.name)),
        Link::Owning(_) | Link::Through { .. } => None,
    })
}

/// Starts the name of a [`foreign_key_column`]; no API name starts with `__`.
const FOREIGN_KEY_PREFIX: &str = "__fk_";

/// `SELECT count(*)` over the same rows as [`list_statement`], without paging: the
/// `total` of `meta.pagination`. The unfiltered list of published articles (optionally
/// per locale) reads the totals the database keeps (`0029_article_totals.sql`)
/// instead of counting every article.
pub fn count_statement(query: &Query) -> Result<Statement> {
    let table = table(query.content_type)?;
    let mut builder = Builder::new(query.status);
    if table.content_type == "articles"
        && query.status == Status::Published
        && query.filters.is_none()
        && query.search.is_none()
    {
        let (totals, articles) = match &query.locale {
            Some(locale) => {
                let locale = builder.bind(locale.as_str().to_string(), Type::TEXT);
                (
                    format!(" WHERE locale = {locale}"),
                    format!(" AND locale = {locale}"),
                )
            }
            None => (String::new(), String::new()),
        };
        // The totals count every published row; one published for a time still to
        // come is not visible yet (an index probe that finds nothing, as a rule).
        builder.sql = format!(
            "SELECT coalesce((SELECT sum(published) FROM article_totals{totals}), 0)::int8 \
             - (SELECT count(*) FROM articles WHERE published_at > now() AND deleted_at IS NULL{articles})"
        );
        return Ok(builder.finish());
    }
    if let Some(search) = searched_alone(table, query) {
        let tsquery = builder.tsquery(search);
        let published = builder.published(query);
        builder.sql = format!(
            "SELECT count(*) FROM article_search s WHERE s.document @@ {tsquery} AND {published}"
        );
        return Ok(builder.finish());
    }
    let conditions = builder.top_conditions(table, query)?;
    builder.sql = format!("SELECT count(*) FROM {} t0 WHERE {conditions}", table.table);
    Ok(builder.finish())
}

/// The search text of a query that only searches published articles (no filters),
/// which `article_search` answers without reading `articles`.
fn searched_alone<'q>(table: &Table, query: &'q Query) -> Option<&'q str> {
    match (table.search, query.status, &query.filters, &query.search) {
        (Search::Index, Status::Published, None, Some(search)) => Some(search),
        _ => None,
    }
}

/// Loads `populate` for every parent in `parent_ids` (entries of `parent`) in one
/// statement; for a relation with a [`foreign_key_column`], `parent_ids` are the
/// parents' foreign keys and [`PARENT_COLUMN`] is the target's own id. Rows start with [`PARENT_COLUMN`] and are ordered by it, then by the
/// populate's sort; with `count`, each row is a parent and its [`COUNT_COLUMN`]
/// (parents without related entries have no row). Related articles are limited to
/// those visible under `status`, like the top-level query. Nested populates run as
/// the next level, with the ids of this level's rows as their parents.
pub fn populate_statement(
    parent: &'static ContentType,
    populate: &Populate,
    parent_ids: &[i64],
    status: Status,
) -> Result<Statement> {
    let source = table(parent)?;
    let target = table(populate.relation.target)?;
    let mut builder = Builder::new(status);
    let ids = builder.bind(parent_ids.to_vec(), Type::INT8_ARRAY);
    let (parent_column, from, mut conditions) = match link(source, populate.relation)? {
        Link::Owned(_) if !populate.count => (
            "t.id".to_string(),
            format!("{} t", target.table),
            vec![format!("t.id = ANY({ids})")],
        ),
        Link::Owned(fk) => (
            "s.id".to_string(),
            format!(
                "{} s JOIN {} t ON t.id = s.{fk}",
                source.table, target.table
            ),
            vec![format!("s.id = ANY({ids})")],
        ),
        Link::Owning(fk) => (
            format!("t.{fk}"),
            format!("{} t", target.table),
            vec![format!("t.{fk} = ANY({ids})")],
        ),
        Link::Through {
            table: join,
            source: source_column,
            target: target_column,
        } => (
            format!("j.{source_column}"),
            format!(
                "{join} j JOIN {} t ON t.id = j.{target_column}",
                target.table
            ),
            vec![format!("j.{source_column} = ANY({ids})")],
        ),
    };
    if target.publishable {
        conditions.push(builder.visible("t"));
    }
    if let Some(filter) = &populate.filters {
        conditions.push(builder.filter(target, "t", filter)?);
    }
    let conditions = conditions.join(" AND ");
    builder.sql = if populate.count {
        format!(
            "SELECT {parent_column} AS {PARENT_COLUMN}, count(*) AS {COUNT_COLUMN} FROM {from} \
             WHERE {conditions} GROUP BY 1 ORDER BY 1"
        )
    } else {
        let select = builder.select(target, "t", &populate.fields, &populate.populate)?;
        let mut order = vec!["1".to_string()];
        for sort in &populate.sort {
            order.push(sort_key(target, "t", sort.field, sort.direction)?);
        }
        order.push("t.id".to_string());
        // One row more than allowed tells the caller the populate is too big.
        let limit = MAX_POPULATED_ROWS + 1;
        format!(
            "SELECT {parent_column} AS {PARENT_COLUMN}, {select} FROM {from} \
             WHERE {conditions} ORDER BY {} LIMIT {limit}",
            order.join(", ")
        )
    };
    Ok(builder.finish())
}

/// Where a content type is stored.
struct Table {
    content_type: &'static str,
    table: &'static str,
    /// `(API name, column)` for every public field; private fields are left out on
    /// purpose.
    columns: &'static [(&'static str, &'static str)],
    /// What `_q` searches.
    search: Search,
    /// Has `published_at`, `deleted_at` and `locale`: `status` and `locale` apply.
    publishable: bool,
    /// `(relation name, how it is stored)`.
    links: &'static [(&'static str, Link)],
}

/// How `_q` finds entries of a table.
#[derive(Clone, Copy)]
enum Search {
    /// Every term a case-insensitive substring of these columns, concatenated: a few
    /// hundred short rows (authors, categories, tags) need no index.
    Columns(&'static [&'static str]),
    /// Articles: the tokens of `article_search` (`0031_article_search.sql`), ranked
    /// title matches first when the query has no `sort`.
    Index,
}

/// How a relation is stored, seen from its source table.
#[derive(Clone, Copy)]
enum Link {
    /// The source row holds the target's id in this column.
    Owned(&'static str),
    /// The target rows hold the source's id in this column.
    Owning(&'static str),
    /// A join table with a column for each side.
    Through {
        table: &'static str,
        source: &'static str,
        target: &'static str,
    },
}

const COMMON: [(&str, &str); 4] = [
    ("id", "id"),
    ("documentId", "document_id"),
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
];

static TABLES: [Table; 5] = [
    Table {
        content_type: "articles",
        table: "articles",
        columns: &[
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            ("title", "title"),
            ("slug", "slug"),
            ("excerpt", "excerpt"),
            ("body", "body"),
            ("bodyHtml", "body_html"),
            ("readingMinutes", "reading_minutes"),
            ("locale", "locale"),
            ("visibility", "visibility"),
            ("featured", "featured"),
            ("seoTitle", "seo_title"),
            ("seoDescription", "seo_description"),
            ("publishedAt", "published_at"),
        ],
        search: Search::Index,
        publishable: true,
        links: &[
            ("author", Link::Owned("author_id")),
            ("category", Link::Owned("category_id")),
            ("cover", Link::Owned("cover_id")),
            (
                "tags",
                Link::Through {
                    table: "article_tags",
                    source: "article_id",
                    target: "tag_id",
                },
            ),
        ],
    },
    Table {
        content_type: "authors",
        table: "authors",
        columns: &[
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            ("name", "name"),
            ("slug", "slug"),
            ("bio", "bio"),
        ],
        search: Search::Columns(&["name", "bio"]),
        publishable: false,
        links: &[
            ("articles", Link::Owning("author_id")),
            ("avatar", Link::Owned("avatar_id")),
        ],
    },
    Table {
        content_type: "categories",
        table: "categories",
        columns: &[
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            ("name", "name"),
            ("slug", "slug"),
            ("description", "description"),
        ],
        search: Search::Columns(&["name", "description"]),
        publishable: false,
        links: &[("articles", Link::Owning("category_id"))],
    },
    Table {
        content_type: "tags",
        table: "tags",
        columns: &[
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            ("name", "name"),
            ("slug", "slug"),
            ("description", "description"),
        ],
        search: Search::Columns(&["name", "description"]),
        publishable: false,
        links: &[(
            "articles",
            Link::Through {
                table: "article_tags",
                source: "tag_id",
                target: "article_id",
            },
        )],
    },
    Table {
        content_type: "files",
        // The view of ready uploads (migration 0034), column for column.
        table: "files",
        columns: &[
            COMMON[0],
            COMMON[1],
            COMMON[2],
            COMMON[3],
            ("name", "name"),
            ("alternativeText", "alternative_text"),
            ("caption", "caption"),
            ("width", "width"),
            ("height", "height"),
            ("formats", "formats"),
            ("hash", "hash"),
            ("ext", "ext"),
            ("mime", "mime"),
            ("size", "size"),
            ("url", "url"),
            ("previewUrl", "preview_url"),
            ("provider", "provider"),
            ("provider_metadata", "provider_metadata"),
            ("publishedAt", "published_at"),
            ("square", "square"),
        ],
        search: Search::Columns(&["name"]),
        publishable: false,
        links: &[],
    },
];

/// The computed article field of social previews.
const SHARE_FIELD: &str = "share";

/// The inputs of `share` for the article row aliased `alias`, as one JSON value: its
/// own columns and its cover's once processed (the `large` format, else the file; and
/// the share square). `crate::syndication::share::finish` shapes them.
fn share_inputs(alias: &str) -> String {
    format!(
        "jsonb_build_object(\
            'slug', {alias}.slug, 'locale', {alias}.locale, \
            'title', coalesce({alias}.seo_title, {alias}.title), \
            'description', coalesce({alias}.seo_description, {alias}.excerpt), \
            'publishedAt', {alias}.published_at, 'modifiedAt', {alias}.updated_at, \
            'image', (SELECT jsonb_build_object(\
                'url', coalesce(u.formats->'large'->>'url', u.url), \
                'width', coalesce(u.formats->'large'->'width', to_jsonb(u.width)), \
                'height', coalesce(u.formats->'large'->'height', to_jsonb(u.height)), \
                'alt', u.alternative_text, 'square', u.square->>'url') \
              FROM uploads u WHERE u.id = {alias}.cover_id AND u.status = 'ready' \
                AND u.processing = 'done'))"
    )
}

fn table(content_type: &ContentType) -> Result<&'static Table> {
    TABLES
        .iter()
        .find(|t| t.content_type == content_type.name)
        .ok_or_else(|| Error::internal(format!("no table for `{}`", content_type.name)))
}

fn column(table: &Table, field: &Field) -> Result<&'static str> {
    if field.private {
        return Err(Error::internal(format!("`{}` is private", field.name)));
    }
    table
        .columns
        .iter()
        .find(|(name, _)| *name == field.name)
        .map(|(_, column)| *column)
        .ok_or_else(|| {
            Error::internal(format!(
                "no column for `{}.{}`",
                table.content_type, field.name
            ))
        })
}

fn link(table: &Table, relation: &Relation) -> Result<Link> {
    table
        .links
        .iter()
        .find(|(name, _)| *name == relation.name)
        .map(|(_, link)| *link)
        .ok_or_else(|| {
            Error::internal(format!(
                "no link for `{}.{}`",
                table.content_type, relation.name
            ))
        })
}

fn sort_key(table: &Table, alias: &str, field: &Field, direction: Direction) -> Result<String> {
    let column = column(table, field)?;
    Ok(match direction {
        Direction::Asc => format!("{alias}.{column} ASC"),
        Direction::Desc => format!("{alias}.{column} DESC"),
    })
}

/// `%`, `_` and the escape character itself taken literally by `LIKE` (whose default
/// escape is `\`).
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Where a `LIKE` operand may match.
enum Anchor {
    Anywhere,
    Start,
    End,
}

fn like_pattern(text: &str, anchor: Anchor) -> String {
    let escaped = escape_like(text);
    match anchor {
        Anchor::Anywhere => format!("%{escaped}%"),
        Anchor::Start => format!("{escaped}%"),
        Anchor::End => format!("%{escaped}"),
    }
}

/// Accumulates SQL fragments and the parameters they refer to.
struct Builder {
    sql: String,
    params: Vec<Param>,
    status: Status,
    aliases: usize,
    /// The placeholder-bearing tsquery of `_q`, once bound.
    tsquery: Option<String>,
}

impl Builder {
    fn new(status: Status) -> Builder {
        Builder {
            sql: String::new(),
            params: Vec::new(),
            status,
            aliases: 0,
            tsquery: None,
        }
    }

    fn finish(self) -> Statement {
        Statement {
            sql: self.sql,
            params: self.params,
        }
    }

    /// Adds a parameter and returns its placeholder.
    fn bind<T: ToSql + Send + Sync + 'static>(&mut self, value: T, ty: Type) -> String {
        self.params.push(Param {
            value: Box::new(value),
            ty,
        });
        format!("${}", self.params.len())
    }

    fn next_alias(&mut self) -> usize {
        self.aliases += 1;
        self.aliases
    }

    fn select(
        &self,
        table: &Table,
        alias: &str,
        fields: &[&'static Field],
        populate: &[Populate],
    ) -> Result<String> {
        let mut select = String::new();
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                select.push_str(", ");
            }
            if table.content_type == "articles" && field.name == SHARE_FIELD {
                let _ = write!(select, "{} AS \"{SHARE_FIELD}\"", share_inputs(alias));
                continue;
            }
            let column = column(table, field)?;
            // API names are schema constants of ASCII letters, safe to quote.
            let _ = write!(select, "{alias}.{column} AS \"{}\"", field.name);
        }
        for wanted in populate.iter().filter(|p| !p.count) {
            if let Link::Owned(fk) = link(table, wanted.relation)? {
                let _ = write!(
                    select,
                    ", {alias}.{fk} AS \"{FOREIGN_KEY_PREFIX}{}\"",
                    wanted.relation.name
                );
            }
        }
        // The staff's list says where each article stands; never a public answer.
        if table.content_type == "articles"
            && let Status::Staff(_) = self.status
        {
            let _ = write!(
                select,
                ", CASE WHEN {alias}.published_at IS NOT NULL THEN 'published' \
                 WHEN {alias}.scheduled_at IS NOT NULL THEN 'scheduled' ELSE 'draft' END AS \"{}\", \
                 {alias}.scheduled_at AS \"{}\"",
                schema::STATE_FIELD,
                schema::SCHEDULED_AT_FIELD
            );
        }
        // An article body goes nowhere without its gate (`crate::gate::apply`), which rides
        // along in hidden columns instead of costing a statement of its own.
        if table.content_type == "articles"
            && fields
                .iter()
                .any(|f| schema::GATED_FIELDS.contains(&f.name))
        {
            let _ = write!(
                select,
                ", {alias}.visibility AS \"{}\", {alias}.excerpt AS \"{}\", \
                 ARRAY(SELECT p.product_kind || '/' || p.product_code FROM article_products p \
                 WHERE p.article_id = {alias}.id ORDER BY 1) AS \"{}\"",
                schema::VISIBILITY_COLUMN,
                schema::EXCERPT_COLUMN,
                schema::PRODUCTS_COLUMN
            );
        }
        Ok(select)
    }

    /// Which articles `status` shows.
    fn visible(&self, alias: &str) -> String {
        match self.status {
            Status::Published => format!(
                "{alias}.published_at IS NOT NULL AND {alias}.published_at <= now() AND {alias}.deleted_at IS NULL"
            ),
            Status::Draft => {
                format!("{alias}.published_at IS NULL AND {alias}.deleted_at IS NULL")
            }
            Status::Staff(None) => format!("{alias}.deleted_at IS NULL"),
            Status::Staff(Some(State::Draft)) => format!(
                "{alias}.published_at IS NULL AND {alias}.scheduled_at IS NULL AND {alias}.deleted_at IS NULL"
            ),
            Status::Staff(Some(State::Scheduled)) => format!(
                "{alias}.published_at IS NULL AND {alias}.scheduled_at IS NOT NULL AND {alias}.deleted_at IS NULL"
            ),
            Status::Staff(Some(State::Published)) => {
                format!("{alias}.published_at IS NOT NULL AND {alias}.deleted_at IS NULL")
            }
        }
    }

    /// Status, locale, filters and search of the top-level query, on alias `t0`.
    fn top_conditions(&mut self, table: &Table, query: &Query) -> Result<String> {
        let mut conditions = Vec::new();
        if table.publishable {
            conditions.push(self.visible("t0"));
            if let Some(locale) = &query.locale {
                let locale = self.bind(locale.as_str().to_string(), Type::TEXT);
                conditions.push(format!("t0.locale = {locale}"));
            }
        }
        if let Some(filter) = &query.filters {
            conditions.push(format!("({})", self.filter(table, "t0", filter)?));
        }
        if let Some(search) = &query.search {
            conditions.push(match table.search {
                Search::Columns(columns) => self.search_columns(columns, "t0", search),
                Search::Index => {
                    let tsquery = self.tsquery(search);
                    format!(
                        "t0.id IN (SELECT s.article_id FROM article_search s WHERE s.document @@ {tsquery})"
                    )
                }
            });
        }
        Ok(if conditions.is_empty() {
            "TRUE".to_string()
        } else {
            conditions.join(" AND ")
        })
    }

    /// Every whitespace-separated term must occur, case-insensitively, somewhere in
    /// the concatenated columns.
    fn search_columns(&mut self, columns: &[&str], alias: &str, search: &str) -> String {
        let text = columns
            .iter()
            .map(|column| format!("coalesce({alias}.{column}, '')"))
            .collect::<Vec<_>>()
            .join(" || ' ' || ");
        let terms: Vec<String> = search
            .split_whitespace()
            .map(|term| {
                let pattern = self.bind(like_pattern(term, Anchor::Anywhere), Type::TEXT);
                format!("({text}) ILIKE {pattern}")
            })
            .collect();
        if terms.is_empty() {
            "TRUE".to_string()
        } else {
            terms.join(" AND ")
        }
    }

    /// `_q` as a tsquery (`search::tsquery`; null, which matches nothing, when it
    /// has nothing searchable), bound once per statement. In a subquery on
    /// purpose: the planner cannot see the value, so it assumes few matches and
    /// always takes the GIN index. Seeing a word in most articles (`的`, `ai`), it
    /// chose a sequential scan, matching every article's tokens read back from
    /// TOAST (the count of `的` at 10,000 articles: 46 ms, against 7.6 ms through
    /// the index, which answers from its posting lists without reading the tokens).
    fn tsquery(&mut self, search: &str) -> String {
        if let Some(tsquery) = &self.tsquery {
            return tsquery.clone();
        }
        let text = self.bind(search::tsquery(search), Type::TEXT);
        let tsquery = format!("(SELECT {text}::tsquery)");
        self.tsquery = Some(tsquery.clone());
        tsquery
    }

    /// Whether the article `id_column` names has every search token in its title:
    /// one lookup in the title index, hashed, instead of a match per row.
    fn title_match(&mut self, id_column: &str, search: &str) -> String {
        let tsquery = self.tsquery(search);
        format!(
            "({id_column} IN (SELECT h.article_id FROM article_search h WHERE h.title @@ {tsquery}))"
        )
    }

    /// The `article_search` rows (alias `s`) of published articles, in the query's
    /// locale.
    fn published(&mut self, query: &Query) -> String {
        let mut published = "s.published_at <= now()".to_string();
        if let Some(locale) = &query.locale {
            let locale = self.bind(locale.as_str().to_string(), Type::TEXT);
            let _ = write!(published, " AND s.locale = {locale}");
        }
        published
    }

    fn order(&mut self, table: &Table, alias: &str, query: &Query) -> Result<String> {
        if query.sort.is_empty() {
            // Relevance first: articles with every term in the title, then the rest,
            // each in the list's own order.
            let title_first = match (table.search, &query.search) {
                (Search::Index, Some(search)) => {
                    format!(
                        "{} DESC, ",
                        self.title_match(&format!("{alias}.id"), search)
                    )
                }
                _ => String::new(),
            };
            // Staff work on what changed last, drafts included.
            return Ok(title_first
                + &if table.publishable && matches!(self.status, Status::Staff(_)) {
                    format!("{alias}.updated_at DESC, {alias}.id DESC")
                } else if table.publishable && self.status == Status::Published {
                    // Never null here, and `NULLS LAST` would not match the index's
                    // order: PostgreSQL sorted every published article (8 ms) instead.
                    format!("{alias}.published_at DESC, {alias}.id DESC")
                } else if table.publishable {
                    format!("{alias}.published_at DESC NULLS LAST, {alias}.id DESC")
                } else {
                    format!("{alias}.id ASC")
                });
        }
        let mut keys = Vec::with_capacity(query.sort.len() + 1);
        for sort in &query.sort {
            keys.push(sort_key(table, alias, sort.field, sort.direction)?);
        }
        // Equal keys would leave page boundaries to chance. The id runs the way the
        // last key does, so `publishedAt:desc` walks the (published_at DESC, id DESC)
        // index as it stands instead of re-sorting each run of equal times.
        if query.sort.iter().all(|s| s.field.name != "id") {
            keys.push(match query.sort.last().map(|s| s.direction) {
                Some(Direction::Desc) => format!("{alias}.id DESC"),
                _ => format!("{alias}.id ASC"),
            });
        }
        Ok(keys.join(", "))
    }

    fn filter(&mut self, table: &Table, alias: &str, filter: &Filter) -> Result<String> {
        let (parts, joiner, empty) = match filter {
            Filter::Condition(condition) => {
                return self.condition(
                    table,
                    alias,
                    &condition.relations,
                    condition.field,
                    condition.operator,
                    &condition.value,
                );
            }
            Filter::Not(inner) => {
                return Ok(format!("NOT ({})", self.filter(table, alias, inner)?));
            }
            Filter::And(parts) => (parts, " AND ", "TRUE"),
            Filter::Or(parts) => (parts, " OR ", "FALSE"),
        };
        if parts.is_empty() {
            return Ok(empty.to_string());
        }
        let rendered = parts
            .iter()
            .map(|part| {
                self.filter(table, alias, part)
                    .map(|sql| format!("({sql})"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(rendered.join(joiner))
    }

    /// A condition on `alias`, reached through `relations` by nested `EXISTS`.
    fn condition(
        &mut self,
        table: &Table,
        alias: &str,
        relations: &[&'static Relation],
        field: &'static Field,
        operator: Operator,
        value: &Value,
    ) -> Result<String> {
        let Some((relation, rest)) = relations.split_first() else {
            return self.predicate(table, alias, field, operator, value);
        };
        // "Is null" through a relation holds when no related row has the field set: an
        // article without a cover matches `filters[cover][id][$null]=true`, as under
        // Strapi's LEFT JOIN. An EXISTS over a row that has it null would never match.
        if let (Operator::Null | Operator::NotNull, Value::Bool(flag)) = (operator, value)
            && *flag == (operator == Operator::Null)
        {
            let set = Value::Bool(true);
            let present =
                self.condition(table, alias, relations, field, Operator::NotNull, &set)?;
            return Ok(format!("NOT {present}"));
        }
        let target = table_of(relation)?;
        let n = self.next_alias();
        let inner = format!("t{n}");
        let (from, on) = match link(table, relation)? {
            Link::Owned(fk) => (
                format!("{} {inner}", target.table),
                format!("{inner}.id = {alias}.{fk}"),
            ),
            Link::Owning(fk) => (
                format!("{} {inner}", target.table),
                format!("{inner}.{fk} = {alias}.id"),
            ),
            Link::Through {
                table: join,
                source,
                target: target_column,
            } => (
                format!(
                    "{join} j{n} JOIN {} {inner} ON {inner}.id = j{n}.{target_column}",
                    target.table
                ),
                format!("j{n}.{source} = {alias}.id"),
            ),
        };
        let mut conditions = vec![on];
        if target.publishable {
            conditions.push(self.visible(&inner));
        }
        conditions.push(self.condition(target, &inner, rest, field, operator, value)?);
        Ok(format!(
            "EXISTS (SELECT 1 FROM {from} WHERE {})",
            conditions.join(" AND ")
        ))
    }

    fn predicate(
        &mut self,
        table: &Table,
        alias: &str,
        field: &'static Field,
        operator: Operator,
        value: &Value,
    ) -> Result<String> {
        let column = format!("{alias}.{}", column(table, field)?);
        let sql = match operator {
            Operator::Eq => format!("{column} = {}", self.scalar(value)?),
            Operator::Ne => format!("{column} <> {}", self.scalar(value)?),
            Operator::Eqi => format!("lower({column}) = lower({})", self.scalar(value)?),
            Operator::Nei => format!("lower({column}) <> lower({})", self.scalar(value)?),
            Operator::Lt => format!("{column} < {}", self.scalar(value)?),
            Operator::Lte => format!("{column} <= {}", self.scalar(value)?),
            Operator::Gt => format!("{column} > {}", self.scalar(value)?),
            Operator::Gte => format!("{column} >= {}", self.scalar(value)?),
            Operator::In => format!("{column} = ANY({})", self.array(field.kind, value)?),
            Operator::NotIn => format!("NOT ({column} = ANY({}))", self.array(field.kind, value)?),
            Operator::Contains => self.like(&column, "LIKE", value, Anchor::Anywhere)?,
            Operator::NotContains => self.like(&column, "NOT LIKE", value, Anchor::Anywhere)?,
            Operator::Containsi => self.like(&column, "ILIKE", value, Anchor::Anywhere)?,
            Operator::NotContainsi => self.like(&column, "NOT ILIKE", value, Anchor::Anywhere)?,
            Operator::StartsWith => self.like(&column, "LIKE", value, Anchor::Start)?,
            Operator::StartsWithi => self.like(&column, "ILIKE", value, Anchor::Start)?,
            Operator::EndsWith => self.like(&column, "LIKE", value, Anchor::End)?,
            Operator::EndsWithi => self.like(&column, "ILIKE", value, Anchor::End)?,
            Operator::Null | Operator::NotNull => {
                let Value::Bool(flag) = value else {
                    return Err(mismatch(operator, value));
                };
                if *flag == (operator == Operator::Null) {
                    format!("{column} IS NULL")
                } else {
                    format!("{column} IS NOT NULL")
                }
            }
            Operator::Between => {
                let Value::List(bounds) = value else {
                    return Err(mismatch(operator, value));
                };
                let [low, high] = bounds.as_slice() else {
                    return Err(mismatch(operator, value));
                };
                let low = self.scalar(low)?;
                let high = self.scalar(high)?;
                format!("{column} BETWEEN {low} AND {high}")
            }
        };
        Ok(sql)
    }

    fn like(&mut self, column: &str, op: &str, value: &Value, anchor: Anchor) -> Result<String> {
        let Value::Text(text) = value else {
            return Err(Error::internal(format!("{op} takes text, not {value}")));
        };
        let pattern = self.bind(like_pattern(text, anchor), Type::TEXT);
        Ok(format!("{column} {op} {pattern}"))
    }

    fn scalar(&mut self, value: &Value) -> Result<String> {
        Ok(match value {
            Value::Bool(b) => self.bind(*b, Type::BOOL),
            Value::Integer(i) => self.bind(*i, Type::INT8),
            Value::Float(x) => self.bind(*x, Type::FLOAT8),
            Value::Text(text) => self.bind(text.clone(), Type::TEXT),
            Value::DateTime(at) => self.bind(*at, Type::TIMESTAMPTZ),
            Value::List(_) => {
                return Err(Error::internal("a list where one value belongs"));
            }
        })
    }

    /// A list as one array parameter of the field's type.
    fn array(&mut self, kind: FieldKind, value: &Value) -> Result<String> {
        let Value::List(items) = value else {
            return Err(Error::internal(format!("`{value}` is not a list")));
        };
        let wrong = || Error::internal(format!("`{value}` does not fit a {} field", kind.name()));
        Ok(match kind {
            FieldKind::String | FieldKind::Text | FieldKind::Uid | FieldKind::Enum(_) => {
                let texts = collect(items, |v| match v {
                    Value::Text(t) => Some(t.clone()),
                    _ => None,
                })
                .ok_or_else(wrong)?;
                self.bind(texts, Type::TEXT_ARRAY)
            }
            FieldKind::Integer => {
                let ints = collect(items, |v| match v {
                    Value::Integer(i) => Some(*i),
                    _ => None,
                })
                .ok_or_else(wrong)?;
                self.bind(ints, Type::INT8_ARRAY)
            }
            FieldKind::Float => {
                let floats = collect(items, |v| match v {
                    Value::Float(x) => Some(*x),
                    _ => None,
                })
                .ok_or_else(wrong)?;
                self.bind(floats, Type::FLOAT8_ARRAY)
            }
            FieldKind::Boolean => {
                let bools = collect(items, |v| match v {
                    Value::Bool(b) => Some(*b),
                    _ => None,
                })
                .ok_or_else(wrong)?;
                self.bind(bools, Type::BOOL_ARRAY)
            }
            FieldKind::DateTime => {
                let times: Vec<DateTime<Utc>> = collect(items, |v| match v {
                    Value::DateTime(at) => Some(*at),
                    _ => None,
                })
                .ok_or_else(wrong)?;
                self.bind(times, Type::TIMESTAMPTZ_ARRAY)
            }
            // The parser never lets a JSON field into a filter.
            FieldKind::Json => return Err(wrong()),
        })
    }
}

fn collect<T>(items: &[Value], pick: impl Fn(&Value) -> Option<T>) -> Option<Vec<T>> {
    items.iter().map(pick).collect()
}

fn table_of(relation: &Relation) -> Result<&'static Table> {
    table(relation.target)
}

fn mismatch(operator: Operator, value: &Value) -> Error {
    Error::internal(format!(
        "{} cannot take the value {value}",
        operator.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ARTICLES, AUTHORS, CATEGORIES, CONTENT_TYPES, FILES, TAGS};

    fn parse(content_type: &'static ContentType, raw: &str) -> Query {
        Query::parse(content_type, raw).expect("valid query")
    }

    fn types(statement: &Statement) -> Vec<Type> {
        statement.params.iter().map(|p| p.ty.clone()).collect()
    }

    /// The placeholders `$1..$n` each appear, and no others.
    fn assert_placeholders(statement: &Statement) {
        let count = statement.params.len();
        for n in 1..=count {
            assert!(
                statement.sql.contains(&format!("${n}")),
                "${n} in {}",
                statement.sql
            );
        }
        assert!(
            !statement.sql.contains(&format!("${}", count + 1)),
            "{}",
            statement.sql
        );
    }

    #[test]
    fn every_public_field_and_relation_is_mapped_and_no_private_field_is() {
        for ct in CONTENT_TYPES.into_iter().chain([&FILES]) {
            let table = table(ct).expect("table");
            for field in ct.public_fields() {
                // Computed in `select`, from columns that are mapped.
                if *ct == ARTICLES && field.name == SHARE_FIELD {
                    continue;
                }
                assert!(column(table, field).is_ok(), "{}.{}", ct.name, field.name);
            }
            for field in ct.fields.iter().filter(|f| f.private) {
                assert!(column(table, field).is_err(), "{}.{}", ct.name, field.name);
                assert!(table.columns.iter().all(|(name, _)| *name != field.name));
            }
            for relation in ct.relations {
                assert!(
                    link(table, relation).is_ok(),
                    "{}.{}",
                    ct.name,
                    relation.name
                );
            }
        }
    }

    #[test]
    fn values_are_parameters_never_sql() {
        let hostile = "'; DROP TABLE articles; --";
        let raw = format!(
            "filters[title][$containsi]={hostile}&filters[$or][0][slug][$eq]={hostile}\
             &filters[$or][1][category][name][$startsWithi]={hostile}\
             &filters[tags][slug][$in][0]={hostile}&filters[tags][slug][$in][1]=x\
             &_q={hostile}&locale=zh-CN"
        );
        let query = parse(&ARTICLES, &raw);
        for statement in [
            list_statement(&query).unwrap(),
            count_statement(&query).unwrap(),
        ] {
            assert!(!statement.sql.contains("DROP"), "{}", statement.sql);
            // The only literals are the separator of the gate's product keys and the
            // constant keys of `share`'s inputs.
            let unquoted = statement
                .sql
                .replace("'/'", "")
                .replace(&share_inputs("t0"), "");
            assert!(!unquoted.contains('\''), "{}", statement.sql);
            assert_placeholders(&statement);
        }
        let list = list_statement(&query).unwrap();
        // Members in name order: locale, $or (slug, category name), tags (one array),
        // title, the search text; the page's bounds are numbers in the text.
        assert_eq!(
            types(&list),
            [
                vec![Type::TEXT; 3],
                vec![Type::TEXT_ARRAY],
                vec![Type::TEXT; 2],
            ]
            .concat()
        );
        assert!(
            list.sql.contains("EXISTS (SELECT 1 FROM categories t"),
            "{}",
            list.sql
        );
        assert!(list.sql.contains("JOIN tags"), "{}", list.sql);
    }

    #[test]
    fn every_operator_renders_with_typed_parameters() {
        let cases: [(&str, &str, Vec<Type>); 21] = [
            ("title][$eq]=a", "t0.title = $", vec![Type::TEXT]),
            (
                "title][$eqi]=a",
                "lower(t0.title) = lower($",
                vec![Type::TEXT],
            ),
            ("title][$ne]=a", "t0.title <> $", vec![Type::TEXT]),
            (
                "title][$nei]=a",
                "lower(t0.title) <> lower($",
                vec![Type::TEXT],
            ),
            (
                "readingMinutes][$lt]=3",
                "t0.reading_minutes < $",
                vec![Type::INT8],
            ),
            (
                "readingMinutes][$lte]=3",
                "t0.reading_minutes <= $",
                vec![Type::INT8],
            ),
            (
                "publishedAt][$gt]=2025-01-01",
                "t0.published_at > $",
                vec![Type::TIMESTAMPTZ],
            ),
            (
                "publishedAt][$gte]=2025-01-01",
                "t0.published_at >= $",
                vec![Type::TIMESTAMPTZ],
            ),
            ("id][$in][0]=1", "t0.id = ANY($", vec![Type::INT8_ARRAY]),
            (
                "visibility][$notIn][0]=paid",
                "NOT (t0.visibility = ANY($",
                vec![Type::TEXT_ARRAY],
            ),
            ("title][$contains]=a", "t0.title LIKE $", vec![Type::TEXT]),
            (
                "title][$notContains]=a",
                "t0.title NOT LIKE $",
                vec![Type::TEXT],
            ),
            ("title][$containsi]=a", "t0.title ILIKE $", vec![Type::TEXT]),
            (
                "title][$notContainsi]=a",
                "t0.title NOT ILIKE $",
                vec![Type::TEXT],
            ),
            ("excerpt][$null]=true", "t0.excerpt IS NULL", vec![]),
            ("excerpt][$notNull]=true", "t0.excerpt IS NOT NULL", vec![]),
            (
                "readingMinutes][$between][0]=1&filters[readingMinutes][$between][1]=5",
                "t0.reading_minutes BETWEEN $",
                vec![Type::INT8, Type::INT8],
            ),
            ("slug][$startsWith]=a", "t0.slug LIKE $", vec![Type::TEXT]),
            ("slug][$startsWithi]=a", "t0.slug ILIKE $", vec![Type::TEXT]),
            ("slug][$endsWith]=a", "t0.slug LIKE $", vec![Type::TEXT]),
            ("slug][$endsWithi]=a", "t0.slug ILIKE $", vec![Type::TEXT]),
        ];
        for (filter, expected, filter_types) in cases {
            let statement =
                count_statement(&parse(&ARTICLES, &format!("filters[{filter}"))).unwrap();
            assert!(
                statement.sql.contains(expected),
                "{filter}: {}",
                statement.sql
            );
            assert_eq!(types(&statement), filter_types, "{filter}");
            assert_placeholders(&statement);
        }
    }

    #[test]
    fn a_published_search_reads_the_search_rows_alone_and_ranks_titles_first() {
        let query = parse(&ARTICLES, "_q=提示词&locale=zh-CN&pagination[page]=2");
        let count = count_statement(&query).unwrap();
        assert_eq!(
            count.sql,
            "SELECT count(*) FROM article_search s WHERE s.document @@ (SELECT $1::tsquery) \
             AND s.published_at <= now() AND s.locale = $2"
        );
        assert_eq!(types(&count), [Type::TEXT, Type::TEXT]);
        let list = list_statement(&query).unwrap();
        let newest_first = "ORDER BY s.published_at DESC, s.article_id DESC";
        let window = format!("{newest_first} LIMIT 50)");
        let published = "s.published_at <= now() AND s.locale = $2";
        assert!(
            list.sql.contains(&format!(
                "unnest(ARRAY(WITH probe AS MATERIALIZED (SELECT s.article_id, s.published_at FROM \
                 (SELECT s.article_id, s.published_at, s.title FROM article_search s \
                 WHERE {published} {newest_first} LIMIT 800) s \
                 WHERE s.title @@ (SELECT $1::tsquery) LIMIT 50) \
                 (SELECT s.article_id FROM probe s WHERE (SELECT count(*) FROM probe) = 50 {newest_first}) \
                 UNION ALL \
                 (SELECT s.article_id FROM article_search s WHERE s.title @@ (SELECT $1::tsquery) \
                 AND {published} AND (SELECT count(*) FROM probe) < 50 {window} UNION ALL \
                 (SELECT s.article_id FROM article_search s WHERE s.document @@ (SELECT $1::tsquery) \
                 AND NOT (s.article_id IN (SELECT h.article_id FROM article_search h \
                 WHERE h.title @@ (SELECT $1::tsquery))) AND s.published_at <= now() AND s.locale = $2 \
                 {window} LIMIT 25 OFFSET 25)) WITH ORDINALITY"
            )),
            "{}",
            list.sql
        );
        assert!(list.sql.ends_with("ORDER BY r.n"), "{}", list.sql);
        assert_eq!(types(&list), [Type::TEXT, Type::TEXT]);
        assert_placeholders(&list);
        // Deep pages go to the title index at once.
        let deep = list_statement(&parse(&ARTICLES, "_q=提示词&pagination[page]=5")).unwrap();
        assert!(!deep.sql.contains("probe"), "{}", deep.sql);
        assert!(
            deep.sql.contains(
                "unnest(ARRAY((SELECT s.article_id FROM article_search s WHERE s.title @@ \
                 (SELECT $1::tsquery) AND s.published_at <= now() \
                 ORDER BY s.published_at DESC, s.article_id DESC LIMIT 125) UNION ALL"
            ),
            "{}",
            deep.sql
        );
    }

    #[test]
    fn a_search_with_filters_sort_or_drafts_narrows_articles_by_the_index() {
        let filtered =
            list_statement(&parse(&ARTICLES, "_q=ai&filters[featured][$eq]=true")).unwrap();
        assert!(
            filtered.sql.contains(
                "t0.id IN (SELECT s.article_id FROM article_search s WHERE s.document @@ (SELECT $2::tsquery))"
            ),
            "{}",
            filtered.sql
        );
        // Still relevance first, the title subquery reusing the one parameter.
        assert!(
            filtered.sql.contains(
                "ORDER BY (t0.id IN (SELECT h.article_id FROM article_search h WHERE h.title @@ (SELECT $2::tsquery))) DESC, t0.published_at DESC"
            ),
            "{}",
            filtered.sql
        );
        assert_placeholders(&filtered);
        // An explicit sort is the client's order, not relevance.
        let sorted = list_statement(&parse(&ARTICLES, "_q=ai&sort=title:asc")).unwrap();
        assert!(!sorted.sql.contains("h.title @@"), "{}", sorted.sql);
        assert!(sorted.sql.contains("s.document @@"), "{}", sorted.sql);
        // Other types have no index; their few rows are matched as text.
        let authors = count_statement(&parse(&AUTHORS, "_q=ai")).unwrap();
        assert!(authors.sql.contains(") ILIKE $1"), "{}", authors.sql);
    }

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(
            like_pattern("50%_a\\b", Anchor::Anywhere),
            "%50\\%\\_a\\\\b%"
        );
        assert_eq!(like_pattern("变现", Anchor::Start), "变现%");
        assert_eq!(like_pattern("x", Anchor::End), "%x");
    }

    #[test]
    fn status_locale_and_paging_shape_the_list() {
        let published = list_statement(&parse(
            &ARTICLES,
            "pagination[page]=3&pagination[pageSize]=10",
        ))
        .unwrap();
        assert!(
            published
                .sql
                .contains("t0.published_at <= now() AND t0.deleted_at IS NULL")
        );
        assert!(
            published.sql.ends_with(
                "ORDER BY t0.published_at DESC, t0.id DESC LIMIT 10 OFFSET 20)) \
                 ORDER BY t0.published_at DESC, t0.id DESC"
            ),
            "{}",
            published.sql
        );
        assert!(published.params.is_empty());
        let draft = count_statement(&parse(&ARTICLES, "status=draft")).unwrap();
        assert!(
            draft
                .sql
                .contains("t0.published_at IS NULL AND t0.deleted_at IS NULL")
        );
        assert!(!draft.sql.contains("LIMIT"));
        // Types without publication ignore status and locale.
        let tags = list_statement(&parse(&TAGS, "locale=en&sort=name:desc")).unwrap();
        assert!(
            tags.sql
                .contains("WHERE TRUE ORDER BY t0.name DESC, t0.id DESC"),
            "{}",
            tags.sql
        );
        assert!(tags.params.is_empty());
    }

    #[test]
    fn fields_are_selected_under_their_api_names() {
        let statement = list_statement(&parse(&ARTICLES, "fields=title,readingMinutes")).unwrap();
        assert!(
            statement.sql.starts_with(
                "SELECT t0.id AS \"id\", t0.document_id AS \"documentId\", t0.title AS \"title\", \
             t0.reading_minutes AS \"readingMinutes\" FROM articles t0"
            ),
            "{}",
            statement.sql
        );
    }

    #[test]
    fn two_hop_relation_filters_nest_exists_and_see_only_visible_articles() {
        let statement =
            count_statement(&parse(&CATEGORIES, "filters[articles][tags][slug][$eq]=ai")).unwrap();
        assert!(statement.sql.contains("EXISTS (SELECT 1 FROM articles t1 WHERE t1.category_id = t0.id AND t1.published_at IS NOT NULL"), "{}", statement.sql);
        assert!(statement.sql.contains("EXISTS (SELECT 1 FROM article_tags j2 JOIN tags t2 ON t2.id = j2.tag_id WHERE j2.article_id = t1.id AND t2.slug = $1)"), "{}", statement.sql);
    }

    #[test]
    fn populate_is_one_statement_per_relation_for_all_parents() {
        let query = parse(
            &ARTICLES,
            "populate[author][fields][0]=name&populate[tags][sort]=name&populate[category]=true",
        );
        let sqls: Vec<Statement> = query
            .populate
            .iter()
            .map(|p| populate_statement(&ARTICLES, p, &[1, 2, 3], query.status).unwrap())
            .collect();
        assert_eq!(
            sqls[0].sql,
            "SELECT t.id AS __parent, t.id AS \"id\", t.document_id AS \"documentId\", t.name AS \"name\" FROM authors t WHERE t.id = ANY($1) ORDER BY 1, t.id LIMIT 501"
        );
        assert!(sqls[2].sql.contains("FROM article_tags j JOIN tags t ON t.id = j.tag_id WHERE j.article_id = ANY($1) ORDER BY 1, t.name ASC, t.id"), "{}", sqls[2].sql);
        for statement in &sqls {
            assert_eq!(types(statement), [Type::INT8_ARRAY]);
            assert!(
                statement
                    .sql
                    .ends_with(&format!("LIMIT {}", MAX_POPULATED_ROWS + 1)),
                "{}",
                statement.sql
            );
        }
        let back = parse(
            &AUTHORS,
            "populate[articles][count]=true&populate[articles][filters][title][$containsi]=x",
        );
        let count = populate_statement(&AUTHORS, &back.populate[0], &[7], back.status).unwrap();
        assert!(count.sql.starts_with("SELECT t.author_id AS __parent, count(*) AS count FROM articles t WHERE t.author_id = ANY($1) AND t.published_at IS NOT NULL"), "{}", count.sql);
        assert!(
            count
                .sql
                .ends_with("AND t.title ILIKE $2 GROUP BY 1 ORDER BY 1"),
            "{}",
            count.sql
        );
        assert_eq!(types(&count), [Type::INT8_ARRAY, Type::TEXT]);
    }

    #[test]
    fn the_unfiltered_published_list_reads_its_total() {
        let front = count_statement(&parse(&ARTICLES, "pagination[page]=7")).unwrap();
        assert_eq!(
            front.sql,
            "SELECT coalesce((SELECT sum(published) FROM article_totals), 0)::int8 \
             - (SELECT count(*) FROM articles WHERE published_at > now() AND deleted_at IS NULL)"
        );
        let english = count_statement(&parse(&ARTICLES, "locale=en")).unwrap();
        assert_eq!(
            english.sql,
            "SELECT coalesce((SELECT sum(published) FROM article_totals WHERE locale = $1), 0)::int8 \
             - (SELECT count(*) FROM articles WHERE published_at > now() AND deleted_at IS NULL AND locale = $1)"
        );
        assert_eq!(types(&english), [Type::TEXT]);
        for counted in [
            "filters[featured][$eq]=true",
            "_q=x&status=draft",
            "status=draft",
        ] {
            let statement = count_statement(&parse(&ARTICLES, counted)).unwrap();
            assert!(
                statement
                    .sql
                    .starts_with("SELECT count(*) FROM articles t0"),
                "{counted}: {}",
                statement.sql
            );
        }
    }

    #[test]
    fn to_one_populates_ride_on_hidden_foreign_keys() {
        let query = parse(
            &ARTICLES,
            "fields[0]=title&populate[author]=true&populate[tags]=true",
        );
        let list = list_statement(&query).unwrap();
        assert!(
            list.sql
                .contains("t0.title AS \"title\", t0.author_id AS \"__fk_author\" FROM"),
            "{}",
            list.sql
        );
        assert!(!list.sql.contains("__fk_tags"), "{}", list.sql);
        assert_eq!(
            foreign_key_column(&ARTICLES, &query.populate[0]).unwrap(),
            Some("__fk_author".to_owned())
        );
        assert_eq!(
            foreign_key_column(&ARTICLES, &query.populate[1]).unwrap(),
            None
        );
    }
}
