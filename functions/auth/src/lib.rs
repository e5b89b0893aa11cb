//! Member accounts over HTTP: register, sign in and out, who am I, email
//! verification, forgotten and changed passwords, data export and account deletion.
//!
//! Sessions are opaque tokens in Redis (`identity::session`), returned in the body for
//! Bearer clients and as an HttpOnly cookie for browsers. Mail is written to the
//! outbox in the transaction that causes it.
//!
//! Nothing here reveals whether an email is registered, in status, body or work:
//! register, login and forgot-password answer the same either way after the same
//! steps (a password hash or check, one transaction that writes one mail, one
//! dispatch). Registering mails a verification link to a new address and a notice to
//! the owner of a registered one; the account stays pending, without a password,
//! until the link is used, which sets the password chosen at registration and signs
//! in (so signing in with it before then fails like any wrong password). A forgotten
//! password mails a reset link, or for an unknown address a note saying it has no
//! account.

use std::{sync::Arc, time::Duration};

use http::{HeaderValue, StatusCode, header};
use identity::{
    access::{LoginBody, MEMBER_COOKIE, MEMBER_SESSION_TTL, MemberAccess, cookie},
    email::Email,
    entitlements,
    identities::{self, Identity},
    lockout::{Lockout, LockoutPolicy},
    members::{self, Member, Purpose, Registration},
    password::{self, Password},
    route::{Call, Doc, Guard, Route, Router, Schema, SchemaGenerator, schema_of},
    session::{Session, SessionStore},
    wechat::{self, Intent, WechatLogin, WechatLoginConfig},
};
use lambda_http::{Body, Response};
use mail::{MailConfig, MailJob};
use platform::{
    Error, Platform, Result,
    http::{client_ip, data, no_content, parse_json, query_param},
    outbox::Queue,
    ratelimit::Policy,
    secret::Secret,
};
use schemars::{JsonSchema, json_schema};
use serde::Deserialize;
use serde_json::json;

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
/// Wrong passwords (`identity::lockout`): 10 per account from one client in 15
/// minutes, and 100 per account in an hour from unknown clients together.
const LOCKOUT: LockoutPolicy = LockoutPolicy {
    kind: "member",
    per_client: policy("login-failures", 10, 900),
    per_account: policy("login-failures-account", 100, 3600),
    cookie: "bx_device",
    cookie_path: "/auth",
};
const FORGOT_PER_IP: Policy = policy("forgot-ip", 10, 3600);
const FORGOT_PER_ACCOUNT: Policy = policy("forgot-account", 3, 3600);
const VERIFY_PER_ACCOUNT: Policy = policy("verify-account", 3, 3600);
const TOKEN_PER_IP: Policy = policy("token-ip", 30, 3600);
/// Checks of a signed-in member's current password (change, delete): a stolen
/// session must not become a password oracle.
const PASSWORD_CHECK_PER_MEMBER: Policy = policy("password-check-member", 5, 900);
/// WeChat flows started or completed from one address.
const WECHAT_PER_IP: Policy = policy("wechat-ip", 60, 3600);

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegisterBody {
    email: Email,
    password: String,
    #[serde(default)]
    display_name: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    token: String,
    password: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChangeBody {
    current_password: String,
    new_password: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    /// Required when the account has a password (not for WeChat-only accounts).
    #[serde(default)]
    password: Option<String>,
}

fn session_cookie(token: &str, max_age: u64) -> HeaderValue {
    let value = format!(
        "{MEMBER_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The cookie binding a WeChat flow to this browser, for the callback's path only.
fn state_cookie(state: &str, max_age: u64) -> HeaderValue {
    let value = format!(
        "{}={state}; Path=/auth/wechat/callback; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax",
        wechat::STATE_COOKIE
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn redirect(to: &url::Url) -> Result<Response<Body>> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::FOUND;
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(to.as_str()).map_err(Error::internal)?,
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn signed_in(status: StatusCode, token: &Secret, member: &Member) -> Response<Body> {
    let mut response = data(status, json!({ "token": token.expose(), "member": member }));
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(token.expose(), MEMBER_SESSION_TTL.as_secs()),
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

/// The function's state: what its handlers share.
pub struct Auth {
    platform: Arc<Platform>,
    members: MemberAccess,
    lockout: Lockout,
    mail: Queue,
    wechat: Option<WechatLogin>,
}

impl Auth {
    /// A frontend page: `path` is relative, so a site under a base path keeps it.
    fn page(&self, path: &str) -> Result<url::Url> {
        self.platform
            .config
            .site_url
            .join(path)
            .map_err(Error::internal)
    }

    /// A frontend page carrying a mailed link's token.
    fn link(&self, path: &str, token: &Secret) -> Result<String> {
        let mut url = self.page(path)?;
        url.query_pairs_mut().append_pair("token", token.expose());
        Ok(url.to_string())
    }

    /// Writes a mail job inside `tx`.
    async fn mail(
        &self,
        tx: &impl platform::db::Transactional,
        template: &'static str,
        to: &str,
        variables: serde_json::Value,
    ) -> Result<i64> {
        let to = Email::parse(to).map_err(Error::internal)?;
        mail::enqueue(
            tx,
            &MailJob {
                template,
                to,
                variables,
            },
        )
        .await
    }

    /// Writes the mail carrying `member`'s link `token` for `purpose` inside `tx`.
    async fn mail_link(
        &self,
        tx: &impl platform::db::Transactional,
        member: &Member,
        purpose: Purpose,
        token: Secret,
    ) -> Result<i64> {
        let (template, path) = match purpose {
            Purpose::VerifyEmail => ("verify-email", "verify-email"),
            Purpose::ResetPassword => ("reset-password", "reset-password"),
        };
        let link = self.link(path, &token)?;
        let variables = json!({ "name": member.display_name, "link": link });
        self.mail(tx, template, mailbox(member)?, variables).await
    }

    async fn register(self: Arc<Self>, call: Call) -> Answer {
        let req = &call.req;
        self.platform
            .limiter
            .hit(REGISTER_PER_IP, &client_ip(req))
            .await?
            .check()?;
        let body: RegisterBody = parse_json(req, MAX_BODY)?;
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
        let job = match members::register(&*tx, &body.email, display_name).await? {
            Registration::New(member) | Registration::Pending(member) => {
                let token = members::issue_signup_token(&*tx, member.id, &hash).await?;
                self.mail_link(&tx, &member, Purpose::VerifyEmail, token)
                    .await?
            }
            Registration::Existing(member) => {
                let variables = json!({
                    "name": member.display_name,
                    "login_link": self.page("login")?.as_str(),
                    "reset_link": self.page("forgot-password")?.as_str(),
                });
                self.mail(&tx, "account-exists", mailbox(&member)?, variables)
                    .await?
            }
        };
        tx.commit().await?;
        // Not held while SQS answers: other requests may need it.
        drop(client);
        self.mail.dispatch(&[job]).await;
        Ok(accepted())
    }

    async fn login(self: Arc<Self>, call: Call) -> Answer {
        let req = &call.req;
        let limiter = &self.platform.limiter;
        limiter.hit(LOGIN_PER_IP, &client_ip(req)).await?.check()?;
        let body: LoginBody = parse_json(req, MAX_BODY)?;
        let password = Password::parse_attempt(&body.password)?;
        let attempt = self.lockout.admit(req, &body.email).await?;
        // A malformed email cannot belong to anyone: same answer, same work.
        let found = match Email::parse(&body.email) {
            Ok(email) => {
                let client = self.platform.db.client().await?;
                members::with_password_by_email(&**client, email.as_str()).await?
            }
            Err(_) => None,
        };
        let stored = found.as_ref().and_then(|(_, hash)| hash.as_deref());
        let verified = password::verify(&password, stored).await;
        let member = match found {
            Some((member, _)) if verified => member,
            _ => {
                self.lockout.failed(&attempt).await?;
                return Err(Error::Unauthorized("invalid email or password".into()));
            }
        };
        let (token, _) = self.sessions().create(&member.subject()).await?;
        let mut response = signed_in(StatusCode::OK, &token, &member);
        let device = self.lockout.succeeded(&attempt).await?;
        response.headers_mut().append(header::SET_COOKIE, device);
        Ok(response)
    }

    /// One more check of the member's current password, or 429.
    async fn check_password_budget(&self, member: &Member) -> Result<()> {
        self.platform
            .limiter
            .hit(PASSWORD_CHECK_PER_MEMBER, &member.document_id)
            .await?
            .check()
            .map(drop)
    }

    fn sessions(&self) -> &SessionStore {
        self.members.sessions()
    }

    async fn me(self: Arc<Self>, call: Call) -> Answer {
        let (_, member) = call.member()?;
        Ok(data(StatusCode::OK, member))
    }

    async fn logout(self: Arc<Self>, call: Call) -> Answer {
        let (session, _) = call.member()?;
        self.sessions().revoke(session).await?;
        Ok(signed_out())
    }

    async fn logout_everywhere(self: Arc<Self>, call: Call) -> Answer {
        let (_, member) = call.member()?;
        self.sessions().revoke_all(&member.subject(), None).await?;
        Ok(signed_out())
    }

    async fn send_verification(self: Arc<Self>, call: Call) -> Answer {
        let (_, member) = call.member()?;
        if member.email.is_none() {
            return Err(Error::Conflict("this account has no email".into()));
        }
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
        let token = members::issue_token(&*tx, member.id, Purpose::VerifyEmail).await?;
        let job = self
            .mail_link(&tx, member, Purpose::VerifyEmail, token)
            .await?;
        tx.commit().await?;
        // Not held while SQS answers: other requests may need it.
        drop(client);
        self.mail.dispatch(&[job]).await;
        Ok(accepted())
    }

    async fn confirm_verification(self: Arc<Self>, call: Call) -> Answer {
        let req = &call.req;
        self.platform
            .limiter
            .hit(TOKEN_PER_IP, &client_ip(req))
            .await?
            .check()?;
        let body: TokenBody = parse_json(req, MAX_BODY)?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let (mut member, chosen) =
            members::consume_token(&*tx, &body.token, Purpose::VerifyEmail).await?;
        if let Some(hash) = chosen {
            members::set_password_hash(&*tx, member.id, &hash).await?;
        }
        members::mark_verified(&*tx, member.id).await?;
        tx.commit().await?;
        member.email_verified = true;
        // The link proves the mailbox, which is what a sign-in proves (as a magic link).
        let (token, _) = self.sessions().create(&member.subject()).await?;
        tracing::info!(member = %member.document_id, "member verified their email");
        let mut response = signed_in(StatusCode::OK, &token, &member);
        let device = self.lockout.trust(mailbox(&member)?).await?;
        response.headers_mut().append(header::SET_COOKIE, device);
        Ok(response)
    }

    async fn forgot_password(self: Arc<Self>, call: Call) -> Answer {
        let req = &call.req;
        let limiter = &self.platform.limiter;
        limiter.hit(FORGOT_PER_IP, &client_ip(req)).await?.check()?;
        let body: EmailBody = parse_json(req, MAX_BODY)?;
        let Ok(email) = Email::parse(&body.email) else {
            return Err(Error::invalid("email", "not a valid email address"));
        };
        limiter
            .hit(FORGOT_PER_ACCOUNT, email.as_str())
            .await?
            .check()?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let job = match members::with_password_by_email(&*tx, email.as_str()).await? {
            Some((member, _)) => {
                let token = members::issue_token(&*tx, member.id, Purpose::ResetPassword).await?;
                self.mail_link(&tx, &member, Purpose::ResetPassword, token)
                    .await?
            }
            None => {
                let variables =
                    json!({ "name": "", "register_link": self.page("register")?.as_str() });
                self.mail(&tx, "no-account", email.as_str(), variables)
                    .await?
            }
        };
        tx.commit().await?;
        // Not held while SQS answers: other requests may need it.
        drop(client);
        self.mail.dispatch(&[job]).await;
        // The same answer whether or not the email is registered.
        Ok(accepted())
    }

    /// Sets a new password and revokes every session but `keep`.
    async fn replace_password(
        &self,
        tx: &impl platform::db::Transactional,
        member: &Member,
        new: &Password,
        keep: Option<&Session>,
    ) -> Result<i64> {
        let hash = password::hash(new).await?;
        members::set_password_hash(tx, member.id, &hash).await?;
        let to = Email::parse(mailbox(member)?).map_err(Error::internal)?;
        let job = mail::enqueue(
            tx,
            &MailJob {
                template: "password-changed",
                to,
                variables: json!({ "name": member.display_name }),
            },
        )
        .await?;
        self.sessions().revoke_all(&member.subject(), keep).await?;
        Ok(job)
    }

    async fn reset_password(self: Arc<Self>, call: Call) -> Answer {
        let req = &call.req;
        self.platform
            .limiter
            .hit(TOKEN_PER_IP, &client_ip(req))
            .await?
            .check()?;
        let body: ResetBody = parse_json(req, MAX_BODY)?;
        let new = Password::parse_new(&body.password, "password")?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let (member, _) = members::consume_token(&*tx, &body.token, Purpose::ResetPassword).await?;
        // Following the link proves the mailbox too.
        members::mark_verified(&*tx, member.id).await?;
        let job = self.replace_password(&tx, &member, &new, None).await?;
        tx.commit().await?;
        // Not held while SQS answers: other requests may need it.
        drop(client);
        self.mail.dispatch(&[job]).await;
        // The mailbox's owner is the account's: their browser gets in even while
        // strangers' guesses keep the account closed to unknown clients.
        let mut response = signed_out();
        let device = self.lockout.trust(mailbox(&member)?).await?;
        response.headers_mut().append(header::SET_COOKIE, device);
        Ok(response)
    }

    async fn change_password(self: Arc<Self>, call: Call) -> Answer {
        let req = &call.req;
        let (session, member) = call.member()?;
        self.check_password_budget(member).await?;
        let body: ChangeBody = parse_json(req, MAX_BODY)?;
        let current = Password::parse_attempt(&body.current_password)
            .map_err(|_| Error::invalid("currentPassword", "the current password is wrong"))?;
        let new = Password::parse_new(&body.new_password, "newPassword")?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let stored = members::password_hash(&*tx, member.id).await?;
        if !password::verify(&current, stored.as_deref()).await {
            return Err(Error::invalid(
                "currentPassword",
                "the current password is wrong",
            ));
        }
        let job = self.replace_password(&tx, member, &new, None).await?;
        tx.commit().await?;
        // Not held while SQS answers: other requests may need it.
        drop(client);
        self.mail.dispatch(&[job]).await;
        self.sessions().revoke(session).await?;
        // A fresh session replaces the old one (and every other was revoked above).
        let (token, _) = self.sessions().create(&member.subject()).await?;
        Ok(signed_in(StatusCode::OK, &token, member))
    }

    async fn export(self: Arc<Self>, call: Call) -> Answer {
        let (_, member) = call.member()?;
        let client = self.platform.db.client().await?;
        let entitlements = entitlements::list(&**client, member.id).await?;
        let identities = identities::of_member(&**client, member.id).await?;
        let mut response = data(
            StatusCode::OK,
            json!({ "member": member, "entitlements": entitlements, "identities": identities }),
        );
        response.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"bianxian-export.json\""),
        );
        Ok(response)
    }

    async fn delete_account(self: Arc<Self>, call: Call) -> Answer {
        let req = &call.req;
        let (_, member) = call.member()?;
        self.check_password_budget(member).await?;
        let body: DeleteBody = parse_json(req, MAX_BODY)?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        // An account without a password (signed in with WeChat) has nothing more to
        // ask: its session is how its owner proves themselves.
        if let Some(stored) = members::password_hash(&*tx, member.id).await? {
            let wrong = || Error::invalid("password", "the password is wrong");
            let attempt = Password::parse_attempt(body.password.as_deref().unwrap_or(""))
                .map_err(|_| wrong())?;
            if !password::verify(&attempt, Some(&stored)).await {
                return Err(wrong());
            }
        }
        members::anonymise(&*tx, member.id).await?;
        tx.commit().await?;
        self.sessions().revoke_all(&member.subject(), None).await?;
        tracing::info!(member = %member.document_id, "member deleted their account");
        Ok(signed_out())
    }
}

/// Signing in with WeChat and linking it.
impl Auth {
    fn wechat(&self) -> Result<&WechatLogin> {
        self.wechat
            .as_ref()
            .ok_or_else(|| Error::NotFound("signing in with WeChat is not available".into()))
    }

    /// Sends the browser to WeChat for `intent`, binding the flow to it by cookie.
    async fn start_wechat(&self, call: &Call, intent: Intent) -> Answer {
        let wechat = self.wechat()?;
        self.platform
            .limiter
            .hit(WECHAT_PER_IP, &client_ip(&call.req))
            .await?
            .check()?;
        let next = wechat::next_path(query_param(&call.req, "next"))?;
        let callback = self
            .platform
            .config
            .api_url
            .join("auth/wechat/callback")
            .map_err(Error::internal)?;
        let started = wechat.start(intent, next, &callback).await?;
        let mut response = redirect(&started.authorize_url)?;
        response.headers_mut().insert(
            header::SET_COOKIE,
            state_cookie(started.state.expose(), wechat::STATE_TTL.as_secs()),
        );
        Ok(response)
    }

    async fn wechat_login(self: Arc<Self>, call: Call) -> Answer {
        self.start_wechat(&call, Intent::SignIn).await
    }

    async fn wechat_link(self: Arc<Self>, call: Call) -> Answer {
        let (_, member) = call.member()?;
        let intent = Intent::Link {
            member: member.document_id.clone(),
        };
        self.start_wechat(&call, intent).await
    }

    /// Where WeChat sends the browser back: signs in (a new member for a WeChat
    /// identity nobody has) or links, then sends the browser on to the site.
    async fn wechat_callback(self: Arc<Self>, call: Call) -> Answer {
        let wechat = self.wechat()?;
        let req = &call.req;
        self.platform
            .limiter
            .hit(WECHAT_PER_IP, &client_ip(req))
            .await?
            .check()?;
        let state = query_param(req, "state").unwrap_or("");
        let code = query_param(req, "code").unwrap_or("");
        let returned = wechat
            .finish(state, cookie(req, wechat::STATE_COOKIE).as_deref(), code)
            .await?;
        let to = wechat::return_url(&self.platform.config.site_url, &returned.next)?;
        let mut response = redirect(&to)?;
        match returned.intent {
            Intent::SignIn => {
                let mut client = self.platform.db.client().await?;
                let (member, created) =
                    identities::sign_in_with_wechat(&mut client, wechat.app_id(), &returned.openid)
                        .await?;
                if created {
                    tracing::info!(member = %member.document_id, "a member signed up with WeChat");
                }
                let (token, _) = self.sessions().create(&member.subject()).await?;
                response.headers_mut().insert(
                    header::SET_COOKIE,
                    session_cookie(token.expose(), MEMBER_SESSION_TTL.as_secs()),
                );
            }
            Intent::Link { member } => {
                let client = self.platform.db.client().await?;
                let member = members::by_document_id(&**client, &member)
                    .await?
                    .ok_or_else(|| Error::Unauthorized("sign in first".into()))?;
                identities::link_wechat(&**client, member.id, wechat.app_id(), &returned.openid)
                    .await?;
                tracing::info!(member = %member.document_id, "a member linked WeChat");
            }
        }
        // The flow is over: its cookie goes.
        response
            .headers_mut()
            .append(header::SET_COOKIE, state_cookie("", 0));
        Ok(response)
    }

    async fn my_identities(self: Arc<Self>, call: Call) -> Answer {
        let (_, member) = call.member()?;
        let client = self.platform.db.client().await?;
        Ok(data(
            StatusCode::OK,
            identities::of_member(&**client, member.id).await?,
        ))
    }

    async fn unlink_wechat(self: Arc<Self>, call: Call) -> Answer {
        let (_, member) = call.member()?;
        let client = self.platform.db.client().await?;
        identities::unlink_wechat(&**client, member.id).await?;
        Ok(no_content())
    }
}

/// The address of a member reached through a mailed link or by email, which such a
/// member has.
fn mailbox(member: &Member) -> Result<&str> {
    member
        .email
        .as_deref()
        .ok_or_else(|| Error::internal("a member reached by email has no email"))
}

type Answer = Result<Response<Body>>;

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Auth>] = &[
    identity::route!(POST "/auth/register", Guard::Public, Auth::register,
        Doc::new("Register: mails a link that completes the account (or, for a registered email, a notice to its owner); the same answer either way", accepted_schema)
            .body(schema_of::<RegisterBody>).status(202)),
    identity::route!(POST "/auth/login", Guard::Public, Auth::login,
        Doc::new("Sign a member in: a session token, also set as a cookie", signed_in_schema)
            .body(schema_of::<LoginBody>)),
    identity::route!(POST "/auth/logout", Guard::Member, Auth::logout,
        Doc::empty("End the member session presented")),
    identity::route!(POST "/auth/logout-all", Guard::Member, Auth::logout_everywhere,
        Doc::empty("End every session of the member")),
    identity::route!(GET "/auth/me", Guard::Member, Auth::me,
        Doc::new("The signed-in member", schema_of::<Member>)),
    identity::route!(DELETE "/auth/me", Guard::Member, Auth::delete_account,
        Doc::empty("Delete the account (anonymised; financial records kept)")
            .body(schema_of::<DeleteBody>)),
    identity::route!(GET "/auth/me/export", Guard::Member, Auth::export,
        Doc::new("Everything kept about the member, as a download", export_schema)),
    identity::route!(POST "/auth/verify-email/send", Guard::Member, Auth::send_verification,
        Doc::new("Mail a new verification link", accepted_schema).status(202)),
    identity::route!(POST "/auth/verify-email/confirm", Guard::Public, Auth::confirm_verification,
        Doc::new("Confirm the email with the mailed token (completing a registration) and sign in", signed_in_schema)
            .body(schema_of::<TokenBody>)),
    identity::route!(POST "/auth/forgot-password", Guard::Public, Auth::forgot_password,
        Doc::new("Mail a reset link, or for an unknown email a note that it has no account (the same answer either way)", accepted_schema)
            .body(schema_of::<EmailBody>).status(202)),
    identity::route!(POST "/auth/reset-password", Guard::Public, Auth::reset_password,
        Doc::empty("Set a new password with the mailed token; every session ends")
            .body(schema_of::<ResetBody>)),
    identity::route!(GET "/auth/wechat/login", Guard::Public, Auth::wechat_login,
        Doc::redirect("Sign in with WeChat (inside WeChat's browser): sends the browser to WeChat's web authorisation; a WeChat account nobody has linked becomes a new member")
            .query(next_query)),
    identity::route!(GET "/auth/wechat/link", Guard::Member, Auth::wechat_link,
        Doc::redirect("Link the signed-in member's WeChat account (inside WeChat's browser), so WeChat Pay's JSAPI and signing in with WeChat work")
            .query(next_query)),
    identity::route!(GET "/auth/wechat/callback", Guard::Public, Auth::wechat_callback,
        Doc::redirect("Where WeChat sends the browser back: completes the flow this browser started (once), then goes on to the site")
            .query(callback_query)),
    identity::route!(GET "/auth/me/identities", Guard::Member, Auth::my_identities,
        Doc::new("The signed-in member's linked sign-in identities (WeChat)", schema_of::<Vec<Identity>>)),
    identity::route!(DELETE "/auth/me/wechat", Guard::Member, Auth::unlink_wechat,
        Doc::empty("Unlink the member's WeChat account (409 when it is the account's only way in)")),
    identity::route!(POST "/auth/change-password", Guard::Member, Auth::change_password,
        Doc::new("Change the password; other sessions end, a fresh one is returned", signed_in_schema)
            .body(schema_of::<ChangeBody>)),
];

fn signed_in_schema(generator: &mut SchemaGenerator) -> Schema {
    let member = generator.subschema_for::<Member>();
    json_schema!({
        "type": "object",
        "required": ["token", "member"],
        "properties": { "token": { "type": "string" }, "member": member },
    })
}

/// `GET /auth/wechat/login` and `/auth/wechat/link`.
fn next_query(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "next": { "type": "string", "description": "a path of the site to come back to, like /pricing (default: its home)" },
        },
    })
}

/// `GET /auth/wechat/callback`, as WeChat sends the browser back.
fn callback_query(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["code", "state"],
        "properties": { "code": { "type": "string" }, "state": { "type": "string" } },
    })
}

fn accepted_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "required": ["ok"], "properties": { "ok": { "const": true } } })
}

fn export_schema(generator: &mut SchemaGenerator) -> Schema {
    let member = generator.subschema_for::<Member>();
    let entitlements = generator.subschema_for::<Vec<entitlements::Entitlement>>();
    let identities = generator.subschema_for::<Vec<Identity>>();
    json_schema!({
        "type": "object",
        "required": ["member", "entitlements", "identities"],
        "properties": { "member": member, "entitlements": entitlements, "identities": identities },
    })
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    platform: Arc<Platform>,
    (mail, wechat): Settings,
) -> Result<impl platform::runtime::Handler> {
    let wechat = wechat
        .app
        .map(|app| {
            WechatLogin::new(
                app,
                platform.redis.clone(),
                &platform.config.redis.key_prefix,
            )
        })
        .transpose()?;
    let auth = Auth {
        members: MemberAccess::new(&platform),
        lockout: Lockout::new(&platform, LOCKOUT),
        mail: mail::queue(&platform, &mail),
        platform: platform.clone(),
        wechat,
    };
    Router::new(&platform, auth, ROUTES)
}

/// The settings this function reads besides the core.
pub type Settings = (MailConfig, WechatLoginConfig);
