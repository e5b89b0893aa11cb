//! The admin API for staff and machines: staff sign-in, staff accounts, API tokens,
//! member entitlements, outgoing webhooks (`webhooks`) and the audit trail.
//!
//! Every route but sign-in starts with `access.authenticate` and `require(permission)`;
//! the role × route matrix test in tests/api/admin.rs walks all of them. Every write
//! records an audit entry in the same transaction.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::{
    Error, Platform, Result,
    access::{
        API_TOKEN_COLUMNS, API_TOKEN_PREFIX, Access, ApiToken, Permission, Principal, Role,
        STAFF_COOKIE, TokenKind,
    },
    audit,
    email::Email,
    entitlements::{self, Grant, Product, Source},
    http::{data, no_content, parse_json, path_param, route_key},
    password::Password,
    ratelimit::Policy,
    session::{new_token, token_hash},
    staff,
};
use tokio_postgres::types::Type;

mod webhooks;

pub use shared::access::STAFF_SESSION_TTL;
const MAX_BODY: usize = 16 * 1024;
/// Strapi's longest token lifespan choice is 90 days; allow up to ten years.
const MAX_LIFESPAN_MS: i64 = 10 * 365 * 24 * 3600 * 1000;

const LOGIN_PER_IP: Policy = Policy {
    name: "admin-login-ip",
    limit: 20,
    window: Duration::from_secs(300),
};
const LOGIN_PER_ACCOUNT: Policy = Policy {
    name: "admin-login-account",
    limit: 5,
    window: Duration::from_secs(900),
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateStaffBody {
    email: Email,
    password: String,
    role: String,
    #[serde(default)]
    display_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateStaffBody {
    role: Option<String>,
    disabled: Option<bool>,
    display_name: Option<String>,
}

#[derive(Deserialize)]
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GrantBody {
    product: Product,
    starts_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

struct Admin {
    platform: Arc<Platform>,
    access: Access,
}

fn client_ip(req: &Request) -> String {
    shared::http::source_ip(req).unwrap_or("unknown").to_owned()
}

fn checked_name(raw: &str, field: &str, max: usize) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(name.to_owned())
}

impl Admin {
    async fn login(&self, req: Request) -> Result<Response<Body>> {
        let limiter = &self.platform.limiter;
        limiter.hit(LOGIN_PER_IP, &client_ip(&req)).await?.check()?;
        let body: LoginBody = parse_json(&req, MAX_BODY)?;
        limiter
            .hit(LOGIN_PER_ACCOUNT, &body.email.trim().to_lowercase())
            .await?
            .check()?;
        let password = Password::parse_attempt(&body.password)?;
        let client = self.platform.db.client().await?;
        let staff = staff::authenticate(&**client, &body.email, &password).await?;
        let (token, _) = self
            .access
            .sessions()
            .create(&format!("staff:{}", staff.document_id))
            .await?;
        let mut response = data(
            StatusCode::OK,
            json!({ "token": token.expose(), "user": staff }),
        );
        let cookie = format!(
            "{STAFF_COOKIE}={}; Path=/admin; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
            token.expose(),
            STAFF_SESSION_TTL.as_secs()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        Ok(response)
    }

    async fn logout(&self, principal: &Principal) -> Result<Response<Body>> {
        match principal {
            Principal::Staff(staff) => {
                self.access.sessions().revoke(&staff.session).await?;
                Ok(no_content())
            }
            Principal::Anonymous => Err(Error::Unauthorized("sign in first".into())),
            Principal::Token(_) => Err(Error::validation("API tokens are revoked, not logged out")),
        }
    }

    async fn me(&self, principal: &Principal) -> Result<Response<Body>> {
        match principal {
            Principal::Staff(identity) => {
                let client = self.platform.db.client().await?;
                let row = client
                    .query_typed(
                        &format!("SELECT {} FROM staff_users WHERE id = $1", staff::COLUMNS),
                        &[(&identity.id, Type::INT8)],
                    )
                    .await?;
                let row = row
                    .first()
                    .ok_or_else(|| Error::Unauthorized("sign in first".into()))?;
                Ok(data(StatusCode::OK, staff::Staff::from_row(row)?))
            }
            Principal::Token(token) => Ok(data(
                StatusCode::OK,
                json!({ "token": token.document_id, "type": token.kind.name(), "scopes": token.kind.scopes() }),
            )),
            Principal::Anonymous => Err(Error::Unauthorized("sign in first".into())),
        }
    }

    async fn list_staff(&self) -> Result<Response<Body>> {
        let client = self.platform.db.client().await?;
        let rows = client
            .query_typed(
                &format!("SELECT {} FROM staff_users ORDER BY id", staff::COLUMNS),
                &[],
            )
            .await?;
        let users = rows
            .iter()
            .map(staff::Staff::from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(data(StatusCode::OK, users))
    }

    async fn create_staff(&self, req: &Request, principal: &Principal) -> Result<Response<Body>> {
        let body: CreateStaffBody = parse_json(req, MAX_BODY)?;
        let password = Password::parse_new(&body.password, "password")?;
        let role = Role::parse(&body.role)?;
        if body.display_name.chars().count() > 64 {
            return Err(Error::invalid(
                "displayName",
                "displayName must be at most 64 characters",
            ));
        }
        let mut client = self.platform.db.client().await?;
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

    async fn update_staff(&self, req: &Request, principal: &Principal) -> Result<Response<Body>> {
        let document_id = path_param(req, "documentId")?.to_owned();
        let body: UpdateStaffBody = parse_json(req, MAX_BODY)?;
        let role = body.role.as_deref().map(Role::parse).transpose()?;
        let display_name = body
            .display_name
            .as_deref()
            .map(|n| checked_name(n, "displayName", 64))
            .transpose()?;
        if matches!(principal, Principal::Staff(me) if me.document_id == document_id)
            && (body.disabled == Some(true) || role.is_some_and(|r| r != Role::Admin))
        {
            return Err(Error::Conflict(
                "admins cannot demote or disable themselves".into(),
            ));
        }
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_typed(
                &format!(
                    "UPDATE staff_users SET
                         role = COALESCE($2, role),
                         display_name = COALESCE($3, display_name),
                         disabled_at = CASE WHEN $4::bool IS NULL THEN disabled_at
                                            WHEN $4 THEN COALESCE(disabled_at, now()) ELSE NULL END
                     WHERE document_id = $1 RETURNING {}",
                    staff::COLUMNS
                ),
                &[
                    (&document_id, Type::TEXT),
                    (&role.map(Role::as_str), Type::TEXT),
                    (&display_name, Type::TEXT),
                    (&body.disabled, Type::BOOL),
                ],
            )
            .await?;
        let updated = staff::Staff::from_row(
            row.first()
                .ok_or_else(|| Error::NotFound("no such staff account".into()))?,
        )?;
        audit::record(
            &*tx,
            &principal.actor(),
            "staff.update",
            &format!("staff:{document_id}"),
            json!({ "role": role.map(Role::as_str), "disabled": body.disabled }),
        )
        .await?;
        tx.commit().await?;
        if body.disabled == Some(true) {
            self.access
                .sessions()
                .revoke_all(&format!("staff:{document_id}"), None)
                .await?;
        }
        Ok(data(StatusCode::OK, updated))
    }

    async fn list_tokens(&self) -> Result<Response<Body>> {
        let client = self.platform.db.client().await?;
        let rows = client
            .query_typed(
                &format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens ORDER BY id"),
                &[],
            )
            .await?;
        Ok(data(
            StatusCode::OK,
            rows.iter().map(ApiToken::from_row).collect::<Vec<_>>(),
        ))
    }

    async fn create_token(&self, req: &Request, principal: &Principal) -> Result<Response<Body>> {
        let body: CreateTokenBody = parse_json(req, MAX_BODY)?;
        let name = checked_name(&body.name, "name", 100)?;
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
        let scopes: Vec<String> = kind.scopes().into_iter().map(str::to_owned).collect();
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_typed(
                &format!(
                    "INSERT INTO api_tokens (name, description, kind, scopes, token_hash, expires_at, created_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {API_TOKEN_COLUMNS}"
                ),
                &[
                    (&name, Type::TEXT),
                    (&body.description.trim(), Type::TEXT),
                    (&kind.name(), Type::TEXT),
                    (&scopes, Type::TEXT_ARRAY),
                    (&token_hash(token.expose()), Type::TEXT),
                    (&expires_at, Type::TIMESTAMPTZ),
                    (&principal.staff_id(), Type::INT8),
                ],
            )
            .await?;
        let created = ApiToken::from_row(
            row.first()
                .ok_or_else(|| Error::internal("insert returned no row"))?,
        );
        audit::record(
            &*tx,
            &principal.actor(),
            "token.create",
            &format!("token:{}", created.document_id),
            json!({ "type": kind.name(), "scopes": scopes }),
        )
        .await?;
        tx.commit().await?;
        let mut view = serde_json::to_value(&created).map_err(Error::internal)?;
        // The only time the token is ever shown.
        view["accessKey"] = Value::from(token.expose());
        Ok(data(StatusCode::CREATED, view))
    }

    async fn revoke_token(&self, req: &Request, principal: &Principal) -> Result<Response<Body>> {
        let document_id = path_param(req, "documentId")?.to_owned();
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let rows = tx
            .query_typed(
                "UPDATE api_tokens SET revoked_at = now() WHERE document_id = $1 AND revoked_at IS NULL RETURNING id",
                &[(&document_id, Type::TEXT)],
            )
            .await?;
        if rows.is_empty() {
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

    async fn member_id(
        client: &impl tokio_postgres::GenericClient,
        document_id: &str,
    ) -> Result<i64> {
        client
            .query_typed(
                "SELECT id FROM members WHERE document_id = $1",
                &[(&document_id, Type::TEXT)],
            )
            .await?
            .first()
            .map(|r| r.get(0))
            .ok_or_else(|| Error::NotFound("no such member".into()))
    }

    async fn list_entitlements(&self, req: &Request) -> Result<Response<Body>> {
        let client = self.platform.db.client().await?;
        let member_id = Self::member_id(&**client, path_param(req, "documentId")?).await?;
        Ok(data(
            StatusCode::OK,
            entitlements::list(&**client, member_id).await?,
        ))
    }

    async fn grant_entitlement(
        &self,
        req: &Request,
        principal: &Principal,
    ) -> Result<Response<Body>> {
        let body: GrantBody = parse_json(req, MAX_BODY)?;
        checked_name(&body.product.code, "product.code", 100)?;
        let member = path_param(req, "documentId")?.to_owned();
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let member_id = Self::member_id(&*tx, &member).await?;
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

    async fn revoke_entitlement(
        &self,
        req: &Request,
        principal: &Principal,
    ) -> Result<Response<Body>> {
        let document_id = path_param(req, "documentId")?.to_owned();
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        if !entitlements::revoke(&*tx, &document_id).await? {
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

    async fn audit_trail(&self) -> Result<Response<Body>> {
        let client = self.platform.db.client().await?;
        let rows = client
            .query_typed(
                "SELECT actor, action, subject, details, created_at FROM audit_log ORDER BY id DESC LIMIT 100",
                &[],
            )
            .await?;
        let entries: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "actor": r.get::<_, String>(0),
                    "action": r.get::<_, String>(1),
                    "subject": r.get::<_, String>(2),
                    "details": r.get::<_, Value>(3),
                    "createdAt": r.get::<_, DateTime<Utc>>(4),
                })
            })
            .collect();
        Ok(data(StatusCode::OK, entries))
    }

    async fn route(&self, req: Request) -> Result<Response<Body>> {
        let key = route_key(&req).to_owned();
        if key == "POST /admin/login" {
            return self.login(req).await;
        }
        let principal = self.access.authenticate(&req).await?;
        if let Some(permission) = required_permission(&key) {
            principal.require(permission)?;
        }
        match key.as_str() {
            "POST /admin/logout" => self.logout(&principal).await,
            "GET /admin/me" => self.me(&principal).await,
            "GET /admin/users" => self.list_staff().await,
            "POST /admin/users" => self.create_staff(&req, &principal).await,
            "PATCH /admin/users/{documentId}" => self.update_staff(&req, &principal).await,
            "GET /admin/tokens" => self.list_tokens().await,
            "POST /admin/tokens" => self.create_token(&req, &principal).await,
            "DELETE /admin/tokens/{documentId}" => self.revoke_token(&req, &principal).await,
            "GET /admin/members/{documentId}/entitlements" => self.list_entitlements(&req).await,
            "POST /admin/members/{documentId}/entitlements" => {
                self.grant_entitlement(&req, &principal).await
            }
            "DELETE /admin/entitlements/{documentId}" => {
                self.revoke_entitlement(&req, &principal).await
            }
            "GET /admin/audit" => self.audit_trail().await,
            "GET /admin/webhooks" => webhooks::list(&self.platform).await,
            "POST /admin/webhooks" => webhooks::create(&self.platform, &req, &principal).await,
            "PUT /admin/webhooks/{documentId}" => {
                webhooks::update(&self.platform, &req, &principal).await
            }
            "DELETE /admin/webhooks/{documentId}" => {
                webhooks::delete(&self.platform, &req, &principal).await
            }
            "POST /admin/webhooks/{documentId}/rotate-secret" => {
                webhooks::rotate_secret(&self.platform, &req, &principal).await
            }
            "GET /admin/webhooks/{documentId}/deliveries" => {
                webhooks::deliveries(&self.platform, &req).await
            }
            other => Err(Error::NotFound(format!("no admin route `{other}`"))),
        }
    }
}

/// The permission each admin route needs; `None` for routes open to any principal
/// (they still reject anonymous callers themselves).
pub fn required_permission(route_key: &str) -> Option<Permission> {
    Some(match route_key {
        "GET /admin/users" | "POST /admin/users" | "PATCH /admin/users/{documentId}" => {
            Permission::ManageStaff
        }
        "GET /admin/tokens" | "POST /admin/tokens" | "DELETE /admin/tokens/{documentId}" => {
            Permission::ManageTokens
        }
        "GET /admin/members/{documentId}/entitlements" => Permission::ReadMembers,
        "POST /admin/members/{documentId}/entitlements"
        | "DELETE /admin/entitlements/{documentId}" => Permission::ManageEntitlements,
        "GET /admin/audit" => Permission::ReadAudit,
        "GET /admin/webhooks"
        | "POST /admin/webhooks"
        | "PUT /admin/webhooks/{documentId}"
        | "DELETE /admin/webhooks/{documentId}"
        | "POST /admin/webhooks/{documentId}/rotate-secret"
        | "GET /admin/webhooks/{documentId}/deliveries" => Permission::ManageWebhooks,
        _ => return None,
    })
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(platform: Arc<Platform>) -> impl shared::runtime::Handler {
    let access = Access::for_staff(&platform);
    let admin = Arc::new(Admin { platform, access });
    move |req| {
        let admin = admin.clone();
        async move { admin.route(req).await }
    }
}
