//! The admin API for staff and machines: staff sign-in, staff accounts, API tokens,
//! members (`members`) and their entitlements, outgoing webhooks (`webhooks`) and
//! the audit trail.
//!
//! [`ROUTES`] is the function: each route with the guard the router checks before
//! its handler runs (deny by default; tests/api/routes.rs walks every route with every
//! kind of caller). Every write records an audit entry in the same transaction.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use content::outgoing_webhooks::{Signing, WebhookConfig, registry};
use http::{HeaderValue, StatusCode, header};
use identity::{
    access::{
        API_TOKEN_PREFIX, Access, ApiToken, LoginBody, NewToken, Permission, Principal, Role,
        STAFF_COOKIE, TokenKind,
    },
    email::Email,
    entitlements::{self, Entitlement, Grant, Product, Source},
    lockout::{Lockout, LockoutPolicy},
    password::Password,
    route::{Call, Doc, Guard, Route, Router, Schema, SchemaGenerator, schema_of},
    session::{new_token, token_hash},
    staff,
};
use lambda_http::{Body, Response};
use platform::{
    Error, Platform, Result, audit,
    http::{bounded, client_ip, data, no_content, parse_json, path_param},
    ratelimit::Policy,
};
use schemars::{JsonSchema, json_schema};
use serde::Deserialize;
use serde_json::{Value, json};

mod members;
mod webhooks;

pub use identity::access::STAFF_SESSION_TTL;
const MAX_BODY: usize = 16 * 1024;
/// Strapi's longest token lifespan choice is 90 days; allow up to ten years.
const MAX_LIFESPAN_MS: i64 = 10 * 365 * 24 * 3600 * 1000;

const LOGIN_PER_IP: Policy = Policy {
    name: "admin-login-ip",
    limit: 20,
    window: Duration::from_secs(300),
};
/// Wrong passwords (`identity::lockout`): 5 per account from one client in 15
/// minutes, and 50 per account in an hour from unknown clients together.
const LOCKOUT: LockoutPolicy = LockoutPolicy {
    kind: "staff",
    per_client: Policy {
        name: "admin-login-failures",
        limit: 5,
        window: Duration::from_secs(900),
    },
    per_account: Policy {
        name: "admin-login-failures-account",
        limit: 50,
        window: Duration::from_secs(3600),
    },
    cookie: "bx_admin_device",
    cookie_path: "/admin/login",
};

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateStaffBody {
    email: Email,
    password: String,
    role: String,
    #[serde(default)]
    display_name: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateStaffBody {
    role: Option<String>,
    /// Permission scopes granted beyond the role (replacing the current ones), e.g.
    /// `["marketing.read", "marketing.write"]` for an editor who runs the newsletter.
    grants: Option<Vec<String>>,
    disabled: Option<bool>,
    display_name: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateTokenBody {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    scopes: Vec<String>,
    /// Milliseconds, as Strapi's admin sends it; `null` for no expiry.
    lifespan: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GrantBody {
    product: Product,
    starts_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

/// The function's state: what its handlers share.
pub struct Admin {
    platform: Arc<Platform>,
    access: Access,
    lockout: Lockout,
    signing: Signing,
}

pub(crate) type Answer = Result<Response<Body>>;

const MANAGE_STAFF: Guard = Guard::needs(&[Permission::ManageStaff]);
const MANAGE_TOKENS: Guard = Guard::needs(&[Permission::ManageTokens]);
const MANAGE_ENTITLEMENTS: Guard = Guard::needs(&[Permission::ManageEntitlements]);
const READ_MEMBERS: Guard = Guard::needs(&[Permission::ReadMembers]);
const MANAGE_MEMBERS: Guard = Guard::needs(&[Permission::ManageMembers]);
const MANAGE_WEBHOOKS: Guard = Guard::needs(&[Permission::ManageWebhooks]);

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Admin>] = &[
    identity::route!(POST "/admin/login", Guard::Public, login,
        Doc::new("Sign a staff member in: a session token, also set as a cookie", signed_in)
            .body(schema_of::<LoginBody>)),
    identity::route!(POST "/admin/logout", Guard::Staff, logout,
        Doc::empty("End the staff session presented")),
    identity::route!(GET "/admin/me", Guard::Staff, me,
        Doc::new("The signed-in staff account, or the API token presented", who_am_i)),
    identity::route!(GET "/admin/users", MANAGE_STAFF, list_staff,
        Doc::new("Every staff account", schema_of::<Vec<staff::Staff>>)),
    identity::route!(POST "/admin/users", MANAGE_STAFF, create_staff,
        Doc::new("Create a staff account", schema_of::<staff::Staff>)
            .body(schema_of::<CreateStaffBody>).status(201)),
    identity::route!(PATCH "/admin/users/{documentId}", MANAGE_STAFF, update_staff,
        Doc::new("Change a staff account's role, grants, name or disabled state", schema_of::<staff::Staff>)
            .body(schema_of::<UpdateStaffBody>)),
    identity::route!(GET "/admin/tokens", MANAGE_TOKENS, list_tokens,
        Doc::new("Every API token (never the token itself)", schema_of::<Vec<ApiToken>>)),
    identity::route!(POST "/admin/tokens", MANAGE_TOKENS, create_token,
        Doc::new("Mint an API token; the only answer that shows it", new_token_schema)
            .body(schema_of::<CreateTokenBody>).status(201)),
    identity::route!(DELETE "/admin/tokens/{documentId}", MANAGE_TOKENS, revoke_token,
        Doc::empty("Revoke an API token")),
    identity::route!(GET "/admin/members", READ_MEMBERS, members::list,
        Doc::new("Members, newest first, optionally searched by email or display name", schema_of::<Vec<members::Member>>)
            .query(members::list_query)),
    identity::route!(GET "/admin/members/{documentId}", READ_MEMBERS, members::show,
        Doc::new("A member's account: profile, linked identities, entitlements and how many orders", schema_of::<members::Account>)),
    identity::route!(GET "/admin/members/{documentId}/sessions", READ_MEMBERS, members::sessions,
        Doc::new("A member's live sessions, newest first (never their tokens)", schema_of::<Vec<identity::session::LiveSession>>)),
    identity::route!(DELETE "/admin/members/{documentId}/sessions", MANAGE_MEMBERS, members::revoke_sessions,
        Doc::new("Sign a member out everywhere", members::revoked)),
    identity::route!(GET "/admin/exports/members", READ_MEMBERS, members::export,
        Doc::new("The members the search selects, newest first, as CSV (at most 50,000)", schema_of::<String>)
            .query(members::export_query)
            .text(200, "text/csv", members::csv_text)),
    identity::route!(GET "/admin/members/{documentId}/entitlements", READ_MEMBERS, list_entitlements,
        Doc::new("A member's entitlements", schema_of::<Vec<Entitlement>>)),
    identity::route!(POST "/admin/members/{documentId}/entitlements", MANAGE_ENTITLEMENTS, grant_entitlement,
        Doc::new("Grant a member a plan or course (comp)", schema_of::<Entitlement>)
            .body(schema_of::<GrantBody>).status(201)),
    identity::route!(DELETE "/admin/entitlements/{documentId}", MANAGE_ENTITLEMENTS, revoke_entitlement,
        Doc::empty("Revoke an entitlement")),
    identity::route!(GET "/admin/audit", Guard::needs(&[Permission::ReadAudit]), audit_trail,
        Doc::new("The last 100 audit entries, newest first", audit_entries)),
    identity::route!(GET "/admin/webhooks", MANAGE_WEBHOOKS, webhooks::list,
        Doc::new("Every outgoing webhook", registry::list_schema)),
    identity::route!(POST "/admin/webhooks", MANAGE_WEBHOOKS, webhooks::create,
        Doc::new("Register a webhook; the answer shows its signing secret", registry::with_secret_schema)
            .body(registry::body_schema).status(201)),
    identity::route!(PUT "/admin/webhooks/{documentId}", MANAGE_WEBHOOKS, webhooks::update,
        Doc::new("Change a webhook", registry::schema).body(registry::body_schema)),
    identity::route!(DELETE "/admin/webhooks/{documentId}", MANAGE_WEBHOOKS, webhooks::delete,
        Doc::empty("Delete a webhook and its deliveries")),
    identity::route!(POST "/admin/webhooks/{documentId}/rotate-secret", MANAGE_WEBHOOKS, webhooks::rotate_secret,
        Doc::new("A new signing secret, shown once", registry::with_secret_schema)),
    identity::route!(GET "/admin/webhooks/{documentId}/deliveries", MANAGE_WEBHOOKS, webhooks::deliveries,
        Doc::new("A webhook's 50 latest deliveries", registry::deliveries_schema)),
];

fn signed_in(generator: &mut SchemaGenerator) -> Schema {
    let user = generator.subschema_for::<staff::Staff>();
    json_schema!({
        "type": "object",
        "required": ["token", "user"],
        "properties": { "token": { "type": "string" }, "user": user },
    })
}

fn who_am_i(generator: &mut SchemaGenerator) -> Schema {
    let staff = generator.subschema_for::<staff::Staff>();
    json_schema!({
        "oneOf": [
            {
                "allOf": [staff, {
                    "type": "object",
                    "required": ["permissions"],
                    "properties": {
                        "permissions": { "type": "array", "items": { "type": "string" } },
                    },
                }],
            },
            {
                "type": "object",
                "required": ["token", "type", "scopes"],
                "properties": {
                    "token": { "type": "string" },
                    "type": { "type": "string", "enum": ["read-only", "full-access", "custom"] },
                    "scopes": { "type": "array", "items": { "type": "string" } },
                },
            },
        ],
    })
}

fn new_token_schema(generator: &mut SchemaGenerator) -> Schema {
    let token = generator.subschema_for::<ApiToken>();
    json_schema!({
        "allOf": [token, {
            "type": "object",
            "required": ["accessKey"],
            "properties": { "accessKey": { "type": "string", "pattern": "^bxt_" } },
        }],
    })
}

fn audit_entries(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["actor", "action", "subject", "details", "createdAt"],
            "properties": {
                "actor": { "type": "string" },
                "action": { "type": "string" },
                "subject": { "type": "string" },
                "details": { "type": "object" },
                "createdAt": { "type": "string", "format": "date-time" },
            },
        },
    })
}

async fn login(app: Arc<Admin>, Call { req, .. }: Call) -> Answer {
    let limiter = &app.platform.limiter;
    limiter.hit(LOGIN_PER_IP, &client_ip(&req)).await?.check()?;
    let body: LoginBody = parse_json(&req, MAX_BODY)?;
    let password = Password::parse_attempt(&body.password)?;
    let attempt = app.lockout.admit(&req, &body.email).await?;
    let client = app.platform.db.client().await?;
    let staff = match staff::authenticate(&**client, &body.email, &password).await {
        Err(Error::Unauthorized(message)) => {
            app.lockout.failed(&attempt).await?;
            return Err(Error::Unauthorized(message));
        }
        other => other?,
    };
    let (token, _) = app
        .access
        .sessions()
        .create(&format!("staff:{}", staff.document_id))
        .await?;
    let mut response = data(
        StatusCode::OK,
        json!({ "token": token.expose(), "user": staff }),
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        staff_cookie(token.expose(), STAFF_SESSION_TTL.as_secs()),
    );
    let device = app.lockout.succeeded(&attempt).await?;
    response.headers_mut().append(header::SET_COOKIE, device);
    Ok(response)
}

/// The staff session cookie; with an empty token and no age, the header that
/// removes it.
fn staff_cookie(token: &str, max_age: u64) -> HeaderValue {
    let value = format!(
        "{STAFF_COOKIE}={token}; Path=/admin; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Ends the session and removes its cookie: kept, the browser went on sending the
/// revoked token, and every check of the signed-out console answered 401 to it.
async fn logout(app: Arc<Admin>, call: Call) -> Answer {
    match call.principal()? {
        Principal::Staff(staff) => {
            app.access.sessions().revoke(&staff.session).await?;
            let mut response = no_content();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, staff_cookie("", 0));
            Ok(response)
        }
        Principal::Token(_) => Err(Error::validation("API tokens are revoked, not logged out")),
        Principal::Anonymous => Err(Error::Unauthorized("sign in first".into())),
    }
}

async fn me(app: Arc<Admin>, call: Call) -> Answer {
    match call.principal()? {
        Principal::Staff(identity) => {
            let client = app.platform.db.client().await?;
            let staff = staff::by_id(&**client, identity.id)
                .await?
                .ok_or_else(|| Error::Unauthorized("sign in first".into()))?;
            let permissions = staff.permissions();
            let mut body = serde_json::to_value(&staff).map_err(Error::internal)?;
            body["permissions"] = json!(permissions);
            Ok(data(StatusCode::OK, body))
        }
        Principal::Token(token) => Ok(data(
            StatusCode::OK,
            json!({ "token": token.document_id, "type": token.kind.name(), "scopes": token.kind.scopes() }),
        )),
        Principal::Anonymous => Err(Error::Unauthorized("sign in first".into())),
    }
}

async fn list_staff(app: Arc<Admin>, _: Call) -> Answer {
    let client = app.platform.db.client().await?;
    Ok(data(StatusCode::OK, staff::list(&**client).await?))
}

async fn create_staff(app: Arc<Admin>, call: Call) -> Answer {
    let principal = call.principal()?;
    let body: CreateStaffBody = parse_json(&call.req, MAX_BODY)?;
    let password = Password::parse_new(&body.password, "password")?;
    let role = Role::parse(&body.role)?;
    if body.display_name.chars().count() > 64 {
        return Err(Error::invalid(
            "displayName",
            "displayName must be at most 64 characters",
        ));
    }
    let mut client = app.platform.db.client().await?;
    let tx = client.transaction().await?;
    let created =
        staff::create(&*tx, &body.email, &password, role, body.display_name.trim()).await?;
    audit::record(
        &*tx,
        &principal.actor(),
        "staff.create",
        &format!("staff:{}", created.document_id),
        json!({ "role": role.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(data(StatusCode::CREATED, created))
}

async fn update_staff(app: Arc<Admin>, call: Call) -> Answer {
    let principal = call.principal()?;
    let document_id = path_param(&call.req, "documentId")?;
    let body: UpdateStaffBody = parse_json(&call.req, MAX_BODY)?;
    let role = body.role.as_deref().map(Role::parse).transpose()?;
    let grants = body
        .grants
        .as_deref()
        .map(Permission::parse_grants)
        .transpose()?;
    let display_name = body
        .display_name
        .as_deref()
        .map(|n| bounded(n, "displayName", 64))
        .transpose()?;
    if matches!(principal, Principal::Staff(me) if me.document_id == document_id)
        && (body.disabled == Some(true) || role.is_some_and(|r| r != Role::Admin))
    {
        return Err(Error::Conflict(
            "admins cannot demote or disable themselves".into(),
        ));
    }
    let mut client = app.platform.db.client().await?;
    let tx = client.transaction().await?;
    let scopes: Option<Vec<&str>> = grants
        .as_ref()
        .map(|g| g.iter().map(|p| p.scope()).collect());
    let changes = staff::Changes {
        role,
        grants,
        display_name: display_name.as_deref(),
        disabled: body.disabled,
    };
    let updated = staff::update(&*tx, document_id, &changes)
        .await?
        .ok_or_else(|| Error::NotFound("no such staff account".into()))?;
    audit::record(
        &*tx,
        &principal.actor(),
        "staff.update",
        &format!("staff:{document_id}"),
        json!({ "role": role.map(Role::as_str), "grants": scopes, "disabled": body.disabled }),
    )
    .await?;
    tx.commit().await?;
    if body.disabled == Some(true) {
        app.access
            .sessions()
            .revoke_all(&format!("staff:{document_id}"), None)
            .await?;
    }
    Ok(data(StatusCode::OK, updated))
}

async fn list_tokens(app: Arc<Admin>, _: Call) -> Answer {
    let client = app.platform.db.client().await?;
    Ok(data(StatusCode::OK, ApiToken::list(&**client).await?))
}

async fn create_token(app: Arc<Admin>, call: Call) -> Answer {
    let principal = call.principal()?;
    let body: CreateTokenBody = parse_json(&call.req, MAX_BODY)?;
    let name = bounded(&body.name, "name", 100)?;
    let kind = TokenKind::parse(&body.kind, &body.scopes)?;
    let expires_at = match body.lifespan {
        None => None,
        Some(ms) if (1..=MAX_LIFESPAN_MS).contains(&ms) => {
            Some(Utc::now() + chrono::Duration::milliseconds(ms))
        }
        Some(_) => {
            return Err(Error::invalid(
                "lifespan",
                "lifespan must be a positive number of milliseconds up to ten years, or null",
            ));
        }
    };
    let token = new_token(API_TOKEN_PREFIX);
    let mut client = app.platform.db.client().await?;
    let tx = client.transaction().await?;
    let created = ApiToken::create(
        &*tx,
        &NewToken {
            name: &name,
            description: body.description.trim(),
            kind: &kind,
            token_hash: &token_hash(token.expose()),
            expires_at,
            created_by: principal.staff_id(),
        },
    )
    .await?;
    audit::record(
        &*tx,
        &principal.actor(),
        "token.create",
        &format!("token:{}", created.document_id),
        json!({ "type": kind.name(), "scopes": kind.scopes() }),
    )
    .await?;
    tx.commit().await?;
    let mut view = serde_json::to_value(&created).map_err(Error::internal)?;
    // The only time the token is ever shown.
    view["accessKey"] = Value::from(token.expose());
    Ok(data(StatusCode::CREATED, view))
}

async fn revoke_token(app: Arc<Admin>, call: Call) -> Answer {
    let principal = call.principal()?;
    let document_id = path_param(&call.req, "documentId")?;
    let mut client = app.platform.db.client().await?;
    let tx = client.transaction().await?;
    if !ApiToken::revoke(&*tx, document_id).await? {
        return Err(Error::NotFound("no such active token".into()));
    }
    audit::record(
        &*tx,
        &principal.actor(),
        "token.revoke",
        &format!("token:{document_id}"),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(no_content())
}

async fn member_id(client: &impl platform::db::GenericClient, document_id: &str) -> Result<i64> {
    identity::members::id_of(client, document_id)
        .await?
        .ok_or_else(|| Error::NotFound("no such member".into()))
}

async fn list_entitlements(app: Arc<Admin>, call: Call) -> Answer {
    let client = app.platform.db.client().await?;
    let member_id = member_id(&**client, path_param(&call.req, "documentId")?).await?;
    Ok(data(
        StatusCode::OK,
        entitlements::list(&**client, member_id).await?,
    ))
}

async fn grant_entitlement(app: Arc<Admin>, call: Call) -> Answer {
    let principal = call.principal()?;
    let body: GrantBody = parse_json(&call.req, MAX_BODY)?;
    bounded(&body.product.code, "product.code", 100)?;
    let member = path_param(&call.req, "documentId")?;
    let mut client = app.platform.db.client().await?;
    let tx = client.transaction().await?;
    let member_id = member_id(&*tx, member).await?;
    let granted = entitlements::grant(
        &*tx,
        &Grant {
            member_id,
            product: &body.product,
            source: Source::Comp,
            source_ref: None,
            starts_at: body.starts_at,
            expires_at: body.expires_at,
            granted_by: principal.staff_id(),
        },
    )
    .await?
    .ok_or_else(|| Error::internal("comp grant returned no row"))?;
    audit::record(
        &*tx,
        &principal.actor(),
        "entitlement.grant",
        &format!("member:{member}"),
        json!({ "entitlement": granted.document_id, "product": body.product }),
    )
    .await?;
    tx.commit().await?;
    Ok(data(StatusCode::CREATED, granted))
}

async fn revoke_entitlement(app: Arc<Admin>, call: Call) -> Answer {
    let principal = call.principal()?;
    let document_id = path_param(&call.req, "documentId")?;
    let mut client = app.platform.db.client().await?;
    let tx = client.transaction().await?;
    if !entitlements::revoke(&*tx, document_id).await? {
        return Err(Error::NotFound("no such active entitlement".into()));
    }
    audit::record(
        &*tx,
        &principal.actor(),
        "entitlement.revoke",
        &format!("entitlement:{document_id}"),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(no_content())
}

async fn audit_trail(app: Arc<Admin>, _: Call) -> Answer {
    let client = app.platform.db.client().await?;
    Ok(data(StatusCode::OK, audit::recent(&**client, 100).await?))
}

/// The settings this function reads besides the core.
pub type Settings = WebhookConfig;

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    platform: Arc<Platform>,
    webhooks: Settings,
) -> Result<impl platform::runtime::Handler> {
    let admin = Admin {
        access: Access::for_staff(&platform),
        lockout: Lockout::new(&platform, LOCKOUT),
        signing: Signing::new(&platform, &webhooks),
        platform: platform.clone(),
    };
    Router::new(&platform, admin, ROUTES)
}
