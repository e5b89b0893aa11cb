//! Who is asking, and what they may do: the one permission mechanism every admin
//! route goes through.
//!
//! A request is authenticated once into a [`Principal`] (anonymous, a staff session, or
//! an API token); a handler then calls `principal.require(Permission::X)`. Roles and
//! token kinds map to permissions in [`Role::allows`] and [`TokenKind::allows`], two
//! small tables a reviewer can read at a glance. Anonymous callers get 401, known ones
//! without the permission 403.

use platform::db::GenericClient;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::header;
use lambda_http::Request;
use serde::{Deserialize, Serialize};
use tokio_postgres::types::Type;

use platform::{
    db::Db,
    error::{Error, Result},
};

use crate::{
    members::{self, Member},
    session::{Session, SessionStore, token_hash},
};

pub const STAFF_COOKIE: &str = "bx_admin_session";
/// The member session cookie, set by the auth function and read wherever members are.
pub const MEMBER_COOKIE: &str = "bx_session";
/// How long a member session lives without use; every authenticated request renews it.
pub const MEMBER_SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a staff session lives without use; every authenticated request renews it.
pub const STAFF_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
pub const API_TOKEN_PREFIX: &str = "bxt_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Admin,
    Editor,
    Author,
    /// Reads the catalogue, orders and revenue; changes nothing.
    Finance,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "admin" => Ok(Role::Admin),
            "editor" => Ok(Role::Editor),
            "author" => Ok(Role::Author),
            "finance" => Ok(Role::Finance),
            _ => Err(Error::invalid(
                "role",
                "role must be admin, editor, author or finance",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Author => "author",
            Role::Finance => "finance",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Editor => matches!(
                permission,
                ReadContent | WriteOwnContent | WriteAnyContent | PublishContent
            ),
            Role::Author => matches!(permission, ReadContent | WriteOwnContent),
            Role::Finance => matches!(permission, ReadPayments),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ReadContent,
    /// Authors: create content and edit their own drafts.
    WriteOwnContent,
    WriteAnyContent,
    PublishContent,
    ReadMembers,
    /// Change members' accounts as support does: sign a member out everywhere.
    ManageMembers,
    ManageEntitlements,
    ReadAudit,
    /// The catalogue, orders and revenue.
    ReadPayments,
    /// Change the catalogue, refund orders.
    ManagePayments,
    /// Subscribers, lists and suppressions (and, as they land, campaigns).
    ReadMarketing,
    ManageMarketing,
    ManageMail,
    /// Send a stored template to one address (`POST /admin/tx`): what other
    /// services' tokens carry.
    SendMail,
    ManageStaff,
    ManageTokens,
    /// Register the URLs content events are POSTed to, and see their secrets.
    ManageWebhooks,
}

impl Permission {
    pub const ALL: [Permission; 17] = [
        Permission::ReadContent,
        Permission::WriteOwnContent,
        Permission::WriteAnyContent,
        Permission::PublishContent,
        Permission::ReadMembers,
        Permission::ManageMembers,
        Permission::ManageEntitlements,
        Permission::ReadAudit,
        Permission::ReadPayments,
        Permission::ManagePayments,
        Permission::ReadMarketing,
        Permission::ManageMarketing,
        Permission::ManageMail,
        Permission::SendMail,
        Permission::ManageStaff,
        Permission::ManageTokens,
        Permission::ManageWebhooks,
    ];

    /// The scope name a custom API token lists.
    pub fn scope(self) -> &'static str {
        match self {
            Permission::ReadContent => "content.read",
            Permission::WriteOwnContent => "content.write-own",
            Permission::WriteAnyContent => "content.write",
            Permission::PublishContent => "content.publish",
            Permission::ReadMembers => "members.read",
            Permission::ManageMembers => "members.write",
            Permission::ManageEntitlements => "entitlements.write",
            Permission::ReadAudit => "audit.read",
            Permission::ReadPayments => "payments.read",
            Permission::ManagePayments => "payments.write",
            Permission::ReadMarketing => "marketing.read",
            Permission::ManageMarketing => "marketing.write",
            Permission::ManageMail => "mail.write",
            Permission::SendMail => "mail.send",
            Permission::ManageStaff => "staff.write",
            Permission::ManageTokens => "tokens.write",
            Permission::ManageWebhooks => "webhooks.write",
        }
    }

    pub fn from_scope(scope: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.scope() == scope)
    }

    /// What a read-only token may do. Neither `payments.read` nor `members.read`:
    /// such a token sits in a frontend server, and a leaked one must not list who
    /// bought what or export every member's address (a custom token can carry those
    /// scopes).
    fn is_read(self) -> bool {
        matches!(self, Permission::ReadContent | Permission::ReadAudit)
    }

    /// Managing people, tokens and webhooks stays with humans: no token can mint
    /// tokens or staff, or point signed content events (and their secret) elsewhere.
    pub fn grantable_to_tokens(self) -> bool {
        !matches!(
            self,
            Permission::ManageStaff | Permission::ManageTokens | Permission::ManageWebhooks
        )
    }

    /// What a staff member may be granted beyond their role: the same as a token,
    /// so managing people, tokens and webhooks stays with the admin role.
    pub fn grantable_to_staff(self) -> bool {
        self.grantable_to_tokens()
    }

    /// Parses the scope names granted to a staff member; 400 for an unknown or
    /// ungrantable one. Sorted, without repeats.
    pub fn parse_grants(scopes: &[String]) -> Result<Vec<Self>> {
        let mut grants = scopes
            .iter()
            .map(|scope| {
                Self::from_scope(scope)
                    .filter(|p| p.grantable_to_staff())
                    .ok_or_else(|| {
                        Error::invalid("grants", format!("unknown or ungrantable scope `{scope}`"))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        grants.sort_by_key(|p| p.scope());
        grants.dedup();
        Ok(grants)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    ReadOnly,
    FullAccess,
    Custom(Vec<Permission>),
}

impl TokenKind {
    pub fn name(&self) -> &'static str {
        match self {
            TokenKind::ReadOnly => "read-only",
            TokenKind::FullAccess => "full-access",
            TokenKind::Custom(_) => "custom",
        }
    }

    /// Parses a kind and, for `custom`, its scopes.
    pub fn parse(kind: &str, scopes: &[String]) -> Result<Self> {
        let parsed = match kind {
            "read-only" => TokenKind::ReadOnly,
            "full-access" => TokenKind::FullAccess,
            "custom" => {
                let mut permissions = Vec::new();
                for scope in scopes {
                    let permission = Permission::from_scope(scope)
                        .filter(|p| p.grantable_to_tokens())
                        .ok_or_else(|| {
                            Error::invalid(
                                "scopes",
                                format!("unknown or ungrantable scope `{scope}`"),
                            )
                        })?;
                    permissions.push(permission);
                }
                if permissions.is_empty() {
                    return Err(Error::invalid(
                        "scopes",
                        "a custom token needs at least one scope",
                    ));
                }
                TokenKind::Custom(permissions)
            }
            _ => {
                return Err(Error::invalid(
                    "type",
                    "type must be read-only, full-access or custom",
                ));
            }
        };
        if !matches!(parsed, TokenKind::Custom(_)) && !scopes.is_empty() {
            return Err(Error::invalid("scopes", "only custom tokens take scopes"));
        }
        Ok(parsed)
    }

    pub fn scopes(&self) -> Vec<&'static str> {
        match self {
            TokenKind::Custom(permissions) => permissions.iter().map(|p| p.scope()).collect(),
            _ => Vec::new(),
        }
    }

    pub fn allows(&self, permission: Permission) -> bool {
        permission.grantable_to_tokens()
            && match self {
                TokenKind::ReadOnly => permission.is_read(),
                TokenKind::FullAccess => true,
                TokenKind::Custom(permissions) => permissions.contains(&permission),
            }
    }
}

#[derive(Debug, Clone)]
pub struct StaffIdentity {
    pub id: i64,
    pub document_id: String,
    pub role: Role,
    /// Permissions granted beyond the role.
    pub grants: Vec<Permission>,
    pub session: Session,
}

#[derive(Debug, Clone)]
pub struct TokenIdentity {
    pub id: i64,
    pub document_id: String,
    pub kind: TokenKind,
}

#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    Staff(StaffIdentity),
    Token(TokenIdentity),
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        match self {
            Principal::Anonymous => false,
            Principal::Staff(staff) => {
                staff.role.allows(permission) || staff.grants.contains(&permission)
            }
            Principal::Token(token) => token.kind.allows(permission),
        }
    }

    pub fn require(&self, permission: Permission) -> Result<()> {
        match self {
            Principal::Anonymous => Err(Error::Unauthorized(
                "sign in or present an API token".into(),
            )),
            _ if self.can(permission) => Ok(()),
            _ => Err(Error::Forbidden(format!(
                "this action needs the `{}` permission",
                permission.scope()
            ))),
        }
    }

    /// How the audit trail names this principal.
    pub fn actor(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::Staff(staff) => format!("staff:{}", staff.document_id),
            Principal::Token(token) => format!("token:{}", token.document_id),
        }
    }

    /// The staff member's numeric id, when a human is acting.
    pub fn staff_id(&self) -> Option<i64> {
        match self {
            Principal::Staff(staff) => Some(staff.id),
            _ => None,
        }
    }
}

/// A credential as presented (`Authorization: Bearer …` or the named cookie), before
/// it is checked.
pub fn presented(req: &Request, cookie: &str) -> Option<String> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or("");
        return Some(
            value
                .strip_prefix("Bearer ")
                .unwrap_or(value)
                .trim()
                .to_owned(),
        );
    }
    self::cookie(req, cookie)
}

/// The value of the cookie `name`, if the request carries it.
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value.to_owned())
}

/// Authenticates staff requests.
#[derive(Debug, Clone)]
pub struct Access {
    db: Db,
    sessions: SessionStore,
}

impl Access {
    pub fn new(db: Db, sessions: SessionStore) -> Self {
        Self { db, sessions }
    }

    /// The staff access every admin-facing function uses: the platform's database and
    /// Redis, with staff sessions living [`STAFF_SESSION_TTL`].
    pub fn for_staff(platform: &platform::Platform) -> Self {
        let sessions = SessionStore::new(
            platform.redis.clone(),
            &platform.config.redis.key_prefix,
            STAFF_SESSION_TTL,
        );
        Self::new(platform.db.clone(), sessions)
    }

    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// The principal behind a request. A credential that is presented but invalid,
    /// expired or revoked is a 401, never a silent downgrade to anonymous.
    pub async fn authenticate(&self, req: &Request) -> Result<Principal> {
        let Some(credential) = presented(req, STAFF_COOKIE) else {
            return Ok(Principal::Anonymous);
        };
        let invalid = || Error::Unauthorized("invalid, expired or revoked credentials".into());
        if credential.starts_with(API_TOKEN_PREFIX) {
            return self.api_token(&credential).await?.ok_or_else(invalid);
        }
        let session = self
            .sessions
            .lookup(&credential, "staff:")
            .await?
            .ok_or_else(invalid)?;
        let document_id = session
            .subject
            .strip_prefix("staff:")
            .ok_or_else(invalid)?
            .to_owned();
        let client = self.db.client().await?;
        let row = client
            .query_typed(
                "SELECT id, role, grants FROM staff_users WHERE document_id = $1 AND disabled_at IS NULL",
                &[(&document_id, Type::TEXT)],
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(invalid)?;
        Ok(Principal::Staff(StaffIdentity {
            id: row.get(0),
            document_id,
            role: Role::parse(row.get(1))?,
            // A scope this build does not know grants nothing.
            grants: row
                .get::<_, Vec<String>>(2)
                .iter()
                .filter_map(|scope| Permission::from_scope(scope))
                .filter(|p| p.grantable_to_staff())
                .collect(),
            session,
        }))
    }

    async fn api_token(&self, token: &str) -> Result<Option<Principal>> {
        let client = self.db.client().await?;
        // Recording last use costs a write; once a minute per token is precise enough.
        let row = client
            .query_typed(
                "UPDATE api_tokens SET last_used_at = CASE
                     WHEN last_used_at IS NULL OR last_used_at < now() - interval '1 minute' THEN now()
                     ELSE last_used_at END
                 WHERE token_hash = $1 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > now())
                 RETURNING id, document_id, kind, scopes",
                &[(&token_hash(token), Type::TEXT)],
            )
            .await?
            .into_iter()
            .next();
        let Some(row) = row else { return Ok(None) };
        let scopes: Vec<String> = row.get(3);
        Ok(Some(Principal::Token(TokenIdentity {
            id: row.get(0),
            document_id: row.get(1),
            kind: TokenKind::parse(row.get(2), &scopes)?,
        })))
    }
}

/// What a sign-in form posts, for members and staff alike. The email is not parsed
/// here: an invalid address must fail exactly like a wrong password.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

/// Member sign-in: the one resolution of a member credential, for the auth function
/// and every reader of member-only content.
#[derive(Debug, Clone)]
pub struct MemberAccess {
    db: Db,
    sessions: SessionStore,
}

impl MemberAccess {
    /// The platform's database and Redis, with member sessions living
    /// [`MEMBER_SESSION_TTL`].
    pub fn new(platform: &platform::Platform) -> Self {
        let sessions = SessionStore::new(
            platform.redis.clone(),
            &platform.config.redis.key_prefix,
            MEMBER_SESSION_TTL,
        );
        Self {
            db: platform.db.clone(),
            sessions,
        }
    }

    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// The signed-in member and their session (renewed), or 401.
    pub async fn require(&self, req: &Request) -> Result<(Session, Member)> {
        let unauthorized = || Error::Unauthorized("sign in first".into());
        let token = presented(req, MEMBER_COOKIE).ok_or_else(unauthorized)?;
        let session = self
            .sessions
            .lookup(&token, "member:")
            .await?
            .ok_or_else(unauthorized)?;
        let member = self.member(&session).await?.ok_or_else(unauthorized)?;
        Ok((session, member))
    }

    /// The live member a session belongs to; `None` for another kind of session or a
    /// deleted account.
    pub async fn member(&self, session: &Session) -> Result<Option<Member>> {
        let Some(document_id) = session.subject.strip_prefix("member:") else {
            return Ok(None);
        };
        members::by_document_id(&**self.db.client().await?, document_id).await
    }
}

/// An API token as listed to admins (never the token itself).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    pub document_id: String,
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const API_TOKEN_COLUMNS: &str = "document_id, name, description, kind, scopes, expires_at, last_used_at, revoked_at, created_at";

/// A token about to be stored: only its hash is.
#[derive(Debug)]
pub struct NewToken<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub kind: &'a TokenKind,
    pub token_hash: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: Option<i64>,
}

impl ApiToken {
    pub async fn list(client: &impl GenericClient) -> Result<Vec<Self>> {
        Ok(client
            .query_typed(
                &format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens ORDER BY id"),
                &[],
            )
            .await?
            .iter()
            .map(Self::from_row)
            .collect())
    }

    pub async fn create(client: &impl GenericClient, new: &NewToken<'_>) -> Result<Self> {
        let scopes: Vec<&str> = new.kind.scopes();
        let rows = client
            .query_typed(
                &format!(
                    "INSERT INTO api_tokens (name, description, kind, scopes, token_hash, expires_at, created_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {API_TOKEN_COLUMNS}"
                ),
                &[
                    (&new.name, Type::TEXT),
                    (&new.description, Type::TEXT),
                    (&new.kind.name(), Type::TEXT),
                    (&scopes, Type::TEXT_ARRAY),
                    (&new.token_hash, Type::TEXT),
                    (&new.expires_at, Type::TIMESTAMPTZ),
                    (&new.created_by, Type::INT8),
                ],
            )
            .await?;
        rows.first()
            .map(Self::from_row)
            .ok_or_else(|| Error::internal("token insert returned no row"))
    }

    /// Revokes an active token; `false` when there is none with `document_id`.
    pub async fn revoke(client: &impl GenericClient, document_id: &str) -> Result<bool> {
        Ok(!client
            .query_typed(
                "UPDATE api_tokens SET revoked_at = now()
                 WHERE document_id = $1 AND revoked_at IS NULL RETURNING id",
                &[(&document_id, Type::TEXT)],
            )
            .await?
            .is_empty())
    }

    fn from_row(row: &tokio_postgres::Row) -> Self {
        Self {
            document_id: row.get(0),
            name: row.get(1),
            description: row.get(2),
            kind: row.get(3),
            scopes: row.get(4),
            expires_at: row.get(5),
            last_used_at: row.get(6),
            revoked_at: row.get(7),
            created_at: row.get(8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_strapi() {
        use Permission::*;
        assert!(Role::Author.allows(WriteOwnContent));
        assert!(!Role::Author.allows(WriteAnyContent));
        assert!(!Role::Author.allows(PublishContent));
        assert!(Role::Editor.allows(PublishContent));
        assert!(!Role::Editor.allows(ManageStaff));
        assert!(!Role::Editor.allows(ManageWebhooks));
        assert!(Permission::ALL.iter().all(|p| Role::Admin.allows(*p)));
    }

    #[test]
    fn tokens_never_manage_people_or_tokens() {
        for kind in [TokenKind::ReadOnly, TokenKind::FullAccess] {
            assert!(!kind.allows(Permission::ManageStaff));
            assert!(!kind.allows(Permission::ManageTokens));
            assert!(!kind.allows(Permission::ManageWebhooks));
        }
        assert!(TokenKind::parse("custom", &["tokens.write".into()]).is_err());
        assert!(TokenKind::parse("custom", &["webhooks.write".into()]).is_err());
        assert!(TokenKind::ReadOnly.allows(Permission::ReadContent));
        assert!(!TokenKind::ReadOnly.allows(Permission::WriteAnyContent));
    }

    #[test]
    fn custom_tokens_need_known_scopes() {
        let kind = TokenKind::parse(
            "custom",
            &["content.read".into(), "entitlements.write".into()],
        )
        .unwrap();
        assert!(kind.allows(Permission::ManageEntitlements));
        assert!(!kind.allows(Permission::PublishContent));
        assert!(TokenKind::parse("custom", &[]).is_err());
        assert!(TokenKind::parse("custom", &["content.everything".into()]).is_err());
        assert!(TokenKind::parse("read-only", &["content.read".into()]).is_err());
        assert!(TokenKind::parse("root", &[]).is_err());
    }

    #[test]
    fn only_admins_and_tokens_given_it_see_members() {
        use Permission::*;
        for role in [Role::Editor, Role::Author, Role::Finance] {
            assert!(
                !role.allows(ReadMembers) && !role.allows(ManageMembers),
                "{role:?}"
            );
        }
        assert!(Role::Admin.allows(ManageMembers));
        assert!(!TokenKind::ReadOnly.allows(ManageMembers));
        assert!(TokenKind::FullAccess.allows(ManageMembers));
    }

    #[test]
    fn every_scope_round_trips() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_scope(p.scope()), Some(p));
        }
    }
}
