//! Read-through cache of serialized responses: Redis with versioned namespaces, and
//! in front of it a bounded copy in this process's memory.
//!
//! Every entry key embeds its namespace's version number, so invalidating a whole
//! namespace ("articles", "article:42") is one INCR: old entries simply stop being
//! addressed and expire on their TTL. Redis failures never fail a request: a read
//! error is a miss, a write error is logged and forgotten.
//!
//! The memory tier exists because cached list answers are large (a 20-article page
//! with its relations is over 100 KB): fetching one from Redis on every hit moves it
//! through the REST endpoint, base64 and two JSON layers, and that, not Redis, was
//! the cost of a hit. A warm sandbox therefore keeps the bodies it has served, but
//! never answers from them on its own: each read still makes its one round trip,
//! telling Redis which version it holds, and Redis sends the body only when that
//! version is no longer current. An invalidation by any writer is thus seen by the
//! very next read in every sandbox, and with Redis unreachable nothing is served
//! from memory (the source answers, as before).

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    future::Future,
    sync::{Arc, LazyLock, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    cmd,
    error::Result,
    upstash::{Script, Upstash},
};

static CACHE_GET: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/cache_get.lua")));

/// How many bytes of bodies one process keeps. Lambda functions run with 256 MB; a
/// typical entry is 1–150 KB, so this holds a few hundred of the hottest answers.
const MEMORY_BUDGET: usize = 32 * 1024 * 1024;

/// Upstash refuses requests over 1 MiB (its default request size limit), and a JSON
/// body grows when the SET command escapes its quotes, so bodies over 768 KiB are not
/// sent at all: the write would only fail and be logged. They are still kept in
/// memory, which needs only the namespace version to stay correct.
const MAX_REDIS_VALUE: usize = 768 * 1024;

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// This process's copy, confirmed current by Redis.
    Memory,
    /// Redis.
    Redis,
    /// Just loaded from the source.
    Miss,
}

/// A cached body and a strong validator of its exact bytes, computed once per body
/// rather than on every hit.
#[derive(Debug)]
pub struct Entry {
    body: String,
    digest: [u8; 16],
}

impl Entry {
    /// XXH3-128 rather than a cryptographic digest: the tag only has to change
    /// when the bytes do, and SHA-256 of a 110 KB list was a tenth of the gateway's
    /// CPU per uncached request (perf, Strapi case C).
    pub fn new(body: String) -> Self {
        let digest = xxhash_rust::xxh3::xxh3_128(body.as_bytes()).to_be_bytes();
        Self { body, digest }
    }

    pub fn body(&self) -> &str {
        &self.body
    }

    /// The HTTP entity tag of the body, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", hex::encode(self.digest))
    }
}

#[derive(Debug, Clone)]
pub struct Cache {
    redis: Upstash,
    prefix: String,
    memory: Arc<Memory>,
}

impl Cache {
    pub fn new(redis: Upstash, key_prefix: &str) -> Self {
        Self {
            redis,
            prefix: format!("{key_prefix}cache:"),
            memory: Arc::new(Memory::new(MEMORY_BUDGET)),
        }
    }

    fn version_key(&self, namespace: &str) -> String {
        format!("{}{namespace}:version", self.prefix)
    }

    /// Returns the cached body for `key` in `namespace`, or runs `load`, stores its
    /// result for `ttl` and returns it.
    pub async fn get_or_load<F, Fut>(
        &self,
        namespace: &str,
        key: &str,
        ttl: Duration,
        load: F,
    ) -> Result<(Arc<Entry>, Source)>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String>>,
    {
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        let head = format!("{}{namespace}:v", self.prefix);
        let tail = format!(":{digest}");
        let local_key = format!("{namespace}:{digest}");
        let held = self.memory.get(&local_key);
        let held_version = held.as_ref().map_or("", |(version, _)| version.as_str());
        let reply = self
            .redis
            .eval(
                &CACHE_GET,
                vec![Value::from(self.version_key(namespace))],
                vec![
                    Value::from(head.as_str()),
                    Value::from(tail.as_str()),
                    Value::from(held_version),
                ],
            )
            .await;
        let version = match reply {
            Ok(Value::Array(reply)) => {
                let mut reply = reply.into_iter();
                let version = reply.next().and_then(|v| v.as_str().map(str::to_owned));
                let stored = reply.next();
                let millis_left = reply.next().and_then(|v| v.as_u64());
                match (version, stored, held) {
                    (Some(version), None, Some((held_version, entry)))
                        if version == held_version =>
                    {
                        return Ok((entry, Source::Memory));
                    }
                    (Some(version), Some(Value::String(body)), _) => {
                        let entry = Arc::new(Entry::new(body));
                        // PTTL is -1 for a key without expiry, which we never write.
                        let left = millis_left.map_or(ttl, Duration::from_millis);
                        self.memory.put(local_key, version, entry.clone(), left);
                        return Ok((entry, Source::Redis));
                    }
                    (version, _, _) => version,
                }
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
        let entry = Arc::new(Entry::new(load().await?));
        // Without the version we read, we cannot know which generation the value
        // belongs to: skip the writes rather than risk resurrecting stale data.
        if let Some(version) = version {
            if entry.body().len() > MAX_REDIS_VALUE {
                tracing::debug!(
                    namespace,
                    bytes = entry.body().len(),
                    "too big for Redis; kept in memory only"
                );
                self.memory.put(local_key, version, entry.clone(), ttl);
                return Ok((entry, Source::Miss));
            }
            let key = format!("{head}{version}{tail}");
            let ttl_ms = ttl.as_millis().max(1) as u64;
            match self
                .redis
                .cmd(cmd!["SET", key, entry.body(), "PX", ttl_ms])
                .await
            {
                Ok(_) => self.memory.put(local_key, version, entry.clone(), ttl),
                Err(err) => tracing::warn!(error = %err, namespace, "cache write failed"),
            }
        }
        Ok((entry, Source::Miss))
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

/// The bodies this process has served, each with the namespace version it belongs to,
/// bounded in bytes. Eviction is oldest-stored first: cheap, and hot entries come
/// straight back on their next read.
struct Memory {
    budget: usize,
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    entries: HashMap<String, Held>,
    /// Insertion order; a key stored again leaves a stale (older `seq`) item behind.
    order: VecDeque<(u64, String)>,
    bytes: usize,
    seq: u64,
}

struct Held {
    seq: u64,
    version: String,
    entry: Arc<Entry>,
    expires: Instant,
}

impl Held {
    fn size(&self, key: &str) -> usize {
        key.len() + self.version.len() + self.entry.body.len()
    }
}

impl fmt::Debug for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memory")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Memory {
    fn new(budget: usize) -> Self {
        Self {
            budget,
            state: Mutex::default(),
        }
    }

    /// The held version and body for `key`, unless it has outlived its TTL.
    fn get(&self, key: &str) -> Option<(String, Arc<Entry>)> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let held = state.entries.get(key)?;
        if held.expires > Instant::now() {
            return Some((held.version.clone(), held.entry.clone()));
        }
        let size = held.size(key);
        state.entries.remove(key);
        state.bytes -= size;
        None
    }

    fn put(&self, key: String, version: String, entry: Arc<Entry>, ttl: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.seq += 1;
        let held = Held {
            seq: state.seq,
            version,
            entry,
            expires: Instant::now() + ttl,
        };
        let size = held.size(&key);
        // One huge body must not push out everything else.
        if size > self.budget / 8 {
            return;
        }
        if let Some(old) = state.entries.remove(&key) {
            state.bytes -= old.size(&key);
        }
        state.bytes += size;
        state.order.push_back((held.seq, key.clone()));
        state.entries.insert(key, held);
        while state.bytes > self.budget {
            let Some((seq, key)) = state.order.pop_front() else {
                break;
            };
            if state.entries.get(&key).is_some_and(|held| held.seq == seq) {
                let size = state.entries[&key].size(&key);
                state.entries.remove(&key);
                state.bytes -= size;
            }
        }
        // Stale order items of keys stored again are dropped once they dominate.
        if state.order.len() > 2 * state.entries.len() + 64 {
            let MemoryState { entries, order, .. } = &mut *state;
            order.retain(|(seq, key)| entries.get(key).is_some_and(|held| held.seq == *seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &str) -> Arc<Entry> {
        Arc::new(Entry::new(body.to_owned()))
    }

    #[test]
    fn the_etag_is_a_quoted_digest_of_the_exact_bytes() {
        let a = Entry::new("{\"data\":[]}".into());
        assert_eq!(a.etag().len(), 34);
        assert!(a.etag().starts_with('"') && a.etag().ends_with('"'));
        assert_eq!(a.etag(), Entry::new("{\"data\":[]}".into()).etag());
        assert_ne!(a.etag(), Entry::new("{\"data\":[] }".into()).etag());
    }

    #[test]
    fn memory_keeps_the_latest_version_until_its_ttl() {
        let memory = Memory::new(1024);
        let minute = Duration::from_secs(60);
        memory.put("k".into(), "1".into(), entry("one"), minute);
        memory.put("k".into(), "2".into(), entry("two"), minute);
        let (version, held) = memory.get("k").expect("held");
        assert_eq!((version.as_str(), held.body()), ("2", "two"));
        memory.put("gone".into(), "1".into(), entry("x"), Duration::ZERO);
        assert!(memory.get("gone").is_none());
        let state = memory.state.lock().unwrap();
        assert_eq!(state.bytes, "k".len() + "2".len() + "two".len());
    }

    #[test]
    fn memory_stays_within_its_budget_oldest_out_first() {
        let memory = Memory::new(800);
        let minute = Duration::from_secs(60);
        let body = "x".repeat(90);
        for i in 0..20 {
            memory.put(format!("k{i:02}"), "1".into(), entry(&body), minute);
        }
        let state = memory.state.lock().unwrap();
        assert!(state.bytes <= 800, "{} bytes held", state.bytes);
        assert!(state.entries.contains_key("k19"));
        assert!(!state.entries.contains_key("k00"));
        let held: usize = state.entries.iter().map(|(k, h)| h.size(k)).sum();
        assert_eq!(held, state.bytes);
        drop(state);
        // A body larger than an eighth of the budget is not kept at all.
        memory.put("big".into(), "1".into(), entry(&"y".repeat(200)), minute);
        assert!(memory.get("big").is_none());
    }
}
