//! A small client for the Upstash Redis REST API.
//!
//! Upstash speaks Redis over HTTPS: a command is a JSON array posted to `/`, several
//! go to `/pipeline` (independent) or `/multi-exec` (atomic), and replies come back as
//! `{"result": ...}` or `{"error": "..."}`. We always ask for
//! `Upstash-Encoding: base64` so binary values survive JSON, and decode every string
//! in the reply except the bare status `OK`, which Upstash leaves as it is.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::StatusCode;
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::{config::RedisConfig, secret::Secret};

#[derive(Debug, thiserror::Error)]
pub enum UpstashError {
    /// The endpoint could not be reached or timed out.
    #[error("upstash transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// The endpoint refused the request as a whole (bad token, bad request).
    #[error("upstash answered {status}: {message}")]
    Http { status: u16, message: String },
    /// Redis ran the command and answered with an error reply.
    #[error("redis: {0}")]
    Command(String),
    /// The reply did not have the documented shape.
    #[error("upstash reply: {0}")]
    Protocol(String),
}

impl UpstashError {
    /// True when Redis could not be asked at all (as opposed to refusing a command).
    pub fn is_unavailable(&self) -> bool {
        match self {
            UpstashError::Transport(_) => true,
            // A rotated or revoked token (401/403) and the database's own request
            // limit (429) leave the store out of reach as surely as an outage.
            UpstashError::Http { status, .. } => matches!(status, 401 | 403 | 429 | 500..),
            _ => false,
        }
    }
}

/// One argument of a command. Upstash takes strings and numbers.
pub type Arg = Value;

/// Builds a command from anything that converts into JSON strings or numbers:
/// `cmd!["SET", key, value, "EX", 60]`.
#[macro_export]
macro_rules! cmd {
    ($($arg:expr),* $(,)?) => {
        vec![$(::serde_json::Value::from($arg)),*]
    };
}

/// A Lua script and its SHA1, so it can run with EVALSHA (one small request) and fall
/// back to EVAL only when the server has not seen it yet.
#[derive(Debug, Clone)]
pub struct Script {
    source: &'static str,
    sha1: String,
}

impl Script {
    pub fn new(source: &'static str) -> Self {
        Self {
            source,
            sha1: sha1_smol::Sha1::from(source).digest().to_string(),
        }
    }

    pub fn sha1(&self) -> &str {
        &self.sha1
    }
}

#[derive(Clone)]
pub struct Upstash {
    http: reqwest::Client,
    url: Url,
    token: Secret,
}

impl std::fmt::Debug for Upstash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstash")
            .field("url", &self.url.as_str())
            .finish()
    }
}

impl Upstash {
    pub fn new(config: &RedisConfig) -> Result<Self, UpstashError> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(2)))
            .pool_idle_timeout(Duration::from_secs(50))
            .build()?;
        Ok(Self {
            http,
            url: config.url.clone(),
            token: config.token.clone(),
        })
    }

    /// Runs one command and returns its result.
    pub async fn cmd(&self, args: Vec<Arg>) -> Result<Value, UpstashError> {
        let name = command_name(&args);
        let reply = self
            .post("", &Value::Array(args))
            .instrument(tracing::info_span!(
                "redis",
                sentry.op = "db.redis",
                sentry.name = %name,
                db.system = "redis",
                db.operation = %name
            ))
            .await?;
        into_result(reply)
    }

    /// Runs several commands in one round trip, not atomically; each gets its own result.
    pub async fn pipeline(
        &self,
        commands: Vec<Vec<Arg>>,
    ) -> Result<Vec<Result<Value, UpstashError>>, UpstashError> {
        self.batch("pipeline", commands).await
    }

    /// Runs several commands in one round trip inside MULTI/EXEC.
    pub async fn multi_exec(
        &self,
        commands: Vec<Vec<Arg>>,
    ) -> Result<Vec<Result<Value, UpstashError>>, UpstashError> {
        self.batch("multi-exec", commands).await
    }

    /// Runs a Lua script: EVALSHA first, EVAL once if Redis answers NOSCRIPT.
    pub async fn eval(
        &self,
        script: &Script,
        keys: Vec<Arg>,
        args: Vec<Arg>,
    ) -> Result<Value, UpstashError> {
        let call = |verb: &str, body: Value| {
            let mut command = vec![Value::from(verb), body, Value::from(keys.len())];
            command.extend(keys.iter().cloned());
            command.extend(args.iter().cloned());
            command
        };
        match self.cmd(call("EVALSHA", Value::from(script.sha1()))).await {
            Err(UpstashError::Command(message)) if message.starts_with("NOSCRIPT") => {
                self.cmd(call("EVAL", Value::from(script.source))).await
            }
            other => other,
        }
    }

    async fn batch(
        &self,
        endpoint: &str,
        commands: Vec<Vec<Arg>>,
    ) -> Result<Vec<Result<Value, UpstashError>>, UpstashError> {
        let count = commands.len();
        let body = Value::Array(commands.into_iter().map(Value::Array).collect());
        let reply = self
            .post(endpoint, &body)
            .instrument(tracing::info_span!(
                "redis",
                sentry.op = "db.redis",
                sentry.name = endpoint,
                db.system = "redis",
                db.operation = endpoint,
                count
            ))
            .await?;
        match reply {
            Value::Array(items) if items.len() == count => {
                Ok(items.into_iter().map(into_result).collect())
            }
            other => Err(UpstashError::Protocol(format!(
                "expected {count} results, got {other}"
            ))),
        }
    }

    async fn post(&self, endpoint: &str, body: &Value) -> Result<Value, UpstashError> {
        let url = self
            .url
            .join(endpoint)
            .map_err(|e| UpstashError::Protocol(e.to_string()))?;
        let response = self
            .http
            .post(url)
            .bearer_auth(self.token.expose())
            .header("Upstash-Encoding", "base64")
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let reply: Value = serde_json::from_slice(&bytes).map_err(|_| UpstashError::Http {
            status: status.as_u16(),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        })?;
        if status == StatusCode::OK {
            return Ok(reply);
        }
        // A single command's Redis error comes back as 400 {"error": ...}.
        match reply.get("error").and_then(Value::as_str) {
            Some(message) if status == StatusCode::BAD_REQUEST => {
                Ok(serde_json::json!({ "error": message }))
            }
            Some(message) => Err(UpstashError::Http {
                status: status.as_u16(),
                message: message.to_string(),
            }),
            None => Err(UpstashError::Http {
                status: status.as_u16(),
                message: reply.to_string(),
            }),
        }
    }
}

fn command_name(args: &[Arg]) -> String {
    args.first()
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_ascii_uppercase()
}

/// Turns one `{"result"}` / `{"error"}` object into a Rust result, decoding base64.
fn into_result(reply: Value) -> Result<Value, UpstashError> {
    match reply {
        Value::Object(mut map) => {
            if let Some(Value::String(message)) = map.remove("error") {
                return Err(UpstashError::Command(message));
            }
            match map.remove("result") {
                Some(result) => decode(result),
                None => Err(UpstashError::Protocol(
                    "reply has neither result nor error".into(),
                )),
            }
        }
        other => Err(UpstashError::Protocol(format!("unexpected reply {other}"))),
    }
}

fn decode(value: Value) -> Result<Value, UpstashError> {
    Ok(match value {
        Value::String(s) if s == "OK" => Value::String(s),
        Value::String(s) => {
            let bytes = STANDARD
                .decode(s.as_bytes())
                .map_err(|_| UpstashError::Protocol("a string was not base64".into()))?;
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(decode).collect::<Result<_, _>>()?)
        }
        other => other,
    })
}

/// Typed reading of replies.
pub trait ValueExt {
    /// An integer reply, or a string that holds one (GET of a counter).
    fn as_integer(&self) -> Option<i64>;
}

impl ValueExt for Value {
    fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn decodes_every_string_but_ok() {
        let reply = json!({"result": ["dmFsdWU=", 3, null, ["5Y+Y546w"]]});
        assert_eq!(
            into_result(reply).unwrap(),
            json!(["value", 3, null, ["变现"]])
        );
        assert_eq!(into_result(json!({"result": "OK"})).unwrap(), json!("OK"));
    }

    #[test]
    fn error_replies_become_command_errors() {
        let err = into_result(json!({"error": "WRONGTYPE Operation against a key"})).unwrap_err();
        assert!(matches!(err, UpstashError::Command(m) if m.starts_with("WRONGTYPE")));
    }

    #[test]
    fn script_sha_is_sha1_of_source() {
        assert_eq!(
            Script::new("return 1").sha1(),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }

    #[test]
    fn cmd_macro_builds_json_args() {
        assert_eq!(
            cmd!["SET", "k", 5],
            vec![json!("SET"), json!("k"), json!(5)]
        );
    }
}
