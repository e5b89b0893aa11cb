//! Members for staff: the list with search, one member's account (profile, linked
//! identities, entitlements, how many orders), their live sessions and signing them
//! out everywhere, and the CSV export. `members.read` reads (admins and the tokens
//! given it; never authors, editors or finance), `members.write` signs out. What
//! leaves is what `identity::members::Member` serializes: no password hash, and
//! sessions without their token or its hash. The export and the sign-out are
//! audited.

use std::sync::Arc;

use http::StatusCode;
use identity::{
    access::MemberAccess,
    entitlements::{self, Entitlement},
    identities::{self, Identity},
    members::{self, MAX_PAGE_SIZE},
    route::{Call, Schema, SchemaGenerator},
    session::LiveSession,
};
use lambda_http::{Body, Response};
use platform::{
    Error, Result, audit,
    http::{data, json, page_param, path_param, text_param},
};
use schemars::{JsonSchema, json_schema};
use serde::Serialize;
use serde_json::json;

use crate::{Admin, Answer};

pub use identity::members::Member;

/// The longest search text.
const MAX_QUERY: usize = 200;
const DEFAULT_PAGE_SIZE: i64 = 25;

/// One member's account as support reads it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(flatten)]
    pub member: Member,
    /// WeChat identities they sign in with.
    pub identities: Vec<Identity>,
    pub entitlements: Vec<Entitlement>,
    /// Orders of any status.
    pub orders: i64,
}

/// `q` (email or display name contains it), `page`, `pageSize`.
pub fn list_query(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "q": { "type": "string", "maxLength": MAX_QUERY, "description": "part of an email or display name, any case" },
            "page": { "type": "integer", "minimum": 1 },
            "pageSize": { "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE },
        },
    })
}

/// `q`, as the list takes it.
pub fn export_query(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "q": { "type": "string", "maxLength": MAX_QUERY, "description": "part of an email or display name, any case" },
        },
    })
}

pub fn csv_text(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "description": "RFC 4180 CSV with a header row" })
}

pub fn revoked(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["revoked"],
        "properties": { "revoked": { "type": "integer", "description": "sessions ended" } },
    })
}

fn search(call: &Call) -> Result<Option<String>> {
    text_param(&call.req, "q", MAX_QUERY)
}

async fn member(client: &impl platform::db::GenericClient, call: &Call) -> Result<Member> {
    members::by_document_id(client, path_param(&call.req, "documentId")?)
        .await?
        .ok_or_else(|| Error::NotFound("no such member".into()))
}

/// `GET /admin/members`: `{data, meta: {pagination}}`, newest first.
pub async fn list(app: Arc<Admin>, call: Call) -> Answer {
    let q = search(&call)?;
    let page = page_param(&call.req, "page", 1, i64::from(i32::MAX))?;
    let page_size = page_param(&call.req, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let client = app.platform.db.client().await?;
    let (members, total) = members::page(&**client, q.as_deref(), page, page_size).await?;
    let mut response = json(
        StatusCode::OK,
        &json!({
            "data": members,
            "meta": { "pagination": {
                "page": page,
                "pageSize": page_size,
                "pageCount": (total + page_size - 1) / page_size,
                "total": total,
            }},
        }),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// `GET /admin/members/{documentId}`.
pub async fn show(app: Arc<Admin>, call: Call) -> Answer {
    let client = app.platform.db.client().await?;
    let client = &**client;
    let member = member(client, &call).await?;
    let account = Account {
        identities: identities::of_member(client, member.id).await?,
        entitlements: entitlements::list(client, member.id).await?,
        orders: commerce::orders::count_of_member(client, member.id).await?,
        member,
    };
    Ok(data(StatusCode::OK, account))
}

/// `GET /admin/members/{documentId}/sessions`: the live ones, newest first.
pub async fn sessions(app: Arc<Admin>, call: Call) -> Answer {
    let member = member(&**app.platform.db.client().await?, &call).await?;
    let sessions: Vec<LiveSession> = MemberAccess::new(&app.platform)
        .sessions()
        .live(&member.subject())
        .await?;
    Ok(data(StatusCode::OK, sessions))
}

/// `DELETE /admin/members/{documentId}/sessions`: signs the member out everywhere.
/// The audit row commits after the sessions are gone, so it never records a
/// sign-out that did not happen.
pub async fn revoke_sessions(app: Arc<Admin>, call: Call) -> Answer {
    let member = member(&**app.platform.db.client().await?, &call).await?;
    let subject = member.subject();
    let revoked = call
        .audited(&app.platform.db, async |tx, actor| {
            let revoked = MemberAccess::new(&app.platform)
                .sessions()
                .revoke_all(&subject, None)
                .await?;
            audit::record(
                tx,
                actor,
                "member.sessions.revoke",
                &subject,
                json!({ "revoked": revoked }),
            )
            .await?;
            Ok(revoked)
        })
        .await?;
    Ok(data(StatusCode::OK, json!({ "revoked": revoked })))
}

/// `GET /admin/exports/members`: the list's search, every page, as CSV; who
/// exported what is audited in the transaction that reads it.
pub async fn export(app: Arc<Admin>, call: Call) -> Answer {
    let q = search(&call)?;
    let csv = call
        .audited(&app.platform.db, async |tx, actor| {
            let (csv, rows) = members::export(tx, q.as_deref()).await?;
            audit::record(
                tx,
                actor,
                "member.export",
                "members",
                json!({ "q": q, "rows": rows }),
            )
            .await?;
            Ok(csv)
        })
        .await?;
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"members.csv\"",
        )
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(Body::Text(csv))
        .map_err(Error::internal)
}
