//! Sessions in Redis: opaque bearer tokens, stored only as hashes.
//!
//! A token is 256 random bits (`bxs_` + base64url). Redis keeps
//! `sess:{sha256(token)}` → the session, with a sliding expiry renewed by every
//! lookup (GETEX: one round trip), plus a per-subject set of session hashes so "log
//! out everywhere" and "password changed" can revoke them all in one script. A leaked
//! Redis dump therefore holds no usable token.

use std::{
    sync::LazyLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use platform::{
    cmd,
    error::{Error, Result},
    secret::Secret,
    upstash::{Script, Upstash},
};

const TOKEN_PREFIX: &str = "bxs_";

static REVOKE_ALL: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/revoke_sessions.lua")));
static RENEW: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/renew_session.lua")));
static LIST: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/list_sessions.lua")));

/// Who a session belongs to, e.g. `member:42` or `staff:7`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub subject: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The hash that names this session (never the token itself).
    #[serde(skip)]
    pub id: String,
}

/// A live session as staff see it: when it started and, since every renewing use
/// sets its expiry to now plus the store's lifetime, when it was last used. Never
/// the token or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveSession {
    pub created_at: DateTime<Utc>,
    /// The last request that renewed it (every authenticated request but the
    /// content API's reads, which only look).
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct SessionStore {
    redis: Upstash,
    prefix: String,
    ttl: Duration,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The hex SHA-256 under which a token is stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token with the given prefix (`bxs_`, `bxt_`, ...).
pub fn new_token(prefix: &str) -> Secret {
    Secret::new(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    ))
}

impl SessionStore {
    pub fn new(redis: Upstash, key_prefix: &str, ttl: Duration) -> Self {
        Self {
            redis,
            prefix: key_prefix.to_owned(),
            ttl,
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}sess:{id}", self.prefix)
    }

    fn index_key(&self, subject: &str) -> String {
        format!("{}sess-of:{subject}", self.prefix)
    }

    /// Starts a session and returns its token (shown to the client once).
    pub async fn create(&self, subject: &str) -> Result<(Secret, Session)> {
        let token = new_token(TOKEN_PREFIX);
        let id = token_hash(token.expose());
        let session = Session {
            subject: subject.to_owned(),
            created_at: now(),
            id: id.clone(),
        };
        let json = serde_json::to_string(&session).map_err(Error::internal)?;
        let ttl = self.ttl.as_secs().max(1);
        for result in self
            .redis
            .multi_exec(vec![
                cmd!["SET", self.key(&id), json, "EX", ttl],
                cmd!["SADD", self.index_key(subject), id.as_str()],
                cmd!["EXPIRE", self.index_key(subject), ttl],
            ])
            .await?
        {
            result?;
        }
        Ok((token, session))
    }

    /// The live session for a token whose subject is of `kind` (`member:`,
    /// `staff:`), renewing it and its subject's index in one script; `None` when
    /// unknown, expired, revoked or of another kind. A session of another kind is
    /// left as it is: presenting a staff session where members sign in must not give
    /// it a member's lifetime.
    pub async fn lookup(&self, token: &str, kind: &str) -> Result<Option<Session>> {
        let Some(id) = Self::id_of(token) else {
            return Ok(None);
        };
        let reply = self
            .redis
            .eval(
                &RENEW,
                vec![Value::from(self.key(&id))],
                vec![
                    Value::from(self.ttl.as_secs().max(1)),
                    Value::from(format!("{}sess-of:", self.prefix)),
                    Value::from(kind),
                ],
            )
            .await?;
        Self::parse(reply, id)
    }

    /// The live session for a token, leaving its expiry alone: for a function that
    /// reads sessions it does not own (content-api sees member and staff sessions,
    /// whose lifetimes differ, and must stretch neither to the other's).
    pub async fn peek(&self, token: &str) -> Result<Option<Session>> {
        let Some(id) = Self::id_of(token) else {
            return Ok(None);
        };
        let reply = self.redis.cmd(cmd!["GET", self.key(&id)]).await?;
        Self::parse(reply, id)
    }

    /// The id a well-formed token is stored under.
    fn id_of(token: &str) -> Option<String> {
        (token.starts_with(TOKEN_PREFIX) && token.len() <= 128).then(|| token_hash(token))
    }

    fn parse(reply: Value, id: String) -> Result<Option<Session>> {
        match reply {
            Value::String(json) => {
                let mut session: Session = serde_json::from_str(&json).map_err(Error::internal)?;
                session.id = id;
                Ok(Some(session))
            }
            _ => Ok(None),
        }
    }

    pub async fn revoke(&self, session: &Session) -> Result<()> {
        for result in self
            .redis
            .multi_exec(vec![
                cmd!["DEL", self.key(&session.id)],
                cmd![
                    "SREM",
                    self.index_key(&session.subject),
                    session.id.as_str()
                ],
            ])
            .await?
        {
            result?;
        }
        Ok(())
    }

    /// The live sessions of `subject`, newest first, in one script.
    pub async fn live(&self, subject: &str) -> Result<Vec<LiveSession>> {
        let reply = self
            .redis
            .eval(
                &LIST,
                vec![Value::from(self.index_key(subject))],
                vec![Value::from(format!("{}sess:", self.prefix))],
            )
            .await?;
        // Redis counts lifetimes in seconds: finer times would be made up.
        let now = Utc::now().trunc_subsecs(0);
        let lifetime = TimeDelta::from_std(self.ttl).map_err(Error::internal)?;
        let items = match reply {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => return Err(Error::internal(format!("sessions listed as {other}"))),
        };
        let mut sessions = items
            .chunks(2)
            .map(|pair| {
                let (Some(Value::String(json)), Some(left)) = (pair.first(), pair.get(1)) else {
                    return Err(Error::internal("a session listed without its lifetime"));
                };
                let session: Session = serde_json::from_str(json).map_err(Error::internal)?;
                let left = left
                    .as_i64()
                    .ok_or_else(|| Error::internal("a session's lifetime is not a number"))?;
                let expires_at = now + TimeDelta::seconds(left.max(0));
                let created_at = i64::try_from(session.created_at)
                    .ok()
                    .and_then(|at| DateTime::from_timestamp(at, 0))
                    .ok_or_else(|| Error::internal("a session's start is out of range"))?;
                Ok(LiveSession {
                    created_at,
                    last_used_at: (expires_at - lifetime).max(created_at),
                    expires_at,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(sessions)
    }

    /// Revokes every session of `subject` except `keep` (the caller's own, if any).
    /// Returns how many were revoked.
    pub async fn revoke_all(&self, subject: &str, keep: Option<&Session>) -> Result<i64> {
        let reply = self
            .redis
            .eval(
                &REVOKE_ALL,
                vec![Value::from(self.index_key(subject))],
                vec![
                    Value::from(format!("{}sess:", self.prefix)),
                    Value::from(keep.map_or("", |s| s.id.as_str())),
                ],
            )
            .await?;
        Ok(reply.as_i64().unwrap_or(0))
    }
}
