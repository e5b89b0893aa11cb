//! Member accounts over HTTP: register, sign in and out, who am I, email
//! verification, forgotten and changed passwords, data export and account deletion.
//!
//! Sessions are opaque tokens in Redis (`shared::session`), returned in the body for
//! Bearer clients and as an HttpOnly cookie for browsers. Nothing here reveals whether
//! an email is registered: login and forgot-password answer the same either way, after
//! the same work. Mail is written to the outbox in the transaction that causes it.

use std::{sync::Arc, time::Duration};

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use shared::{
    Error, Platform, Result,
    access::presented,
    email::Email,
    entitlements,
    http::{data, no_content, parse_json, route_key},
    mail::{self, MailJob},
    members::{self, Member, Purpose},
    password::{self, Password},
    ratelimit::Policy,
    secret::Secret,
    session::{Session, SessionStore},
};
use tokio_postgres::types::Type;

pub const SESSION_COOKIE: &str = "bx_session";
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_BODY: usize = 16 * 1024;

const fn policy(name: &'static str, limit: u32, secs: u64) -> Policy {
    Policy {
        name,
        limit,
        window: Duration::from_secs(secs),
    }
}
const REGISTER_PER_IP: Policy = policy("register-ip", 10, 3600);
const LOGIN_PER_IP: Policy = policy("login-ip", 30, 300);
const LOGIN_PER_ACCOUNT: Policy = policy("login-account", 10, 900);
const FORGOT_PER_IP: Policy = policy("forgot-ip", 10, 3600);
const FORGOT_PER_ACCOUNT: Policy = policy("forgot-account", 3, 3600);
const VERIFY_PER_ACCOUNT: Policy = policy("verify-account", 3, 3600);
const TOKEN_PER_IP: Policy = policy("token-ip", 30, 3600);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegisterBody {
    email: Email,
    password: String,
    #[serde(default)]
    display_name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    token: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChangeBody {
    current_password: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    password: String,
}

fn client_ip(req: &Request) -> String {
    shared::http::source_ip(req).unwrap_or("unknown").to_owned()
}

fn session_cookie(token: &str, max_age: u64) -> HeaderValue {
    let value = format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn signed_in(status: StatusCode, token: &Secret, member: &Member) -> Response<Body> {
    let mut response = data(status, json!({ "token": token.expose(), "member": member }));
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(token.expose(), SESSION_TTL.as_secs()),
    );
    response
}

fn accepted() -> Response<Body> {
    data(StatusCode::ACCEPTED, json!({ "ok": true }))
}

fn signed_out() -> Response<Body> {
    let mut response = no_content();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    response
}

struct Auth {
    platform: Arc<Platform>,
    sessions: SessionStore,
}

impl Auth {
    /// A frontend link: `path` is relative, so a site under a base path keeps it.
    fn link(&self, path: &str, token: &Secret) -> Result<String> {
        let mut url = self
            .platform
            .config
            .site_url
            .join(path)
            .map_err(Error::internal)?;
        url.query_pairs_mut().append_pair("token", token.expose());
        Ok(url.to_string())
    }

    /// Writes a mail job and a link token for `member` inside `tx`.
    async fn mail_link(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        member: &Member,
        purpose: Purpose,
    ) -> Result<i64> {
        let token = members::issue_token(tx, member.id, purpose).await?;
        let (template, path) = match purpose {
            Purpose::VerifyEmail => ("verify-email", "verify-email"),
            Purpose::ResetPassword => ("reset-password", "reset-password"),
        };
        let to = Email::parse(&member.email).map_err(Error::internal)?;
        mail::enqueue(
            tx,
            &MailJob {
                template,
                to,
                variables: json!({ "name": member.display_name, "link": self.link(path, &token)? }),
            },
        )
        .await
    }

    async fn register(&self, req: Request) -> Result<Response<Body>> {
        self.platform
            .limiter
            .hit(REGISTER_PER_IP, &client_ip(&req))
            .await?
            .check()?;
        let body: RegisterBody = parse_json(&req, MAX_BODY)?;
        let password = Password::parse_new(&body.password, "password")?;
        let display_name = body.display_name.trim();
        if display_name.chars().count() > 64 {
            return Err(Error::invalid(
                "displayName",
                "display name must be at most 64 characters",
            ));
        }
        let hash = password::hash(&password).await?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .query_typed(
                &format!(
                    "INSERT INTO members (email, password_hash, display_name) VALUES ($1, $2, $3)
                     ON CONFLICT (email) DO NOTHING RETURNING {}",
                    members::COLUMNS
                ),
                &[
                    (&body.email.as_str(), Type::TEXT),
                    (&hash, Type::TEXT),
                    (&display_name, Type::TEXT),
                ],
            )
            .await?;
        let Some(row) = inserted.first() else {
            return Err(Error::Conflict("this email is already registered".into()));
        };
        let member = Member::from_row(row);
        let job = self.mail_link(&tx, &member, Purpose::VerifyEmail).await?;
        tx.commit().await?;
        self.platform.mail.dispatch(&[job]).await;
        let (token, _) = self.sessions.create(&member.subject()).await?;
        tracing::info!(member = %member.document_id, "member registered");
        Ok(signed_in(StatusCode::CREATED, &token, &member))
    }

    async fn login(&self, req: Request) -> Result<Response<Body>> {
        let limiter = &self.platform.limiter;
        limiter.hit(LOGIN_PER_IP, &client_ip(&req)).await?.check()?;
        let body: LoginBody = parse_json(&req, MAX_BODY)?;
        let password = Password::parse_attempt(&body.password)?;
        let account = body.email.trim().to_lowercase();
        limiter.hit(LOGIN_PER_ACCOUNT, &account).await?.check()?;
        // A malformed email cannot belong to anyone: same answer, same work.
        let found = match Email::parse(&body.email) {
            Ok(email) => {
                let client = self.platform.db.client().await?;
                members::with_password_by_email(&**client, email.as_str()).await?
            }
            Err(_) => None,
        };
        let stored = found.as_ref().map(|(_, hash)| hash.as_str());
        let verified = password::verify(&password, stored).await;
        let member = match found {
            Some((member, _)) if verified => member,
            _ => return Err(Error::Unauthorized("invalid email or password".into())),
        };
        let (token, _) = self.sessions.create(&member.subject()).await?;
        Ok(signed_in(StatusCode::OK, &token, &member))
    }

    async fn current(&self, req: &Request) -> Result<(Session, Member)> {
        let unauthorized = || Error::Unauthorized("sign in first".into());
        let token = presented(req, SESSION_COOKIE).ok_or_else(unauthorized)?;
        let session = self
            .sessions
            .lookup(&token)
            .await?
            .ok_or_else(unauthorized)?;
        let document_id = session
            .subject
            .strip_prefix("member:")
            .ok_or_else(unauthorized)?;
        let client = self.platform.db.client().await?;
        let member = members::by_document_id(&**client, document_id)
            .await?
            .ok_or_else(unauthorized)?;
        Ok((session, member))
    }

    async fn me(&self, req: Request) -> Result<Response<Body>> {
        let (_, member) = self.current(&req).await?;
        Ok(data(StatusCode::OK, member))
    }

    async fn logout(&self, req: Request) -> Result<Response<Body>> {
        let (session, _) = self.current(&req).await?;
        self.sessions.revoke(&session).await?;
        Ok(signed_out())
    }

    async fn logout_everywhere(&self, req: Request) -> Result<Response<Body>> {
        let (_, member) = self.current(&req).await?;
        self.sessions.revoke_all(&member.subject(), None).await?;
        Ok(signed_out())
    }

    async fn send_verification(&self, req: Request) -> Result<Response<Body>> {
        let (_, member) = self.current(&req).await?;
        if member.email_verified {
            return Err(Error::Conflict("this email is already verified".into()));
        }
        self.platform
            .limiter
            .hit(VERIFY_PER_ACCOUNT, &member.document_id)
            .await?
            .check()?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let job = self.mail_link(&tx, &member, Purpose::VerifyEmail).await?;
        tx.commit().await?;
        self.platform.mail.dispatch(&[job]).await;
        Ok(accepted())
    }

    async fn confirm_verification(&self, req: Request) -> Result<Response<Body>> {
        self.platform
            .limiter
            .hit(TOKEN_PER_IP, &client_ip(&req))
            .await?
            .check()?;
        let body: TokenBody = parse_json(&req, MAX_BODY)?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let member = members::consume_token(&*tx, &body.token, Purpose::VerifyEmail).await?;
        members::mark_verified(&*tx, member.id).await?;
        tx.commit().await?;
        Ok(data(StatusCode::OK, json!({ "emailVerified": true })))
    }

    async fn forgot_password(&self, req: Request) -> Result<Response<Body>> {
        let limiter = &self.platform.limiter;
        limiter
            .hit(FORGOT_PER_IP, &client_ip(&req))
            .await?
            .check()?;
        let body: EmailBody = parse_json(&req, MAX_BODY)?;
        let Ok(email) = Email::parse(&body.email) else {
            return Err(Error::invalid("email", "not a valid email address"));
        };
        limiter
            .hit(FORGOT_PER_ACCOUNT, email.as_str())
            .await?
            .check()?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        if let Some((member, _)) = members::with_password_by_email(&*tx, email.as_str()).await? {
            let job = self.mail_link(&tx, &member, Purpose::ResetPassword).await?;
            tx.commit().await?;
            self.platform.mail.dispatch(&[job]).await;
        }
        // The same answer whether or not the email is registered.
        Ok(accepted())
    }

    /// Sets a new password and revokes every session but `keep`.
    async fn replace_password(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        member: &Member,
        new: &Password,
        keep: Option<&Session>,
    ) -> Result<i64> {
        let hash = password::hash(new).await?;
        members::set_password_hash(tx, member.id, &hash).await?;
        let to = Email::parse(&member.email).map_err(Error::internal)?;
        let job = mail::enqueue(
            tx,
            &MailJob {
                template: "password-changed",
                to,
                variables: json!({ "name": member.display_name }),
            },
        )
        .await?;
        self.sessions.revoke_all(&member.subject(), keep).await?;
        Ok(job)
    }

    async fn reset_password(&self, req: Request) -> Result<Response<Body>> {
        self.platform
            .limiter
            .hit(TOKEN_PER_IP, &client_ip(&req))
            .await?
            .check()?;
        let body: ResetBody = parse_json(&req, MAX_BODY)?;
        let new = Password::parse_new(&body.password, "password")?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let member = members::consume_token(&*tx, &body.token, Purpose::ResetPassword).await?;
        // Following the link proves the mailbox too.
        members::mark_verified(&*tx, member.id).await?;
        let job = self.replace_password(&tx, &member, &new, None).await?;
        tx.commit().await?;
        self.platform.mail.dispatch(&[job]).await;
        Ok(signed_out())
    }

    async fn change_password(&self, req: Request) -> Result<Response<Body>> {
        let (session, member) = self.current(&req).await?;
        let body: ChangeBody = parse_json(&req, MAX_BODY)?;
        let current = Password::parse_attempt(&body.current_password)
            .map_err(|_| Error::invalid("currentPassword", "the current password is wrong"))?;
        let new = Password::parse_new(&body.new_password, "newPassword")?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let stored = members::password_hash(&*tx, member.id).await?;
        if !password::verify(&current, Some(&stored)).await {
            return Err(Error::invalid(
                "currentPassword",
                "the current password is wrong",
            ));
        }
        let job = self.replace_password(&tx, &member, &new, None).await?;
        tx.commit().await?;
        self.platform.mail.dispatch(&[job]).await;
        self.sessions.revoke(&session).await?;
        // A fresh session replaces the old one (and every other was revoked above).
        let (token, _) = self.sessions.create(&member.subject()).await?;
        Ok(signed_in(StatusCode::OK, &token, &member))
    }

    async fn export(&self, req: Request) -> Result<Response<Body>> {
        let (_, member) = self.current(&req).await?;
        let client = self.platform.db.client().await?;
        let entitlements = entitlements::list(&**client, member.id).await?;
        let mut response = data(
            StatusCode::OK,
            json!({ "member": member, "entitlements": entitlements }),
        );
        response.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"bianxian-export.json\""),
        );
        Ok(response)
    }

    async fn delete_account(&self, req: Request) -> Result<Response<Body>> {
        let (_, member) = self.current(&req).await?;
        let body: DeleteBody = parse_json(&req, MAX_BODY)?;
        let attempt = Password::parse_attempt(&body.password)
            .map_err(|_| Error::invalid("password", "the password is wrong"))?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let stored = members::password_hash(&*tx, member.id).await?;
        if !password::verify(&attempt, Some(&stored)).await {
            return Err(Error::invalid("password", "the password is wrong"));
        }
        members::anonymise(&*tx, member.id).await?;
        tx.commit().await?;
        self.sessions.revoke_all(&member.subject(), None).await?;
        tracing::info!(member = %member.document_id, "member deleted their account");
        Ok(signed_out())
    }

    async fn route(&self, req: Request) -> Result<Response<Body>> {
        match route_key(&req) {
            "POST /auth/register" => self.register(req).await,
            "POST /auth/login" => self.login(req).await,
            "POST /auth/logout" => self.logout(req).await,
            "POST /auth/logout-all" => self.logout_everywhere(req).await,
            "GET /auth/me" => self.me(req).await,
            "DELETE /auth/me" => self.delete_account(req).await,
            "GET /auth/me/export" => self.export(req).await,
            "POST /auth/verify-email/send" => self.send_verification(req).await,
            "POST /auth/verify-email/confirm" => self.confirm_verification(req).await,
            "POST /auth/forgot-password" => self.forgot_password(req).await,
            "POST /auth/reset-password" => self.reset_password(req).await,
            "POST /auth/change-password" => self.change_password(req).await,
            other => Err(Error::NotFound(format!("no auth route `{other}`"))),
        }
    }
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(platform: Arc<Platform>) -> impl shared::runtime::Handler {
    let sessions = SessionStore::new(
        platform.redis.clone(),
        &platform.config.redis.key_prefix,
        SESSION_TTL,
    );
    let auth = Arc::new(Auth { platform, sessions });
    move |req| {
        let auth = auth.clone();
        async move { auth.route(req).await }
    }
}
