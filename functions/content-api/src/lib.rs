//! The public content API, read path: Strapi v5 REST over articles, authors,
//! categories and tags (`GET /api/{type}` and `GET /api/{type}/{documentId}`).
//!
//! The raw query string goes to `content::Query` (so raw and percent-encoded
//! brackets mean the same), `content::documents` runs it and assembles the
//! entries, and `content::gate` decides what of a `members` or `paid`
//! article the reader gets. This file only decides who the reader is and writes the
//! envelope, cached.
//!
//! Caching: the serialized body is cached in Redis per content type namespace
//! (`content::cache`, so a write invalidates exactly the types it can show
//! in), keyed by route, [`Query::normalized_key`] and the reader's access class.
//! The class is as coarse as correctness allows: `public` when no gated field is
//! selected (the answer is the same for everyone, so the credential is not even
//! looked at), else `anon`, or `member`/`member:[products]` (gating depends only on
//! being a member and the products held). Staff, API tokens and drafts are never
//! cached. Every 200 carries a strong ETag over the exact bytes, and a matching
//! `If-None-Match` gets a bodiless 304: CDNs may keep reader-independent and
//! anonymous answers briefly, browsers and private answers always revalidate.
//!
//! Who reads: a member (`Authorization: Bearer bxs_…` or the `bx_session` cookie),
//! staff (a staff session or an API token allowed `read-content`), or anyone. Reading
//! published content with a stale or unknown credential is reading anonymously (a
//! forgotten cookie must not break a public page); drafts (`status=draft`) need
//! staff: anonymous 401, members 403. Published gated bodies open for members with
//! access and for staff sessions, not for API tokens, which read drafts whole and
//! published bodies as visitors do: the rule of `content::gate::Reader::staff`, which
//! the admin routes that return bodies follow too.

use std::{future::Future, sync::Arc, time::Duration};

use content::{
    Query, ReadConfig,
    cache::namespace,
    documents::{self, Page, pagination_meta},
    gate::{self, Reader},
    query::Status,
    schema::{self, ContentType},
    syndication::{Links, SiteConfig, share},
};
use identity::{
    access::{
        API_TOKEN_PREFIX, Access, MEMBER_COOKIE, MemberAccess, Permission, Principal, STAFF_COOKIE,
        presented,
    },
    entitlements,
    route::{Call, Doc, Guard, Route, Router, Schema, SchemaGenerator},
    session::Session,
};
use lambda_http::{Body, Request, Response};
use platform::{
    Error, Platform, Result,
    cache::Entry,
    db::Client,
    http::{Representation, path_param, route_key},
    ratelimit::Slots,
};
use schemars::json_schema;
use serde_json::{Value, json};

/// For answers anyone may share: CDNs keep them as long as Redis does by default
/// (`CONTENT_CACHE_TTL_SECS`, and serve them 30 s stale while refetching), browsers
/// revalidate every time, which the ETag makes a bodiless 304.
const SHARED_CACHE_CONTROL: &str = "public, max-age=0, s-maxage=60, stale-while-revalidate=30";
/// For a member's answer: the browser may keep it but must revalidate, CDNs never.
const PRIVATE_CACHE_CONTROL: &str = "private, no-cache";

/// Which readers share one answer: the reader's part of the cache key and of the
/// HTTP caching policy.
enum Audience {
    /// No gated field selected: the answer does not depend on the reader.
    Everyone,
    /// Gated fields, read without a member or staff credential (or a stale one).
    Anonymous,
    /// A member, by class: `member`, or `member:[...]` with the products they hold.
    Member(String),
    /// Staff sessions, API tokens and drafts: never cached anywhere.
    Uncached,
}

impl Audience {
    /// The access class in the Redis key, or `None` when not to cache.
    fn class(&self) -> Option<&str> {
        match self {
            Audience::Everyone => Some("public"),
            Audience::Anonymous => Some("anon"),
            Audience::Member(class) => Some(class),
            Audience::Uncached => None,
        }
    }

    fn cache_control(&self) -> &'static str {
        match self {
            Audience::Everyone | Audience::Anonymous => SHARED_CACHE_CONTROL,
            Audience::Member(_) => PRIVATE_CACHE_CONTROL,
            Audience::Uncached => "no-store",
        }
    }

    /// Whether the answer depends on the credential, which shared caches must key on.
    fn varies(&self) -> bool {
        matches!(self, Audience::Anonymous | Audience::Member(_))
    }
}

/// Who presented what, before deciding what it allows.
enum Caller {
    Anonymous,
    Member(i64),
    Principal(Principal),
    /// A credential was presented but is unknown, expired or revoked.
    Invalid,
}

/// The function's state: what its handlers share.
pub struct ContentApi {
    platform: Arc<Platform>,
    access: Access,
    members: MemberAccess,
    settings: Settings,
}

impl ContentApi {
    fn db<'a>(&'a self, client: &'a Client) -> documents::Db<'a> {
        documents::Db {
            client,
            statements: self.platform.db.statements(),
            site: share::Site {
                links: Links {
                    site: &self.platform.config.site_url,
                    api: &self.platform.config.api_url,
                },
                name: &self.settings.1.name,
            },
        }
    }

    async fn find_many(
        &self,
        req: &Request,
        content_type: &'static ContentType,
    ) -> Result<Response<Body>> {
        let query = Query::parse(content_type, req.uri().query().unwrap_or(""))?;
        let (reader, audience) = self.reader(req, &query).await?;
        let key = format!("many {}", query.normalized_key());
        self.respond(req, &query, key, audience, || {
            self.bounded(&query, async {
                let client = self.platform.db.client().await?;
                let Page { entries, total } =
                    documents::find_many(self.db(&client), &query, &reader).await?;
                envelope(
                    Value::Array(entries.into_iter().map(Value::Object).collect()),
                    json!({ "pagination": pagination_meta(query.pagination, total) }),
                )
            })
        })
        .await
    }

    async fn find_one(
        &self,
        req: &Request,
        content_type: &'static ContentType,
    ) -> Result<Response<Body>> {
        let document_id = path_param(req, "documentId")?;
        let query = Query::parse_document(content_type, req.uri().query().unwrap_or(""))?;
        let (reader, audience) = self.reader(req, &query).await?;
        let key = format!("one {document_id:?} {}", query.normalized_key());
        self.respond(req, &query, key, audience, || async {
            let client = self.platform.db.client().await?;
            let entry = documents::find_one(self.db(&client), &query, document_id, &reader)
                .await?
                .ok_or_else(|| Error::NotFound("Not Found".into()))?;
            envelope(Value::Object(entry), json!({}))
        })
        .await
    }

    /// Runs a load from the database; a search takes one of the places
    /// `SEARCH_MAX_CONCURRENT` allows (only on a cache miss: hits cost no database).
    async fn bounded<T>(&self, query: &Query, load: impl Future<Output = Result<T>>) -> Result<T> {
        if query.search.is_none() {
            return load.await;
        }
        // Held no longer than a statement may run, with room for the round trips.
        let lease = self
            .platform
            .config
            .database
            .statement_timeout
            .max(Duration::from_secs(5))
            + Duration::from_secs(5);
        let slots = Slots {
            name: "search-concurrency",
            limit: self.settings.0.search_concurrency,
            lease,
        };
        self.platform.limiter.in_slot(slots, load).await
    }

    /// The body for `key` from the response cache (or `load` for uncached audiences),
    /// answered as a 304 when the client already holds these exact bytes.
    async fn respond<F, Fut>(
        &self,
        req: &Request,
        query: &Query,
        key: String,
        audience: Audience,
        load: F,
    ) -> Result<Response<Body>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String>>,
    {
        // How long a response stays in Redis (`CONTENT_CACHE_TTL_SECS`, a minute by
        // default). Writes invalidate precisely, so this only bounds what no write
        // announces: time passing (scheduled articles going live, entitlements
        // expiring) and an invalidation that failed. Zero turns the cache off.
        let ttl = self.settings.0.cache_ttl;
        let entry = match audience.class().filter(|_| !ttl.is_zero()) {
            Some(class) => {
                let key = format!("{key} {class}");
                let namespace = namespace(query.content_type);
                let (entry, _) = self
                    .platform
                    .cache
                    .get_or_load(&namespace, &key, ttl, load)
                    .await?;
                entry
            }
            None => Arc::new(Entry::new(load().await?)),
        };
        Ok(conditional(req, &entry, &audience))
    }

    /// The reader `query` must be answered for, and who else shares that answer:
    /// drafts need staff, bodies need to know the member, and anything else is
    /// answered alike for everyone without asking.
    async fn reader(&self, req: &Request, query: &Query) -> Result<(Reader, Audience)> {
        let drafts = query.status == Status::Draft;
        if !drafts && !gate::selects_gated(query) {
            return Ok((Reader::Anonymous, Audience::Everyone));
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
                    Ok((Reader::staff(&principal, true), Audience::Uncached))
                }
            };
        }
        Ok(match caller {
            Caller::Member(id) => self.member_reader(id).await?,
            // Answered fresh: a token's caller is a frontend server that caches for
            // itself and refetches on content webhooks.
            Caller::Principal(principal) => (Reader::staff(&principal, false), Audience::Uncached),
            Caller::Anonymous | Caller::Invalid => (Reader::Anonymous, Audience::Anonymous),
        })
    }

    /// A member as reader and audience, from one decision: the products they hold
    /// now gate the bodies and name the access class, so an entitlement that starts
    /// or ends mid-request cannot cache one answer under the other's class.
    async fn member_reader(&self, member_id: i64) -> Result<(Reader, Audience)> {
        let client = self.platform.db.client().await?;
        let held = entitlements::held(&**client, member_id).await?;
        let class = if held.is_empty() {
            "member".to_owned()
        } else {
            let keys: Vec<String> = held
                .iter()
                .map(|p| format!("{}/{}", p.kind.as_str(), p.code))
                .collect();
            // Debug-quoted, so no product code can run into the next one.
            format!("member:{keys:?}")
        };
        Ok((Reader::Member(held.into()), Audience::Member(class)))
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
            if session.subject.starts_with("member:") {
                return self.member(&session).await;
            }
        }
        match self.access.authenticate(req).await {
            Ok(principal) => Ok(Caller::Principal(principal)),
            Err(Error::Unauthorized(_)) => Ok(Caller::Invalid),
            Err(other) => Err(other),
        }
    }

    async fn member(&self, session: &Session) -> Result<Caller> {
        Ok(match self.members.member(session).await? {
            Some(member) => Caller::Member(member.id),
            None => Caller::Invalid,
        })
    }
}

/// Strapi's success envelope, serialized: the exact bytes cached and hashed.
/// `{"data", "meta"}` as text. The values move in: `json!` would first serialize a
/// deep copy of every entry (`perf` showed those copies among the top symbols of an
/// uncached list).
fn envelope(data: Value, meta: Value) -> Result<String> {
    let mut fields = serde_json::Map::new();
    fields.insert("data".into(), data);
    fields.insert("meta".into(), meta);
    serde_json::to_string(&Value::Object(fields)).map_err(Error::internal)
}

/// `entry` as a 200, or a bodiless 304 when the client holds it, with the
/// audience's caching headers.
fn conditional(req: &Request, entry: &Entry, audience: &Audience) -> Response<Body> {
    platform::http::conditional(
        req,
        entry,
        &Representation {
            media_type: "application/json; charset=utf-8",
            cache_control: audience.cache_control(),
            vary: audience.varies().then_some("Authorization, Cookie"),
            last_modified: None,
        },
    )
}

/// Every route of the function, as template.yaml lists them: public reads, where what
/// a reader sees depends on who they are (decided by the handler, not the guard).
pub static ROUTES: &[Route<ContentApi>] = &[
    identity::route!(GET "/api/articles", Guard::Public, find_many,
        Doc::new("Strapi v5 list of articles", entries).query(Query::list_schema)),
    identity::route!(GET "/api/articles/{documentId}", Guard::Public, find_one,
        Doc::new("Strapi v5 read of one of the articles", entry).query(Query::document_schema)),
    identity::route!(GET "/api/authors", Guard::Public, find_many,
        Doc::new("Strapi v5 list of authors", entries).query(Query::list_schema)),
    identity::route!(GET "/api/authors/{documentId}", Guard::Public, find_one,
        Doc::new("Strapi v5 read of one of the authors", entry).query(Query::document_schema)),
    identity::route!(GET "/api/categories", Guard::Public, find_many,
        Doc::new("Strapi v5 list of categories", entries).query(Query::list_schema)),
    identity::route!(GET "/api/categories/{documentId}", Guard::Public, find_one,
        Doc::new("Strapi v5 read of one of the categories", entry).query(Query::document_schema)),
    identity::route!(GET "/api/tags", Guard::Public, find_many,
        Doc::new("Strapi v5 list of tags", entries).query(Query::list_schema)),
    identity::route!(GET "/api/tags/{documentId}", Guard::Public, find_one,
        Doc::new("Strapi v5 read of one of the tags", entry).query(Query::document_schema)),
];

/// Strapi entries: `id`, `documentId` and the fields and relations asked for.
fn entry(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["id", "documentId"],
        "properties": { "id": { "type": "integer" }, "documentId": { "type": "string" } },
    })
}

fn entries(generator: &mut SchemaGenerator) -> Schema {
    let item = entry(generator);
    json_schema!({ "type": "array", "items": item })
}

/// The content type a route reads: `/api/{type}[/…]`.
fn content_type_of(req: &Request) -> Result<&'static ContentType> {
    let key = route_key(req);
    key.split('/')
        .nth(2)
        .and_then(schema::content_type)
        .ok_or_else(|| Error::internal(format!("`{key}` names no content type")))
}

async fn find_many(api: Arc<ContentApi>, call: Call) -> Result<Response<Body>> {
    api.find_many(&call.req, content_type_of(&call.req)?).await
}

async fn find_one(api: Arc<ContentApi>, call: Call) -> Result<Response<Body>> {
    api.find_one(&call.req, content_type_of(&call.req)?).await
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    platform: Arc<Platform>,
    settings: Settings,
) -> Result<impl platform::runtime::Handler> {
    let api = ContentApi {
        access: Access::for_staff(&platform),
        members: MemberAccess::new(&platform),
        platform: platform.clone(),
        settings,
    };
    Router::new(&platform, api, ROUTES)
}

/// The settings this function reads besides the core.
pub type Settings = (ReadConfig, SiteConfig);
