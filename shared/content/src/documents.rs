//! Reading documents: a [`Query`] runs as the statements of [`sql`], and the rows
//! become Strapi v5 entries (`{"id", "documentId", ...fields, relation: ...}`).
//!
//! Populated relations load one statement per relation and level for all parents at
//! once, then attach under each entry: a to-one relation as an object or `null`, a
//! to-many relation as an array, a `count` populate as `{"count": n}`. Article bodies
//! are gated ([`gate`]) at every level they appear, before the entries leave here.

use std::{collections::HashMap, future::Future, pin::Pin};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use tokio_postgres::{Row, types::Type};

use super::{
    gate::{self, Reader},
    highlight,
    query::{
        Condition, Filter, Operator, PageMode, Pagination, Populate, Query, Status,
        Value as FilterValue,
    },
    schema::{ARTICLES, ContentType},
    sql,
    syndication::share,
};
use platform::{
    db::{Client, Statements},
    error::{Error, Result},
};

pub use super::schema::Entry;

/// A page of a collection, and the number of matching documents when counted.
#[derive(Debug)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub total: Option<i64>,
}

/// The entry's numeric id.
pub fn entry_id(entry: &Entry) -> Option<i64> {
    entry.get("id").and_then(Value::as_i64)
}

/// Strapi's `meta.pagination`: page mode `{page, pageSize, pageCount, total}`, offset
/// mode `{start, limit, total}`; without a count, the total (and page count) is left out.
pub fn pagination_meta(pagination: Pagination, total: Option<i64>) -> Value {
    let mut meta = match pagination.mode {
        PageMode::Page { page, page_size } => json!({ "page": page, "pageSize": page_size }),
        PageMode::Offset { start, limit } => json!({ "start": start, "limit": limit }),
    };
    if let (Some(total), Value::Object(fields)) = (total, &mut meta) {
        if let PageMode::Page { page_size, .. } = pagination.mode {
            let page_count = (total + i64::from(page_size) - 1) / i64::from(page_size);
            fields.insert("pageCount".into(), json!(page_count));
        }
        fields.insert("total".into(), json!(total));
    }
    meta
}

/// Where reads run: a connection and how it sends statements; and the site, which
/// articles' `share` links to.
#[derive(Clone, Copy)]
pub struct Db<'a> {
    pub client: &'a Client,
    pub statements: Statements,
    pub site: share::Site<'a>,
}

impl Db<'_> {
    async fn query(&self, statement: &sql::Statement) -> Result<Vec<Row>> {
        self.statements
            .query(self.client, &statement.sql, &statement.params_ref())
            .await
    }
}

/// The page `query` describes, counted unless `pagination[withCount]=false`. The list
/// and the count run pipelined on one connection.
pub async fn find_many(db: Db<'_>, query: &Query, reader: &Reader) -> Result<Page> {
    let list = sql::list_statement(query)?;
    let rows = db.query(&list);
    let (rows, total) = if query.pagination.with_count {
        let count = sql::count_statement(query)?;
        let counted = db.query(&count);
        let (rows, counted) = futures_util::try_join!(rows, counted)?;
        let total = match counted.first() {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        (rows, Some(total))
    } else {
        (rows.await?, None)
    };
    let mut entries = rows
        .iter()
        .map(|row| entry(row, 0))
        .collect::<Result<Vec<_>>>()?;
    complete(db, query, reader, &mut entries).await?;
    if *query.content_type == ARTICLES
        && let Some(search) = &query.search
    {
        highlight::annotate(&mut entries, search);
    }
    Ok(Page { entries, total })
}

/// The document with this `documentId`, with what `query` (from
/// [`Query::parse_document`]) selects and populates; `None` when no document of that
/// id is visible under the query's status and locale.
pub async fn find_one(
    db: Db<'_>,
    query: &Query,
    document_id: &str,
    reader: &Reader,
) -> Result<Option<Entry>> {
    let field = query
        .content_type
        .public_field("documentId")
        .ok_or_else(|| Error::internal("every content type has a documentId"))?;
    let mut one = query.clone();
    one.filters = Some(Filter::Condition(Condition {
        relations: Vec::new(),
        field,
        operator: Operator::Eq,
        value: FilterValue::Text(document_id.to_owned()),
    }));
    one.pagination = Pagination {
        mode: PageMode::Page {
            page: 1,
            page_size: 1,
        },
        with_count: false,
    };
    let list = sql::list_statement(&one)?;
    let rows = db.query(&list).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let mut entries = vec![entry(row, 0)?];
    complete(db, &one, reader, &mut entries).await?;
    Ok(entries.pop())
}

/// Gates top-level articles and attaches populated relations.
fn complete<'a>(
    db: Db<'a>,
    query: &'a Query,
    reader: &'a Reader,
    entries: &'a mut [Entry],
) -> Loading<'a> {
    complete_level(
        db,
        query.content_type,
        &query.populate,
        entries,
        query.status,
        reader,
    )
}

type Loading<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Completes one level of entries of `content_type`: gates them if they are articles
/// and attaches `populates` (whose own levels complete the same way, a recursion
/// bounded by the parser's `MAX_RELATION_DEPTH`). One statement per populated
/// relation, all issued before any answer is awaited, so tokio-postgres pipelines
/// them on the connection: a level costs one round trip.
fn complete_level<'a>(
    db: Db<'a>,
    content_type: &'static ContentType,
    populates: &'a [Populate],
    entries: &'a mut [Entry],
    status: Status,
    reader: &'a Reader,
) -> Loading<'a> {
    Box::pin(async move {
        let mut ids: Vec<i64> = entries.iter().filter_map(entry_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let keyed = populates
            .iter()
            .map(|populate| sql::foreign_key_column(content_type, populate))
            .collect::<Result<Vec<_>>>()?;
        let keys: Vec<Vec<i64>> = keyed
            .iter()
            .map(|column| match column {
                Some(column) => {
                    let mut keys: Vec<i64> = entries
                        .iter()
                        .filter_map(|entry| entry.get(column).and_then(Value::as_i64))
                        .collect();
                    keys.sort_unstable();
                    keys.dedup();
                    keys
                }
                None => ids.clone(),
            })
            .collect();
        let related = futures_util::future::try_join_all(populates.iter().zip(&keys).map(
            |(populate, keys)| async move {
                if keys.is_empty() {
                    Ok(Related::Rows(HashMap::new()))
                } else {
                    load(db, content_type, populate, keys, status, reader).await
                }
            },
        ))
        .await?;
        if *content_type == ARTICLES {
            gate::apply(reader, entries);
            share::finish(entries, db.site);
        }
        for ((populate, related), column) in populates.iter().zip(related).zip(&keyed) {
            attach(entries, populate, &related, column.as_deref());
        }
        Ok(())
    })
}

/// Puts one populated relation under each entry: to-one as an object or `null`,
/// to-many as an array, a count as `{"count": n}`. Entries find theirs by id, or by
/// the hidden foreign key `column` (which leaves the entry here).
fn attach(entries: &mut [Entry], populate: &Populate, related: &Related, column: Option<&str>) {
    for entry in entries.iter_mut() {
        let id = match column {
            Some(column) => entry.remove(column).and_then(|key| key.as_i64()),
            None => entry_id(entry),
        };
        let value = match related {
            Related::Counts(counts) => {
                json!({ "count": id.and_then(|id| counts.get(&id)).copied().unwrap_or(0) })
            }
            Related::Rows(rows) => {
                let children = id.and_then(|id| rows.get(&id));
                if populate.relation.cardinality.is_to_many() {
                    Value::Array(
                        children
                            .into_iter()
                            .flatten()
                            .cloned()
                            .map(Value::Object)
                            .collect(),
                    )
                } else {
                    children
                        .and_then(|c| c.first())
                        .cloned()
                        .map_or(Value::Null, Value::Object)
                }
            }
        };
        entry.insert(populate.relation.name.into(), value);
    }
}

/// One populate level's result, by parent id.
enum Related {
    Counts(HashMap<i64, i64>),
    Rows(HashMap<i64, Vec<Entry>>),
}

async fn load(
    db: Db<'_>,
    parent: &'static ContentType,
    wanted: &Populate,
    ids: &[i64],
    status: Status,
    reader: &Reader,
) -> Result<Related> {
    let statement = sql::populate_statement(parent, wanted, ids, status)?;
    let rows = db.query(&statement).await?;
    if wanted.count {
        let mut counts = HashMap::with_capacity(rows.len());
        for row in &rows {
            counts.insert(row.try_get(0)?, row.try_get(1)?);
        }
        return Ok(Related::Counts(counts));
    }
    if rows.len() as i64 > sql::MAX_POPULATED_ROWS {
        return Err(Error::invalid(
            "populate",
            format!(
                "populate `{}` matches more than {} entries; narrow it with filters, \
                 fewer parents (pagination) or `count`",
                wanted.relation.name,
                sql::MAX_POPULATED_ROWS
            ),
        ));
    }
    let mut parents = Vec::with_capacity(rows.len());
    let mut children = Vec::with_capacity(rows.len());
    for row in &rows {
        parents.push(row.try_get::<_, i64>(0)?);
        children.push(entry(row, 1)?);
    }
    complete_level(
        db,
        wanted.relation.target,
        &wanted.populate,
        &mut children,
        status,
        reader,
    )
    .await?;
    let mut grouped: HashMap<i64, Vec<Entry>> = HashMap::new();
    for (parent, child) in parents.into_iter().zip(children) {
        grouped.entry(parent).or_default().push(child);
    }
    Ok(Related::Rows(grouped))
}

/// A row as an entry, from column `skip` on; columns are named by API name.
fn entry(row: &Row, skip: usize) -> Result<Entry> {
    let mut entry = Map::with_capacity(row.len().saturating_sub(skip) + 1);
    for (i, column) in row.columns().iter().enumerate().skip(skip) {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            Value::from(row.try_get::<_, Option<i64>>(i)?)
        } else if *ty == Type::INT4 {
            Value::from(row.try_get::<_, Option<i32>>(i)?)
        } else if *ty == Type::FLOAT8 {
            Value::from(row.try_get::<_, Option<f64>>(i)?)
        } else if *ty == Type::BOOL {
            Value::from(row.try_get::<_, Option<bool>>(i)?)
        } else if *ty == Type::TEXT || *ty == Type::VARCHAR {
            Value::from(row.try_get::<_, Option<String>>(i)?)
        } else if *ty == Type::TEXT_ARRAY {
            Value::from(row.try_get::<_, Option<Vec<String>>>(i)?)
        } else if *ty == Type::JSONB {
            row.try_get::<_, Option<Value>>(i)?.unwrap_or(Value::Null)
        } else if *ty == Type::TIMESTAMPTZ {
            // Strapi's spelling: milliseconds, `Z`.
            Value::from(
                row.try_get::<_, Option<DateTime<Utc>>>(i)?
                    .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            )
        } else {
            return Err(Error::internal(format!(
                "column `{}` has the unexpected type {ty}",
                column.name()
            )));
        };
        entry.insert(column.name().to_owned(), value);
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_meta_follows_strapi() {
        let page = Pagination {
            mode: PageMode::Page {
                page: 2,
                page_size: 10,
            },
            with_count: true,
        };
        assert_eq!(
            pagination_meta(page, Some(21)),
            json!({ "page": 2, "pageSize": 10, "pageCount": 3, "total": 21 })
        );
        assert_eq!(
            pagination_meta(page, Some(0)),
            json!({ "page": 2, "pageSize": 10, "pageCount": 0, "total": 0 })
        );
        assert_eq!(
            pagination_meta(page, None),
            json!({ "page": 2, "pageSize": 10 })
        );
        let offset = Pagination {
            mode: PageMode::Offset { start: 5, limit: 5 },
            with_count: true,
        };
        assert_eq!(
            pagination_meta(offset, Some(7)),
            json!({ "start": 5, "limit": 5, "total": 7 })
        );
    }
}
