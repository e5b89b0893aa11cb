//! Subscribers in and out as CSV (listmonk's format): an import reads `email` and,
//! optionally, `name` and `attributes` (a JSON object); any other column becomes a
//! text attribute of that name, so a spreadsheet's columns arrive as they are. Rows
//! are checked one by one: a bad row is reported with its line and the rest are
//! imported, in batches of one statement each. A large file goes in parts, each a
//! request of its own with the header row (the client's progress is the parts
//! done), `rows_before` keeping the reported lines the whole file's. The export is the same columns plus
//! status and lists, as RFC 4180 CSV with formula-looking cells defused.

use std::collections::HashMap;

use identity::email::Email;
use platform::{
    audit,
    csv::push_row,
    error::{Error, Result},
};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio_postgres::types::Type;

use crate::subscribers::{self, Filter};

/// Rows written per statement.
const BATCH: usize = 1_000;
/// Row errors listed in a report; the rest are only counted.
const MAX_REPORTED_ERRORS: usize = 100;
/// The most subscribers one export holds.
pub const MAX_EXPORT_ROWS: i64 = 50_000;

/// What an import is told besides its rows.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Lists every imported subscriber is put on (ids).
    pub lists: Vec<i64>,
    /// Replace the name and merge the attributes of subscribers that exist already.
    pub overwrite: bool,
    /// Confirmed at once on double opt-in lists (the staff vouch for the consent).
    pub preconfirm: bool,
    /// Data rows of the same file sent before this part: a large file is sent in
    /// parts (each with the header row), the client showing progress as parts
    /// finish, and the lines reported stay the whole file's.
    pub rows_before: u64,
}

/// A row that was not imported.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RowError {
    /// The line of the file, counting the header as line 1.
    pub line: u64,
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u64,
    pub created: u64,
    /// Rows whose address was a subscriber already.
    pub existing: u64,
    pub failed: u64,
    /// The first 100 rows that failed, and why.
    pub errors: Vec<RowError>,
}

impl ImportReport {
    fn fail(&mut self, line: u64, message: impl Into<String>) {
        self.failed += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(RowError {
                line,
                message: message.into(),
            });
        }
    }
}

struct Row {
    email: String,
    name: String,
    attributes: Value,
}

/// Where each known column is.
struct Columns {
    email: usize,
    name: Option<usize>,
    attributes: Option<usize>,
    /// Other columns: text attributes.
    extra: Vec<(usize, String)>,
}

fn columns(header: &csv::StringRecord) -> Result<Columns> {
    let mut email = None;
    let mut name = None;
    let mut attributes = None;
    let mut extra = Vec::new();
    for (i, column) in header.iter().enumerate() {
        match column
            .trim()
            .trim_start_matches('\u{feff}')
            .to_lowercase()
            .as_str()
        {
            "email" => email = Some(i),
            "name" => name = Some(i),
            "attributes" => attributes = Some(i),
            "" => {}
            other if other.chars().count() <= 64 => extra.push((i, other.to_owned())),
            _ => {
                return Err(Error::invalid(
                    "csv",
                    "a column name is longer than 64 characters",
                ));
            }
        }
    }
    Ok(Columns {
        email: email.ok_or_else(|| Error::invalid("csv", "the header has no `email` column"))?,
        name,
        attributes,
        extra,
    })
}

fn row(record: &csv::StringRecord, columns: &Columns) -> std::result::Result<Row, String> {
    let field = |i: usize| record.get(i).unwrap_or("").trim();
    let email = Email::parse(field(columns.email))
        .map_err(|_| format!("`{}` is not an email address", field(columns.email)))?;
    let name = columns.name.map(field).unwrap_or("");
    if name.chars().count() > 200 {
        return Err("the name is longer than 200 characters".into());
    }
    let mut attributes = match columns.attributes.map(field).filter(|a| !a.is_empty()) {
        None => Map::new(),
        Some(raw) => match serde_json::from_str(raw) {
            Ok(Value::Object(map)) => map,
            _ => return Err("`attributes` is not a JSON object".into()),
        },
    };
    for (i, key) in &columns.extra {
        let value = field(*i);
        if !value.is_empty() {
            attributes.insert(key.clone(), Value::String(value.to_owned()));
        }
    }
    let attributes = Value::Object(attributes);
    subscribers::attributes_fit(&attributes)?;
    Ok(Row {
        email: email.as_str().to_owned(),
        name: name.to_owned(),
        attributes,
    })
}

/// Imports `csv` (UTF-8, a header row first) in `tx`.
pub async fn import(
    tx: &impl platform::db::Transactional,
    actor: &str,
    csv: &[u8],
    options: &ImportOptions,
) -> Result<ImportReport> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(csv);
    let header = reader
        .headers()
        .map_err(|e| Error::invalid("csv", format!("the header row is unreadable: {e}")))?
        .clone();
    let columns = columns(&header)?;
    let mut report = ImportReport::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut batch = Vec::with_capacity(BATCH);
    for (index, record) in reader.records().enumerate() {
        let line = options.rows_before + index as u64 + 2;
        report.rows += 1;
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                report.fail(line, format!("unreadable: {e}"));
                continue;
            }
        };
        match row(&record, &columns) {
            Err(message) => report.fail(line, message),
            Ok(row) => match seen.get(&row.email) {
                Some(first) => report.fail(line, format!("the same address as line {first}")),
                None => {
                    seen.insert(row.email.clone(), line);
                    batch.push(row);
                    if batch.len() == BATCH {
                        write(tx, &mut report, &batch, options).await?;
                        batch.clear();
                    }
                }
            },
        }
    }
    write(tx, &mut report, &batch, options).await?;
    audit::record(
        tx,
        actor,
        "subscribers.import",
        "subscribers",
        json!({ "rows": report.rows, "created": report.created, "failed": report.failed }),
    )
    .await?;
    Ok(report)
}

/// Writes one batch of distinct addresses: subscribers created or (with
/// `overwrite`) updated, and put on the options' lists.
async fn write(
    tx: &impl platform::db::Transactional,
    report: &mut ImportReport,
    batch: &[Row],
    options: &ImportOptions,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let emails: Vec<&str> = batch.iter().map(|r| r.email.as_str()).collect();
    let names: Vec<&str> = batch.iter().map(|r| r.name.as_str()).collect();
    let attributes: Vec<&Value> = batch.iter().map(|r| &r.attributes).collect();
    let counts = tx
        .query_typed(
            "WITH input AS (
                 SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS t(email, name, attributes)),
             upserted AS (
                 INSERT INTO subscribers (email, name, attributes, member_id)
                 SELECT i.email, i.name, i.attributes,
                        (SELECT m.id FROM members m WHERE m.email = i.email AND m.deleted_at IS NULL)
                 FROM input i
                 ON CONFLICT (email) DO UPDATE SET
                     name = CASE WHEN $4 THEN EXCLUDED.name ELSE subscribers.name END,
                     attributes = CASE WHEN $4 THEN subscribers.attributes || EXCLUDED.attributes
                                       ELSE subscribers.attributes END
                 RETURNING id, xmax = 0 AS created),
             subscribed AS (
                 INSERT INTO list_subscriptions (list_id, subscriber_id, status)
                 SELECT l.id, u.id,
                        CASE WHEN $6 OR l.optin = 'single' THEN 'confirmed' ELSE 'unconfirmed' END
                 FROM upserted u CROSS JOIN mailing_lists l WHERE l.id = ANY($5)
                 ON CONFLICT (list_id, subscriber_id) DO NOTHING)
             SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM upserted",
            &[
                (&emails, Type::TEXT_ARRAY),
                (&names, Type::TEXT_ARRAY),
                (&attributes, Type::JSONB_ARRAY),
                (&options.overwrite, Type::BOOL),
                (&options.lists, Type::INT8_ARRAY),
                (&options.preconfirm, Type::BOOL),
            ],
        )
        .await?;
    if let Some(row) = counts.first() {
        report.created += row.get::<_, i64>(0) as u64;
        report.existing += row.get::<_, i64>(1) as u64;
    }
    Ok(())
}

const EXPORT_HEADER: [&str; 6] = [
    "email",
    "name",
    "status",
    "attributes",
    "lists",
    "created_at",
];

/// The subscribers `filter` selects, newest first, as CSV; more than
/// [`MAX_EXPORT_ROWS`] is a 400.
pub async fn export(client: &impl platform::db::GenericClient, filter: &Filter) -> Result<String> {
    let (subscribers, total) = subscribers::page(client, filter, 1, MAX_EXPORT_ROWS).await?;
    if total > MAX_EXPORT_ROWS {
        return Err(Error::invalid(
            "list",
            format!("more than {MAX_EXPORT_ROWS} subscribers: narrow the list or status"),
        ));
    }
    let mut csv = String::with_capacity(64 + subscribers.len() * 120);
    push_row(&mut csv, &EXPORT_HEADER);
    for s in &subscribers {
        let lists: Vec<String> = s
            .lists
            .iter()
            .map(|m| format!("{}:{}", m.name, m.status.as_str()))
            .collect();
        push_row(
            &mut csv,
            &[
                s.email.as_str(),
                s.name.as_str(),
                s.status.as_str(),
                &Value::Object(s.attributes.clone()).to_string(),
                &lists.join("|"),
                &s.created_at.to_rfc3339(),
            ],
        );
    }
    Ok(csv)
}
