//! Sliding-window rate limits in Redis, one EVALSHA round trip per check.
//!
//! A check answers with a [`Decision`] that writes the IETF `RateLimit-Policy` and
//! `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers) and, when refused,
//! becomes a 429 with `Retry-After`. When Redis cannot be reached the configured
//! [`FailureMode`] decides: open lets the request through, closed answers 503.

use std::{
    sync::LazyLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::{
    config::FailureMode,
    error::{BoxError, Error, Result},
    upstash::{Script, Upstash, UpstashError, ValueExt},
};

static SLIDING_WINDOW: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/sliding_window.lua")));
static SLOTS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/slots.lua")));
static PACE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/pace.lua")));

/// A limit on work in flight: at most `limit` at once across every process, each
/// place held for `lease` at most (a holder that dies frees it then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    pub name: &'static str,
    pub limit: u32,
    pub lease: Duration,
}

/// A steady pace shared by every process: `per_second` units, evenly spaced, with
/// at most `burst` worth of them (one unit at least) granted ahead of the pace, so
/// any one second sees at most `per_second × (1 s + burst)`, plus one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub name: &'static str,
    pub per_second: u32,
    pub burst: Duration,
}

/// What a [`RateLimiter::take`] got: `granted` units now, and when to ask again
/// for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub granted: u32,
    pub retry_in: Duration,
}

/// A named limit: at most `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub name: &'static str,
    pub limit: u32,
    pub window: Duration,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub policy: &'static str,
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the current window ends (at least 1).
    pub reset_secs: u64,
    pub window_secs: u64,
}

impl Decision {
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let policy = format!(
            "\"{}\";q={};w={}",
            self.policy, self.limit, self.window_secs
        );
        let state = format!(
            "\"{}\";r={};t={}",
            self.policy, self.remaining, self.reset_secs
        );
        for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }

    /// `Ok` when allowed, else the 429 error that carries the headers.
    pub fn check(self) -> Result<Decision> {
        if self.allowed {
            Ok(self)
        } else {
            Err(Error::RateLimited(self))
        }
    }
}

#[derive(Debug, Clone)]
pub struct RateLimiter {
    redis: Upstash,
    prefix: String,
    failure_mode: FailureMode,
}

impl RateLimiter {
    pub fn new(redis: Upstash, key_prefix: &str, failure_mode: FailureMode) -> Self {
        Self {
            redis,
            prefix: format!("{key_prefix}rl:"),
            failure_mode,
        }
    }

    /// Counts one request by `identifier` (an IP, a user id, a token id) against
    /// `policy`, unless the limit is reached.
    pub async fn hit(&self, policy: Policy, identifier: &str) -> Result<Decision> {
        self.run(policy, identifier, "hit").await
    }

    /// Whether `identifier` is still within `policy`, without counting: for limits
    /// on failures, which only [`Self::count`] counts.
    pub async fn peek(&self, policy: Policy, identifier: &str) -> Result<Decision> {
        self.run(policy, identifier, "peek").await
    }

    /// Counts one event (a failure) by `identifier` against `policy`, whatever the
    /// count already is.
    pub async fn count(&self, policy: Policy, identifier: &str) -> Result<()> {
        self.run(policy, identifier, "count").await.map(drop)
    }

    /// Runs `work` in one of `slots`' places, or answers 429 (`Retry-After: 1`) when
    /// all are taken. The place is given back when `work` ends, however it ends.
    pub async fn in_slot<T, F>(&self, slots: Slots, work: F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let key = format!("{}slots:{}", self.prefix, slots.name);
        let holder = format!("{:032x}", rand::random::<u128>());
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let args = vec![
            Value::from(slots.limit),
            Value::from(now_ms),
            Value::from(slots.lease.as_millis() as u64),
            Value::from(holder.as_str()),
        ];
        let mut held = Held {
            acquiring: Some(tokio::spawn({
                let (redis, key) = (self.redis.clone(), Value::from(key.as_str()));
                async move { redis.eval(&SLOTS, vec![key], args).await }
            })),
            redis: self.redis.clone(),
            key,
            holder,
            name: slots.name,
        };
        let taken = match held.acquired().await {
            Ok(taken) => taken,
            Err(err) => {
                held.disarm();
                tracing::warn!(error = %err, slots = slots.name, "slot limiter cannot reach redis");
                match self.failure_mode {
                    FailureMode::Open => return work.await,
                    FailureMode::Closed => {
                        return Err(Error::ServiceUnavailable(
                            "rate limiting is unavailable, try again shortly".into(),
                        ));
                    }
                }
            }
        };
        if !taken {
            held.disarm();
            return Err(Error::RateLimited(Decision {
                policy: slots.name,
                allowed: false,
                limit: slots.limit,
                remaining: 0,
                reset_secs: 1,
                window_secs: slots.lease.as_secs().max(1),
            }));
        }
        let outcome = work.await;
        held.give_back().await;
        outcome
    }

    /// Takes up to `wanted` units of `pace` for `identifier`. Unlike the request
    /// limits this one does not fail open: a sender that cannot count its pace
    /// does not send.
    pub async fn take(&self, pace: Pace, identifier: &str, wanted: u32) -> Result<Grant> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let key = format!("{}pace:{}:{}", self.prefix, pace.name, identifier);
        let interval_ms = 1000.0 / f64::from(pace.per_second.max(1));
        let args = vec![
            // A string: Redis reads every argument as one, and a JSON float need not
            // survive every REST endpoint intact.
            Value::from(format!("{interval_ms:.6}")),
            Value::from(pace.burst.as_millis() as u64),
            Value::from(now_ms),
            Value::from(wanted),
        ];
        match self.redis.eval(&PACE, vec![Value::from(key)], args).await? {
            Value::Array(reply) => {
                let number = |i: usize| {
                    reply
                        .get(i)
                        .and_then(ValueExt::as_integer)
                        .unwrap_or(0)
                        .max(0)
                };
                Ok(Grant {
                    granted: u32::try_from(number(0)).unwrap_or(0).min(wanted),
                    retry_in: Duration::from_millis(number(1) as u64),
                })
            }
            other => Err(Error::internal(format!("pace script returned {other}"))),
        }
    }

    async fn run(&self, policy: Policy, identifier: &str, mode: &str) -> Result<Decision> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let window_ms = policy.window.as_millis().max(1) as u64;
        let index = now_ms / window_ms;
        let elapsed = now_ms % window_ms;
        let base = format!("{}{}:{}", self.prefix, policy.name, identifier);
        let keys = vec![
            Value::from(format!("{base}:{index}")),
            Value::from(format!("{base}:{}", index.saturating_sub(1))),
        ];
        let args = vec![
            Value::from(policy.limit),
            Value::from(window_ms),
            Value::from(elapsed),
            Value::from(mode),
        ];
        let reset_secs = (window_ms - elapsed).div_ceil(1000).max(1);
        let window_secs = window_ms.div_ceil(1000);
        let decision = |allowed: bool, remaining: i64| Decision {
            policy: policy.name,
            allowed,
            limit: policy.limit,
            remaining: remaining.clamp(0, i64::from(policy.limit)) as u32,
            reset_secs,
            window_secs,
        };
        match self.redis.eval(&SLIDING_WINDOW, keys, args).await {
            Ok(Value::Array(reply)) => {
                let allowed = reply.first().and_then(ValueExt::as_integer) == Some(1);
                let remaining = reply.get(1).and_then(ValueExt::as_integer).unwrap_or(0);
                Ok(decision(allowed, remaining))
            }
            Ok(other) => Err(Error::internal(format!(
                "rate limit script returned {other}"
            ))),
            Err(err) => {
                tracing::warn!(error = %err, policy = policy.name, "rate limiter cannot reach redis");
                match self.failure_mode {
                    FailureMode::Open => Ok(decision(true, i64::from(policy.limit))),
                    FailureMode::Closed => Err(Error::ServiceUnavailable(
                        "rate limiting is unavailable, try again shortly".into(),
                    )),
                }
            }
        }
    }
}

/// A slot taken in [`RateLimiter::in_slot`]. Given back when the work ends, or, if
/// the request is dropped first (a client hanging up cancels its request in the
/// local gateway), from a task spawned on drop: left to its lease, the place stayed
/// taken for seconds after every cancelled search. The taking runs in a task of its
/// own for the same reason: a request dropped while its `EVAL` was on the way took
/// a place nobody gave back until its lease ran out.
struct Held {
    acquiring: Option<tokio::task::JoinHandle<std::result::Result<Value, UpstashError>>>,
    redis: Upstash,
    key: String,
    holder: String,
    name: &'static str,
}

impl Held {
    /// Whether the place was taken; only awaited through `self`, so a request
    /// dropped meanwhile leaves the answer to [`Drop`].
    async fn acquired(&mut self) -> std::result::Result<bool, BoxError> {
        let Some(acquiring) = self.acquiring.as_mut() else {
            return Ok(true);
        };
        let reply = acquiring.await;
        self.acquiring = None;
        match reply {
            Ok(reply) => Ok(reply?.as_integer() == Some(1)),
            Err(err) => Err(err.into()),
        }
    }

    /// Nothing to give back: the place was not taken.
    fn disarm(&mut self) {
        self.holder.clear();
    }

    /// Cancelled while the answer is on its way, the slot is still held, and
    /// dropping it sends the (idempotent) `ZREM` again.
    async fn give_back(mut self) {
        release(&self.redis, &self.key, &self.holder, self.name).await;
        self.disarm();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.holder.is_empty() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (acquiring, redis, key, holder, name) = (
                self.acquiring.take(),
                self.redis.clone(),
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.holder),
                self.name,
            );
            runtime.spawn(async move {
                if let Some(acquiring) = acquiring
                    && !matches!(acquiring.await, Ok(Ok(reply)) if reply.as_integer() == Some(1))
                {
                    return;
                }
                release(&redis, &key, &holder, name).await;
            });
        }
    }
}

async fn release(redis: &Upstash, key: &str, holder: &str, name: &'static str) {
    let args = vec![Value::from("ZREM"), Value::from(key), Value::from(holder)];
    if let Err(err) = redis.cmd(args).await {
        tracing::warn!(error = %err, slots = name, "could not give a slot back; its lease frees it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_ietf_draft() {
        let decision = Decision {
            policy: "login",
            allowed: false,
            limit: 5,
            remaining: 0,
            reset_secs: 42,
            window_secs: 60,
        };
        let mut headers = HeaderMap::new();
        decision.write_headers(&mut headers);
        assert_eq!(headers["ratelimit-policy"], "\"login\";q=5;w=60");
        assert_eq!(headers["ratelimit"], "\"login\";r=0;t=42");
        let response = decision.check().unwrap_err().to_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "42");
    }
}
