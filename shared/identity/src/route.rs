//! One route table per function, deny by default.
//!
//! A function declares each route once: method, path (as template.yaml names it),
//! the [`Guard`] it needs and its handler. The [`Router`] built from the table is the
//! function's whole request handler: a request whose route is not in the table is a
//! 404 before any handler runs, and the guard is checked before the handler sees the
//! request, so a route cannot exist without a decision about who may call it (the
//! field is not optional). Handlers have one shape: `async fn(Arc<State>, Call) ->
//! Result<Response>`. Each route also carries its [`Doc`] (summary, request body,
//! query, success status and answer, as JSON Schemas of the very types the handler
//! reads and writes), from which [`crate::openapi`] builds the OpenAPI document.

use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use platform::{
    Error, Platform, Result,
    db::Db,
    http::route_key,
    runtime::{Handler, HandlerFuture},
};

use crate::{
    access::{Access, MemberAccess, Permission, Principal},
    members::Member,
    session::Session,
};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Anyone. The handler looks at credentials itself if it cares (content reads
    /// decide what a reader sees; sign-in takes a password).
    Public,
    /// A signed-in member: 401 otherwise.
    Member,
    /// Any signed-in staff member or valid API token, whatever its permissions: 401
    /// otherwise.
    Staff,
    /// Staff or API tokens holding at least one of these permissions: 401 for
    /// anonymous callers, 403 for the others.
    Any(&'static [Permission]),
}

impl Guard {
    /// A single permission.
    pub const fn needs(permission: &'static [Permission; 1]) -> Self {
        Guard::Any(permission)
    }
}

/// The caller, as far as the guard established it.
#[derive(Debug, Clone)]
pub enum Who {
    /// Behind a [`Guard::Public`]: nothing was checked.
    Anyone,
    Member(Session, Member),
    Principal(Principal),
}

/// One request, with the caller its route's guard let through.
pub struct Call {
    pub req: Request,
    pub who: Who,
}

impl Call {
    /// The staff member or token behind a [`Guard::Staff`] or [`Guard::Any`] route.
    pub fn principal(&self) -> Result<&Principal> {
        match &self.who {
            Who::Principal(principal) => Ok(principal),
            _ => Err(Error::internal(
                "the route's guard established no principal",
            )),
        }
    }

    /// The member behind a [`Guard::Member`] route.
    pub fn member(&self) -> Result<(&Session, &Member)> {
        match &self.who {
            Who::Member(session, member) => Ok((session, member)),
            _ => Err(Error::internal("the route's guard established no member")),
        }
    }
    /// Runs one admin write as the caller in a transaction of `db`: `work` gets the
    /// transaction and the actor the audit trail names, and records its entry there,
    /// so the change and its audit commit together or not at all.
    pub async fn audited<T, F>(&self, db: &Db, work: F) -> Result<T>
    where
        F: AsyncFnOnce(&platform::db::Transaction<'_>, &str) -> Result<T>,
    {
        let actor = self.principal()?.actor();
        let mut client = db.client().await?;
        let tx = client.transaction().await?;
        let written = work(&tx, &actor).await?;
        tx.commit().await?;
        Ok(written)
    }
}

/// A route's handler: a plain async function over the function's state.
pub type HandlerFn<S> = fn(Arc<S>, Call) -> HandlerFuture;

pub use schemars::{JsonSchema, Schema, SchemaGenerator};

/// A JSON Schema, made on demand for the OpenAPI document.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, as a [`SchemaFn`]: `schema_of::<Staff>`.
pub fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// How a route answers when it succeeds.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// `{"data": <schema>}` (content reads add `meta`), with this status.
    Data(u16, SchemaFn),
    /// The schema is the whole body.
    Raw(u16, SchemaFn),
    /// A body of another media type (`text/plain` for a payment provider, `text/csv`).
    Text(u16, &'static str, SchemaFn),
    /// No body.
    Empty(u16),
    /// `302 Found` to the `Location` given (a browser's way through a sign-in flow).
    Redirect,
}

/// What the OpenAPI document says about a route.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub summary: &'static str,
    /// The JSON body the handler parses.
    pub body: Option<SchemaFn>,
    /// The body's media type: `application/json` unless [`Doc::form`] says otherwise.
    pub body_type: &'static str,
    /// The query string the handler reads, as one object schema whose properties are
    /// the parameters (`deepObject` for nested ones such as Strapi's `filters`).
    pub query: Option<SchemaFn>,
    pub answer: Answer,
    /// The failure body, when it is not the error envelope (a provider's own format).
    pub failure: Option<SchemaFn>,
    /// Another status the same answer comes with (the health report's 503).
    pub also: Option<u16>,
}

impl Doc {
    /// A route answering `200 {"data": …}` of `data`.
    pub const fn new(summary: &'static str, data: SchemaFn) -> Self {
        Self {
            summary,
            body: None,
            body_type: "application/json",
            failure: None,
            query: None,
            answer: Answer::Data(200, data),
            also: None,
        }
    }

    /// A route answering `204` without a body.
    pub const fn empty(summary: &'static str) -> Self {
        Self {
            summary,
            body: None,
            body_type: "application/json",
            failure: None,
            query: None,
            answer: Answer::Empty(204),
            also: None,
        }
    }

    /// A route answering `302 Found` with a `Location`, for a browser to follow.
    pub const fn redirect(summary: &'static str) -> Self {
        Self {
            answer: Answer::Redirect,
            ..Self::empty(summary)
        }
    }

    pub const fn body(mut self, body: SchemaFn) -> Self {
        self.body = Some(body);
        self
    }

    /// The body is `application/x-www-form-urlencoded` fields of `body`'s object schema.
    pub const fn form(mut self, body: SchemaFn) -> Self {
        self.body = Some(body);
        self.body_type = "application/x-www-form-urlencoded";
        self
    }

    /// The body is `media_type` (a CSV upload), described by `body`.
    pub const fn body_of(mut self, media_type: &'static str, body: SchemaFn) -> Self {
        self.body = Some(body);
        self.body_type = media_type;
        self
    }

    /// Failures answer `failure` instead of the error envelope.
    pub const fn failure(mut self, failure: SchemaFn) -> Self {
        self.failure = Some(failure);
        self
    }

    /// An answer of `media_type` (not JSON) described by `text`, with `status`.
    pub const fn text(mut self, status: u16, media_type: &'static str, text: SchemaFn) -> Self {
        self.answer = Answer::Text(status, media_type, text);
        self
    }

    pub const fn query(mut self, query: SchemaFn) -> Self {
        self.query = Some(query);
        self
    }

    /// Success is `status`, not 200 (201 for a creation, 202 for accepted work).
    pub const fn status(mut self, status: u16) -> Self {
        self.answer = match self.answer {
            Answer::Data(_, data) => Answer::Data(status, data),
            Answer::Raw(_, data) => Answer::Raw(status, data),
            Answer::Text(_, media_type, text) => Answer::Text(status, media_type, text),
            Answer::Empty(_) => Answer::Empty(status),
            Answer::Redirect => Answer::Redirect,
        };
        self
    }

    /// The same answer also comes with `status`.
    pub const fn also(mut self, status: u16) -> Self {
        self.also = Some(status);
        self
    }

    /// The body is `data` itself, not an envelope.
    pub const fn raw(mut self) -> Self {
        if let Answer::Data(status, data) = self.answer {
            self.answer = Answer::Raw(status, data);
        }
        self
    }
}

/// One entry of a route table.
pub struct Route<S> {
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// As template.yaml names it, e.g. `/admin/users/{documentId}`.
    pub path: &'static str,
    pub guard: Guard,
    pub handler: HandlerFn<S>,
    pub doc: Doc,
}

impl<S> Route<S> {
    /// `GET /admin/users`, as API Gateway names a route.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A route table entry:
/// `route!(GET "/admin/users", Guard::Staff, list_staff, Doc::new("…", schema_of::<Vec<Staff>>))`.
#[macro_export]
macro_rules! route {
    ($method:ident $path:literal, $guard:expr, $handler:path, $doc:expr) => {
        $crate::route::Route {
            method: stringify!($method),
            path: $path,
            guard: $guard,
            handler: |state, call| -> ::platform::runtime::HandlerFuture {
                Box::pin($handler(state, call))
            },
            doc: $doc,
        }
    };
}

/// A function's request handler, made from its table.
pub struct Router<S: 'static>(Arc<Inner<S>>);

struct Inner<S: 'static> {
    state: Arc<S>,
    routes: &'static [Route<S>],
    staff: Access,
    members: MemberAccess,
}

impl<S: Send + Sync + 'static> Router<S> {
    /// Refuses a table that names a route twice: the second entry could never run.
    pub fn new(
        platform: &Platform,
        state: impl Into<Arc<S>>,
        routes: &'static [Route<S>],
    ) -> Result<Self> {
        for (i, route) in routes.iter().enumerate() {
            if routes[..i].iter().any(|r| r.key() == route.key()) {
                return Err(Error::internal(format!(
                    "route `{}` is in the table twice",
                    route.key()
                )));
            }
        }
        Ok(Self(Arc::new(Inner {
            state: state.into(),
            routes,
            staff: Access::for_staff(platform),
            members: MemberAccess::new(platform),
        })))
    }
}

impl<S: Send + Sync + 'static> Inner<S> {
    async fn dispatch(&self, req: Request) -> Result<Response<Body>> {
        let key = route_key(&req);
        let (method, path) = key.split_once(' ').unwrap_or(("", key));
        let route = self
            .routes
            .iter()
            .find(|route| route.method == method && route.path == path)
            .ok_or_else(|| Error::NotFound(format!("no route `{key}`")))?;
        platform::runtime::note_route(&req, &route.key());
        let who = match route.guard {
            Guard::Public => Who::Anyone,
            Guard::Member => {
                let (session, member) = self.members.require(&req).await?;
                Who::Member(session, member)
            }
            Guard::Staff => match self.staff.authenticate(&req).await? {
                Principal::Anonymous => {
                    return Err(Error::Unauthorized(
                        "sign in or present an API token".into(),
                    ));
                }
                principal => Who::Principal(principal),
            },
            Guard::Any(permissions) => {
                let principal = self.staff.authenticate(&req).await?;
                if !permissions.iter().any(|p| principal.can(*p)) {
                    let first = permissions
                        .first()
                        .ok_or_else(|| Error::internal("a guard without permissions"))?;
                    principal.require(*first)?;
                }
                Who::Principal(principal)
            }
        };
        match &who {
            Who::Anyone => {}
            Who::Member(_, member) => {
                platform::runtime::note_actor(&format!("member:{}", member.document_id))
            }
            Who::Principal(principal) => platform::runtime::note_actor(&principal.actor()),
        }
        (route.handler)(self.state.clone(), Call { req, who }).await
    }
}

impl<S: Send + Sync + 'static> Handler for Router<S> {
    fn call(&self, req: Request) -> HandlerFuture {
        let inner = self.0.clone();
        Box::pin(async move { inner.dispatch(req).await })
    }
}
