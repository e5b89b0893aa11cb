//! The public content API, read path: Strapi v5 REST over articles, authors,
//! categories and tags (`GET /api/{type}` and `GET /api/{type}/{documentId}`).
//!
//! The raw query string goes to `shared::content::Query` (so raw and percent-encoded
//! brackets mean the same), `shared::content::documents` runs it and assembles the
//! entries, and `shared::content::gate` decides what of a `members` or `paid`
//! article the reader gets. This file only decides who the reader is and writes the
//! envelope. Response caching (Redis, ETag, `Cache-Control`) comes next; until then
//! every answer is `no-store`, since gated bodies depend on the reader.
//!
//! Who reads: a member (`Authorization: Bearer bxs_…` or the `bx_session` cookie),
//! staff (a staff session or an API token allowed `read-content`), or anyone. Reading
//! published content with a stale or unknown credential is reading anonymously (a
//! forgotten cookie must not break a public page); drafts (`status=draft`) need
//! staff: anonymous 401, members 403. Published gated bodies open for members with
//! access and for staff sessions, not for API tokens: a read-only token often sits in
//! a frontend's server and would otherwise unlock paid content for every visitor.
//! Drafts read with a token are whole, because previewing them is what it is for.

use std::sync::Arc;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::{
    Error, Platform, Result,
    access::{
        API_TOKEN_PREFIX, Access, Permission, Principal, STAFF_COOKIE, STAFF_SESSION_TTL, presented,
    },
    content::{
        Query,
        documents::{self, Page},
        gate::{self, Reader},
        query::{PageMode, Pagination, Status},
        schema::{self, ContentType},
    },
    http::{json as json_response, path_param, route_key},
    session::SessionStore,
};
use tokio_postgres::types::Type;

/// The member session cookie set by the auth function.
pub const MEMBER_COOKIE: &str = "bx_session";

/// Who presented what, before deciding what it allows.
enum Caller {
    Anonymous,
    Member(i64),
    Principal(Principal),
    /// A credential was presented but is unknown, expired or revoked.
    Invalid,
}

struct ContentApi {
    platform: Arc<Platform>,
    access: Access,
}

impl ContentApi {
    async fn route(&self, req: Request) -> Result<Response<Body>> {
        let key = route_key(&req);
        let (content_type, one) = key
            .strip_prefix("GET /api/")
            .and_then(|rest| {
                let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
                let one = match tail {
                    "" => false,
                    "{documentId}" => true,
                    _ => return None,
                };
                schema::content_type(name).map(|ct| (ct, one))
            })
            .ok_or_else(|| Error::NotFound(format!("no content route `{key}`")))?;
        if one {
            self.find_one(&req, content_type).await
        } else {
            self.find_many(&req, content_type).await
        }
    }

    async fn find_many(
        &self,
        req: &Request,
        content_type: &'static ContentType,
    ) -> Result<Response<Body>> {
        let query = Query::parse(content_type, req.uri().query().unwrap_or(""))?;
        let reader = self.reader(req, &query).await?;
        let client = self.platform.db.client().await?;
        let Page { entries, total } = documents::find_many(&client, &query, reader).await?;
        Ok(envelope(
            json!(entries),
            json!({ "pagination": pagination_meta(query.pagination, total) }),
        ))
    }

    async fn find_one(
        &self,
        req: &Request,
        content_type: &'static ContentType,
    ) -> Result<Response<Body>> {
        let document_id = path_param(req, "documentId")?;
        let query = Query::parse_document(content_type, req.uri().query().unwrap_or(""))?;
        let reader = self.reader(req, &query).await?;
        let client = self.platform.db.client().await?;
        let entry = documents::find_one(&client, &query, document_id, reader)
            .await?
            .ok_or_else(|| Error::NotFound("Not Found".into()))?;
        Ok(envelope(Value::Object(entry), json!({})))
    }

    /// The reader `query` must be answered for: drafts need staff, bodies need to know
    /// the member, and anything else is answered alike for everyone without asking.
    async fn reader(&self, req: &Request, query: &Query) -> Result<Reader> {
        let drafts = query.status == Status::Draft;
        if !drafts && !gate::selects_gated(query) {
            return Ok(Reader::Anonymous);
        }
        let caller = self.caller(req).await?;
        if drafts {
            return match caller {
                Caller::Anonymous | Caller::Invalid => Err(Error::Unauthorized(
                    "drafts are for staff: sign in or present an API token".into(),
                )),
                Caller::Member(_) => Err(Error::Forbidden("drafts are for staff".into())),
                Caller::Principal(principal) => {
                    principal.require(Permission::ReadContent)?;
                    Ok(Reader::Staff)
                }
            };
        }
        Ok(match caller {
            Caller::Member(id) => Reader::Member(id),
            Caller::Principal(principal @ Principal::Staff(_))
                if principal.can(Permission::ReadContent) =>
            {
                Reader::Staff
            }
            _ => Reader::Anonymous,
        })
    }

    /// Identifies the credential. Sessions are peeked, not renewed, first: member and
    /// staff sessions share one store but not one lifetime, and only the staff path
    /// (`Access::authenticate`) renews, with the staff lifetime.
    async fn caller(&self, req: &Request) -> Result<Caller> {
        let Some(credential) =
            presented(req, MEMBER_COOKIE).or_else(|| presented(req, STAFF_COOKIE))
        else {
            return Ok(Caller::Anonymous);
        };
        if !credential.starts_with(API_TOKEN_PREFIX) {
            let Some(session) = self.access.sessions().peek(&credential).await? else {
                return Ok(Caller::Invalid);
            };
            if let Some(document_id) = session.subject.strip_prefix("member:") {
                return self.member(document_id).await;
            }
        }
        match self.access.authenticate(req).await {
            Ok(principal) => Ok(Caller::Principal(principal)),
            Err(Error::Unauthorized(_)) => Ok(Caller::Invalid),
            Err(other) => Err(other),
        }
    }

    async fn member(&self, document_id: &str) -> Result<Caller> {
        let client = self.platform.db.client().await?;
        let rows = client
            .query_typed(
                "SELECT id FROM members WHERE document_id = $1 AND deleted_at IS NULL",
                &[(&document_id, Type::TEXT)],
            )
            .await?;
        Ok(match rows.first() {
            Some(row) => Caller::Member(row.try_get(0)?),
            None => Caller::Invalid,
        })
    }
}

/// Strapi's `meta.pagination`: page mode `{page, pageSize, pageCount, total}`, offset
/// mode `{start, limit, total}`; without a count, the total (and page count) is left out.
fn pagination_meta(pagination: Pagination, total: Option<i64>) -> Value {
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

fn envelope(data: Value, meta: Value) -> Response<Body> {
    let mut response = json_response(StatusCode::OK, &json!({ "data": data, "meta": meta }));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(platform: Arc<Platform>) -> impl shared::runtime::Handler {
    let sessions = SessionStore::new(
        platform.redis.clone(),
        &platform.config.redis.key_prefix,
        STAFF_SESSION_TTL,
    );
    let access = Access::new(platform.db.clone(), sessions);
    let api = Arc::new(ContentApi { platform, access });
    move |req| {
        let api = api.clone();
        async move { api.route(req).await }
    }
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
