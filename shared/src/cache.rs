//! Read-through JSON cache in Redis with versioned namespaces.
//!
//! Every entry key embeds its namespace's version number, so invalidating a whole
//! namespace ("articles", "article:42") is one INCR: old entries simply stop being
//! addressed and expire on their TTL. Redis failures never fail a request: a read
//! error is a miss, a write error is logged and forgotten.

use std::{future::Future, sync::LazyLock, time::Duration};

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    cmd,
    error::Result,
    upstash::{Script, Upstash},
};

static CACHE_GET: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/cache_get.lua")));

/// Whether a value came from the cache or was just loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Hit,
    Miss,
}

#[derive(Debug, Clone)]
pub struct Cache {
    redis: Upstash,
    prefix: String,
}

impl Cache {
    pub fn new(redis: Upstash, key_prefix: &str) -> Self {
        Self {
            redis,
            prefix: format!("{key_prefix}cache:"),
        }
    }

    fn version_key(&self, namespace: &str) -> String {
        format!("{}{namespace}:version", self.prefix)
    }

    /// Returns the cached value for `key` in `namespace`, or runs `load`, stores its
    /// result for `ttl` and returns it.
    pub async fn get_or_load<T, F, Fut>(
        &self,
        namespace: &str,
        key: &str,
        ttl: Duration,
        load: F,
    ) -> Result<(T, Source)>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        let head = format!("{}{namespace}:v", self.prefix);
        let tail = format!(":{digest}");
        let version = match self
            .redis
            .eval(
                &CACHE_GET,
                vec![Value::from(self.version_key(namespace))],
                vec![Value::from(head.as_str()), Value::from(tail.as_str())],
            )
            .await
        {
            Ok(Value::Array(reply)) => {
                if let Some(Value::String(json)) = reply.get(1) {
                    match serde_json::from_str(json) {
                        Ok(value) => return Ok((value, Source::Hit)),
                        Err(err) => {
                            tracing::warn!(error = %err, namespace, "unreadable cache entry")
                        }
                    }
                }
                reply.first().and_then(Value::as_str).map(str::to_owned)
            }
            Ok(other) => {
                tracing::warn!(reply = %other, "unexpected cache reply");
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, namespace, "cache read failed, loading from source");
                None
            }
        };
        let value = load().await?;
        // Without the version we read, we cannot know which generation the value
        // belongs to: skip the write rather than risk resurrecting stale data.
        if let Some(version) = version {
            match serde_json::to_string(&value) {
                Ok(json) => {
                    let key = format!("{head}{version}{tail}");
                    let ttl_ms = ttl.as_millis().max(1) as u64;
                    if let Err(err) = self.redis.cmd(cmd!["SET", key, json, "PX", ttl_ms]).await {
                        tracing::warn!(error = %err, namespace, "cache write failed");
                    }
                }
                Err(err) => tracing::warn!(error = %err, namespace, "value not cacheable"),
            }
        }
        Ok((value, Source::Miss))
    }

    /// Makes every entry of the namespaces unreachable, in one round trip.
    ///
    /// Unlike reads, this reports failure: a write that cannot invalidate must know it
    /// served stale content risk (callers log it, or retry via the outbox).
    pub async fn invalidate(&self, namespaces: &[&str]) -> Result<()> {
        let commands = namespaces
            .iter()
            .map(|ns| cmd!["INCR", self.version_key(ns)])
            .collect();
        for result in self.redis.pipeline(commands).await? {
            result?;
        }
        Ok(())
    }
}
