//! Member authentication: `POST /auth/register`, `POST /auth/login`,
//! `POST /auth/logout`, `GET /auth/me`.
//!
//! Sessions are opaque tokens kept in Redis (see `shared::session`), returned in the
//! body for Bearer clients and as an HttpOnly cookie for browsers. Login answers the
//! same 401 for an unknown email and a wrong password, after the same argon2 work.

use std::{sync::Arc, time::Duration};

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::{
    Error, Platform, Result,
    email::Email,
    password::{self, Password},
    ratelimit::Policy,
    secret::Secret,
    session::{Session, SessionStore},
};
use tokio_postgres::types::Type;

pub const SESSION_COOKIE: &str = "bx_session";
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

const REGISTER_PER_IP: Policy = Policy {
    name: "register-ip",
    limit: 10,
    window: Duration::from_secs(3600),
};
const LOGIN_PER_IP: Policy = Policy {
    name: "login-ip",
    limit: 30,
    window: Duration::from_secs(300),
};
const LOGIN_PER_ACCOUNT: Policy = Policy {
    name: "login-account",
    limit: 10,
    window: Duration::from_secs(900),
};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub document_id: String,
    pub email: String,
    pub display_name: String,
    pub email_verified: bool,
    pub created_at: String,
}

const MEMBER_COLUMNS: &str = "document_id, email, display_name, email_verified_at IS NOT NULL, \
     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

impl Member {
    fn from_row(row: &tokio_postgres::Row) -> Self {
        Self {
            document_id: row.get(0),
            email: row.get(1),
            display_name: row.get(2),
            email_verified: row.get(3),
            created_at: row.get(4),
        }
    }
}

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

struct Auth {
    platform: Arc<Platform>,
    sessions: SessionStore,
}

fn client_ip(req: &Request) -> String {
    shared::http::source_ip(req).unwrap_or("unknown").to_owned()
}

/// The session token from `Authorization: Bearer` or the session cookie.
fn presented_token(req: &Request) -> Option<String> {
    if let Some(bearer) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn session_cookie(token: &str, max_age: u64) -> HeaderValue {
    let value = format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn signed_in(status: StatusCode, token: &Secret, member: &Member) -> Response<Body> {
    let mut response = shared::http::json(
        status,
        &json!({ "data": { "token": token.expose(), "member": member } }),
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(token.expose(), SESSION_TTL.as_secs()),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl Auth {
    fn limit_body(&self) -> usize {
        self.platform.config.max_body_bytes.min(16 * 1024)
    }

    async fn register(&self, req: Request) -> Result<Response<Body>> {
        self.platform
            .limiter
            .hit(REGISTER_PER_IP, &client_ip(&req))
            .await?
            .check()?;
        let body: RegisterBody = shared::http::parse_json(&req, self.limit_body())?;
        let password = Password::parse_new(&body.password, "password")?;
        let display_name = body.display_name.trim();
        if display_name.chars().count() > 64 {
            return Err(Error::invalid(
                "displayName",
                "display name must be at most 64 characters",
            ));
        }
        let hash = password::hash(&password).await?;
        let client = self.platform.db.client().await?;
        let inserted = client
            .query_typed(
                &format!(
                    "INSERT INTO members (email, password_hash, display_name) VALUES ($1, $2, $3)
                     ON CONFLICT (email) DO NOTHING RETURNING {MEMBER_COLUMNS}"
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
        let (token, _) = self
            .sessions
            .create(&format!("member:{}", member.document_id))
            .await?;
        tracing::info!(member = %member.document_id, "member registered");
        Ok(signed_in(StatusCode::CREATED, &token, &member))
    }

    async fn login(&self, req: Request) -> Result<Response<Body>> {
        self.platform
            .limiter
            .hit(LOGIN_PER_IP, &client_ip(&req))
            .await?
            .check()?;
        let body: LoginBody = shared::http::parse_json(&req, self.limit_body())?;
        let unauthorized = || Error::Unauthorized("invalid email or password".into());
        let password = Password::parse_attempt(&body.password)?;
        // A malformed email cannot belong to anyone: same answer, same work.
        let email = Email::parse(&body.email).ok();
        let account = email.as_ref().map_or_else(
            || body.email.trim().to_lowercase(),
            |e| e.as_str().to_owned(),
        );
        self.platform
            .limiter
            .hit(LOGIN_PER_ACCOUNT, &account)
            .await?
            .check()?;
        let row = match &email {
            Some(email) => {
                let client = self.platform.db.client().await?;
                client
                    .query_typed(
                        &format!(
                            "SELECT {MEMBER_COLUMNS}, password_hash FROM members WHERE email = $1"
                        ),
                        &[(&email.as_str(), Type::TEXT)],
                    )
                    .await?
                    .into_iter()
                    .next()
            }
            None => None,
        };
        let stored: Option<String> = row.as_ref().map(|r| r.get(5));
        if !password::verify(&password, stored.as_deref()).await {
            return Err(unauthorized());
        }
        let member = Member::from_row(&row.ok_or_else(unauthorized)?);
        let (token, _) = self
            .sessions
            .create(&format!("member:{}", member.document_id))
            .await?;
        Ok(signed_in(StatusCode::OK, &token, &member))
    }

    async fn current(&self, req: &Request) -> Result<(Session, Member)> {
        let unauthorized = || Error::Unauthorized("sign in first".into());
        let token = presented_token(req).ok_or_else(unauthorized)?;
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
        let row = client
            .query_typed(
                &format!("SELECT {MEMBER_COLUMNS} FROM members WHERE document_id = $1"),
                &[(&document_id, Type::TEXT)],
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(unauthorized)?;
        Ok((session, Member::from_row(&row)))
    }

    async fn me(&self, req: Request) -> Result<Response<Body>> {
        let (_, member) = self.current(&req).await?;
        let mut response = shared::http::json(StatusCode::OK, &json!({ "data": member }));
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }

    async fn logout(&self, req: Request) -> Result<Response<Body>> {
        let (session, _) = self.current(&req).await?;
        self.sessions.revoke(&session).await?;
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        response
            .headers_mut()
            .insert(header::SET_COOKIE, session_cookie("", 0));
        Ok(response)
    }

    async fn route(&self, req: Request) -> Result<Response<Body>> {
        match (req.method().clone(), req.uri().path()) {
            (Method::POST, "/auth/register") => self.register(req).await,
            (Method::POST, "/auth/login") => self.login(req).await,
            (Method::POST, "/auth/logout") => self.logout(req).await,
            (Method::GET, "/auth/me") => self.me(req).await,
            (method, path) => Err(Error::NotFound(format!("no route for {method} {path}"))),
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
